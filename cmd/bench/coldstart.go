package main

import (
	"bufio"
	"context"
	_ "embed"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/spapi-lwa/secret-rotation/internal/logsink"
)

//go:embed baseline.py
var baselinePy []byte

// coldSample is one measured start.
type coldSample struct {
	ready  time.Duration // exec to the first answered invocation (or the "ready" line)
	listen time.Duration // exec to the emulator accepting connections; 0 for Python
	init   time.Duration // runtime start to its first /next call (rie INIT REPORT); 0 for Python
	hwmKB  int64         // peak RSS of the function process after its first answer
}

// coldResult is every start of one subject.
type coldResult struct {
	name    string
	samples []coldSample
	note    string // the invocation used
}

// stubPeer answers every AWS request at once with ResourceNotFoundException,
// so that a minimal invocation that reaches Secrets Manager costs one local
// round trip.
func stubPeer() (url string, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, fmt.Errorf("stub peer: %w", err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.Header().Set("X-Amzn-ErrorType", "ResourceNotFoundException")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"__type":"ResourceNotFoundException","message":"Secrets Manager can't find the specified secret."}`)
	})}
	go srv.Serve(ln)
	return "http://" + ln.Addr().String(), func() { srv.Close() }, nil
}

// functionEnv is the configuration every function needs to start; endpoint
// receives every AWS call, LWA and SP-API point at it too.
func functionEnv(name, endpoint, topicARN string, extra map[string]string) map[string]string {
	env := map[string]string{
		"AWS_LAMBDA_FUNCTION_NAME":        name,
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
		"AWS_LAMBDA_FUNCTION_TIMEOUT":     "60",
		"AWS_ENDPOINT_URL":                endpoint,
		"ALERT_TOPIC_ARN":                 topicARN,
		"LWA_TOKEN_URL":                   endpoint + "/auth/o2/token",
		"SP_API_ENDPOINT":                 endpoint,
		// Required by the watchdog; the others do not read it.
		"ROTATE_SECRET_FUNCTION_ARN": "arn:aws:lambda:us-east-1:123456789012:function:RotateSecretFunction",
	}
	for k, v := range extra {
		env[k] = v
	}
	return env
}

// minimalEvent is an invocation that does as little as the function allows:
// an SQS batch with no records, or a createSecret for a secret that does not
// exist (one DescribeSecret, answered by the stub; the error answer is the
// expected one).
func minimalEvent(function string) (any, string) {
	if function == "rotate-secret" {
		return events.SecretsManagerSecretRotationEvent{
			Step:               "createSecret",
			SecretID:           "arn:aws:secretsmanager:us-east-1:123456789012:secret:bench-missing-AbCdEf",
			ClientRequestToken: "00000000-0000-4000-8000-000000000000",
		}, "createSecret for a nonexistent secret (one DescribeSecret to a local stub, error answer)"
	}
	if function == "watchdog" {
		return map[string]any{}, "an empty object, i.e. a sweep (one ListSecrets to a local stub, error answer)"
	}
	return events.SQSEvent{Records: []events.SQSMessage{}}, "SQS event with zero records"
}

// measureGoStart runs one cold start of bootstrap under rie.
func measureGoStart(ctx context.Context, rie, function, bootstrap string, env []string) (coldSample, error) {
	ev, _ := minimalEvent(function)
	in, err := startCold(rie, function, bootstrap, env)
	if err != nil {
		return coldSample{}, err
	}
	defer in.proc.Stop()
	if err := in.waitListening(10 * time.Second); err != nil {
		return coldSample{}, err
	}
	listen := time.Since(in.started)
	if err := in.invoke(ctx, ev); err != nil {
		return coldSample{}, err
	}
	s := coldSample{ready: time.Since(in.started), listen: listen}
	// rie logs INIT REPORT before it forwards the invocation; the pipe may lag.
	for i := 0; i < 50; i++ {
		if d, ok := in.initDuration(); ok {
			s.init = d
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	if pid, ok := in.bootstrapPID(); ok {
		s.hwmKB, _ = statusKB(pid, "VmHWM")
	}
	return s, nil
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

// measurePythonStart runs the boto3 baseline once.
func measurePythonStart(python, script string, env []string) (coldSample, error) {
	cmd := exec.Command(python, script)
	cmd.Env = env
	cmd.Dir = filepath.Dir(script)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return coldSample{}, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return coldSample{}, err
	}
	stderr := &logsink.Buffer{}
	cmd.Stderr = stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return coldSample{}, fmt.Errorf("start python baseline: %w", err)
	}
	defer cmd.Wait()
	defer stdin.Close()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "ready" {
		cmd.Process.Kill()
		return coldSample{}, fmt.Errorf("python baseline did not print ready (%v):\n%s", err, tail(stderr.String(), 2000))
	}
	s := coldSample{ready: time.Since(start)}
	s.hwmKB, _ = statusKB(cmd.Process.Pid, "VmHWM")
	return s, nil
}

// coldStarts measures n starts of each function (host build) and of the
// Python baseline, interleaved so that they share the machine's state, after
// one discarded warm-up start of each.
func coldStarts(ctx context.Context, rie string, bootstraps map[string]string, n int, work string, progress func(string, ...any)) ([]coldResult, error) {
	endpoint, stop, err := stubPeer()
	if err != nil {
		return nil, err
	}
	defer stop()
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
	const topic = "arn:aws:sns:us-east-1:123456789012:bench-alerts"
	pyEnv := sandboxEnv(home, map[string]string{"AWS_ENDPOINT_URL": endpoint, "PYTHONDONTWRITEBYTECODE": "1"})

	results := make([]coldResult, 0, len(functionNames)+1)
	for _, f := range functionNames {
		_, note := minimalEvent(f)
		results = append(results, coldResult{name: f, note: note})
	}
	results = append(results, coldResult{name: "python-boto3", note: "python3 baseline.py: import boto3, create secretsmanager and sns clients, print ready"})

	for round := -1; round < n; round++ {
		for i, f := range functionNames {
			env := sandboxEnv(home, functionEnv(f, endpoint, topic, nil))
			s, err := measureGoStart(ctx, rie, f, bootstraps[f], env)
			if err != nil {
				return nil, fmt.Errorf("cold start of %s: %w", f, err)
			}
			if round >= 0 {
				results[i].samples = append(results[i].samples, s)
			}
		}
		s, err := measurePythonStart(python, script, pyEnv)
		if err != nil {
			return nil, err
		}
		if round >= 0 {
			results[len(results)-1].samples = append(results[len(results)-1].samples, s)
		}
		if round >= 0 && (round+1)%5 == 0 {
			progress("cold starts: %d/%d rounds", round+1, n)
		}
	}
	return results, nil
}
