package harness

import (
	"cmp"
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

// RepoRoot returns the directory of the module's go.mod, as the go command finds it.
func RepoRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	gomod := strings.TrimSpace(string(out))
	if err != nil || gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("harness: find repository root: no go.mod above the working directory (%v)", err)
	}
	return filepath.Dir(gomod), nil
}

// RIEPath returns the repository's bin/aws-lambda-rie, or an error wrapping ErrMissing.
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
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		return fmt.Errorf("harness: python3 -m moto.server is not available (pip install 'moto[server]'): %v: %s: %w",
			err, strings.TrimSpace(lines[len(lines)-1]), ErrMissing)
	}
	return nil
}

// Build builds the four bootstraps for this machine into outDir/<function>/bootstrap.
func Build(ctx context.Context, root, outDir string) error {
	errs := make([]error, len(Functions))
	var wg sync.WaitGroup
	for i, name := range Functions {
		wg.Go(func() {
			out := filepath.Join(outDir, name, "bootstrap")
			cmd := exec.CommandContext(ctx, "go", "build", "-tags", "lambda.norpc", "-trimpath", "-o", out, "./functions/"+name)
			cmd.Dir = root
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+runtime.GOOS, "GOARCH="+runtime.GOARCH)
			if b, err := cmd.CombinedOutput(); err != nil {
				errs[i] = fmt.Errorf("harness: build %s: %v\n%s", name, err, strings.TrimSpace(string(b)))
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Process is a started child in its own process group.
type Process struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// StartProcess starts cmd with its output to out, in its own process group (so that Stop reaches
// its children too), killed if this process dies.
func StartProcess(name string, cmd *exec.Cmd, out io.Writer) (*Process, error) {
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

// Pid is the process id (and process group id).
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Done is closed when the process has ended.
func (p *Process) Done() <-chan struct{} { return p.done }

func (p *Process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Stop ends the process group: SIGTERM, then SIGKILL after 3 s; it is safe on a nil or ended process.
func (p *Process) Stop() {
	if p == nil || p.exited() {
		return
	}
	syscall.Kill(-p.Pid(), syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(3 * time.Second):
	}
	syscall.Kill(-p.Pid(), syscall.SIGKILL) // the rest of the group, too
	<-p.done
}

// startOnFreePorts starts cmd(addrs) on n free addresses and waits, up to timeout, until up(addr) holds
// for each. Another process can take a free port before the child binds it (tests run in parallel):
// the child then exits or the other process answers; new ports are tried, thrice at most.
func startOnFreePorts(ctx context.Context, name string, n int, logs io.Writer, timeout time.Duration,
	cmd func(addrs []string) *exec.Cmd, up func(addr string) bool) (p *Process, addrs []string, err error) {
	for range 3 {
		addrs = make([]string, n)
		for i := range addrs {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				return nil, nil, fmt.Errorf("harness: find free port: %w", err)
			}
			addrs[i] = l.Addr().String()
			l.Close()
		}
		if p, err = StartProcess(name, cmd(addrs), logs); err != nil {
			continue
		}
		if err = p.waitUp(ctx, addrs, time.Now().Add(timeout), up); err == nil {
			return p, addrs, nil
		}
		p.Stop()
	}
	return nil, nil, err
}

func (p *Process) waitUp(ctx context.Context, addrs []string, deadline time.Time, up func(string) bool) error {
	for _, addr := range addrs {
		for !up(addr) {
			switch {
			case p.exited():
				return fmt.Errorf("harness: %s exited before %s was up: %v", p.name, addr, p.err)
			case ctx.Err() != nil || time.Now().After(deadline):
				return fmt.Errorf("harness: wait for %s of %s: %w", addr, p.name, cmp.Or(ctx.Err(), context.DeadlineExceeded))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return nil
}

func listening(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err == nil {
		c.Close()
	}
	return err == nil
}

// startMoto runs moto on a free port; up means moto's own API answers, not another process.
func startMoto(ctx context.Context, logs io.Writer) (*Process, string, error) {
	c := &http.Client{Timeout: time.Second}
	p, addrs, err := startOnFreePorts(ctx, "moto", 1, logs, 20*time.Second, func(addrs []string) *exec.Cmd {
		host, port, _ := net.SplitHostPort(addrs[0])
		return exec.Command("python3", "-m", "moto.server", "-H", host, "-p", port)
	}, func(addr string) bool {
		resp, err := c.Get("http://" + addr + "/moto-api/")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == http.StatusOK
	})
	if err != nil {
		return nil, "", err
	}
	return p, "http://" + addrs[0], nil
}

// childPID returns the pid of a child of parent from /proc/PID/stat, which every Linux kernel has
// (task/*/children needs CONFIG_PROC_CHILDREN).
func childPID(parent int) (int, bool) {
	entries, _ := os.ReadDir("/proc")
	want := strconv.Itoa(parent)
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		// pid (comm) state ppid ...: comm may hold spaces, so cut at the last ')'.
		st := string(b)
		if f := strings.Fields(st[strings.LastIndexByte(st, ')')+1:]); len(f) > 1 && f[1] == want {
			return pid, true
		}
	}
	return 0, false
}
