package main

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/spapi-lwa/secret-rotation/test/logsink"
)

//go:embed baseline.py
var baselinePy []byte

// Subjects of the cold-start measurement besides the functions.
const (
	subjectFloor    = "floor"
	subjectSDKFloor = "sdkfloor"
	subjectPython   = "python-boto3"
)

// nextPath is the runtime API's "next invocation" request, the first one a
// runtime makes once it is ready.
const nextPath = "/2018-06-01/runtime/invocation/next"

// coldSample is one measured start.
type coldSample struct {
	ready time.Duration // exec to the arrival of the first /runtime/invocation/next
	cpu   time.Duration // CPU time of the process (all threads) when it asked
	hwmKB int64         // peak RSS of the process when it asked
}

// coldResult is every start of one subject, in round order.
type coldResult struct {
	name    string
	note    string // what the subject does before it asks for an invocation
	samples []coldSample
}

// coldRun is the whole cold-start measurement.
type coldRun struct {
	subjects   []coldResult
	rounds     int
	loadBefore string // /proc/loadavg (1, 5, 15 min) before the first start
	loadAfter  string // and after the last
}

// fakeRuntimeAPI is the runtime API as far as a cold start needs it: it
// records when the first GET /runtime/invocation/next arrives and holds
// that request open until the process is stopped, so that nothing after
// "ready" is timed.
type fakeRuntimeAPI struct {
	addr    string
	srv     *http.Server
	arrived chan time.Time
}

func newFakeRuntimeAPI() (*fakeRuntimeAPI, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("fake runtime API: %w", err)
	}
	api := &fakeRuntimeAPI{addr: ln.Addr().String(), arrived: make(chan time.Time, 1)}
	api.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := time.Now()
		if r.Method != http.MethodGet || r.URL.Path != nextPath {
			http.NotFound(w, r)
			return
		}
		select {
		case api.arrived <- now:
		default:
		}
		<-r.Context().Done()
	})}
	go api.srv.Serve(ln)
	return api, nil
}

func (api *fakeRuntimeAPI) close() { api.srv.Close() }

// measureStart execs argv with env under a fresh fake runtime API and
// returns the time from exec to its first /runtime/invocation/next.
func measureStart(argv, env []string) (coldSample, error) {
	api, err := newFakeRuntimeAPI()
	if err != nil {
		return coldSample{}, err
	}
	defer api.close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(env, "AWS_LAMBDA_RUNTIME_API="+api.addr)
	cmd.Dir = filepath.Dir(argv[len(argv)-1])
	out := &logsink.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	exited := make(chan struct{})
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return coldSample{}, fmt.Errorf("start %s: %w", argv[0], err)
	}
	go func() { cmd.Wait(); close(exited) }()
	defer func() { cmd.Process.Kill(); <-exited }()
	select {
	case at := <-api.arrived:
		s := coldSample{ready: at.Sub(start)}
		s.cpu, _ = cpuTime(cmd.Process.Pid)
		s.hwmKB, _ = statusKB(cmd.Process.Pid, "VmHWM")
		return s, nil
	case <-exited:
		return coldSample{}, fmt.Errorf("%s exited before it asked for an invocation:\n%s", filepath.Base(argv[len(argv)-1]), tail(out.String(), 2000))
	case <-time.After(20 * time.Second):
		return coldSample{}, fmt.Errorf("%s did not ask for an invocation within 20s", filepath.Base(argv[len(argv)-1]))
	}
}

// functionEnv is the configuration every function needs to start, with
// every endpoint on an unused loopback port: nothing is called before the
// first invocation.
func functionEnv(name string) map[string]string {
	const endpoint = "http://127.0.0.1:9"
	return map[string]string{
		"AWS_LAMBDA_FUNCTION_NAME":        name,
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
		"AWS_LAMBDA_FUNCTION_VERSION":     "$LATEST",
		"AWS_ENDPOINT_URL":                endpoint,
		"ALERT_TOPIC_ARN":                 "arn:aws:sns:us-east-1:123456789012:bench-alerts",
		"LWA_TOKEN_URL":                   endpoint + "/auth/o2/token",
		"SP_API_ENDPOINT":                 endpoint,
		// Required by the watchdog; the others do not read it.
		"ROTATE_SECRET_FUNCTION_ARN": "arn:aws:lambda:us-east-1:123456789012:function:RotateSecretFunction",
	}
}

