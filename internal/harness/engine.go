package harness

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go"
)

// Rotation steps, in order.
var steps = []string{"createSecret", "setSecret", "testSecret", "finishSecret"}

// StepRecord is one invocation of the rotation function by the engine.
type StepRecord struct {
	Time     time.Time
	SecretID string
	Token    string
	Attempt  int
	Step     string
	Duration time.Duration
	Err      string // "" on success
}

// engine plays Secrets Manager's rotation engine in front of moto: a proxy
// that forwards every call except RotateSecret (and checks PutSecretValue as
// the service does), and runs rotations by invoking the rotation function.
type engine struct {
	sm        *secretsmanager.Client // moto, directly
	lambdaARN string
	invoke    func(ctx context.Context, event any) ([]byte, error)
	retry     time.Duration
	attempts  int
	event     func(Event)
	proxy     *httputil.ReverseProxy

	ctx context.Context
	wg  sync.WaitGroup

	mu      sync.Mutex
	states  map[string]*rotState // by secret ARN
	records []StepRecord
}

type rotState struct {
	running bool
	token   string
	attempt int
	timer   *time.Timer
}

func newEngine(ctx context.Context, motoURL string, sm *secretsmanager.Client, lambdaARN string, retry time.Duration, attempts int, event func(Event)) *engine {
	u, _ := url.Parse(motoURL)
	return &engine{
		sm: sm, lambdaARN: lambdaARN, retry: retry, attempts: attempts, event: event,
		proxy: httputil.NewSingleHostReverseProxy(u), ctx: ctx, states: map[string]*rotState{},
	}
}

// say adds a plain event to the timeline.
func (e *engine) say(format string, args ...any) { e.event(Event{What: fmt.Sprintf(format, args...)}) }

// ServeHTTP is the Secrets Manager endpoint the functions use.
func (e *engine) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "secretsmanager.")
	switch op {
	case "RotateSecret", "PutSecretValue":
	default:
		e.proxy.ServeHTTP(w, r)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		writeAWSError(w, http.StatusBadRequest, "InvalidRequestException", "could not read the request")
		return
	}
	if op == "RotateSecret" {
		var in secretsmanager.RotateSecretInput
		if err := json.Unmarshal(body, &in); err != nil {
			writeAWSError(w, http.StatusBadRequest, "InvalidParameterException", "malformed request")
			return
		}
		out, err := e.rotateSecret(r.Context(), &in)
		if err != nil {
			writeErr(w, err)
			return
		}
		writeJSON(w, out)
		return
	}
	// PutSecretValue: reusing a token with a different value fails, as in AWS.
	var in struct {
		SecretId, ClientRequestToken, SecretString string
	}
	if json.Unmarshal(body, &in) == nil && in.ClientRequestToken != "" {
		got, err := e.sm.GetSecretValue(r.Context(), &secretsmanager.GetSecretValueInput{
			SecretId: aws.String(in.SecretId), VersionId: aws.String(in.ClientRequestToken)})
		if err == nil && aws.ToString(got.SecretString) != in.SecretString {
			writeAWSError(w, http.StatusBadRequest, "ResourceExistsException",
				"You can't modify an existing version, you can only create a new version.")
			return
		}
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	e.proxy.ServeHTTP(w, r)
}

type rotateOut struct {
	ARN       string `json:"ARN"`
	Name      string `json:"Name"`
	VersionID string `json:"VersionId"`
}

// rotateSecret is RotateSecret as the service plays it.
func (e *engine) rotateSecret(ctx context.Context, in *secretsmanager.RotateSecretInput) (*rotateOut, error) {
	d, err := e.sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: in.SecretId})
	if err != nil {
		return nil, err
	}
	arn := aws.ToString(d.ARN)
	var current, pending string
	for v, stages := range d.VersionIdsToStages {
		for _, s := range stages {
			switch s {
			case "AWSCURRENT":
				current = v
			case "AWSPENDING":
				pending = v
			}
		}
	}
	e.mu.Lock()
	st := e.states[arn]
	if st == nil {
		st = &rotState{}
		e.states[arn] = st
	}
	if st.running || (pending != "" && pending != current) {
		if !st.running && pending != "" {
			// That rotation will be reattempted: now.
			e.startLocked(arn, st, pending, true)
		}
		e.mu.Unlock()
		return nil, &smithy.GenericAPIError{Code: "InvalidRequestException",
			Message: "A previous rotation isn't complete. That rotation will be reattempted."}
	}
	e.mu.Unlock()
	lambdaARN := aws.ToString(in.RotationLambdaARN)
	if lambdaARN == "" {
		if !aws.ToBool(d.RotationEnabled) && aws.ToString(d.RotationLambdaARN) == "" {
			return nil, &smithy.GenericAPIError{Code: "InvalidRequestException",
				Message: "No Lambda rotation function ARN is associated with this secret."}
		}
		lambdaARN = e.lambdaARN
	}
	token := aws.ToString(in.ClientRequestToken)
	if token == "" {
		token = NewToken()
	}
	_, err = e.sm.RotateSecret(ctx, &secretsmanager.RotateSecretInput{
		SecretId: aws.String(arn), ClientRequestToken: aws.String(token),
		RotationLambdaARN: aws.String(lambdaARN), RotationRules: in.RotationRules,
	})
	var ae smithy.APIError
	if err != nil && !(errors.As(err, &ae) && ae.ErrorCode() == "ResourceNotFoundException") {
		return nil, err
	}
	e.mu.Lock()
	if st.running {
		e.mu.Unlock()
		return nil, &smithy.GenericAPIError{Code: "InvalidRequestException",
			Message: "A previous rotation isn't complete. That rotation will be reattempted."}
	}
	if in.RotateImmediately == nil || *in.RotateImmediately {
		st.attempt = 0
		e.startLocked(arn, st, token, false)
	}
	e.mu.Unlock()
	return &rotateOut{ARN: arn, Name: aws.ToString(d.Name), VersionID: token}, nil
}

