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
	"time"
)

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
	var vars []string
	for _, k := range []string{"PATH", "HOME", "TMPDIR"} {
		if v, ok := os.LookupEnv(k); ok {
			vars = append(vars, k+"="+v)
		}
	}
	vars = append(vars,
		"AWS_LAMBDA_FUNCTION_NAME="+name,
		"AWS_LAMBDA_FUNCTION_TIMEOUT="+strconv.Itoa(int(timeout/time.Second)),
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128",
		"AWS_LAMBDA_LOG_FORMAT=JSON", // as the template's LoggingConfig sets it
	)
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
	out, err := i.post(ctx, event)
	if err != nil {
		return nil, fmt.Errorf("harness: invoke %s: %w", i.name, err)
	}
	var fe struct{ ErrorMessage, ErrorType string }
	if json.Unmarshal(out, &fe) == nil && (fe.ErrorMessage != "" || fe.ErrorType != "") {
		return out, &FunctionError{Function: i.name, Type: fe.ErrorType, Message: fe.ErrorMessage}
	}
	return out, nil
}

func (i *instance) post(ctx context.Context, event any) ([]byte, error) {
	body, err := json.Marshal(event)
	if err != nil {
		return nil, err
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, i.url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := i.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %d", resp.StatusCode)
	}
	return io.ReadAll(resp.Body)
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
	free   chan *instance // made with room for every instance
	all    []*instance
	around AroundInvoke
}

func (p *pool) add(in *instance) {
	p.all = append(p.all, in)
	p.free <- in
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
		return p.around(ctx, in.name, event, func(ctx context.Context) ([]byte, error) { return in.invoke(ctx, event) })
	}
	return in.invoke(ctx, event)
}
