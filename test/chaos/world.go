package chaos

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/smithy-go"

	"github.com/spapi-lwa/secret-rotation/internal/alert"
	"github.com/spapi-lwa/secret-rotation/internal/expiry"
	"github.com/spapi-lwa/secret-rotation/internal/lwa"
	"github.com/spapi-lwa/secret-rotation/internal/managed"
	"github.com/spapi-lwa/secret-rotation/internal/receiver"
	"github.com/spapi-lwa/secret-rotation/internal/rotation"
	"github.com/spapi-lwa/secret-rotation/internal/secretdoc"
	"github.com/spapi-lwa/secret-rotation/internal/spapi"
	"github.com/spapi-lwa/secret-rotation/test/awssim"
	"github.com/spapi-lwa/secret-rotation/test/logsink"
	"github.com/spapi-lwa/secret-rotation/test/secretsmanagertest"
	"github.com/spapi-lwa/secret-rotation/test/snstest"
	"github.com/spapi-lwa/secret-rotation/test/spapisim"
)

// Scale of the world: real durations are the deployed ones scaled down so a
// run takes milliseconds; simulated ones are the deployed ones.
const (
	// TickReal and TickSim: while a rotation step runs, the simulated clock
	// advances TickSim every TickReal.
	TickReal = time.Millisecond
	TickSim  = 10 * time.Second
	// StepTimeout is the rotation function's timeout (600 s deployed).
	StepTimeout = 120 * time.Millisecond
	// HandlerTimeout is the receiver's and the expiry alert's timeout (60 s deployed).
	HandlerTimeout = 100 * time.Millisecond
	// RetryDelay is when Secrets Manager reattempts a failed rotation.
	RetryDelay = 5 * time.Minute
	// Visibility and MaxReceiveCount are the queues' settings (template.yaml).
	Visibility      = 6 * time.Minute
	MaxReceiveCount = 5
	// Cooldown is ROTATION_REQUEST_COOLDOWN (default 30m).
	Cooldown = 30 * time.Minute
	// SettleBound and MaxSettleRuns bound I5: the simulated time and the
	// rotation runs (first attempts and reattempts) after faults stop.
	SettleBound   = 24 * time.Hour
	MaxSettleRuns = 30
	// maxReal stops a run that hangs in real time.
	maxReal = 30 * time.Second
)

// Epoch is the simulated start of every run.
var Epoch = time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)

// topicARN is the alert topic.
const topicARN = "arn:aws:sns:us-east-1:123456789012:sp-api-lwa-alerts"

// rotationLambdaARN is the rotation function.
const rotationLambdaARN = "arn:aws:lambda:us-east-1:123456789012:function:RotateSecretFunction"

// App is one SP-API application of the world and its managed secret.
type App struct {
	Index    int
	ClientID string
	AppID    string
	Name     string // secret name
	ARN      string
	Sim      *spapisim.Sim
	handler  http.Handler
	// Initial and Refresh are the initial client secret and the document's
	// refresh token.
	Initial, Refresh string
	InitialExpiry    time.Time
}

// Hook runs f at simulated time At of a run (tests use it for hostile input).
type Hook struct {
	At time.Duration
	Do func(w *World)
}

