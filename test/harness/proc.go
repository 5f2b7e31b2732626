package harness

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
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
	if out = bytes.TrimSpace(out); err != nil {
		return fmt.Errorf("harness: python3 -m moto.server is not available (pip install 'moto[server]'): %v: %s: %w",
			err, out[bytes.LastIndexByte(out, '\n')+1:], ErrMissing)
	}
	return nil
}

// Build builds the four bootstraps for this machine into outDir/<function>/bootstrap, one after the
// other (each go build already uses every core).
func Build(ctx context.Context, root, outDir string) error {
	for _, name := range Functions {
		out := filepath.Join(outDir, name, "bootstrap")
		cmd := exec.CommandContext(ctx, "go", "build", "-tags", "lambda.norpc", "-trimpath", "-o", out, "./functions/"+name)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+runtime.GOOS, "GOARCH="+runtime.GOARCH)
		if b, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("harness: build %s: %v\n%s", name, err, strings.TrimSpace(string(b)))
		}
	}
	return nil
}

// Process is a started child in its own process group.
type Process struct {
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
	p := &Process{cmd: cmd, done: make(chan struct{})}
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
		deadline := time.Now().Add(timeout)
		for _, addr := range addrs {
			for err == nil && !up(addr) {
				switch {
				case p.exited():
					err = fmt.Errorf("harness: %s exited before %s was up: %v", name, addr, p.err)
				case ctx.Err() != nil || time.Now().After(deadline):
					err = fmt.Errorf("harness: wait for %s of %s: %w", addr, name, cmp.Or(ctx.Err(), context.DeadlineExceeded))
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
		if err == nil {
			return p, addrs, nil
		}
		p.Stop()
	}
	return nil, nil, err
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
		b, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")) // none for a non-process entry
		// pid (comm) state ppid ...: comm may hold spaces, so cut at the last ')'.
		st := string(b)
		if f := strings.Fields(st[strings.LastIndexByte(st, ')')+1:]); len(f) > 1 && f[1] == want {
			pid, err := strconv.Atoi(e.Name())
			return pid, err == nil
		}
	}
	return 0, false
}

// instance is one function under aws-lambda-rie, which runs one invocation at a time.
type instance struct {
	name string
	url  string
	proc *Process
	http *http.Client
}

// startInstance runs bootstrap under rie with env, PATH, HOME and TMPDIR.
func startInstance(ctx context.Context, rie, name, bootstrap string, timeout time.Duration,
	env map[string]string, logs io.Writer) (*instance, error) {
	vars := []string{"AWS_LAMBDA_FUNCTION_NAME=" + name, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128",
		"AWS_LAMBDA_FUNCTION_TIMEOUT=" + strconv.Itoa(int(timeout/time.Second)),
		"AWS_LAMBDA_LOG_FORMAT=JSON"} // as the template's LoggingConfig sets it
	for _, k := range []string{"PATH", "HOME", "TMPDIR"} {
		if v, ok := os.LookupEnv(k); ok {
			vars = append(vars, k+"="+v)
		}
	}
	for k, v := range env {
		vars = append(vars, k+"="+v)
	}
	// Both listeners must be up: rie can serve invocations and still fail to bind its runtime API,
	// and then it exits.
	p, addrs, err := startOnFreePorts(ctx, name, 2, logs, 10*time.Second, func(addrs []string) *exec.Cmd {
		cmd := exec.Command(rie, "--runtime-interface-emulator-address", addrs[0],
			"--runtime-api-address", addrs[1], "--log-level", "warn", bootstrap)
		cmd.Env = vars
		return cmd
	}, listening)
	if err != nil {
		return nil, err
	}
	url := "http://" + addrs[0] + "/2015-03-31/functions/function/invocations"
	return &instance{name: name, url: url, proc: p, http: &http.Client{Timeout: timeout + 15*time.Second}}, nil
}

func (i *instance) invoke(ctx context.Context, event any) ([]byte, error) {
	body, _ := json.Marshal(event)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, i.url, bytes.NewReader(body))
	resp, err := i.http.Do(req)
	var out []byte
	if err == nil {
		defer resp.Body.Close()
		if out, err = io.ReadAll(resp.Body); err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("harness: invoke %s: %w", i.name, err)
	}
	var fe struct{ ErrorMessage, ErrorType string }
	if json.Unmarshal(out, &fe) == nil && (fe.ErrorMessage != "" || fe.ErrorType != "") {
		return out, &FunctionError{Function: i.name, Type: fe.ErrorType, Message: fe.ErrorMessage}
	}
	return out, nil
}

// FunctionError is a handler error answered by the runtime.
type FunctionError struct {
	Function, Type, Message string
}

func (e *FunctionError) Error() string {
	return fmt.Sprintf("%s: %s: %s", e.Function, e.Type, e.Message)
}

// AroundInvoke wraps one invocation of function, while an instance is held; it calls invoke once
// or answers without it.
type AroundInvoke func(ctx context.Context, function string, event any, invoke func(context.Context) ([]byte, error)) ([]byte, error)

// pool hands out a function's instances, one invocation each at a time.
type pool struct {
	free chan *instance // made with room for every instance
	all  []*instance
}

// Invoke invokes function with event through AroundInvoke; a handler error is a *FunctionError.
func (s *Stack) Invoke(ctx context.Context, function string, event any) ([]byte, error) {
	p := s.pools[function]
	var in *instance
	select {
	case in = <-p.free:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { p.free <- in }()
	if s.opts.AroundInvoke != nil {
		return s.opts.AroundInvoke(ctx, function, event, func(ctx context.Context) ([]byte, error) { return in.invoke(ctx, event) })
	}
	return in.invoke(ctx, event)
}
