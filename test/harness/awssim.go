package harness

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
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
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"github.com/spapi-lwa/secret-rotation/internal/managed"
	"github.com/spapi-lwa/secret-rotation/test/awssim"
)

// StepRecord is one invocation of the rotation function by the engine.
type StepRecord struct {
	SecretID string
	Attempt  int
	Step     string
	Err      string // "" on success
}

// engine is Secrets Manager's rotation engine in front of moto: the proxy, and awssim's engine
// running rotations in real time.
type engine struct {
	sm     *secretsmanager.Client // moto, directly
	invoke func(ctx context.Context, event any) ([]byte, error)
	event  func(Event)
	proxy  *httputil.ReverseProxy
	ctx    context.Context
	rot    *awssim.Engine

	mu      sync.Mutex
	records []StepRecord
}

var errIncomplete = &smithy.GenericAPIError{Code: "InvalidRequestException",
	Message: "A previous rotation isn't complete. That rotation will be reattempted."}

func newEngine(ctx context.Context, motoURL string, sm *secretsmanager.Client, retry time.Duration, attempts int,
	event func(Event)) *engine {
	u, _ := url.Parse(motoURL)
	e := &engine{sm: sm, event: event, proxy: httputil.NewSingleHostReverseProxy(u), ctx: ctx}
	e.rot = &awssim.Engine{Now: time.Now, RetryDelay: retry, MaxAttempts: attempts,
		Invoke: e.step, Finish: e.finish, Pending: e.pending, OnDone: e.done,
		Wake: func(at time.Time) {
			time.AfterFunc(time.Until(at), func() {
				if ctx.Err() == nil {
					e.rot.StartDue(time.Now())
				}
			})
		},
	}
	return e
}

func (e *engine) say(format string, args ...any) { e.event(Event{What: fmt.Sprintf(format, args...)}) }

// ServeHTTP is the Secrets Manager endpoint the functions use.
func (e *engine) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	var in struct {
		secretsmanager.RotateSecretInput
		SecretString string // PutSecretValue's
	}
	json.Unmarshal(body, &in)
	var out any
	var err error
	switch r.Header.Get("X-Amz-Target") {
	case "secretsmanager.RotateSecret":
		out, err = e.rotateSecret(r.Context(), &in.RotateSecretInput)
	case "secretsmanager.PutSecretValue": // moto lets a token be reused for another value; AWS refuses
		got, gerr := e.sm.GetSecretValue(r.Context(), &secretsmanager.GetSecretValueInput{
			SecretId: in.SecretId, VersionId: in.ClientRequestToken})
		if in.ClientRequestToken != nil && gerr == nil && aws.ToString(got.SecretString) != in.SecretString {
			err = &smithy.GenericAPIError{Code: "ResourceExistsException",
				Message: "You can't modify an existing version, you can only create a new version."}
		}
	}
	status := http.StatusOK
	if ae, ok := errors.AsType[smithy.APIError](err); ok {
		status, out = http.StatusBadRequest, map[string]string{"__type": ae.ErrorCode(), "message": ae.ErrorMessage()}
	} else if err != nil {
		status, out = http.StatusInternalServerError, map[string]string{"__type": "InternalServiceError",
			"message": "the local rotation engine failed"}
	}
	if out == nil {
		e.proxy.ServeHTTP(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(out)
}

// rotateSecret is RotateSecret as the service plays it.
func (e *engine) rotateSecret(ctx context.Context, in *secretsmanager.RotateSecretInput) (
	*secretsmanager.RotateSecretOutput, error) {
	d, err := e.sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: in.SecretId})
	if err != nil {
		return nil, err
	}
	arn := aws.ToString(d.ARN)
	pending := managed.PendingVersion(d.VersionIdsToStages)
	if running := e.rot.Running(arn); running || pending != "" {
		if !running {
			e.rot.Start(arn, pending, true) // "That rotation will be reattempted": now
		}
		return nil, errIncomplete
	}
	lambdaARN := aws.ToString(in.RotationLambdaARN)
	if lambdaARN == "" && !aws.ToBool(d.RotationEnabled) && aws.ToString(d.RotationLambdaARN) == "" {
		return nil, &smithy.GenericAPIError{Code: "InvalidRequestException",
			Message: "No Lambda rotation function ARN is associated with this secret."}
	}
	token := cmp.Or(aws.ToString(in.ClientRequestToken), NewToken())
	_, err = e.sm.RotateSecret(ctx, &secretsmanager.RotateSecretInput{
		SecretId: d.ARN, ClientRequestToken: aws.String(token),
		RotationLambdaARN: aws.String(cmp.Or(lambdaARN, RotationFunctionARN)), RotationRules: in.RotationRules,
	})
	// moto answers ResourceNotFoundException to a RotateSecret naming a Lambda it does not know,
	// after it has stored the rotation's configuration and pending version.
	if ae, ok := errors.AsType[smithy.APIError](err); err != nil &&
		(!ok || ae.ErrorCode() != "ResourceNotFoundException") {
		return nil, err
	}
	if e.rot.Running(arn) {
		return nil, errIncomplete
	}
	if in.RotateImmediately == nil || *in.RotateImmediately {
		e.rot.Start(arn, token, false)
	}
	return &secretsmanager.RotateSecretOutput{ARN: d.ARN, Name: d.Name, VersionId: aws.String(token)}, nil
}

// enableRotation turns rotation on as a schedule does, without rotating: moto keeps the ARN and
// rules of a RotateSecret naming a Lambda it does not know, and an empty AWSPENDING version to remove.
func (e *engine) enableRotation(ctx context.Context, arn, function string) error {
	out, err := e.rotateSecret(ctx, &secretsmanager.RotateSecretInput{SecretId: aws.String(arn),
		RotationLambdaARN: aws.String(function), RotateImmediately: aws.Bool(false),
		RotationRules: &smtypes.RotationRulesType{AutomaticallyAfterDays: aws.Int64(30)}})
	if err != nil {
		return err
	}
	return e.finish(arn, aws.ToString(out.VersionId))
}