// World is one in-process deployment with its peers. Build it with NewWorld,
// adjust the exported hooks, then call Run once.
type World struct {
	Sched Schedule
	Clock *spapisim.ManualClock
	Apps  []*App
	SM    *secretsmanagertest.Fake
	SNS   *snstest.Fake
	// NewSecretQ and ExpiryQ are the two notification queues.
	NewSecretQ, ExpiryQ *Queue

	// SMHook and SNSHook inject failures into the fakes (every caller); a
	// non-nil error is returned by the operation. They are called before
	// the schedule's random faults, also after the fault phase.
	SMHook  func(op string, in any) error
	SNSHook func(in *sns.PublishInput) error
	// Crash, when set, interrupts one handler invocation (see Crash).
	Crash *Crash
	// AfterRotateCall, when set, is called after every rotate call the
	// simulators served (tests use it to script SP-API's answers).
	AfterRotateCall func(c RotateCall)
	// SerialReceivers makes the SQS event sources invoke one batch at a
	// time (the deployed MaximumConcurrency is 2).
	SerialReceivers bool
	// Hooks run at their times.
	Hooks []Hook
	// Redrive: once faults stop, dead-lettered messages are moved back (the
	// operator's answer to the dead-letter alarm). Off for hostile input.
	Redrive bool
	// Secrets are more values (beyond the issued secrets, access and refresh
	// tokens) that must appear in no log line, alert or error (I4).
	Secrets []string
	// CheckWorking turns I2 on (off when a test makes AWSCURRENT invalid on purpose).
	CheckWorking bool
	// OperatorRotates: once faults stopped and nothing is queued, in flight
	// or pending, an app whose AWSCURRENT is not its newest secret gets a
	// rotation, as the rotation schedule (or a person answering the
	// ROTATION_FAILED alert) starts one in production. On for runs with a
	// forged delivery: its rejection fails the rotation that adopted it,
	// and a genuine secret stored meanwhile waits for the next rotation.
	// Off elsewhere, so that a stored secret nothing adopts stays an I5
	// failure.
	OperatorRotates bool

	Rotator  *rotation.Rotator
	Receiver *receiver.Handler
	Expiry   *expiry.Handler

	logs   logsink.Buffer
	Logger *slog.Logger

	rndMu sync.Mutex
	rnd   *rand.Rand

	clockMu   sync.Mutex
	tickStart time.Time // real start of the current running tick (zero: idle)
	last      time.Time // last time Now returned

	faultsOn atomic.Bool
	engine   *awssim.Engine

	mu       sync.Mutex
	tokens   map[string]int // access tokens granted → app
	errs     []string       // every error a handler returned
	calls    []RotateCall
	storedAt map[string]time.Time // issued secret → first seen stored
	// storedExpiry: issued secret → clientSecretExpiresAt of the version
	// that first held it (what the handlers order secrets by).
	storedExpiry map[string]time.Time
	schedTokens  map[string]bool
	// receiverTokens: rotations a receiver's RotateSecret started.
	receiverTokens map[string]bool
	observations   int
	notWorking     int
	notWorkingAt   []string
	redriven       int
	invocations    int
	rotMu          sync.Mutex // serializes rotate calls so each can be attributed
	stepFailures   int
	requested      []requestTag
	invs           map[int64][2]time.Time // step invocation → simulated start and end
	crash          crashState
	// forged: the forged deliveries sent (I6).
	forged []Forgery
	// forgedCurrent, forgedCurrentAt: observations of a forged secret in
	// AWSCURRENT (I6).
	forgedCurrent   int
	forgedCurrentAt []string
	// operatorRotations counts the rotations OperatorRotates started, per app.
	operatorRotations map[int]int
}

// Forgery is a forged delivery that was sent: its app, notification id
// and client secret (which LWA never accepts).
type Forgery struct {
	App            int
	NotificationID string
	Secret         string
}

// RotateCall is one call of rotateApplicationClientSecret as the simulator saw it.
type RotateCall struct {
	App    int
	Token  string // the rotation (ClientRequestToken) that made it
	Inv    int64  // the step invocation that made it
	At     time.Time
	Status int
	Issued bool // a secret was issued (204, or a lost response)
	Secret int  // index in App.Sim.Issued() of the issued secret
	// Current is the index in App.Sim.Issued() of the secret in AWSCURRENT
	// when the call was made (-1 unknown).
	Current int
}

// invocation identifies a rotation step invocation in a request context.
type invocation struct {
	token string
	step  string // the rotation step; "" for an SQS handler
	id    int64
}

type invocationKey struct{}

var invocationSeq atomic.Int64

