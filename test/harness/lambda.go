package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"time"
)

// instance is one function process under aws-lambda-rie. The emulator runs
// one invocation at a time, so invocations are serialized.
type instance struct {
	name string
	url  string
	proc *Process
	mu   sync.Mutex
	http *http.Client
}

// InvocationPath is the path of aws-lambda-rie's invoke endpoint.
const InvocationPath = "/2015-03-31/functions/function/invocations"

// RIECommand returns the command that runs bootstrap under rie, the
// emulator serving invocations at addr (on a free 127.0.0.1 port, POST
// "http://"+addr+InvocationPath) and logging at logLevel. The caller sets
// the environment and starts it (StartProcess).
func RIECommand(rie, bootstrap, logLevel string) (cmd *exec.Cmd, addr string, err error) {
	cmd, addr, _, err = rieCommand(rie, bootstrap, logLevel)
	return cmd, addr, err
}

// rieCommand is RIECommand that also returns the runtime API's address.
func rieCommand(rie, bootstrap, logLevel string) (cmd *exec.Cmd, addr, apiAddr string, err error) {
	port, err := FreePort()
	if err != nil {
		return nil, "", "", err
	}
	apiPort, err := FreePort()
	if err != nil {
		return nil, "", "", err
	}
	addr = fmt.Sprintf("127.0.0.1:%d", port)
	apiAddr = fmt.Sprintf("127.0.0.1:%d", apiPort)
	cmd = exec.Command(rie,
		"--runtime-interface-emulator-address", addr,
		"--runtime-api-address", apiAddr,
		"--log-level", logLevel,
		bootstrap)
	return cmd, addr, apiAddr, nil
}

// startAttempts bounds the starts of one instance: FreePort's port can be
// taken by another process before rie binds it (tests run in parallel), and
// rie then exits; a new pair of ports is tried.
const startAttempts = 3

// startInstance runs bootstrap under rie with env (nothing else is inherited
// but PATH, HOME and TMPDIR), writing its output to logs.
func startInstance(ctx context.Context, rie, name, bootstrap string, timeout time.Duration, env map[string]string, logs io.Writer) (*instance, error) {
	var err error
	for attempt := 1; attempt <= startAttempts; attempt++ {
		var in *instance
		if in, err = startInstanceOnce(ctx, rie, name, bootstrap, timeout, env, logs); err == nil {
			return in, nil
		}
	}
	return nil, err
}

func startInstanceOnce(ctx context.Context, rie, name, bootstrap string, timeout time.Duration, env map[string]string, logs io.Writer) (*instance, error) {
	cmd, addr, apiAddr, err := rieCommand(rie, bootstrap, "warn")
	if err != nil {
		return nil, err
	}
	for _, k := range []string{"PATH", "HOME", "TMPDIR"} {
		if v, ok := os.LookupEnv(k); ok {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	cmd.Env = append(cmd.Env,
		"AWS_LAMBDA_FUNCTION_NAME="+name,
		"AWS_LAMBDA_FUNCTION_TIMEOUT="+strconv.Itoa(int(timeout/time.Second)),
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128",
		// As the template's LoggingConfig sets it: lambdacontext.NewLogger
		// writes JSON, the form the deployed functions log in.
		"AWS_LAMBDA_LOG_FORMAT=JSON",
	)
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	p, err := StartProcess(name, cmd, logs)
	if err != nil {
		return nil, err
	}
	// Both listeners must be up: rie can serve invocations and still fail to
	// bind its runtime API, and then it exits.
	for _, a := range []string{addr, apiAddr} {
		if err := waitTCP(ctx, p, a, 10*time.Second); err != nil {
			p.Stop()
			return nil, err
		}
	}
	return &instance{
		name: name,
		url:  "http://" + addr + InvocationPath,
		proc: p,
		http: &http.Client{Timeout: timeout + 15*time.Second},
	}, nil
}

// invokeError is the body of a handler error.
type invokeError struct {
	ErrorMessage string `json:"errorMessage"`
	ErrorType    string `json:"errorType"`
}

// invoke sends event and returns the response payload, or an error naming
// the handler's errorType and errorMessage.
func (i *instance) invoke(ctx context.Context, event any) ([]byte, error) {
	body, err := json.Marshal(event)
	if err != nil {
		return nil, fmt.Errorf("harness: invoke %s: %w", i.name, err)
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, i.url, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("harness: invoke %s: %w", i.name, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := i.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("harness: invoke %s: %w", i.name, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("harness: invoke %s: read response: %w", i.name, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("harness: invoke %s: status %d", i.name, resp.StatusCode)
	}
	var ie invokeError
	if json.Unmarshal(out, &ie) == nil && (ie.ErrorMessage != "" || ie.ErrorType != "") {
		return out, &FunctionError{Function: i.name, Type: ie.ErrorType, Message: ie.ErrorMessage}
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

// AroundInvoke wraps one invocation of function with event: it is called
// while an instance is held for the invocation, and must call invoke once
// (or answer without it).
type AroundInvoke func(ctx context.Context, function string, event any, invoke func(context.Context) ([]byte, error)) ([]byte, error)

// pool spreads invocations over instances of one function.
type pool struct {
	name   string
	free   chan *instance
	all    []*instance
	around AroundInvoke
}

func newPool(name string, insts []*instance, around AroundInvoke) *pool {
	p := &pool{name: name, free: make(chan *instance, len(insts)), all: insts, around: around}
	for _, in := range insts {
		p.free <- in
	}
	return p
}

func (p *pool) invoke(ctx context.Context, event any) ([]byte, error) {
	var in *instance
	select {
	case in = <-p.free:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { p.free <- in }()
	if p.around != nil {
		return p.around(ctx, p.name, event, func(ctx context.Context) ([]byte, error) { return in.invoke(ctx, event) })
	}
	return in.invoke(ctx, event)
}

func (p *pool) stop() {
	for _, in := range p.all {
		in.proc.Stop()
	}
}
