package main

import (
	"bufio"
	"bytes"
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
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// caVariables are removed from every measured process: a Lambda sandbox has
// none of them, and loading an extra CA bundle costs start-up time.
var caVariables = []string{"AWS_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "NODE_EXTRA_CA_CERTS"}

// sandboxEnv returns the environment of a measured process: PATH, a fresh
// empty HOME (no ~/.aws), fake credentials, the region, and extra. Nothing
// else is inherited, so no CA variable reaches the process.
func sandboxEnv(home string, extra map[string]string) []string {
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + home,
		"TZ=UTC",
		"AWS_REGION=us-east-1",
		"AWS_DEFAULT_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=AKIABENCHFAKE0000000",
		"AWS_SECRET_ACCESS_KEY=bench-fake-secret-access-key",
		"AWS_EC2_METADATA_DISABLED=true",
	}
	for k, v := range extra {
		env = append(env, k+"="+v)
	}
	out := env[:0]
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		if !isCAVariable(name) {
			out = append(out, kv)
		}
	}
	return out
}

func isCAVariable(name string) bool {
	for _, c := range caVariables {
		if c == name {
			return true
		}
	}
	return false
}

// freePort returns a free TCP port on 127.0.0.1.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// syncBuffer is a log sink safe for concurrent use.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// instance is one function bootstrap under aws-lambda-rie.
type instance struct {
	name    string
	cmd     *exec.Cmd
	addr    string // the emulator's invocation address
	url     string
	logs    *syncBuffer
	started time.Time
	done    chan struct{}
	client  *http.Client
	mu      sync.Mutex // one invocation at a time, as in a sandbox
}

// startInstance execs rie with bootstrap; it does not wait for anything.
func startInstance(rie, name, bootstrap string, env []string) (*instance, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	apiPort, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cmd := exec.Command(rie,
		"--runtime-interface-emulator-address", addr,
		"--runtime-api-address", fmt.Sprintf("127.0.0.1:%d", apiPort),
		"--log-level", "info",
		bootstrap)
	cmd.Env = env
	cmd.Dir = filepath.Dir(bootstrap)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	in := &instance{
		name: name, cmd: cmd, addr: addr, logs: logs, done: make(chan struct{}),
		url:    "http://" + addr + "/2015-03-31/functions/function/invocations",
		client: &http.Client{Transport: &http.Transport{DisableKeepAlives: true}},
	}
	in.started = time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s under rie: %w", name, err)
	}
	go func() { cmd.Wait(); close(in.done) }()
	return in, nil
}

// stop ends rie and the bootstrap (its process group).
func (in *instance) stop() {
	pgid := in.cmd.Process.Pid
	syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-in.done:
	case <-time.After(3 * time.Second):
	}
	syscall.Kill(-pgid, syscall.SIGKILL)
	<-in.done
}

// waitListening returns when the emulator accepts connections.
func (in *instance) waitListening(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", in.addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-in.done:
			return fmt.Errorf("%s: rie exited before it listened:\n%s", in.name, tail(in.logs.String(), 2000))
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: rie did not listen within %s", in.name, timeout)
		}
		time.Sleep(200 * time.Microsecond)
	}
}

// errNotListening is returned by invoke while rie is not accepting yet.
var errNotListening = errors.New("emulator not listening yet")

// invokeResult is one invocation's answer.
type invokeResult struct {
	payload  []byte
	funcErr  string // errorType: errorMessage when the handler failed
	duration time.Duration
}

// invoke posts event and waits for the answer.
func (in *instance) invoke(ctx context.Context, event any) (invokeResult, error) {
	body, err := json.Marshal(event)
	if err != nil {
		return invokeResult{}, err
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	start := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, in.url, bytes.NewReader(body))
	if err != nil {
		return invokeResult{}, err
	}
	resp, err := in.client.Do(req)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" {
			return invokeResult{}, errNotListening
		}
		return invokeResult{}, fmt.Errorf("invoke %s: %w", in.name, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		return invokeResult{}, fmt.Errorf("invoke %s: read answer: %w", in.name, err)
	}
	res := invokeResult{payload: out, duration: time.Since(start)}
	if resp.StatusCode != http.StatusOK {
		return res, fmt.Errorf("invoke %s: status %d", in.name, resp.StatusCode)
	}
	var fe struct{ ErrorType, ErrorMessage string }
	if json.Unmarshal(out, &fe) == nil && (fe.ErrorType != "" || fe.ErrorMessage != "") {
		res.funcErr = fe.ErrorType + ": " + fe.ErrorMessage
	}
	return res, nil
}

// invokeWhenUp retries invoke until rie accepts the connection.
func (in *instance) invokeWhenUp(ctx context.Context, event any, timeout time.Duration) (invokeResult, error) {
	deadline := time.Now().Add(timeout)
	for {
		res, err := in.invoke(ctx, event)
		if !errors.Is(err, errNotListening) {
			return res, err
		}
		select {
		case <-in.done:
			return res, fmt.Errorf("%s: rie exited before it answered:\n%s", in.name, tail(in.logs.String(), 2000))
		default:
		}
		if time.Now().After(deadline) {
			return res, fmt.Errorf("%s: rie did not listen within %s", in.name, timeout)
		}
		time.Sleep(200 * time.Microsecond)
	}
}

var initReport = regexp.MustCompile(`INIT REPORT\(durationMs: ([0-9.]+)\)`)

// initDuration returns the first INIT REPORT of rie's log: from the start
// of the runtime process to its first /runtime/invocation/next call.
func (in *instance) initDuration() (time.Duration, bool) {
	m := initReport.FindStringSubmatch(in.logs.String())
	if m == nil {
		return 0, false
	}
	ms, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0, false
	}
	return time.Duration(ms * float64(time.Millisecond)), true
}

// bootstrapPID returns the pid of rie's child process (the bootstrap).
func (in *instance) bootstrapPID() (int, bool) {
	return childOf(in.cmd.Process.Pid)
}

// childOf finds a child of parent by scanning /proc.
func childOf(parent int) (int, bool) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, false
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so cut at the last ')'.
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) > 1 && f[1] == strconv.Itoa(parent) {
			return pid, true
		}
	}
	return 0, false
}

// statusKB reads a "Name:   N kB" field of /proc/<pid>/status.
func statusKB(pid int, field string) (int64, bool) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || name != field {
			continue
		}
		v, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		return v, err == nil
	}
	return 0, false
}

// cpuTime returns the CPU time all threads of pid have run so far
// (/proc/<pid>/task/*/schedstat, nanoseconds).
func cpuTime(pid int) (time.Duration, bool) {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return 0, false
	}
	var sum int64
	for _, t := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/schedstat", pid, t.Name()))
		if err != nil {
			continue
		}
		f := strings.Fields(string(b))
		if len(f) == 0 {
			continue
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err == nil {
			sum += n
		}
	}
	return time.Duration(sum), true
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
