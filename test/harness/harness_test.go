package harness

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/spapi-lwa/secret-rotation/test/logsink"
)

func TestRIEPathMissing(t *testing.T) {
	_, err := RIEPath(t.TempDir())
	if !errors.Is(err, ErrMissing) || !strings.Contains(err.Error(), "make tools") {
		t.Errorf("RIEPath(empty dir) = %v, want ErrMissing saying run make tools", err)
	}
}

func TestRetryAfter(t *testing.T) {
	tests := []struct {
		status     int
		header     string
		wantHeader string
	}{
		{http.StatusTooManyRequests, "", "1"},
		{http.StatusTooManyRequests, "5", "5"},
		{http.StatusOK, "", ""},
		{http.StatusServiceUnavailable, "", ""},
	}
	for _, tt := range tests {
		h := retryAfter(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if tt.header != "" {
				w.Header().Set("Retry-After", tt.header)
			}
			w.WriteHeader(tt.status)
		}))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/", nil))
		if got := rec.Header().Get("Retry-After"); got != tt.wantHeader || rec.Code != tt.status {
			t.Errorf("status %d with Retry-After %q: got %d %q, want %d %q", tt.status, tt.header, rec.Code, got, tt.status, tt.wantHeader)
		}
	}
}

// motoURL starts moto for a test, or skips (fails with E2E=1).
func motoURL(t *testing.T) string {
	t.Helper()
	if err := CheckMoto(t.Context()); err != nil {
		if os.Getenv("E2E") == "1" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	p, url, err := startMoto(t.Context(), &logsink.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	return url
}

// fakeRotation plays the rotation function's protocol against the proxy and
// fails setSecret on its first attempt.
type fakeRotation struct {
	sm    *secretsmanager.Client // through the proxy
	mu    sync.Mutex
	calls []string
	block chan struct{} // if set, createSecret waits for it
}

func (f *fakeRotation) invoke(ctx context.Context, event any) ([]byte, error) {
	ev := event.(events.SecretsManagerSecretRotationEvent)
	f.mu.Lock()
	f.calls = append(f.calls, ev.Step)
	n := len(f.calls)
	f.mu.Unlock()
	id, token := aws.String(ev.SecretID), aws.String(ev.ClientRequestToken)
	switch ev.Step {
	case "createSecret":
		if f.block != nil {
			<-f.block
		}
		_, err := f.sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: id, ClientRequestToken: token,
			SecretString: aws.String("new"), VersionStages: []string{"AWSPENDING"}})
		return nil, err
	case "setSecret":
		if n == 2 {
			return nil, &FunctionError{Function: "fake", Type: "errorString", Message: "injected"}
		}
	case "finishSecret":
		cur, err := f.sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: id})
		if err != nil {
			return nil, err
		}
		for v, st := range cur.VersionIdsToStages {
			if slices.Contains(st, "AWSCURRENT") {
				_, err = f.sm.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{SecretId: id,
					VersionStage: aws.String("AWSCURRENT"), MoveToVersionId: token, RemoveFromVersionId: aws.String(v)})
				return nil, err
			}
		}
	}
	return []byte("null"), nil
}

