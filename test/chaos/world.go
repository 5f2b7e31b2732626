package chaos

import (
	"cmp"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
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

// Real durations are the deployed ones scaled down; simulated ones are as deployed.
const (
	TickReal        = time.Millisecond
	TickSim         = 10 * time.Second
	StepTimeout     = 120 * time.Millisecond // the rotation function's timeout (600 s deployed)
	HandlerTimeout  = 100 * time.Millisecond // the receiver's and the expiry alert's (60 s deployed)
	RetryDelay      = 5 * time.Minute        // when Secrets Manager reattempts a failed rotation
	Visibility      = 6 * time.Minute        // the queues' visibility timeout (template.yaml)
	MaxReceiveCount = 5                      // the queues' redrive policy (template.yaml)
	Cooldown        = 30 * time.Minute       // ROTATION_REQUEST_COOLDOWN's default
	SettleBound     = 24 * time.Hour         // I5: simulated time to settle once faults stop
	MaxSettleRuns   = 30                     // I5: rotation runs to settle once faults stop
	maxReal         = 30 * time.Second       // stops a run that hangs in real time
)

var (
	Epoch         = time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC) // the simulated start of every run
	initialExpiry = Epoch.Add(90 * 24 * time.Hour)
)

const topicARN = "arn:aws:sns:us-east-1:123456789012:sp-api-lwa-alerts"

// App is one SP-API application of the world and its managed secret.
type App struct {
	Index            int
	ClientID, AppID  string
	Name, ARN        string // of the managed secret
	Sim              *spapisim.Sim
	Initial, Refresh string // the initial client secret and the document's refresh token
	operatorRotates  int    // rotations OperatorRotates started
}

// Hook runs Do at simulated time At of a run.
type Hook struct {
	At time.Duration
	Do func(w *World)
}

// World is one in-process deployment with its peers: NewWorld, adjust the exported fields, Run once.
type World struct {
	Sched               Schedule
	Apps                []*App
	SM                  *secretsmanagertest.Fake
	SNS                 *snstest.Fake
	NewSecretQ, ExpiryQ *Queue
	Logger              *slog.Logger

	SMHook          func(op string, in any) error // fails handlers' Secrets Manager calls, before the faults
	Crash           *Crash                        // interrupts one handler invocation
	AfterRotateCall func(c RotateCall)            // tests script SP-API's answers with it
	Concurrency     int                           // the mappings' MaximumConcurrency (2 as deployed)
	Hooks           []Hook
	Redrive         bool     // once faults stop, dead-lettered messages are moved back (the runbook)
	Secrets         []string // more values that no log line, alert or error may hold (I4)
	// OperatorRotates rotates an app not at its newest secret once idle after the faults (off
	// without a forged delivery, so that an unadopted secret fails I5).
	OperatorRotates bool

	rotator   *rotation.Rotator
	receiver  *receiver.Handler
	expiry    *expiry.Handler
	clock     *spapisim.ManualClock
	logs      logsink.Buffer
	engine    *awssim.Engine
	faultsOn  atomic.Bool
	clockMu   sync.Mutex
	tickStart time.Time  // real start of the running tick (zero: the clock stands still)
	last      time.Time  // last time Now returned
	rotMu     sync.Mutex // serializes rotate calls, so that each can be attributed

	// Only the driver (Run and its hooks) touches these.
	res    Result
	stored map[string]stored // issued secret → when first seen stored, with its version's expiry
	forged []ForgedDelivery

	mu                   sync.Mutex // guards what follows, which handlers write
	rnd                  *rand.Rand
	tokens               map[string]int         // access token → app
	errs                 []string               // every error a handler returned
	calls                []RotateCall           // read unlocked after Run: the engine joined every step
	byReceiver           map[string]bool        // rotation tokens a receiver's RotateSecret started
	requested            map[string][]time.Time // ARN → writes of rotation-requested-at that passed
	crashSeen, crashHits int
	armed, crashed       *invocation // the invocation crashing after its operation, and the one that crashed
}