// NewWorld builds the world of s: its applications, seeded secrets (tagged,
// rotation enabled), simulators, fakes, queues and the three handlers, all
// logging JSON to one buffer.
func NewWorld(s Schedule) *World {
	if s.Apps < 1 {
		s.Apps = 1
	}
	w := &World{
		Sched:           s,
		Clock:           spapisim.NewManualClock(Epoch),
		SM:              secretsmanagertest.New(),
		SNS:             &snstest.Fake{},
		NewSecretQ:      &Queue{Name: "new-secret", Visibility: Visibility, MaxReceive: MaxReceiveCount},
		ExpiryQ:         &Queue{Name: "secret-expiry", Visibility: Visibility, MaxReceive: MaxReceiveCount},
		Redrive:         true,
		CheckWorking:    true,
		OperatorRotates: s.Forged != nil,
		rnd:             rand.New(rand.NewPCG(s.Seed, 1)),
		tokens:          map[string]int{},
		storedAt:        map[string]time.Time{},
		storedExpiry:    map[string]time.Time{},
		schedTokens:     map[string]bool{},
		receiverTokens:  map[string]bool{},
		crash:           crashState{crashed: map[int64]bool{}},
		invs:            map[int64][2]time.Time{},

		operatorRotations: map[int]int{},
	}
	w.Logger = slog.New(slog.NewJSONHandler(&w.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	w.SM.Now = w.Now
	w.SM.Fail = w.smFail
	w.SNS.Fail = w.snsFail
	w.engine = &awssim.Engine{
		Now:        w.Now,
		RetryDelay: RetryDelay,
		Invoke:     w.invokeStep,
		Finish: func(arn, token string) error {
			w.SM.FinishRotation(arn, token)
			return nil
		},
		Pending:         func(arn string) (string, bool) { return w.SM.StageVersion(arn, managed.StagePending) },
		ConcurrentRerun: func() bool { return w.faulty(w.Sched.ConcurrentRuns) },
	}
	w.SM.OnRotate = w.engine.Start

	for i := range s.Apps {
		a := &App{Index: i}
		a.ClientID = "amzn1.application-oa2-client." + w.hex(16)
		a.AppID = "amzn1.sp.solution." + w.uuid()
		a.Name = fmt.Sprintf("sp-api/app-%d", i)
		a.Initial = spapisim.SecretPrefix + w.hex(32)
		a.Refresh = "Atzr|" + w.hex(40)
		a.InitialExpiry = Epoch.Add(90 * 24 * time.Hour)
		a.Sim = spapisim.New(spapisim.Config{
			ClientID:           a.ClientID,
			ApplicationID:      a.AppID,
			InitialSecret:      a.Initial,
			InitialExpiry:      a.InitialExpiry,
			Clock:              w.Now,
			NewSecretDeliverer: spapisim.DelivererFunc(w.deliverNewSecret),
			ExpiryDeliverer:    spapisim.DelivererFunc(w.deliverExpiry),
			DeliveryDelay:      s.DeliveryDelay,
			Faults:             s.Sim,
			Rand:               rand.New(rand.NewPCG(s.Seed, uint64(100+i))),
			Logger:             w.Logger,
		})
		a.handler = a.Sim.Handler()
		doc, _ := json.Marshal(map[string]string{
			"clientId":              a.ClientID,
			"clientSecret":          a.Initial,
			"clientSecretExpiresAt": a.InitialExpiry.Format(time.RFC3339),
			"refreshToken":          a.Refresh,
		})
		a.ARN = w.SM.Seed(a.Name, string(doc), map[string]string{
			managed.TagClientID:              a.ClientID,
			managed.TagClientSecretExpiresAt: a.InitialExpiry.Format(time.RFC3339),
		})
		w.SM.SetRotation(a.ARN, true, rotationLambdaARN)
		w.Apps = append(w.Apps, a)
	}

	hc := &http.Client{Transport: roundTripper{w}}
	tokens := lwa.NewClient("https://lwa.sim.local"+spapisim.TokenPath, hc)
	tokens.MinBackoff, tokens.MaxBackoff, tokens.MaxAttempts = time.Millisecond, 4*time.Millisecond, 5
	api := spapi.NewClient("https://sellingpartnerapi.sim.local", hc)
	// The simulator's limiter lets one call a simulated minute through; 10 ms
	// of real time is 100 simulated seconds while a step runs.
	api.Interval, api.MinBackoff, api.MaxAttempts = 10*time.Millisecond, time.Millisecond, 5
	alerts := alert.NewPublisher(snsClient{w}, topicARN)
	sm := smClient{w}
	w.Rotator = rotation.New(sm, sm, tokens, api, alerts, w.Logger, rotation.Config{
		Cooldown:          Cooldown,
		PollInterval:      2 * time.Millisecond,
		DeadlineMargin:    10 * time.Millisecond,
		TestRetryFor:      40 * time.Millisecond,
		TestRetryInterval: 3 * time.Millisecond,
		// As deployed: a secret LWA still refuses an hour (simulated) after
		// its pending version was written is rejected. Reattempts come
		// every RetryDelay, so a forged secret is rejected within a run.
		RejectAfter: rotation.DefaultRejectAfter,
		Settle:      time.Millisecond,
		Now:         w.Now,
	})
	// A receiver waits for a rotation in progress in real time, five of its
	// polls (receiver Case 4d), as deployed (10 s for 2 s polls).
	w.Receiver = receiver.New(sm, receiverSM{sm}, alerts, w.Logger, receiver.Config{Now: w.Now, AdoptWait: 10 * time.Millisecond, AdoptPoll: time.Millisecond})
	w.Expiry = expiry.New(sm, sm, alerts, w.Logger, expiry.Config{AutoRotate: true, Now: w.Now})
	return w
}

// Now is the world's simulated time: the ManualClock, plus, while a
// function runs in real time, the real time elapsed since the last tick
// scaled by TickSim/TickReal, so that things happening in one tick still
// happen at distinct times. It never goes backwards.
func (w *World) Now() time.Time {
	w.clockMu.Lock()
	defer w.clockMu.Unlock()
	t := w.Clock.Now()
	if !w.tickStart.IsZero() {
		t = t.Add(time.Duration(float64(time.Since(w.tickStart)) * float64(TickSim) / float64(TickReal)))
	}
	if t.Before(w.last) {
		t = w.last
	}
	w.last = t
	return t
}

// advance moves the clock to t (a tick on when t is zero); running says
// whether time keeps flowing in real time until the next advance.
func (w *World) advance(t time.Time, running bool) {
	w.clockMu.Lock()
	defer w.clockMu.Unlock()
	if t.IsZero() {
		t = w.Clock.Now().Add(TickSim)
	}
	if t.Before(w.last) {
		t = w.last
	}
	w.Clock.Set(t)
	w.tickStart = time.Time{}
	if running {
		w.tickStart = time.Now()
	}
}

// flow makes simulated time flow with real time until the next advance.
func (w *World) flow() {
	w.clockMu.Lock()
	defer w.clockMu.Unlock()
	if w.tickStart.IsZero() {
		w.tickStart = time.Now()
	}
}

// chance draws against p from the world's generator.
func (w *World) chance(p float64) bool {
	if p <= 0 {
		return false
	}
	w.rndMu.Lock()
	defer w.rndMu.Unlock()
	return w.rnd.Float64() < p
}

func (w *World) hex(n int) string {
	w.rndMu.Lock()
	defer w.rndMu.Unlock()
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(w.rnd.Uint32())
	}
	return hex.EncodeToString(b)
}

func (w *World) uuid() string {
	h := w.hex(16)
	return h[0:8] + "-" + h[8:12] + "-4" + h[13:16] + "-a" + h[17:20] + "-" + h[20:32]
}

func (w *World) faulty(p float64) bool { return w.faultsOn.Load() && w.chance(p) }

// smFail is the Secrets Manager fake's error injection. It also records
// the writes of rotation-requested-at that go through (for I3).
func (w *World) smFail(op string, in any) error {
	err := w.smInject(op, in)
	if ti, ok := in.(*secretsmanager.TagResourceInput); ok && err == nil {
		for _, t := range ti.Tags {
			if aws.ToString(t.Key) == managed.TagRotationRequestedAt {
				w.mu.Lock()
				w.requested = append(w.requested, requestTag{arn: aws.ToString(ti.SecretId), at: w.Now()})
				w.mu.Unlock()
			}
		}
	}
	return err
}

func (w *World) smInject(op string, in any) error {
	if h := w.SMHook; h != nil {
		if err := h(op, in); err != nil {
			return err
		}
	}
	if op == "RotateSecret" {
		// The schedule's own RotateSecret is the service, not an API call.
		if ri, ok := in.(*secretsmanager.RotateSecretInput); ok {
			w.mu.Lock()
			internal := w.schedTokens[aws.ToString(ri.ClientRequestToken)]
			w.mu.Unlock()
			if internal {
				return nil
			}
		}
	}
	if w.Sched.SMErrorRate > 0 && slices.Contains(w.Sched.SMErrorOps, op) && w.faulty(w.Sched.SMErrorRate) {
		return &smtypes.InternalServiceError{Message: aws.String("injected: an error occurred on the server side")}
	}
	return nil
}

// requestTag is a write of rotation-requested-at that passed error injection.
type requestTag struct {
	arn string
	at  time.Time
}

func (w *World) snsFail(in *sns.PublishInput) error {
	if h := w.SNSHook; h != nil {
		if err := h(in); err != nil {
			return err
		}
	}
	if w.faulty(w.Sched.SNSErrorRate) {
		return &smithy.GenericAPIError{Code: "InternalError", Message: "injected: internal error"}
	}
	return nil
}

func (w *World) deliverNewSecret(ctx context.Context, body []byte) error {
	if w.faulty(w.Sched.SQSSendFail) {
		return errors.New("injected: sqs SendMessage failed")
	}
	w.NewSecretQ.Send(string(body), w.Now())
	return nil
}

func (w *World) deliverExpiry(ctx context.Context, body []byte) error {
	w.ExpiryQ.Send(string(body), w.Now())
	return nil
}

// recordError keeps an error a handler returned, for the leak check.
func (w *World) recordError(err error) {
	if err == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.errs = append(w.errs, err.Error())
}

// roundTripper serves the project's LWA and SP-API requests with the
// simulators' handlers, in process.
type roundTripper struct{ w *World }

func (rt roundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	w := rt.w
	ctx := req.Context()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var body []byte
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		body = b
	}
	in := req.Clone(ctx)
	in.Body = io.NopCloser(bytes.NewReader(body))
	in.ContentLength = int64(len(body))

	a := w.Apps[0]
	rotate := req.URL.Path == spapisim.RotatePath
	if rotate {
		w.mu.Lock()
		if i, ok := w.tokens[req.Header.Get("x-amz-access-token")]; ok {
			a = w.Apps[i]
		}
		w.mu.Unlock()
	} else if f, err := url.ParseQuery(string(body)); err == nil {
		for _, x := range w.Apps {
			if x.ClientID == f.Get("client_id") {
				a = x
			}
		}
	}

	op := "ClientCredentials"
	if rotate {
		op = "RotateApplicationClientSecret"
	}
	if err := w.crashBefore(ctx, op, req); err != nil {
		return nil, err
	}
	rec := httptest.NewRecorder()
	if rotate {
		w.rotMu.Lock()
		current := slices.Index(a.Sim.Issued(), w.CurrentSecret(a.Index))
		before := a.Sim.Stats().Rotations
		a.handler.ServeHTTP(rec, in)
		after := a.Sim.Stats().Rotations
		c := RotateCall{App: a.Index, At: w.Now(), Status: rec.Code, Issued: after > before, Current: current}
		if c.Issued {
			c.Secret = len(a.Sim.Issued()) - 1
		}
		if inv, ok := ctx.Value(invocationKey{}).(*invocation); ok {
			c.Token, c.Inv = inv.token, inv.id
		}
		w.mu.Lock()
		w.calls = append(w.calls, c)
		w.mu.Unlock()
		w.rotMu.Unlock()
		if f := w.AfterRotateCall; f != nil {
			f(c)
		}
	} else {
		a.handler.ServeHTTP(rec, in)
		if rec.Code == http.StatusOK {
			var tok struct {
				AccessToken string `json:"access_token"`
			}
			if json.Unmarshal(rec.Body.Bytes(), &tok) == nil && tok.AccessToken != "" {
				w.mu.Lock()
				w.tokens[tok.AccessToken] = a.Index
				w.mu.Unlock()
			}
		}
	}
	if err := ctx.Err(); err != nil {
		// The caller gave up while the request was served: the answer is lost.
		return nil, err
	}
	if err := w.crashAfter(ctx, nil); err != nil {
		return nil, err
	}
	res := rec.Result()
	res.Request = req
	return res, nil
}