// startLocked runs the rotation of token in the background.
func (e *engine) startLocked(arn string, st *rotState, token string, resumed bool) {
	if st.timer != nil {
		st.timer.Stop()
		st.timer = nil
	}
	if st.token != token {
		st.attempt = 0
	}
	st.running, st.token = true, token
	st.attempt++
	attempt := st.attempt
	how := "started"
	if resumed {
		how = "reattempted"
	}
	e.say("rotation %s: secret %s version %s (attempt %d)", how, shortARN(arn), short(token), attempt)
	e.wg.Go(func() { e.run(arn, token, attempt) })
}

func (e *engine) run(arn, token string, attempt int) {
	ctx := e.ctx
	var failed error
	for _, step := range steps {
		start := time.Now()
		_, err := e.invoke(ctx, events.SecretsManagerSecretRotationEvent{Step: step, SecretID: arn, ClientRequestToken: token})
		rec := StepRecord{Time: start, SecretID: arn, Token: token, Attempt: attempt, Step: step, Duration: time.Since(start)}
		if err != nil {
			rec.Err = err.Error()
		}
		e.mu.Lock()
		e.records = append(e.records, rec)
		e.mu.Unlock()
		if err != nil {
			e.say("  %s failed after %s: %s", step, rec.Duration.Round(time.Millisecond), oneLine(rec.Err))
			failed = err
			break
		}
		e.say("  %s ok (%s)", step, rec.Duration.Round(time.Millisecond))
	}
	if failed == nil {
		// The service removes AWSPENDING after a successful rotation.
		_, err := e.sm.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{
			SecretId: aws.String(arn), VersionStage: aws.String("AWSPENDING"), RemoveFromVersionId: aws.String(token)})
		if err != nil {
			failed = fmt.Errorf("remove AWSPENDING: %w", err)
		} else {
			e.event(Event{What: fmt.Sprintf("rotation succeeded: secret %s version %s", shortARN(arn), short(token)), SecretARN: arn, Rotation: RotationSucceeded})
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	st := e.states[arn]
	st.running = false
	if failed == nil || ctx.Err() != nil {
		st.attempt = 0
		return
	}
	if attempt >= e.attempts {
		e.event(Event{What: fmt.Sprintf("rotation abandoned after %d attempts: secret %s version %s", attempt, shortARN(arn), short(token)), SecretARN: arn, Rotation: RotationAbandoned})
		return
	}
	e.say("rotation failed (attempt %d); retry in %s", attempt, e.retry)
	st.timer = time.AfterFunc(e.retry, func() {
		e.mu.Lock()
		defer e.mu.Unlock()
		if ctx.Err() != nil || st.running || st.token != token {
			return
		}
		st.timer = nil
		e.startLocked(arn, st, token, true)
	})
}

// busy reports whether a rotation runs or waits for a retry.
func (e *engine) busy() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, st := range e.states {
		if st.running || st.timer != nil {
			return true
		}
	}
	return false
}

func (e *engine) stop() {
	e.mu.Lock()
	for _, st := range e.states {
		if st.timer != nil {
			st.timer.Stop()
			st.timer = nil
		}
	}
	e.mu.Unlock()
	e.wg.Wait()
}

func (e *engine) steps() []StepRecord {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]StepRecord(nil), e.records...)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	json.NewEncoder(w).Encode(v)
}

func writeAWSError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-ErrorType", code)
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"__type": code, "message": msg})
}

func writeErr(w http.ResponseWriter, err error) {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		writeAWSError(w, http.StatusBadRequest, ae.ErrorCode(), ae.ErrorMessage())
		return
	}
	writeAWSError(w, http.StatusInternalServerError, "InternalServiceError", "the local rotation engine failed")
}

// NewToken returns a random version-4 UUID, the form of a ClientRequestToken
// or an SQS message id.
func NewToken() string {
	b := make([]byte, 16)
	rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func short(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

func shortARN(arn string) string {
	if i := strings.LastIndexByte(arn, ':'); i >= 0 {
		return arn[i+1:]
	}
	return arn
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > 300 {
		s = s[:297] + "..."
	}
	return s
}
