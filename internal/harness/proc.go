package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ErrMissing is wrapped by Start when a prerequisite is not installed.
var ErrMissing = errors.New("prerequisite missing")

// Function names, as directories under functions/.
const (
	FunctionRotate  = "rotate-secret"
	FunctionReceive = "receive-secret"
	FunctionExpiry  = "expiry-alert"
)

// Functions lists the three functions.
var Functions = []string{FunctionRotate, FunctionReceive, FunctionExpiry}

// RepoRoot returns the directory of the module's go.mod, found by walking up
// from the working directory.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("harness: find repository root: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("harness: find repository root: no go.mod above the working directory")
		}
		dir = parent
	}
}

// RIEPath returns ./bin/aws-lambda-rie of the repository, or an error wrapping
// ErrMissing that says to run make tools.
func RIEPath(root string) (string, error) {
	p := filepath.Join(root, "bin", "aws-lambda-rie")
	if st, err := os.Stat(p); err != nil || st.IsDir() {
		return "", fmt.Errorf("harness: %s not found (run make tools): %w", p, ErrMissing)
	}
	return p, nil
}

// CheckMoto reports whether python3 -m moto.server can be run.
func CheckMoto(ctx context.Context) error {
	out, err := exec.CommandContext(ctx, "python3", "-c", "import moto.server, flask").CombinedOutput()
	if err != nil {
		return fmt.Errorf("harness: python3 -m moto.server is not available (pip install 'moto[server]'): %v: %s: %w",
			err, strings.TrimSpace(lastLine(string(out))), ErrMissing)
	}
	return nil
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// Build builds the three bootstraps for this machine (CGO_ENABLED=0,
// -tags lambda.norpc) into outDir/<function>/bootstrap.
func Build(ctx context.Context, root, outDir string) error {
	var errs []error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, name := range Functions {
		wg.Go(func() {
			out := filepath.Join(outDir, name, "bootstrap")
			cmd := exec.CommandContext(ctx, "go", "build", "-tags", "lambda.norpc", "-trimpath", "-o", out, "./functions/"+name)
			cmd.Dir = root
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+runtime.GOOS, "GOARCH="+runtime.GOARCH)
			if b, err := cmd.CombinedOutput(); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("harness: build %s: %v\n%s", name, err, strings.TrimSpace(string(b))))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// freePort returns a free TCP port on 127.0.0.1.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("harness: find free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// LogBuffer is a concurrency-safe log sink.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	tee io.Writer
}

// Write appends p (and writes it to the tee, if any).
func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.tee != nil {
		b.tee.Write(p)
	}
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *LogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// process is a started child in its own process group.
type process struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

func startProcess(name string, cmd *exec.Cmd, out io.Writer) (*process, error) {
	// Own group, so stop reaches the children; killed if this process dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("harness: start %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// exited reports whether the process has ended.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop ends the process group: SIGTERM, then SIGKILL after 3 s.
func (p *process) stop() {
	if p == nil || p.exited() {
		return
	}
	pgid := p.cmd.Process.Pid
	syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(3 * time.Second):
		syscall.Kill(-pgid, syscall.SIGKILL)
		<-p.done
	}
	// Children that outlived the leader.
	syscall.Kill(-pgid, syscall.SIGKILL)
}

// waitHTTP polls url until it answers any HTTP status, the process exits or ctx ends.
func waitHTTP(ctx context.Context, p *process, url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c := &http.Client{Timeout: time.Second}
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := c.Do(req); err == nil {
			resp.Body.Close()
			return nil
		}
		if p != nil && p.exited() {
			return fmt.Errorf("harness: %s exited before it answered: %v", p.name, p.err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("harness: wait for %s: %w", url, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// waitTCP polls addr until it accepts a connection.
func waitTCP(ctx context.Context, p *process, addr string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return nil
		}
		if p.exited() {
			return fmt.Errorf("harness: %s exited before it listened: %v", p.name, p.err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("harness: wait for %s on %s: %w", p.name, addr, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// startMoto runs python3 -m moto.server on a free port and waits until it answers.
func startMoto(ctx context.Context, logs io.Writer) (*process, string, error) {
	port, err := freePort()
	if err != nil {
		return nil, "", err
	}
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	p, err := startProcess("moto", exec.Command("python3", "-m", "moto.server", "-H", "127.0.0.1", "-p", fmt.Sprint(port)), logs)
	if err != nil {
		return nil, "", err
	}
	if err := waitHTTP(ctx, p, url+"/moto-api/", 20*time.Second); err != nil {
		p.stop()
		return nil, "", err
	}
	return p, url, nil
}