// invokeStep runs one rotation step as one Lambda invocation.
func (w *World) invokeStep(a awssim.Attempt, step string) error {
	arn, token := a.SecretARN, a.Token
	timeout := StepTimeout
	if w.faulty(w.Sched.StepTimeouts) {
		w.rndMu.Lock()
		timeout = time.Duration(1+w.rnd.IntN(30)) * time.Millisecond
		w.rndMu.Unlock()
	}
	inv := &invocation{token: token, step: step, id: invocationSeq.Add(1)}
	ctx, cancel := context.WithTimeout(context.WithValue(context.Background(), invocationKey{}, inv), timeout)
	defer cancel()
	start := w.Now()
	err := w.Rotator.Handle(ctx, events.SecretsManagerSecretRotationEvent{
		SecretID: arn, ClientRequestToken: token, Step: step,
	})
	w.mu.Lock()
	w.invs[inv.id] = [2]time.Time{start, w.Now()}
	w.mu.Unlock()
	if err != nil {
		w.recordError(err)
		w.mu.Lock()
		w.stepFailures++
		w.mu.Unlock()
	}
	return err
}

// mapping returns the SQS event source mapping of q to h, as deployed
// (batches of 10, MaximumConcurrency 2: what one poll receives may be split
// into two batches handled at once), on the world's clock and faults.
func (w *World) mapping(q *Queue, h func(context.Context, events.SQSEvent) (events.SQSEventResponse, error)) *awssim.Mapping {
	m := &awssim.Mapping{
		Queue:    &faultyQueue{w: w, q: q},
		QueueARN: "arn:aws:sqs:us-east-1:123456789012:" + q.Name,
		Region:   "us-east-1", BatchSize: 10, Concurrency: 2,
		Timeout: HandlerTimeout,
		Invocation: func(ctx context.Context) context.Context {
			return context.WithValue(ctx, invocationKey{}, &invocation{id: invocationSeq.Add(1)})
		},
		Invoke: func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
			w.mu.Lock()
			w.invocations++
			w.mu.Unlock()
			if w.faulty(w.Sched.InvokeFail) {
				// The invocation died: every message reappears after the visibility timeout.
				return events.SQSEventResponse{}, errInvocationDied
			}
			resp, err := h(ctx, ev)
			if err != nil {
				w.recordError(err)
			}
			return resp, err
		},
		Split: func(msgs []events.SQSMessage) [][]events.SQSMessage {
			if len(msgs) >= 2 && !w.SerialReceivers && (len(msgs) > 10 || w.chance(0.5)) {
				half := (len(msgs) + 1) / 2
				return [][]events.SQSMessage{msgs[:half], msgs[half:]}
			}
			return [][]events.SQSMessage{msgs}
		},
	}
	if w.SerialReceivers {
		m.Concurrency = 1
	}
	return m
}