// engineStack starts the rotation engine alone in front of moto, invoke playing the rotation function.
func engineStack(t *testing.T, retry time.Duration, attempts int, invoke func(context.Context, any) ([]byte, error)) *Stack {
	around := func(ctx context.Context, _ string, ev any, _ func(context.Context) ([]byte, error)) ([]byte, error) {
		return invoke(ctx, ev)
	}
	s := &Stack{MotoURL: motoURL(t), pools: map[string]*pool{FunctionRotate: {free: make(chan *instance, 1)}},
		opts: Options{RotationRetryDelay: retry, RotationAttempts: attempts, AroundInvoke: around}}
	s.pools[FunctionRotate].free <- &instance{}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.SecretsManager = secretsmanager.NewFromConfig(awsConfig(s.MotoURL))
	t.Cleanup(s.Close)
	if err := s.startEngine(); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestEngineRotation(t *testing.T) {
	fake := &fakeRotation{block: make(chan struct{})}
	s := engineStack(t, 200*time.Millisecond, 3, fake.invoke)
	direct, proxied := s.SecretsManager, secretsmanager.NewFromConfig(awsConfig(s.ProxyURL))
	fake.sm = proxied

	arn, err := s.Seed(t.Context(), SeedOptions{Name: "s", Document: &SecretDocument{ClientSecret: "old"}, Rotation: true})
	if err != nil {
		t.Fatal(err)
	}

	rot, err := proxied.RotateSecret(t.Context(), &secretsmanager.RotateSecretInput{SecretId: aws.String(arn)})
	if err != nil {
		t.Fatalf("RotateSecret = %v", err)
	}
	token := aws.ToString(rot.VersionId)
	// While it runs, another RotateSecret is refused as the service does.
	var ire *types.InvalidRequestException
	if _, err := proxied.RotateSecret(t.Context(), &secretsmanager.RotateSecretInput{SecretId: aws.String(arn)}); !errors.As(err, &ire) {
		t.Errorf("RotateSecret during a rotation = %v, want InvalidRequestException", err)
	}
	close(fake.block)

	deadline := time.Now().Add(10 * time.Second)
	for s.busy() && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	want := []string{"createSecret", "setSecret", "createSecret", "setSecret", "testSecret", "finishSecret"}
	fake.mu.Lock()
	calls := slices.Clone(fake.calls)
	fake.mu.Unlock()
	if !slices.Equal(calls, want) {
		t.Errorf("steps = %v, want %v (timeline %+v)", calls, want, s.Timeline())
	}
	d, err := direct.DescribeSecret(t.Context(), &secretsmanager.DescribeSecretInput{SecretId: aws.String(arn)})
	if err != nil {
		t.Fatal(err)
	}
	if st := d.VersionIdsToStages[token]; !slices.Equal(st, []string{"AWSCURRENT"}) {
		t.Errorf("stages of the rotated version = %v, want [AWSCURRENT] (AWSPENDING removed)", st)
	}
	got, err := direct.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn), VersionStage: aws.String("AWSCURRENT")})
	if err != nil || aws.ToString(got.SecretString) != "new" {
		t.Errorf("AWSCURRENT value = %v, %v; want the new value", err, got != nil && aws.ToString(got.SecretString) == "new")
	}
	var ended []Event // the events that end a rotation
	for _, ev := range s.Timeline() {
		if ev.Rotation != "" {
			ended = append(ended, ev)
		}
	}
	if len(ended) != 1 || ended[0].Rotation != RotationSucceeded || ended[0].SecretARN != arn {
		t.Errorf("rotation end events = %+v, want one %q for %s", ended, RotationSucceeded, arn)
	}
	if n := len(s.Steps()); n != len(want) {
		t.Errorf("engine recorded %d steps, want %d", n, len(want))
	}

	// PutSecretValue reusing a token for another value fails as in AWS.
	var ree *types.ResourceExistsException
	_, err = proxied.PutSecretValue(t.Context(), &secretsmanager.PutSecretValueInput{SecretId: aws.String(arn),
		ClientRequestToken: aws.String(token), SecretString: aws.String("other")})
	if !errors.As(err, &ree) {
		t.Errorf("PutSecretValue reusing token for another value = %v, want ResourceExistsException", err)
	}
	if _, err := proxied.PutSecretValue(t.Context(), &secretsmanager.PutSecretValueInput{SecretId: aws.String(arn),
		ClientRequestToken: aws.String(token), SecretString: aws.String("new")}); err != nil {
		t.Errorf("PutSecretValue repeating token and value = %v, want success", err)
	}
}

func TestEngineRefusesWithoutRotation(t *testing.T) {
	s := engineStack(t, time.Second, 1, func(context.Context, any) ([]byte, error) {
		return nil, errors.New("must not be invoked")
	})
	direct := s.SecretsManager
	if _, err := direct.CreateSecret(t.Context(), &secretsmanager.CreateSecretInput{Name: aws.String("plain"), SecretString: aws.String("v")}); err != nil {
		t.Fatal(err)
	}
	var ire *types.InvalidRequestException
	_, err := secretsmanager.NewFromConfig(awsConfig(s.ProxyURL)).RotateSecret(t.Context(), &secretsmanager.RotateSecretInput{SecretId: aws.String("plain")})
	if !errors.As(err, &ire) {
		t.Errorf("RotateSecret without rotation configured = %v, want InvalidRequestException", err)
	}
	var rnf *types.ResourceNotFoundException
	_, err = secretsmanager.NewFromConfig(awsConfig(s.ProxyURL)).RotateSecret(t.Context(), &secretsmanager.RotateSecretInput{SecretId: aws.String("missing")})
	if !errors.As(err, &rnf) {
		t.Errorf("RotateSecret of a missing secret = %v, want ResourceNotFoundException", err)
	}
}