func (e *engine) step(a awssim.Attempt, step string) error {
	if step == awssim.Steps[0] {
		how := map[bool]string{false: "started", true: "reattempted"}[a.Reattempt]
		e.say("rotation %s: secret %s version %s (attempt %d)", how, shortARN(a.SecretARN), short(a.Token), a.N)
	}
	start := time.Now()
	_, err := e.invoke(e.ctx, events.SecretsManagerSecretRotationEvent{Step: step, SecretID: a.SecretARN, ClientRequestToken: a.Token})
	rec, result := StepRecord{SecretID: a.SecretARN, Attempt: a.N, Step: step}, "ok"
	if err != nil {
		rec.Err = err.Error()
		result = "failed: " + oneLine(rec.Err)
	}
	e.say("  %s (%s): %s", step, time.Since(start).Round(time.Millisecond), result)
	e.mu.Lock()
	e.records = append(e.records, rec)
	e.mu.Unlock()
	return err
}

func (e *engine) finish(arn, token string) error {
	_, err := e.sm.UpdateSecretVersionStage(e.ctx, &secretsmanager.UpdateSecretVersionStageInput{
		SecretId: aws.String(arn), VersionStage: aws.String("AWSPENDING"), RemoveFromVersionId: aws.String(token)})
	return err
}

func (e *engine) pending(arn string) (string, bool) {
	d, err := e.sm.DescribeSecret(e.ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(arn)})
	if err != nil {
		return "", false
	}
	pending := managed.Holder(d.VersionIdsToStages, managed.StagePending)
	return pending, pending != ""
}

func (e *engine) done(a awssim.Attempt, o awssim.Outcome) {
	end := map[awssim.Outcome]string{awssim.Succeeded: RotationSucceeded, awssim.Abandoned: "abandoned"}[o]
	switch {
	case e.ctx.Err() != nil: // the stack is closing
	case end == "":
		e.say("rotation failed (attempt %d); retry in %s", a.N, e.rot.RetryDelay)
	default:
		e.event(Event{SecretARN: a.SecretARN, Rotation: end, What: fmt.Sprintf(
			"rotation %s (attempt %d): secret %s version %s", end, a.N, shortARN(a.SecretARN), short(a.Token))})
	}
}

// NewToken returns a random version-4 UUID, the form of a ClientRequestToken.
func NewToken() string {
	b := make([]byte, 16)
	rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

func short(id string) string { return id[:min(len(id), 8)] }

func shortARN(arn string) string { return arn[strings.LastIndexByte(arn, ':')+1:] }

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > 300 {
		s = s[:297] + "..."
	}
	return s
}

func (e *engine) busy() bool {
	_, waiting := e.rot.Stats()
	return e.rot.Busy() || waiting > 0
}

// mapping is awssim's SQS event source mapping of a moto queue to a function, in real time; it is
// also the awssim.Queue it polls.
type mapping struct {
	*awssim.Mapping
	s                   *Stack
	name, url, function string
}

func (s *Stack) startMapping(ctx context.Context, queue, url, function string) *mapping {
	m := &mapping{s: s, name: queue + " queue → " + function, url: url, function: function}
	m.Mapping = &awssim.Mapping{Queue: m, QueueARN: queueARN(url), Region: Region, Invoke: m.call}
	s.wg.Go(func() {
		for ctx.Err() == nil {
			if _, err := m.Poll(ctx); err != nil && ctx.Err() == nil {
				s.emit("%s: receive failed: %v", m.name, err)
				time.Sleep(500 * time.Millisecond)
			}
		}
	})
	return m
}

func (m *mapping) call(ctx context.Context, ev events.SQSEvent) (resp events.SQSEventResponse, err error) {
	m.s.emit("%s: invoking with %d message(s)", m.name, len(ev.Records))
	out, err := m.s.pools[m.function].invoke(ctx, ev)
	if err == nil {
		err = json.Unmarshal(out, &resp)
	}
	switch n := len(resp.BatchItemFailures); {
	case err != nil && ctx.Err() == nil:
		m.s.emit("%s: invocation failed, whole batch retried: %s", m.name, oneLine(err.Error()))
	case n > 0:
		m.s.emit("%s: %d of %d message(s) failed and will be retried", m.name, n, len(ev.Records))
	case err == nil:
		m.s.emit("%s: %d message(s) processed", m.name, len(ev.Records))
	}
	return resp, err
}

// Receive is ReceiveMessage, as the mapping polls; no consumer reads message attributes.
func (m *mapping) Receive(ctx context.Context, n int) ([]events.SQSMessage, error) {
	out, err := m.s.SQS.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl:                    aws.String(m.url),
		MaxNumberOfMessages:         int32(n),
		WaitTimeSeconds:             1,
		MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAll},
	})
	if err != nil {
		return nil, err
	}
	var msgs []events.SQSMessage
	for _, msg := range out.Messages {
		msgs = append(msgs, events.SQSMessage{
			MessageId: aws.ToString(msg.MessageId), ReceiptHandle: aws.ToString(msg.ReceiptHandle),
			Body: aws.ToString(msg.Body), Md5OfBody: aws.ToString(msg.MD5OfBody), Attributes: msg.Attributes,
		})
	}
	return msgs, nil
}

// Delete is DeleteMessage of a handled message.
func (m *mapping) Delete(ctx context.Context, msg events.SQSMessage) error {
	_, err := m.s.SQS.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(m.url), ReceiptHandle: aws.String(msg.ReceiptHandle)})
	return err
}