var errInvocationDied = errors.New("chaos: the invocation died")

// faultyQueue is the in-memory queue as the mapping reaches it, on the
// world's clock, through the injected faults and crash points.
type faultyQueue struct {
	w *World
	q *Queue
}

func (f *faultyQueue) Receive(_ context.Context, n int) ([]events.SQSMessage, error) {
	if f.w.faulty(f.w.Sched.SQSReceiveFail) {
		return nil, nil
	}
	msgs := f.q.Receive(f.w.Now(), n)
	if len(msgs) > 0 {
		f.w.flow()
	}
	out := make([]events.SQSMessage, len(msgs))
	for i, m := range msgs {
		out[i] = events.SQSMessage{
			MessageId: m.ID, ReceiptHandle: m.ID + "-receipt", Body: m.Body,
			Attributes: map[string]string{
				"ApproximateReceiveCount": fmt.Sprint(m.ReceiveCount),
				"SentTimestamp":           fmt.Sprint(m.SentAt.UnixMilli()),
			},
		}
	}
	return out, nil
}

func (f *faultyQueue) Delete(ctx context.Context, m events.SQSMessage) error {
	if err := f.w.crashBefore(ctx, "DeleteMessage", f.q.Name); err != nil {
		return err
	}
	if f.w.faulty(f.w.Sched.SQSDeleteFail) {
		return errDeleteFailed
	}
	f.q.Delete(m.MessageId)
	return f.w.crashAfter(ctx, nil)
}