func TestChildPID(t *testing.T) {
	p, err := StartProcess("sh", exec.Command("sh", "-c", "sleep 30; true"), &logsink.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	// The child is a copy of sh until it has exec'd sleep (a window that
	// CPU load widens): wait for the sleep.
	deadline := time.Now().Add(5 * time.Second)
	last := "no child"
	for {
		if child, ok := childPID(p.cmd.Process.Pid); ok {
			comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", child))
			if err == nil && strings.TrimSpace(string(comm)) == "sleep" {
				break
			}
			last = fmt.Sprintf("child %d with comm %q (%v)", child, comm, err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("childPID(%d) found %s, want the sleep child", p.cmd.Process.Pid, last)
		}
		time.Sleep(10 * time.Millisecond)
	}
	p.Stop()
	if !p.exited() {
		t.Error("exited() = false after Stop")
	}
	if _, ok := childPID(p.cmd.Process.Pid); ok {
		t.Errorf("childPID(%d) found a child after Stop", p.cmd.Process.Pid)
	}
}

func TestEnvWrapPeer(t *testing.T) {
	s := &Stack{ProxyURL: "http://proxy", MotoURL: "http://moto", SimURL: "http://sim"}
	if got := s.env(FunctionRotate)["AWS_ENDPOINT_URL_SECRETS_MANAGER"]; got != s.ProxyURL {
		t.Errorf("env() without WrapPeer: Secrets Manager at %q, want %q", got, s.ProxyURL)
	}
	var seen []string
	s.opts.WrapPeer = func(function, peer, url string) string {
		seen = append(seen, function+" "+peer+" "+url)
		return "http://wrapped-" + peer
	}
	got := s.env(FunctionReceive)
	want := map[string]string{
		"AWS_ENDPOINT_URL":                 "http://moto",
		"AWS_ENDPOINT_URL_SECRETS_MANAGER": "http://wrapped-" + PeerSecretsManager,
		"AWS_ENDPOINT_URL_SNS":             "http://wrapped-" + PeerSNS,
		"LWA_TOKEN_URL":                    "http://wrapped-" + PeerAmazon + "/auth/o2/token",
		"SP_API_ENDPOINT":                  "http://wrapped-" + PeerAmazon,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("env()[%s] = %q, want %q", k, got[k], v)
		}
	}
	slices.Sort(seen)
	wantSeen := []string{"receive-secret amazon http://sim", "receive-secret secretsmanager http://proxy", "receive-secret sns http://moto"}
	if !slices.Equal(seen, wantSeen) {
		t.Errorf("WrapPeer calls = %q, want %q", seen, wantSeen)
	}
}

func TestPoolAroundInvoke(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"ok":true}`)
	}))
	t.Cleanup(srv.Close)
	in := &instance{name: "f", url: srv.URL, http: srv.Client()}
	var calls []string
	s := &Stack{opts: Options{AroundInvoke: func(ctx context.Context, function string, event any, invoke func(context.Context) ([]byte, error)) ([]byte, error) {
		calls = append(calls, fmt.Sprint(function, " ", event))
		return invoke(ctx)
	}}, pools: map[string]*pool{"f": {free: make(chan *instance, 1)}}}
	s.pools["f"].free <- in
	out, err := s.Invoke(t.Context(), "f", "ev")
	if err != nil || string(out) != `{"ok":true}` {
		t.Fatalf("invoke = %q, %v; want the answer", out, err)
	}
	if !slices.Equal(calls, []string{"f ev"}) {
		t.Errorf("AroundInvoke calls = %q, want [f ev]", calls)
	}
}