// RotateCall is one call of rotateApplicationClientSecret as the simulator saw it.
type RotateCall struct {
	App     int
	inv     *invocation // the rotation step's invocation that made it
	At      time.Time
	Status  int
	Issued  bool // a secret was issued (204, or a lost response)
	Secret  int  // index in App.Sim.Issued() of the issued secret (of the newest when none was)
	Current int  // index in App.Sim.Issued() of AWSCURRENT's secret at the call (-1 unknown)
}

type invocation struct {
	token, step string // of a rotation step; "" for an SQS handler
	receiver    bool
	start, end  time.Time // of a rotation step, simulated
}

type invocationKey struct{}

// invocationOf returns the handler invocation of ctx, nil for the world's own calls.
func invocationOf(ctx context.Context) *invocation {
	inv, _ := ctx.Value(invocationKey{}).(*invocation)
	return inv
}

// NewWorld builds the world of s: apps with seeded secrets and simulators, fakes, queues, handlers.
func NewWorld(s Schedule) *World {
	w := &World{
		Sched:           s,
		clock:           spapisim.NewManualClock(Epoch),
		SM:              secretsmanagertest.New(),
		SNS:             &snstest.Fake{},
		Redrive:         true,
		Concurrency:     2,
		OperatorRotates: s.Forged != nil,
		rnd:             rand.New(rand.NewPCG(s.Seed, 1)),
		tokens:          map[string]int{},
		stored:          map[string]stored{},
		byReceiver:      map[string]bool{},
		requested:       map[string][]time.Time{},
	}
	w.NewSecretQ, w.ExpiryQ = &Queue{Name: "new-secret", w: w}, &Queue{Name: "secret-expiry", w: w}
	w.Logger = slog.New(slog.NewJSONHandler(&w.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	w.SM.Now = w.Now
	w.engine = &awssim.Engine{Now: w.Now, RetryDelay: RetryDelay, Invoke: w.invokeStep,
		Finish: func(arn, token string) error {
			w.SM.FinishRotation(arn, token)
			return nil
		},
		Pending:         func(arn string) (string, bool) { return w.SM.StageVersion(arn, managed.StagePending) },
		ConcurrentRerun: func() bool { return w.faulty(w.Sched.ConcurrentRuns) },
	}
	// The handlers reach the fakes through the crash points and the injected errors.
	w.SM.Fail = w.before
	w.SM.After = func(ctx context.Context, op string, in any) error { return w.crash(ctx, op, in, true) }
	w.SNS.Fail = func(ctx context.Context, in *sns.PublishInput) error { return w.before(ctx, "Publish", in) }
	w.SNS.After = func(ctx context.Context, in *sns.PublishInput) error { return w.crash(ctx, "Publish", in, true) }
	w.SM.OnRotate = func(ctx context.Context, arn, token string, retry bool) {
		if inv := invocationOf(ctx); inv != nil && inv.receiver && !retry {
			w.locked(func() { w.byReceiver[token] = true })
		}
		w.engine.Start(arn, token, retry)
	}

	for i := range s.Apps {
		a := &App{Index: i, Name: fmt.Sprintf("sp-api/app-%d", i), // the draws in this order
			ClientID: "amzn1.application-oa2-client." + w.hex(16), AppID: "amzn1.sp.solution." + w.uuid(),
			Initial: spapisim.SecretPrefix + w.hex(32), Refresh: "Atzr|" + w.hex(40)}
		a.Sim = spapisim.New(spapisim.Config{
			ClientID: a.ClientID, ApplicationID: a.AppID, InitialSecret: a.Initial, InitialExpiry: initialExpiry,
			Clock: w.Now, DeliveryDelay: s.DeliveryDelay, Faults: s.Sim, Logger: w.Logger,
			NewSecretDeliverer: w.deliverTo(w.NewSecretQ, s.SQSSendFail),
			ExpiryDeliverer:    w.deliverTo(w.ExpiryQ, 0),
			Rand:               rand.New(rand.NewPCG(s.Seed, uint64(100+i))),
		})
		expires := initialExpiry.Format(time.RFC3339)
		doc, _ := json.Marshal(map[string]string{"clientId": a.ClientID, "clientSecret": a.Initial,
			"clientSecretExpiresAt": expires, "refreshToken": a.Refresh})
		tags := map[string]string{managed.TagClientID: a.ClientID, managed.TagClientSecretExpiresAt: expires}
		a.ARN = w.SM.Seed(a.Name, string(doc), tags)
		w.SM.SetRotation(a.ARN, true, "arn:aws:lambda:us-east-1:123456789012:function:RotateSecretFunction")
		w.Apps = append(w.Apps, a)
	}

	hc := &http.Client{Transport: roundTripper{w}}
	tokens := lwa.NewClient("https://lwa.sim.local"+spapisim.TokenPath, hc)
	tokens.MinBackoff, tokens.MaxBackoff, tokens.MaxAttempts = time.Millisecond, 4*time.Millisecond, 5
	api := spapi.NewClient("https://sellingpartnerapi.sim.local", hc)
	// The simulator's limiter lets one call a simulated minute through: 10 ms is 100 simulated s.
	api.Interval, api.MinBackoff, api.MaxAttempts = 10*time.Millisecond, time.Millisecond, 5
	alerts := alert.NewPublisher(w.SNS, topicARN)
	w.rotator = rotation.New(w.SM, w.SM, tokens, api, alerts, w.Logger, rotation.Config{
		Cooldown: Cooldown, RejectAfter: rotation.DefaultRejectAfter, Now: w.Now,
		PollInterval: 2 * time.Millisecond, DeadlineMargin: 10 * time.Millisecond, Settle: time.Millisecond,
		TestRetryFor: 40 * time.Millisecond, TestRetryInterval: 3 * time.Millisecond,
	})
	// Receiver Case 4d waits five polls, as deployed (10 s for 2 s polls).
	w.receiver = receiver.New(w.SM, w.SM, alerts, w.Logger,
		receiver.Config{Now: w.Now, AdoptWait: 10 * time.Millisecond, AdoptPoll: time.Millisecond})
	w.expiry = expiry.New(w.SM, w.SM, alerts, w.Logger, expiry.Config{AutoRotate: true, Now: w.Now})
	return w
}

// Now is the world's simulated time; while a function runs, real time flows scaled by
// TickSim/TickReal (so that things in one tick happen at distinct times). It never goes back.
func (w *World) Now() time.Time {
	w.clockMu.Lock()
	defer w.clockMu.Unlock()
	t := w.clock.Now()
	if !w.tickStart.IsZero() {
		t = t.Add(time.Duration(float64(time.Since(w.tickStart)) * float64(TickSim) / float64(TickReal)))
	}
	if t.After(w.last) {
		w.last = t
	}
	return w.last
}

// advance moves the clock to t, or one tick on with time flowing until the next advance when t is zero.
func (w *World) advance(t time.Time) {
	w.clockMu.Lock()
	defer w.clockMu.Unlock()
	w.tickStart = time.Time{}
	if t.IsZero() {
		t, w.tickStart = w.clock.Now().Add(TickSim), time.Now()
	}
	if t.Before(w.last) {
		t = w.last
	}
	w.clock.Set(t)
}

// flow makes simulated time flow with real time until the next advance.
func (w *World) flow() {
	w.clockMu.Lock()
	defer w.clockMu.Unlock()
	if w.tickStart.IsZero() {
		w.tickStart = time.Now()
	}
}

// chance draws against p from the world's generator (no draw when p is 0).
func (w *World) chance(p float64) (yes bool) {
	if p > 0 {
		w.locked(func() { yes = w.rnd.Float64() < p })
	}
	return yes
}

func (w *World) faulty(p float64) bool { return w.faultsOn.Load() && w.chance(p) }

// locked runs f holding w.mu.
func (w *World) locked(f func()) {
	w.mu.Lock()
	defer w.mu.Unlock()
	f()
}

func (w *World) hex(n int) string {
	b := make([]byte, n)
	w.locked(func() {
		for i := range b {
			b[i] = byte(w.rnd.Uint32())
		}
	})
	return hex.EncodeToString(b)
}

func (w *World) uuid() string {
	h := w.hex(16)
	return fmt.Sprintf("%s-%s-4%s-a%s-%s", h[0:8], h[8:12], h[13:16], h[17:20], h[20:32])
}

// before is the fakes' Fail for the handlers' calls: the crash points, then the injected errors
// (SMHook's first), which crash the invocation whose crash point is after the call; it records the
// writes of rotation-requested-at that pass (I3).
func (w *World) before(ctx context.Context, op string, in any) error {
	if invocationOf(ctx) == nil {
		return nil // the world's own calls see no faults
	}
	if err := w.crash(ctx, op, in, false); err != nil {
		return err
	}
	var err error
	if w.SMHook != nil && op != "Publish" {
		err = w.SMHook(op, in)
	}
	ti, tag := in.(*secretsmanager.TagResourceInput)
	switch {
	case err != nil:
	case op == "Publish" && w.faulty(w.Sched.SNSErrorRate):
		err = &smithy.GenericAPIError{Code: "InternalError", Message: "injected: internal error"}
	case slices.Contains(w.Sched.SMErrorOps, op) && w.faulty(w.Sched.SMErrorRate):
		err = &smtypes.InternalServiceError{Message: aws.String("injected: an error occurred on the server side")}
	case tag && slices.Contains(argsOf(in), managed.TagRotationRequestedAt):
		now, arn := w.Now(), aws.ToString(ti.SecretId)
		w.locked(func() { w.requested[arn] = append(w.requested[arn], now) })
	}
	if err != nil {
		return cmp.Or(w.crash(ctx, op, in, true), err)
	}
	return nil
}

// argsOf returns what Crash.Arg matches in an input: the stages a PutSecretValue writes, the
// stage an UpdateSecretVersionStage moves, the keys of a (un)tagging, an alert's event, a queue's name.
func argsOf(in any) []string {
	switch in := in.(type) {
	case *secretsmanager.PutSecretValueInput:
		return in.VersionStages
	case *secretsmanager.UpdateSecretVersionStageInput:
		return []string{aws.ToString(in.VersionStage)}
	case *secretsmanager.TagResourceInput:
		return slices.Collect(maps.Keys(managed.TagMap(in.Tags)))
	case *secretsmanager.UntagResourceInput:
		return in.TagKeys
	case *sns.PublishInput:
		return []string{aws.ToString(in.MessageAttributes["event"].StringValue)}
	case string: // DeleteMessage's queue
		return []string{in}
	}
	return nil
}

// deliverTo is Amazon's delivery to q, failing with probability p during faults (the simulator retries).
func (w *World) deliverTo(q *Queue, p float64) spapisim.DelivererFunc {
	return func(_ context.Context, body []byte) error {
		if w.faulty(p) {
			return errors.New("injected: sqs SendMessage failed")
		}
		q.Send(string(body), w.Now())
		return nil
	}
}

func (w *World) recordError(err error) {
	w.locked(func() { w.errs = append(w.errs, err.Error()) })
}

// roundTripper serves LWA and SP-API requests with the simulators' handlers: a token request goes
// to the app of its client_id, a rotate call to the app its access token was granted for.
type roundTripper struct{ w *World }

func (rt roundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	w, ctx := rt.w, req.Context()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	op, rotate := "ClientCredentials", req.URL.Path == spapisim.RotatePath
	if rotate {
		op = "RotateApplicationClientSecret"
	}
	if err := w.crash(ctx, op, req, false); err != nil {
		return nil, err
	}
	in, rec := req.Clone(ctx), httptest.NewRecorder()
	var i int // app 0 when unknown
	w.locked(func() { i = w.tokens[req.Header.Get("x-amz-access-token")] })
	if !rotate {
		_ = in.ParseForm() // the simulator's ParseForm then finds the form parsed
		id := in.PostForm.Get("client_id")
		i = max(0, slices.IndexFunc(w.Apps, func(x *App) bool { return x.ClientID == id }))
		w.Apps[i].Sim.Handler().ServeHTTP(rec, in)
		var tok map[string]any
		_ = json.Unmarshal(rec.Body.Bytes(), &tok)
		if at, ok := tok["access_token"].(string); ok {
			w.locked(func() { w.tokens[at] = i })
		}
	} else {
		a := w.Apps[i]
		w.rotMu.Lock()
		c := RotateCall{App: i, inv: invocationOf(ctx), Current: slices.Index(a.Sim.Issued(), w.CurrentSecret(i))}
		before := a.Sim.Stats().Rotations
		a.Sim.Handler().ServeHTTP(rec, in)
		c.At, c.Status, c.Issued = w.Now(), rec.Code, a.Sim.Stats().Rotations > before
		c.Secret = len(a.Sim.Issued()) - 1
		w.locked(func() { w.calls = append(w.calls, c) })
		w.rotMu.Unlock()
		if f := w.AfterRotateCall; f != nil {
			f(c)
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err // the caller gave up while the request was served: the answer is lost
	}
	if err := w.crash(ctx, op, req, true); err != nil {
		return nil, err
	}
	res := rec.Result()
	res.Request = req
	return res, nil
}

func (w *World) invokeStep(a awssim.Attempt, step string) error {
	timeout := StepTimeout
	if w.faulty(w.Sched.StepTimeouts) {
		w.locked(func() { timeout = time.Duration(1+w.rnd.IntN(30)) * time.Millisecond })
	}
	inv := &invocation{token: a.Token, step: step}
	ctx, cancel := context.WithTimeout(context.WithValue(context.Background(), invocationKey{}, inv), timeout)
	defer cancel()
	inv.start = w.Now()
	err := w.rotator.Handle(ctx, events.SecretsManagerSecretRotationEvent{
		SecretID: a.SecretARN, ClientRequestToken: a.Token, Step: step,
	})
	inv.end = w.Now()
	if err != nil {
		w.locked(func() { w.res.StepFailures++ })
		w.recordError(err)
	}
	return err
}

// mapping is the event source mapping of q to h as deployed (batches of 10) but for Concurrency.
func (w *World) mapping(q *Queue, h func(context.Context, events.SQSEvent) (events.SQSEventResponse, error)) *awssim.Mapping {
	return &awssim.Mapping{
		Queue:    q,
		QueueARN: "arn:aws:sqs:us-east-1:123456789012:" + q.Name,
		Region:   "us-east-1", BatchSize: 10, Concurrency: w.Concurrency,
		Timeout: HandlerTimeout,
		Invocation: func(ctx context.Context) context.Context {
			return context.WithValue(ctx, invocationKey{}, &invocation{receiver: q == w.NewSecretQ})
		},
		Invoke: func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
			if w.faulty(w.Sched.InvokeFail) {
				return events.SQSEventResponse{}, errors.New("chaos: the invocation died")
			}
			resp, err := h(ctx, ev)
			if err != nil {
				w.recordError(err)
			}
			return resp, err
		},
		Split: func(msgs []events.SQSMessage) [][]events.SQSMessage {
			if len(msgs) >= 2 && w.Concurrency > 1 && (len(msgs) > 10 || w.chance(0.5)) {
				half := (len(msgs) + 1) / 2
				return [][]events.SQSMessage{msgs[:half], msgs[half:]}
			}
			return [][]events.SQSMessage{msgs}
		},
	}
}

// RotateNow starts a rotation of app i as Secrets Manager's rotation schedule does (RotateSecret,
// refused while a rotation is incomplete: the engine reattempts that one).
func (w *World) RotateNow(i int) {
	_, _ = w.SM.RotateSecret(context.Background(), &secretsmanager.RotateSecretInput{
		SecretId: aws.String(w.Apps[i].ARN), ClientRequestToken: aws.String(w.uuid()),
	})
}

// SendForged sends a forged delivery for app i now; its secret must never leak (I4) nor be current (I6).
func (w *World) SendForged(i int) ForgedDelivery {
	a, now := w.Apps[i], w.Now()
	f := ForgedDelivery{At: now.Sub(Epoch), App: i, NotificationID: w.uuid()}
	f.Secret = spapisim.SecretPrefix + "f0r9ed" + w.hex(29)
	w.forged = append(w.forged, f)
	w.Secrets = append(w.Secrets, f.Secret)
	w.NewSecretQ.Send(newSecretBody(a.ClientID, a.AppID, f.Secret, f.NotificationID, now, ForgedExpiry), now)
	return f
}

// newSecretBody returns a NEW_SECRET body shaped like the official example.
func newSecretBody(clientID, applicationID, secret, notificationID string, now, expires time.Time) string {
	ts := func(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }
	return fmt.Sprintf(`{"notificationVersion":"1.0","notificationType":"APPLICATION_OAUTH_CLIENT_NEW_SECRET","payloadVersion":"2023-11-30","eventTime":%q,"payload":{"applicationOAuthClientNewSecret":{"clientId":%q,"newClientSecret":%q,"newClientSecretExpiryTime":%q,"oldClientSecretExpiryTime":%q}},"notificationMetadata":{"applicationId":%q,"subscriptionId":"sub-1","publishTime":%q,"notificationId":%q}}`,
		ts(now), clientID, secret, ts(expires), ts(now.Add(7*24*time.Hour)), applicationID, ts(now), notificationID)
}

// operatorRotate is OperatorRotates once idle, at most three times per app and run.
func (w *World) operatorRotate() {
	for _, a := range w.Apps {
		_, pending := w.SM.StageVersion(a.ARN, managed.StagePending)
		if !pending && !w.adopted(a) && a.operatorRotates < 3 {
			a.operatorRotates++
			w.res.OperatorRotations++
			w.RotateNow(a.Index)
		}
	}
}

func secretOf(value string) string {
	var doc map[string]any
	_ = json.Unmarshal([]byte(value), &doc)
	s, _ := doc["clientSecret"].(string)
	return s
}

// CurrentSecret returns the client secret in AWSCURRENT of app i.
func (w *World) CurrentSecret(i int) string {
	id, _ := w.SM.StageVersion(w.Apps[i].ARN, managed.StageCurrent)
	v, _ := w.SM.Value(w.Apps[i].ARN, id) // "" without AWSCURRENT
	return secretOf(v)
}

func (w *World) adopted(a *App) bool {
	newest, _ := a.Sim.Current()
	return w.CurrentSecret(a.Index) == newest
}

// observe is one observation point: I2, I6's forged AWSCURRENT, and which issued
// secrets are stored (with their versions' expiry, what the handlers order by).
func (w *World) observe() {
	now, res := w.Now(), &w.res
	for _, a := range w.Apps {
		cur, issued := w.CurrentSecret(a.Index), a.Sim.Issued()
		if cur != "" && slices.ContainsFunc(w.forged, func(f ForgedDelivery) bool { return f.Secret == cur }) {
			res.violate(&res.ForgedCurrent, "I6: app %d at %s: a forged secret is in AWSCURRENT",
				a.Index, now.Sub(Epoch))
		}
		if !a.Sim.Accepts(cur) {
			res.violate(&res.NotWorking, "I2: app %d at %s: AWSCURRENT holds a secret LWA does not accept (issued #%d)",
				a.Index, now.Sub(Epoch), slices.Index(issued, cur))
		}
		for _, v := range w.SM.Versions(a.ARN) {
			val, _ := w.SM.Value(a.ARN, v.ID)
			doc, err := secretdoc.Parse([]byte(val), secretdoc.DefaultKeys)
			if err != nil {
				continue
			}
			if s := doc.ClientSecret().Reveal(); w.stored[s].at.IsZero() && slices.Contains(issued[1:], s) {
				exp, _ := doc.ExpiresAt() // zero without one
				w.stored[s] = stored{now, exp}
			}
		}
	}
}

// idle: no step runs or waits, nothing queued (or dead-lettered, with Redrive) or on its way.
func (w *World) idle() bool {
	if _, waiting := w.engine.Stats(); w.engine.Busy() || waiting > 0 {
		return false
	}
	for _, q := range []*Queue{w.NewSecretQ, w.ExpiryQ} {
		if n, dead, _ := q.Len(); n > 0 || (w.Redrive && dead > 0) {
			return false
		}
	}
	return !slices.ContainsFunc(w.Apps, func(a *App) bool { return a.Sim.Stats().Pending > 0 })
}

// settled: idle, no rotation pending, and every app's AWSCURRENT holds its newest secret.
func (w *World) settled() bool {
	return w.idle() && !slices.ContainsFunc(w.Apps, func(a *App) bool {
		_, pending := w.SM.StageVersion(a.ARN, managed.StagePending)
		return pending || !w.adopted(a)
	})
}

// events returns first, the schedule's happenings and the Hooks, in time order.
func (w *World) events(first Hook) []Hook {
	evs := []Hook{first}
	for _, at := range w.Sched.Rotations {
		for i := range w.Apps {
			evs = append(evs, Hook{at, func(w *World) { w.RotateNow(i) }})
		}
	}
	for _, at := range w.Sched.Portal {
		evs = append(evs, Hook{at, func(w *World) { w.Apps[0].Sim.PortalRotate() }})
	}
	for _, n := range w.Sched.Expiry {
		a, exp := w.Apps[n.App%len(w.Apps)], time.Time{} // zero: the newest secret's expiry
		if n.Old {
			exp = initialExpiry
		}
		evs = append(evs, Hook{n.At, func(w *World) {
			if err := a.Sim.EmitExpiryNotice(context.Background(), nil, exp); err != nil {
				w.recordError(err)
			}
		}})
	}
	if f := w.Sched.Forged; f != nil {
		evs = append(evs, Hook{f.At, func(w *World) { w.SendForged(f.App % len(w.Apps)) }})
	}
	evs = append(evs, w.Hooks...)
	slices.SortStableFunc(evs, func(a, b Hook) int { return cmp.Compare(a.At, b.At) })
	return evs
}

// Run runs the schedule (faults for Sched.FaultPhase, then none until the world settles or a bound
// is hit) and checks the invariants.
func (w *World) Run() *Result {
	realStart, res := time.Now(), &w.res
	res.Schedule = w.Sched
	w.faultsOn.Store(w.Sched.FaultPhase > 0)
	var faultsOffAt, realOffAt time.Time // zero while faults are on
	var runsAtOff int
	evs := w.events(Hook{w.Sched.FaultPhase, func(w *World) {
		w.faultsOn.Store(false)
		for _, a := range w.Apps {
			a.Sim.SetFaults(spapisim.Faults{})
		}
		faultsOffAt, realOffAt = w.Now(), time.Now()
		runsAtOff, _ = w.engine.Stats()
	}})
	polls := []*awssim.Mapping{w.mapping(w.NewSecretQ, w.receiver.Handle), w.mapping(w.ExpiryQ, w.expiry.Handle)}
	for {
		now := w.Now()
		for len(evs) > 0 && !Epoch.Add(evs[0].At).After(now) {
			evs[0].Do(w)
			evs = evs[1:]
		}
		for _, a := range w.Apps {
			if _, err := a.Sim.DeliverDue(context.Background()); err != nil && !w.faultsOn.Load() {
				w.recordError(err)
			}
		}
		off := !faultsOffAt.IsZero()
		if off && w.Redrive {
			res.Redriven += w.NewSecretQ.redrive(now) + w.ExpiryQ.redrive(now)
		}
		for _, m := range polls {
			_, _ = m.Poll(context.Background())
		}
		w.engine.StartDue(now)
		w.observe()
		quiet := off && len(evs) == 0
		if quiet && w.OperatorRotates && w.idle() {
			w.operatorRotate()
		}
		settled := quiet && w.settled()
		runs, _ := w.engine.Stats()
		bound := off && (now.Sub(faultsOffAt) > SettleBound || runs-runsAtOff > MaxSettleRuns) || time.Since(realStart) > maxReal
		if settled || bound {
			res.Settled = settled
			res.SettleSim, res.SettleReal = now.Sub(faultsOffAt), time.Since(realOffAt)
			break
		}
		if w.engine.Busy() {
			time.Sleep(TickReal)
			w.advance(time.Time{})
			continue
		}
		next := now.Add(10 * time.Minute)
		earliest := func(t time.Time, ok bool) {
			if ok && t.Before(next) {
				next = t
			}
		}
		earliest(w.engine.NextRetry())
		for _, a := range w.Apps {
			earliest(a.Sim.NextDue())
		}
		for _, q := range []*Queue{w.NewSecretQ, w.ExpiryQ} {
			n, _, t := q.Len()
			earliest(t, n > 0)
		}
		if len(evs) > 0 {
			earliest(Epoch.Add(evs[0].At), true)
		}
		if !next.After(now) {
			next = now.Add(TickSim)
		}
		w.advance(next)
	}
	w.engine.Wait()
	w.observe()
	res.Real = time.Since(realStart)
	w.check(res)
	return res
}

// AccessTokens returns every access token the simulators granted.
func (w *World) AccessTokens() (tokens []string) {
	w.locked(func() { tokens = slices.Sorted(maps.Keys(w.tokens)) })
	return tokens
}