var errDeleteFailed = errors.New("chaos: DeleteMessage failed")

// rotateBySchedule is Secrets Manager's rotation schedule firing for app a.
func (w *World) rotateBySchedule(a *App) {
	token := w.uuid()
	w.mu.Lock()
	w.schedTokens[token] = true
	w.mu.Unlock()
	w.rotateWithToken(a, token)
}

func (w *World) rotateWithToken(a *App, token string) {
	_, err := w.SM.RotateSecret(context.Background(), &secretsmanager.RotateSecretInput{
		SecretId: aws.String(a.ARN), ClientRequestToken: aws.String(token),
	})
	_ = err // refused while a rotation is incomplete: the engine reattempts that one
}

// RotateNow starts a rotation of app i as the schedule does.
func (w *World) RotateNow(i int) { w.rotateBySchedule(w.Apps[i]) }

// SendForged sends a forged delivery for app i now (Schedule.Forged): a
// well-formed NEW_SECRET message for its client id whose client secret LWA
// never accepts, claiming ForgedExpiry. The secret joins the values that
// must never leak (I4), and the ones that must never be AWSCURRENT (I6).
func (w *World) SendForged(i int) Forgery {
	a := w.Apps[i]
	f := Forgery{App: i, NotificationID: w.uuid(), Secret: spapisim.SecretPrefix + "f0r9ed" + w.hex(29)}
	now := w.Now()
	w.mu.Lock()
	w.forged = append(w.forged, f)
	w.Secrets = append(w.Secrets, f.Secret)
	w.mu.Unlock()
	w.NewSecretQ.Send(NewSecretBodyExpiring(a.ClientID, a.AppID, f.Secret, f.NotificationID, now, ForgedExpiry), now)
	return f
}

// Forged returns the forged deliveries sent so far.
func (w *World) Forged() []Forgery {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.forged)
}

// isForged reports whether secret is the client secret of a forged delivery.
func (w *World) isForged(secret string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return secret != "" && slices.ContainsFunc(w.forged, func(f Forgery) bool { return f.Secret == secret })
}

// operatorRotate is OperatorRotates: when the world is idle but an app's
// AWSCURRENT is not its newest secret, start a rotation of that app (at
// most maxOperatorRotations per app).
func (w *World) operatorRotate() {
	if !w.idle() {
		return
	}
	for _, a := range w.Apps {
		if _, ok := w.SM.StageVersion(a.ARN, managed.StagePending); ok {
			continue
		}
		newest, _ := a.Sim.Current()
		w.mu.Lock()
		n := w.operatorRotations[a.Index]
		w.mu.Unlock()
		if w.CurrentSecret(a.Index) == newest || n >= maxOperatorRotations {
			continue
		}
		w.mu.Lock()
		w.operatorRotations[a.Index]++
		w.mu.Unlock()
		w.rotateBySchedule(a)
	}
}

