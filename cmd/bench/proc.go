package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/spapi-lwa/secret-rotation/internal/harness"
	"github.com/spapi-lwa/secret-rotation/internal/logsink"
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

// coldInstance is one function bootstrap under aws-lambda-rie, started bare
// for a cold-start measurement.
type coldInstance struct {
	name    string
	proc    *harness.Process
	addr    string // the emulator's invocation address
	url     string
	logs    *logsink.Buffer
	started time.Time
	client  *http.Client
}

// startCold execs rie with bootstrap and env (nothing else is inherited),
// logging at info so that rie reports the INIT duration; it does not wait
// for anything.
func startCold(rie, name, bootstrap string, env []string) (*coldInstance, error) {
	cmd, addr, err := harness.RIECommand(rie, bootstrap, "info")
	if err != nil {
		return nil, err
	}
	cmd.Env = env
	cmd.Dir = filepath.Dir(bootstrap)
	in := &coldInstance{
		name: name, addr: addr, logs: &logsink.Buffer{},
		url:    "http://" + addr + harness.InvocationPath,
		client: &http.Client{Transport: &http.Transport{DisableKeepAlives: true}},
	}
	in.started = time.Now()
	if in.proc, err = harness.StartProcess(name, cmd, in.logs); err != nil {
		return nil, err
	}
	return in, nil
}

// waitListening returns when the emulator accepts connections. It polls
// every 200 µs: the time it returns at is a measured figure.
func (in *coldInstance) waitListening(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", in.addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if in.proc.Exited() {
			return fmt.Errorf("%s: rie exited before it listened:\n%s", in.name, tail(in.logs.String(), 2000))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: rie did not listen within %s", in.name, timeout)
		}
		time.Sleep(200 * time.Microsecond)
	}
}

// invoke posts event and waits for the answer; a handler error is an
// answer, not an error.
func (in *coldInstance) invoke(ctx context.Context, event any) error {
	body, err := json.Marshal(event)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, in.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	resp, err := in.client.Do(req)
	if err != nil {
		return fmt.Errorf("invoke %s: %w", in.name, err)
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return fmt.Errorf("invoke %s: read answer: %w", in.name, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("invoke %s: status %d", in.name, resp.StatusCode)
	}
	return nil
}

var initReport = regexp.MustCompile(`INIT REPORT\(durationMs: ([0-9.]+)\)`)

// initDuration returns the first INIT REPORT of rie's log: from the start
// of the runtime process to its first /runtime/invocation/next call.
func (in *coldInstance) initDuration() (time.Duration, bool) {
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
func (in *coldInstance) bootstrapPID() (int, bool) {
	return harness.ChildPID(in.proc.Pid())
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
