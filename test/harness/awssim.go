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
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
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

var errIncomplete = &smithy.GenericAPIError{Code: "InvalidRequestException",
	Message: "A previous rotation isn't complete. That rotation will be reattempted."}

// startEngine starts Secrets Manager's rotation engine in front of moto: the proxy the functions
// reach Secrets Manager through (ProxyURL), and awssim's engine running rotations in real time.
func (s *Stack) startEngine() (err error) {
	u, _ := url.Parse(s.MotoURL)
	s.proxy = httputil.NewSingleHostReverseProxy(u)
	s.rot = &awssim.Engine{Now: time.Now, RetryDelay: cmp.Or(s.opts.RotationRetryDelay, 2*time.Second),
		MaxAttempts: cmp.Or(s.opts.RotationAttempts, 5), Invoke: s.step, Finish: s.finish, Pending: s.pending,
		OnDone: s.done, Wake: func(at time.Time) {
			time.AfterFunc(time.Until(at), func() {
				if s.ctx.Err() == nil {
					s.rot.StartDue(time.Now())
				}
			})
		}}
	s.closers = append(s.closers, s.rot.Stop)
	s.ProxyURL, err = s.serve(http.HandlerFunc(s.secretsManager))
	return err
}

// secretsManager is the Secrets Manager endpoint the functions use.
func (s *Stack) secretsManager(w http.ResponseWriter, r *http.Request) {
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
		out, err = s.rotateSecret(r.Context(), &in.RotateSecretInput)
	case "secretsmanager.PutSecretValue": // moto lets a token be reused for another value; AWS refuses
		got, gerr := s.SecretsManager.GetSecretValue(r.Context(), &secretsmanager.GetSecretValueInput{
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
		s.proxy.ServeHTTP(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(out)
}

// rotateSecret is RotateSecret as the service plays it.
func (s *Stack) rotateSecret(ctx context.Context, in *secretsmanager.RotateSecretInput) (
	*secretsmanager.RotateSecretOutput, error) {
	d, err := s.SecretsManager.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: in.SecretId})
	if err != nil {
		return nil, err
	}
	arn := aws.ToString(d.ARN)
	pending := managed.PendingVersion(d.VersionIdsToStages)
	if running := s.rot.Running(arn); running || pending != "" {
		if !running {
			s.rot.Start(arn, pending, true) // "That rotation will be reattempted": now
		}
		return nil, errIncomplete
	}
	lambdaARN := aws.ToString(in.RotationLambdaARN)
	if lambdaARN == "" && !aws.ToBool(d.RotationEnabled) && aws.ToString(d.RotationLambdaARN) == "" {
		return nil, &smithy.GenericAPIError{Code: "InvalidRequestException",
			Message: "No Lambda rotation function ARN is associated with this secret."}
	}
	token := cmp.Or(aws.ToString(in.ClientRequestToken), NewToken())
	_, err = s.SecretsManager.RotateSecret(ctx, &secretsmanager.RotateSecretInput{
		SecretId: d.ARN, ClientRequestToken: aws.String(token),
		RotationLambdaARN: aws.String(cmp.Or(lambdaARN, RotationFunctionARN)), RotationRules: in.RotationRules,
	})
	// moto answers ResourceNotFoundException to a RotateSecret naming a Lambda it does not know,
	// after it has stored the rotation's configuration and pending version.
	if ae, ok := errors.AsType[smithy.APIError](err); err != nil &&
		(!ok || ae.ErrorCode() != "ResourceNotFoundException") {
		return nil, err
	}
	if s.rot.Running(arn) {
		return nil, errIncomplete
	}
	if in.RotateImmediately == nil || *in.RotateImmediately {
		s.rot.Start(arn, token, false)
	}
	return &secretsmanager.RotateSecretOutput{ARN: d.ARN, Name: d.Name, VersionId: aws.String(token)}, nil
}

func (s *Stack) step(a awssim.Attempt, step string) error {
	if step == awssim.Steps[0] {
		how := map[bool]string{false: "started", true: "reattempted"}[a.Reattempt]
		s.emit("rotation %s: secret %s version %s (attempt %d)", how, shortARN(a.SecretARN), short(a.Token), a.N)
	}
	start := time.Now()
	_, err := s.Invoke(s.ctx, FunctionRotate, events.SecretsManagerSecretRotationEvent{Step: step, SecretID: a.SecretARN, ClientRequestToken: a.Token})
	rec, result := StepRecord{SecretID: a.SecretARN, Attempt: a.N, Step: step}, "ok"
	if err != nil {
		rec.Err = err.Error()
		result = fmt.Sprintf("failed: %.300q", rec.Err)
	}
	s.emit("  %s (%s): %s", step, time.Since(start).Round(time.Millisecond), result)
	s.mu.Lock()
	s.steps = append(s.steps, rec)
	s.mu.Unlock()
	return err
}

func (s *Stack) finish(arn, token string) error {
	_, err := s.SecretsManager.UpdateSecretVersionStage(s.ctx, &secretsmanager.UpdateSecretVersionStageInput{
		SecretId: aws.String(arn), VersionStage: aws.String("AWSPENDING"), RemoveFromVersionId: aws.String(token)})
	return err
}

func (s *Stack) pending(arn string) (string, bool) {
	v, ok, _ := s.Stage(s.ctx, arn, managed.StagePending)
	return v.ID, ok
}

func (s *Stack) done(a awssim.Attempt, o awssim.Outcome) {
	end := map[awssim.Outcome]string{awssim.Succeeded: RotationSucceeded, awssim.Abandoned: "abandoned"}[o]
	switch {
	case s.ctx.Err() != nil: // the stack is closing
	case end == "":
		s.emit("rotation failed (attempt %d); retry in %s", a.N, s.rot.RetryDelay)
	default:
		s.record(Event{SecretARN: a.SecretARN, Rotation: end, What: fmt.Sprintf(
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

func (s *Stack) busy() bool {
	_, waiting := s.rot.Stats()
	return s.rot.Busy() || waiting > 0
}

// startMapping runs awssim's SQS event source mapping of a moto queue to function, in real time.
func (s *Stack) startMapping(ctx context.Context, queue, url, function string) *awssim.Mapping {
	name := queue + " queue → " + function
	m := &awssim.Mapping{Queue: sqsQueue{s.SQS, url, 0, 1}, QueueARN: queueARN(url), Region: Region,
		Invoke: func(ctx context.Context, ev events.SQSEvent) (resp events.SQSEventResponse, err error) {
			out, err := s.Invoke(ctx, function, ev)
			if err == nil {
				err = json.Unmarshal(out, &resp)
			}
			if err == nil {
				s.emit("%s: %d message(s) handled, %d failed (retried later)", name, len(ev.Records),
					len(resp.BatchItemFailures))
			} else if ctx.Err() == nil {
				s.emit("%s: invocation failed, all %d message(s) retried: %.300q", name, len(ev.Records), err)
			}
			return resp, err
		}}
	s.wg.Go(func() {
		for ctx.Err() == nil {
			if _, err := m.Poll(ctx); err != nil && ctx.Err() == nil {
				s.emit("%s: %v", name, err)
				time.Sleep(500 * time.Millisecond)
			}
		}
	})
	return m
}

// sqsQueue is a moto queue as an awssim.Queue: it receives hiding messages for visibility seconds
// (0: the queue's timeout), waiting up to wait seconds for one.
type sqsQueue struct {
	sqs              *sqs.Client
	url              string
	visibility, wait int32
}

func (q sqsQueue) Receive(ctx context.Context, n int) ([]events.SQSMessage, error) {
	out, err := q.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(q.url),
		MaxNumberOfMessages: int32(n), VisibilityTimeout: q.visibility, WaitTimeSeconds: q.wait,
		MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAll}})
	if err != nil {
		return nil, fmt.Errorf("harness: receive from %s: %w", filepath.Base(q.url), err)
	}
	var msgs []events.SQSMessage
	for _, m := range out.Messages {
		msgs = append(msgs, events.SQSMessage{MessageId: aws.ToString(m.MessageId),
			ReceiptHandle: aws.ToString(m.ReceiptHandle), Body: aws.ToString(m.Body), Attributes: m.Attributes})
	}
	return msgs, nil
}

func (q sqsQueue) Delete(ctx context.Context, m events.SQSMessage) error {
	_, err := q.sqs.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(q.url), ReceiptHandle: aws.String(m.ReceiptHandle)})
	return err
}