// maxOperatorRotations bounds OperatorRotates per app and run.
const maxOperatorRotations = 3

// secretOf returns the client secret of a secret document ("" if none).
func secretOf(value string) string {
	var doc map[string]any
	if json.Unmarshal([]byte(value), &doc) != nil {
		return ""
	}
	s, _ := doc["clientSecret"].(string)
	return s
}

// CurrentSecret returns the client secret in AWSCURRENT of app i.
func (w *World) CurrentSecret(i int) string {
	a := w.Apps[i]
	id, ok := w.SM.StageVersion(a.ARN, managed.StageCurrent)
	if !ok {
		return ""
	}
	v, _ := w.SM.Value(a.ARN, id)
	return secretOf(v)
}

// observe is one observation point: I2, and which issued secrets are stored.
func (w *World) observe() {
	now := w.Now()
	for _, a := range w.Apps {
		if s := w.CurrentSecret(a.Index); w.isForged(s) {
			w.mu.Lock()
			w.forgedCurrent++
			if len(w.forgedCurrentAt) < 5 {
				w.forgedCurrentAt = append(w.forgedCurrentAt, fmt.Sprintf("app %d at %s", a.Index, now.Sub(Epoch)))
			}
			w.mu.Unlock()
		}
		if w.CheckWorking {
			s := w.CurrentSecret(a.Index)
			ok := a.Sim.Accepts(s)
			w.mu.Lock()
			w.observations++
			if !ok {
				w.notWorking++
				if len(w.notWorkingAt) < 5 {
					w.notWorkingAt = append(w.notWorkingAt, fmt.Sprintf("app %d at %s: AWSCURRENT holds a secret LWA does not accept (issued #%d)", a.Index, now.Sub(Epoch), slices.Index(a.Sim.Issued(), s)))
				}
			}
			w.mu.Unlock()
		}
		issued := a.Sim.Issued()
		var missing []string
		w.mu.Lock()
		for _, s := range issued[1:] {
			if _, ok := w.storedAt[s]; !ok {
				missing = append(missing, s)
			}
		}
		w.mu.Unlock()
		if len(missing) == 0 {
			continue
		}
		for _, v := range w.SM.Versions(a.ARN) {
			val, ok := w.SM.Value(a.ARN, v.ID)
			if !ok {
				continue
			}
			for _, s := range missing {
				if strings.Contains(val, s) {
					w.mu.Lock()
					if _, ok := w.storedAt[s]; !ok {
						w.storedAt[s] = now
						if doc, err := secretdoc.Parse([]byte(val), secretdoc.DefaultKeys); err == nil && doc.ClientSecret().Reveal() == s {
							if exp, ok := doc.ExpiresAt(); ok {
								w.storedExpiry[s] = exp
							}
						}
					}
					w.mu.Unlock()
				}
			}
		}
	}
}

// idle reports whether no rotation step runs or waits for a reattempt, no
// message is queued and no notification is on its way.
func (w *World) idle() bool {
	if w.engine.Busy() {
		return false
	}
	if _, n := w.engine.Stats(); n > 0 {
		return false
	}
	// With Redrive, the operator moves dead-lettered messages back: a
	// message there is not settled either.
	if n, dead := w.NewSecretQ.Len(); n > 0 || (w.Redrive && dead > 0) {
		return false
	}
	if n, dead := w.ExpiryQ.Len(); n > 0 || (w.Redrive && dead > 0) {
		return false
	}
	for _, a := range w.Apps {
		if a.Sim.Stats().Pending > 0 {
			return false
		}
	}
	return true
}

// settled reports whether the world is idle, no rotation is pending, and
// AWSCURRENT of every app holds its newest secret.
func (w *World) settled() bool {
	if !w.idle() {
		return false
	}
	for _, a := range w.Apps {
		if _, ok := w.SM.StageVersion(a.ARN, managed.StagePending); ok {
			return false // a rotation has not completed
		}
		newest, _ := a.Sim.Current()
		if w.CurrentSecret(a.Index) != newest {
			return false
		}
	}
	return true
}

// event is a scheduled happening.
type event struct {
	at time.Duration
	do func()
}