// pythonExecutable resolves python3 to the real interpreter, so that no
// version-manager shim is timed.
func pythonExecutable(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "python3", "-c", "import sys; print(sys.executable)").Output()
	if err != nil {
		return "", fmt.Errorf("find python3: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// loadavg returns the 1, 5 and 15 minute load averages.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	if f := strings.Fields(string(b)); len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "unknown"
}

// coldStarts measures n starts of each function, of the floor and of the
// Python baseline (host builds), all the same way: exec to the first
// /runtime/invocation/next under a fake runtime API. Each round starts every
// subject once, in an order shuffled per round (fixed seed), so that they
// share the machine's state and no subject always follows another; one
// discarded round warms the page cache first.
func coldStarts(ctx context.Context, bootstraps map[string]string, n int, work string, progress func(string, ...any)) (*coldRun, error) {
	home := filepath.Join(work, "home")
	if err := os.MkdirAll(home, 0o755); err != nil {
		return nil, err
	}
	script := filepath.Join(work, "baseline.py")
	if err := os.WriteFile(script, baselinePy, 0o644); err != nil {
		return nil, err
	}
	python, err := pythonExecutable(ctx)
	if err != nil {
		return nil, err
	}
	type subject struct {
		argv []string
		env  []string
	}
	var subjects []subject
	run := &coldRun{rounds: n}
	for _, f := range functionNames {
		subjects = append(subjects, subject{[]string{bootstraps[f]}, sandboxEnv(home, functionEnv(f))})
		run.subjects = append(run.subjects, coldResult{name: f, note: "the function's main: configuration, AWS clients, handler, lambda.Start"})
	}
	subjects = append(subjects, subject{[]string{bootstraps[subjectFloor]}, sandboxEnv(home, functionEnv(subjectFloor))})
	run.subjects = append(run.subjects, coldResult{name: subjectFloor, note: "test/bench/floor: lambda.Start with a handler that does nothing"})
	subjects = append(subjects, subject{[]string{bootstraps[subjectSDKFloor]}, sandboxEnv(home, functionEnv(subjectSDKFloor))})
	run.subjects = append(run.subjects, coldResult{name: subjectSDKFloor, note: "test/bench/sdkfloor: the floor with the SDK's secretsmanager and sns packages linked, never called"})
	subjects = append(subjects, subject{[]string{python, script}, sandboxEnv(home, map[string]string{"AWS_ENDPOINT_URL": "http://127.0.0.1:9", "PYTHONDONTWRITEBYTECODE": "1"})})
	run.subjects = append(run.subjects, coldResult{name: subjectPython, note: "test/bench/baseline.py: import boto3, create the Secrets Manager and SNS clients"})

	rng := rand.New(rand.NewPCG(7, 25))
	order := make([]int, len(subjects))
	for i := range order {
		order[i] = i
	}
	run.loadBefore = loadavg()
	for round := -1; round < n; round++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		for _, i := range order {
			s, err := measureStart(subjects[i].argv, subjects[i].env)
			if err != nil {
				return nil, fmt.Errorf("cold start of %s: %w", run.subjects[i].name, err)
			}
			if round >= 0 {
				run.subjects[i].samples = append(run.subjects[i].samples, s)
			}
		}
		if round >= 0 && (round+1)%10 == 0 {
			progress("cold starts: %d/%d rounds", round+1, n)
		}
	}
	run.loadAfter = loadavg()
	return run, nil
}

// subject returns the starts of name.
func (c *coldRun) subject(name string) (*coldResult, error) {
	if c == nil {
		return nil, errors.New("cold starts not measured")
	}
	for i := range c.subjects {
		if c.subjects[i].name == name {
			return &c.subjects[i], nil
		}
	}
	return nil, fmt.Errorf("no cold starts of %s", name)
}

// cpus returns the CPU times to ready of r, in round order.
func (r *coldResult) cpus() []time.Duration {
	out := make([]time.Duration, len(r.samples))
	for i, s := range r.samples {
		out[i] = s.cpu
	}
	return out
}

// readies returns the exec → ready times of r, in round order.
func (r *coldResult) readies() []time.Duration {
	out := make([]time.Duration, len(r.samples))
	for i, s := range r.samples {
		out[i] = s.ready
	}
	return out
}

// coldRatio compares a function with a reference subject (the floor or
// Python): the verdict's ratio is that of the medians; the per-round ratios
// (both started in the same round) show how much it moved with the load.
type coldRatio struct {
	median     float64 // median(function) / median(reference)
	paired     spreadF // function / reference, round by round
	hasSamples bool
}

func compareCold(fn, ref *coldResult) coldRatio {
	f, r := summarize(fn.readies()), summarize(ref.readies())
	if f.n == 0 || r.n == 0 || r.median <= 0 {
		return coldRatio{}
	}
	var per []float64
	for i := 0; i < min(len(fn.samples), len(ref.samples)); i++ {
		if ref.samples[i].ready > 0 {
			per = append(per, float64(fn.samples[i].ready)/float64(ref.samples[i].ready))
		}
	}
	return coldRatio{median: float64(f.median) / float64(r.median), paired: summarizeF(per), hasSamples: true}
}
