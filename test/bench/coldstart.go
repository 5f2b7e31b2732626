package main

import (
	"cmp"
	"context"
	_ "embed"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spapi-lwa/secret-rotation/test/harness"
	"github.com/spapi-lwa/secret-rotation/test/logsink"
)

//go:embed baseline.py
var baselinePy []byte

const subjectPython = "python-boto3"

var coldSubjects = append(slices.Clone(builtNames), subjectPython)

var coldNotes = map[string]string{
	subjectFloor:    "test/bench/floor: lambda.Start with a handler that does nothing",
	subjectSDKFloor: "test/bench/floor -tags sdkfloor: the floor linking the SDK's secretsmanager and sns packages",
	subjectPython:   "test/bench/baseline.py: import boto3, create the Secrets Manager and SNS clients",
}

// coldRun is the whole cold-start measurement, by subject, in round order.
type coldRun struct {
	ready, cpu map[string][]time.Duration // exec to ready, and CPU time then
	hwmKB      map[string]int64           // the highest peak RSS when ready
}

func newColdRun() *coldRun {
	return &coldRun{ready: map[string][]time.Duration{}, cpu: map[string][]time.Duration{},
		hwmKB: map[string]int64{}}
}

// start execs argv with env under a fresh fake runtime API and records its start under name: the
// time from exec to its first request (a runtime's first, once ready, is GET
// /2018-06-01/runtime/invocation/next), held open until the process is stopped so that nothing
// after is timed, and its CPU time and peak RSS then.
func (c *coldRun) start(name string, argv, env []string) error {
	arrived := make(chan time.Time, 1)
	api := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		select {
		case arrived <- time.Now():
		default:
		}
		<-r.Context().Done()
	}))
	defer api.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(env, "AWS_LAMBDA_RUNTIME_API="+api.Listener.Addr().String())
	cmd.Dir = filepath.Dir(argv[len(argv)-1])
	out := &logsink.Buffer{}
	start := time.Now()
	p, err := harness.StartProcess(name, cmd, out)
	if err != nil {
		return err
	}
	defer p.Stop()
	select {
	case at := <-arrived:
		c.ready[name], c.cpu[name] = append(c.ready[name], at.Sub(start)), append(c.cpu[name], cpuTime(p.Pid()))
		c.hwmKB[name] = max(c.hwmKB[name], procKB(fmt.Sprintf("/proc/%d/status", p.Pid()), "VmHWM"))
		return nil
	case <-p.Done():
		return fmt.Errorf("%s exited before it asked for an invocation:\n%s", name, tail(out.String(), 2000))
	case <-time.After(20 * time.Second):
		return fmt.Errorf("%s did not ask for an invocation within 20s", name)
	}
}

// unreachable is an unused loopback port: the measured processes call nothing before they are ready.
const unreachable = "http://127.0.0.1:9"

// coldStarts measures n starts of each subject (the host builds in dir). Each round starts every
// subject once, in an order shuffled per round (fixed seed), so that they share the machine's state
// and no subject always follows another; one discarded round warms the page cache first.
func coldStarts(ctx context.Context, dir string, n int, work string) (*coldRun, error) {
	home, script := filepath.Join(work, "home"), filepath.Join(work, "baseline.py")
	os.MkdirAll(home, 0o755)
	if err := os.WriteFile(script, baselinePy, 0o644); err != nil {
		return nil, err
	}
	// The real interpreter, so that no version-manager shim is timed.
	python, err := exec.CommandContext(ctx, "python3", "-c", "import sys; print(sys.executable)").Output()
	if err != nil {
		return nil, fmt.Errorf("find python3: %w", err)
	}
	// The whole environment of a measured process, as in a Lambda sandbox: an empty HOME (no ~/.aws),
	// and no CA bundle variable (loading an extra bundle costs start-up time).
	sandbox := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "TZ=UTC",
		"AWS_REGION=us-east-1", "AWS_DEFAULT_REGION=us-east-1", "AWS_EC2_METADATA_DISABLED=true",
		"AWS_ACCESS_KEY_ID=AKIABENCHFAKE0000000", "AWS_SECRET_ACCESS_KEY=bench-fake-secret-access-key",
		"AWS_ENDPOINT_URL=" + unreachable}
	argv := map[string][]string{subjectPython: {strings.TrimSpace(string(python)), script}}
	env := map[string][]string{subjectPython: append(slices.Clone(sandbox), "PYTHONDONTWRITEBYTECODE=1")}
	for _, f := range builtNames {
		// What every function needs to start (the watchdog alone reads the rotation function's ARN).
		argv[f] = []string{filepath.Join(dir, f, "bootstrap")}
		env[f] = append(slices.Clone(sandbox), "AWS_LAMBDA_FUNCTION_NAME="+f,
			"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128", "AWS_LAMBDA_FUNCTION_VERSION=$LATEST",
			"ALERT_TOPIC_ARN=arn:aws:sns:us-east-1:123456789012:bench-alerts",
			"LWA_TOKEN_URL="+unreachable+"/auth/o2/token", "SP_API_ENDPOINT="+unreachable,
			"ROTATE_SECRET_FUNCTION_ARN="+harness.RotationFunctionARN)
	}
	run := newColdRun()
	rng, order := rand.New(rand.NewPCG(7, 25)), slices.Clone(coldSubjects)
	for round := -1; round < n && ctx.Err() == nil; round++ {
		if round == 0 { // the warm-up round is discarded
			run = newColdRun()
		}
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		for _, name := range order {
			if err := run.start(name, argv[name], env[name]); err != nil {
				return nil, fmt.Errorf("cold start of %s: %w", name, err)
			}
		}
	}
	return run, ctx.Err()
}

// coldRatio compares a subject with a reference: the ratio of the medians (the verdict's), and the
// spread of the ratios round by round.
type coldRatio struct {
	median float64
	paired spread[float64]
}

func compareCold(c *coldRun, subject, ref string) coldRatio {
	s, r := c.ready[subject], c.ready[ref]
	per := make([]float64, len(s))
	for i := range s {
		per[i] = float64(s[i]) / float64(r[i])
	}
	return coldRatio{median: float64(summarize(s).median) / float64(summarize(r).median), paired: summarize(per)}
}

// worstCold returns the function whose median is the highest against ref's, and its ratio.
func worstCold(c *coldRun, ref string) (string, coldRatio) {
	worst := slices.MaxFunc(functionNames, func(a, b string) int {
		return cmp.Compare(compareCold(c, a, ref).median, compareCold(c, b, ref).median)
	})
	return worst, compareCold(c, worst, ref)
}