func (w *World) events() []event {
	var evs []event
	for _, at := range w.Sched.Rotations {
		for _, a := range w.Apps {
			evs = append(evs, event{at, func() { w.rotateBySchedule(a) }})
		}
	}
	for _, at := range w.Sched.Portal {
		evs = append(evs, event{at, func() { w.Apps[0].Sim.PortalRotate() }})
	}
	for _, n := range w.Sched.Expiry {
		a := w.Apps[n.App%len(w.Apps)]
		old := n.Old
		evs = append(evs, event{n.At, func() {
			var exp time.Time // the newest secret's
			if old {
				exp = a.InitialExpiry
			}
			if err := a.Sim.EmitExpiryNotice(context.Background(), nil, exp); err != nil {
				w.recordError(err)
			}
		}})
	}
	if f := w.Sched.Forged; f != nil {
		evs = append(evs, event{f.At, func() { w.SendForged(f.App % len(w.Apps)) }})
	}
	for _, h := range w.Hooks {
		evs = append(evs, event{h.At, func() { h.Do(w) }})
	}
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].at < evs[j].at })
	return evs
}

// Run runs the schedule: faults for Sched.FaultPhase, then none until the
// world settles or a bound is hit. It checks the invariants and returns the
// result. Run is called once per World.
func (w *World) Run() *Result {
	realStart := time.Now()
	evs := w.events()
	faultEnd := Epoch.Add(w.Sched.FaultPhase)
	w.faultsOn.Store(w.Sched.FaultPhase > 0)
	res := &Result{Seed: w.Sched.Seed, Schedule: w.Sched}
	var (
		faultsOffAt   time.Time
		realOffAt     time.Time
		runsAtOff     int
		off           = false
		ctx           = context.Background()
		newSecretPoll = w.mapping(w.NewSecretQ, w.Receiver.Handle)
		expiryPoll    = w.mapping(w.ExpiryQ, w.Expiry.Handle)
	)
	for {
		now := w.Now()
		if !off && !now.Before(faultEnd) {
			off = true
			w.faultsOn.Store(false)
			for _, a := range w.Apps {
				a.Sim.SetFaults(spapisim.Faults{})
			}
			faultsOffAt, realOffAt = now, time.Now()
			runsAtOff, _ = w.engine.Stats()
		}
		for len(evs) > 0 && !Epoch.Add(evs[0].at).After(now) {
			evs[0].do()
			evs = evs[1:]
		}
		for _, a := range w.Apps {
			if _, err := a.Sim.DeliverDue(ctx); err != nil && !w.faultsOn.Load() {
				w.recordError(err)
			}
		}
		if off && w.Redrive {
			n := w.NewSecretQ.Redrive(now) + w.ExpiryQ.Redrive(now)
			w.mu.Lock()
			w.redriven += n
			w.mu.Unlock()
		}
		_, _ = newSecretPoll.Poll(ctx)
		_, _ = expiryPoll.Poll(ctx)
		w.engine.StartDue(now)
		w.observe()
		if off && len(evs) == 0 && w.OperatorRotates {
			w.operatorRotate()
		}
		if off && len(evs) == 0 && w.settled() {
			res.Settled = true
			res.SettleSim = now.Sub(faultsOffAt)
			res.SettleReal = time.Since(realOffAt)
			break
		}
		if runs, _ := w.engine.Stats(); off && (now.Sub(faultsOffAt) > SettleBound || runs-runsAtOff > MaxSettleRuns) || time.Since(realStart) > maxReal {
			res.SettleSim = now.Sub(faultsOffAt)
			res.SettleReal = time.Since(realOffAt)
			break
		}
		if w.engine.Busy() {
			time.Sleep(TickReal)
			w.advance(time.Time{}, true)
			continue
		}
		// Nothing runs in real time: jump to the next event.
		next := now.Add(10 * time.Minute)
		consider := func(t time.Time, ok bool) {
			if ok && t.Before(next) {
				next = t
			}
		}
		if len(evs) > 0 {
			consider(Epoch.Add(evs[0].at), true)
		}
		if !off {
			consider(faultEnd, true)
		}
		for _, a := range w.Apps {
			consider(a.Sim.NextDue())
		}
		consider(w.NewSecretQ.NextVisible())
		consider(w.ExpiryQ.NextVisible())
		consider(w.engine.NextRetry())
		if !next.After(now) {
			next = now.Add(TickSim)
		}
		w.advance(next, false)
	}
	w.engine.Wait()
	w.observe()
	res.Real = time.Since(realStart)
	w.check(res)
	return res
}

// Logs returns every log line written so far.
func (w *World) Logs() string { return w.logs.String() }

// Errors returns every error a handler returned.
func (w *World) Errors() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.errs)
}

// Calls returns every rotate call.
func (w *World) Calls() []RotateCall {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.calls)
}

// AccessTokens returns every access token the simulators granted.
func (w *World) AccessTokens() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]string, 0, len(w.tokens))
	for t := range w.tokens {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}
