package harness

import (
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
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ErrMissing is wrapped by Start when a prerequisite is not installed.
var ErrMissing = errors.New("prerequisite missing")

// Function names, as directories under functions/.
const (
	FunctionRotate   = "rotate-secret"
	FunctionReceive  = "receive-secret"
	FunctionExpiry   = "expiry-alert"
	FunctionWatchdog = "watchdog"
)

// Functions lists the four functions.
var Functions = []string{FunctionRotate, FunctionReceive, FunctionExpiry, FunctionWatchdog}

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

// Build builds the four bootstraps for this machine (CGO_ENABLED=0,
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

// FreePort returns a free TCP port on 127.0.0.1.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("harness: find free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Process is a started child in its own process group.
type Process struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// StartProcess starts cmd in a process group of its own (so that Stop
// reaches its children too), killed if this process dies, writing its
// standard output and error to out.
func StartProcess(name string, cmd *exec.Cmd, out io.Writer) (*Process, error) {
	// Own group, so stop reaches the children; killed if this process dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("harness: start %s: %w", name, err)
	}
	p := &Process{name: name, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Exited reports whether the process has ended.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Pid is the process id (and process group id).
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Done is closed when the process has ended.
func (p *Process) Done() <-chan struct{} { return p.done }

// Stop ends the process group: SIGTERM, then SIGKILL after 3 s. It is safe
// on a nil or ended process.
func (p *Process) Stop() {
	if p == nil || p.Exited() {
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
func waitHTTP(ctx context.Context, p *Process, url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c := &http.Client{Timeout: time.Second}
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := c.Do(req); err == nil {
			resp.Body.Close()
			return nil
		}
		if p != nil && p.Exited() {
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
func waitTCP(ctx context.Context, p *Process, addr string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return nil
		}
		if p.Exited() {
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
func startMoto(ctx context.Context, logs io.Writer) (*Process, string, error) {
	port, err := FreePort()
	if err != nil {
		return nil, "", err
	}
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	p, err := StartProcess("moto", exec.Command("python3", "-m", "moto.server", "-H", "127.0.0.1", "-p", fmt.Sprint(port)), logs)
	if err != nil {
		return nil, "", err
	}
	if err := waitHTTP(ctx, p, url+"/moto-api/", 20*time.Second); err != nil {
		p.Stop()
		return nil, "", err
	}
	return p, url, nil
}

// ChildPID returns the pid of a child of parent (the first found in /proc),
// such as the bootstrap aws-lambda-rie runs.
func ChildPID(parent int) (int, bool) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, false
	}
	want := strconv.Itoa(parent)
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so cut at the last ')'.
		st := string(b)
		i := strings.LastIndexByte(st, ')')
		if i < 0 {
			continue
		}
		if f := strings.Fields(st[i+1:]); len(f) > 1 && f[1] == want {
			return pid, true
		}
	}
	return 0, false
}
