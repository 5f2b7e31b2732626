package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/spapi-lwa/secret-rotation/internal/health"
	"github.com/spapi-lwa/secret-rotation/test/harness"
)

// The local stack of the rotation and batch benchmarks is test/harness's:
// moto as Secrets Manager, SQS and SNS, the SP-API/LWA simulator, the
// functions as built bootstraps under aws-lambda-rie (one instance each, so
// that an invocation's bootstrap is known), and the two parts of AWS that
// moto does not play (the rotation engine and the SQS event source mapping).
// The benchmark adds a timing proxy between each function and each of its
// peers (Options.WrapPeer) and measures every invocation
// (Options.AroundInvoke).

const (
	batchSize     = 10
	stepTimeout   = 60 * time.Second
	benchClientID = "amzn1.application-oa2-client.benchrotation0000000000"
	benchAppID    = "amzn1.sp.solution.benchrotation0000000000000000"
)

// errNotRun answers the rotation engine's invocations for secrets other
// than the benchmarked one: the batch benchmarks' subject is the function
// that called RotateSecret, so those rotations stop at the pending version.
var errNotRun = errors.New("bench: rotation of this secret is not run")

// stack is the harness stack with the benchmark's proxies and records.
type stack struct {
	root, work string
	h          *harness.Stack
	servers    []*http.Server

	mu        sync.Mutex
	meters    map[string]*meter       // by function
	proxies   map[string]string       // "function peer" → proxy URL
	records   map[string][]invocation // measured invocations, by function
	runOnly   string                  // when set, the only secret whose rotation runs
	succeeded time.Time               // the engine removed AWSPENDING of runOnly
	abandoned bool                    // the engine gave the rotation of runOnly up
}

func newStack(root, work string) *stack {
	return &stack{root: root, work: work, meters: map[string]*meter{}, proxies: map[string]string{}, records: map[string][]invocation{}}
}

// start starts the harness stack with the bootstraps of bins (by function).
func (s *stack) start(ctx context.Context, rie string, bins map[string]string) error {
	binDir := filepath.Join(s.work, "stack")
	for f, p := range bins {
		if err := os.MkdirAll(filepath.Join(binDir, f), 0o755); err != nil {
			return err
		}
		if err := os.Symlink(p, filepath.Join(binDir, f, "bootstrap")); err != nil {
			return err
		}
	}
	home := filepath.Join(s.work, "home")
	if err := os.MkdirAll(home, 0o755); err != nil {
		return err
	}
	h, err := harness.Start(ctx, harness.Options{
		BinDir:           binDir,
		RotationTimeout:  stepTimeout,
		RotationAttempts: 1,
		Instances:        map[string]int{harness.FunctionRotate: 1, harness.FunctionReceive: 1, harness.FunctionExpiry: 1, harness.FunctionWatchdog: 1},
		Env:              map[string]string{"HOME": home, "TZ": "UTC"},
		ClientID:         benchClientID,
		ApplicationID:    benchAppID,
		InitialSecret:    "amzn1.oa2-cs.v1.bench" + randomHex(16),
		DeliveryDelay:    500 * time.Millisecond,
		WrapPeer:         s.wrapPeer,
		AroundInvoke:     s.around,
		OnEvent:          s.onEvent,
	})
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.h = h
	s.mu.Unlock()
	return nil
}

func (s *stack) close() {
	if s.h != nil {
		s.h.Close()
	}
	for _, srv := range s.servers {
		srv.Close()
	}
}

// meter returns function's meter.
func (s *stack) meter(function string) *meter {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.meters[function]
	if m == nil {
		m = newMeter()
		s.meters[function] = m
	}
	return m
}

// wrapPeer puts a timing proxy of function's meter in front of url.
func (s *stack) wrapPeer(function, peer, url string) string {
	key := function + " " + peer
	s.mu.Lock()
	got, ok := s.proxies[key]
	s.mu.Unlock()
	if ok {
		return got
	}
	p := &timingProxy{meter: s.meter(function), next: forward(url)}
	switch peer {
	case harness.PeerSecretsManager:
		p.peer, p.classify = "Secrets Manager", jsonTarget
	case harness.PeerSNS:
		p.peer, p.classify = "SNS", queryAction
	default:
		p.classify = amazonPath
	}
	srvURL, err := serve(&s.servers, p)
	if err != nil {
		// The function then fails to reach the peer, and the run says so.
		return "http://127.0.0.1:9"
	}
	s.mu.Lock()
	s.proxies[key] = srvURL
	s.mu.Unlock()
	return srvURL
}

// onEvent notes the end of the benchmarked rotation.
func (s *stack) onEvent(ev harness.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.runOnly == "" || ev.SecretARN != s.runOnly {
		return
	}
	switch ev.Rotation {
	case harness.RotationSucceeded:
		s.succeeded = ev.Time
	case harness.RotationAbandoned:
		s.abandoned = true
	}
}

// serve serves h on a free 127.0.0.1 port and returns its URL.
func serve(servers *[]*http.Server, h http.Handler) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	*servers = append(*servers, srv)
	go srv.Serve(ln)
	return "http://" + ln.Addr().String(), nil
}

// invocation is the measure of one invocation.
type invocation struct {
	label     string
	roundTrip time.Duration // POST to the emulator until its answer
	peer      time.Duration // time with at least one peer request in flight
	cpu       time.Duration // CPU time of the bootstrap (all threads)
	calls     map[string]int
	refused   int // RotateSecret calls the engine refused
	funcErr   string
	payload   []byte
	records   int       // SQS records in the event
	sent      time.Time // the earliest SentTimestamp of the SQS records
}

// handler is the round trip minus the peer time.
func (i invocation) handler() time.Duration { return i.roundTrip - i.peer }

// around measures one invocation of the stack (harness.AroundInvoke): its
// round trip, its peer time and calls at function's proxies and the CPU
// time of the bootstrap, and records it.
func (s *stack) around(ctx context.Context, function string, event any, invoke func(context.Context) ([]byte, error)) ([]byte, error) {
	inv := invocation{label: "invocation"}
	switch ev := event.(type) {
	case events.SecretsManagerSecretRotationEvent:
		s.mu.Lock()
		skip := s.runOnly != "" && ev.SecretID != s.runOnly
		s.mu.Unlock()
		if skip {
			return nil, errNotRun
		}
		inv.label = ev.Step
	case events.SQSEvent:
		inv.label, inv.records = "SQS batch", len(ev.Records)
		for _, r := range ev.Records {
			if ms, err := strconv.ParseInt(r.Attributes["SentTimestamp"], 10, 64); err == nil {
				if t := time.UnixMilli(ms); inv.sent.IsZero() || t.Before(inv.sent) {
					inv.sent = t
				}
			}
		}
	}
	s.mu.Lock()
	h := s.h
	s.mu.Unlock()
	m := s.meter(function)
	pid := 0
	if h != nil {
		pid, _ = h.BootstrapPID(function)
	}
	cpu0, _ := cpuTime(pid)
	before := m.snapshot()
	start := time.Now()
	out, err := invoke(ctx)
	inv.roundTrip = time.Since(start)
	after := m.snapshot()
	if pid == 0 && h != nil {
		pid, _ = h.BootstrapPID(function)
	}
	cpu1, _ := cpuTime(pid)
	var fe *harness.FunctionError
	if err != nil && !errors.As(err, &fe) {
		return out, err
	}
	if fe != nil {
		inv.funcErr = fe.Type + ": " + fe.Message
	}
	inv.peer, inv.cpu, inv.payload = after.busy-before.busy, cpu1-cpu0, out
	inv.calls = diff(before.calls, after.calls)
	inv.refused = after.refused - before.refused
	s.mu.Lock()
	s.records[function] = append(s.records[function], inv)
	s.mu.Unlock()
	return out, err
}

// measure invokes function with event through the stack and returns the
// invocation's measure.
func (s *stack) measure(ctx context.Context, function string, event any) (invocation, error) {
	_, err := s.h.Invoke(ctx, function, event)
	var fe *harness.FunctionError
	if err != nil && !errors.As(err, &fe) {
		return invocation{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	recs := s.records[function]
	return recs[len(recs)-1], nil
}

// takeRecords returns and forgets the invocations recorded so far.
func (s *stack) takeRecords() map[string][]invocation {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.records
	s.records = map[string][]invocation{}
	return out
}

// peakRSS returns VmHWM of function's bootstrap, in KiB.
func (s *stack) peakRSS(function string) (int64, bool) {
	pid, ok := s.h.BootstrapPID(function)
	if !ok {
		return 0, false
	}
	return statusKB(pid, "VmHWM")
}

// seed creates a managed secret for clientID with rotation enabled and
// returns its ARN.
func (s *stack) seed(ctx context.Context, name, clientID, secret string) (string, error) {
	return s.h.Seed(ctx, harness.SeedOptions{Name: name, Rotation: true, Document: &harness.SecretDocument{
		ClientID: clientID, ClientSecret: secret, RefreshToken: "Atzr|bench-refresh-" + randomHex(8)}})
}

// rotationRun is the measure of one full rotation.
type rotationRun struct {
	steps    []invocation
	receives []invocation // receive-secret invocations while the rotation ran
	err      error
	start    time.Time
	end      time.Time // AWSPENDING removed
	promoted time.Time // finishSecret's UpdateSecretVersionStage answered
	delivery time.Time // the simulator sent the new-secret notification (SQS SentTimestamp, ms)
	lwa, sp  int       // calls the simulator saw
	refused  int       // RotateSecret calls of the functions the engine refused
	current  bool      // AWSCURRENT holds the simulator's newest secret at the end
}

// rotation runs one full scheduled rotation of a freshly seeded secret:
// RotateSecret → the four steps, with the new-secret notification delivered
// through SQS to receive-secret by the event source mapping.
func (s *stack) rotation(ctx context.Context) (*rotationRun, error) {
	initial, _ := s.h.Sim.Current()
	seeded := time.Now()
	arn, err := s.seed(ctx, "bench/rotation", benchClientID, initial)
	if err != nil {
		return nil, err
	}
	// moto dates versions to the second; the new version must be dated after
	// AWSCURRENT for createSecret to adopt it.
	if d := time.Until(seeded.Add(1100 * time.Millisecond)); d > 0 {
		time.Sleep(d)
	}
	s.mu.Lock()
	s.runOnly = arn
	s.mu.Unlock()
	s.takeRecords()
	before := s.h.Sim.Stats()
	run := &rotationRun{start: time.Now()}
	if _, err := s.h.StartRotation(ctx, arn); err != nil {
		return nil, fmt.Errorf("start rotation: %w", err)
	}
	err = s.h.WaitFor(ctx, 3*stepTimeout, "the rotation", func(context.Context) (bool, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		return !s.succeeded.IsZero() || s.abandoned, nil
	})
	if err == nil {
		err = s.h.Settle(ctx, stepTimeout)
	}
	if err != nil {
		run.err = err
	}
	for _, st := range s.h.Steps() {
		if st.SecretID == arn && st.Err != "" && run.err == nil {
			run.err = fmt.Errorf("%s failed: %s", st.Step, st.Err)
		}
	}
	s.mu.Lock()
	run.end = s.succeeded
	s.mu.Unlock()
	recs := s.takeRecords()
	run.steps = recs[harness.FunctionRotate]
	run.receives = recs[harness.FunctionReceive]
	for _, inv := range append(slices.Clone(run.steps), run.receives...) {
		run.refused += inv.refused
	}
	for _, inv := range run.receives {
		if !inv.sent.IsZero() && (run.delivery.IsZero() || inv.sent.Before(run.delivery)) {
			run.delivery = inv.sent
		}
	}
	after := s.h.Sim.Stats()
	run.lwa = after.TokenCalls - before.TokenCalls
	run.sp = after.RotateCalls - before.RotateCalls
	run.promoted, _ = s.meter(harness.FunctionRotate).lastEnd("Secrets Manager UpdateSecretVersionStage")
	newest, _ := s.h.Sim.Current()
	if ok, err := s.h.CurrentIsNewest(ctx, arn); err == nil {
		run.current = ok && newest != initial
	}
	return run, nil
}

// batchRun is the measure of one SQS batch.
type batchRun struct {
	inv      invocation
	failures int
}

// notification returns the official example of type typ from
// internal/notification/testdata, decoded.
func (s *stack) notification(typ string) (map[string]any, error) {
	b, err := os.ReadFile(filepath.Join(s.root, "internal", "notification", "testdata", typ+".example.json"))
	if err != nil {
		return nil, err
	}
	var m map[string]any
	return m, json.Unmarshal(b, &m)
}

func sqsRecord(body []byte, queueARN string) events.SQSMessage {
	return events.SQSMessage{
		MessageId: harness.NewToken(), ReceiptHandle: "bench-" + randomHex(8), Body: string(body),
		Attributes:  map[string]string{"ApproximateReceiveCount": "1", "SentTimestamp": strconv.FormatInt(time.Now().UnixMilli(), 10)},
		EventSource: "aws:sqs", EventSourceARN: queueARN, AWSRegion: harness.Region,
	}
}

// receiveBatch seeds batchSize applications and invokes receive-secret with
// one new-secret notification for each (one batch, as the event source
// mapping delivers at most 10).
func (s *stack) receiveBatch(ctx context.Context) (batchRun, error) {
	tmpl, err := s.notification("APPLICATION_OAUTH_CLIENT_NEW_SECRET")
	if err != nil {
		return batchRun{}, err
	}
	now := time.Now().UTC()
	ev := events.SQSEvent{}
	for i := range batchSize {
		clientID := fmt.Sprintf("amzn1.application-oa2-client.benchreceive%02d", i)
		if _, err := s.seed(ctx, fmt.Sprintf("bench/receive-%02d", i), clientID, "amzn1.oa2-cs.v1.old"+randomHex(16)); err != nil {
			return batchRun{}, err
		}
		n := cloneJSON(tmpl)
		n["eventTime"] = now.Format(time.RFC3339Nano)
		p := n["payload"].(map[string]any)["applicationOAuthClientNewSecret"].(map[string]any)
		p["clientId"] = clientID
		p["newClientSecret"] = "amzn1.oa2-cs.v1.new" + randomHex(16)
		p["newClientSecretExpiryTime"] = now.Add(180 * 24 * time.Hour).Format(time.RFC3339Nano)
		p["oldClientSecretExpiryTime"] = now.Add(7 * 24 * time.Hour).Format(time.RFC3339Nano)
		md := n["notificationMetadata"].(map[string]any)
		md["notificationId"] = harness.NewToken()
		md["publishTime"] = now.Format(time.RFC3339Nano)
		body, _ := json.Marshal(n)
		ev.Records = append(ev.Records, sqsRecord(body, queueARN(s.h.NewSecretQueueURL)))
	}
	// Versions are dated to the second: keep the received ones after AWSCURRENT.
	time.Sleep(1100 * time.Millisecond)
	return s.batch(ctx, "receive-secret", ev)
}

// expiryBatch seeds batchSize applications and invokes expiry-alert with one
// expiry notice for each, at the days of Amazon's schedule.
func (s *stack) expiryBatch(ctx context.Context) (batchRun, error) {
	tmpl, err := s.notification("APPLICATION_OAUTH_CLIENT_SECRET_EXPIRY")
	if err != nil {
		return batchRun{}, err
	}
	days := []int{90, 60, 30, 15, 7, 1, 90, 30, 7, 1}
	now := time.Now().UTC()
	ev := events.SQSEvent{}
	for i := range batchSize {
		clientID := fmt.Sprintf("amzn1.application-oa2-client.benchexpiry%02d", i)
		if _, err := s.seed(ctx, fmt.Sprintf("bench/expiry-%02d", i), clientID, "amzn1.oa2-cs.v1.cur"+randomHex(16)); err != nil {
			return batchRun{}, err
		}
		n := cloneJSON(tmpl)
		n["eventTime"] = now.Format(time.RFC3339Nano)
		p := n["payload"].(map[string]any)["applicationOAuthClientSecretExpiry"].(map[string]any)
		p["clientId"] = clientID
		p["clientSecretExpiryTime"] = now.Add(time.Duration(days[i])*24*time.Hour + time.Hour).Format(time.RFC3339Nano)
		md := n["notificationMetadata"].(map[string]any)
		md["notificationId"] = harness.NewToken()
		md["publishTime"] = now.Format(time.RFC3339Nano)
		body, _ := json.Marshal(n)
		ev.Records = append(ev.Records, sqsRecord(body, queueARN(s.h.ExpiryQueueURL)))
	}
	return s.batch(ctx, "expiry-alert", ev)
}

func (s *stack) batch(ctx context.Context, function string, ev events.SQSEvent) (batchRun, error) {
	inv, err := s.measure(ctx, function, ev)
	if err != nil {
		return batchRun{}, err
	}
	if inv.funcErr != "" {
		return batchRun{}, fmt.Errorf("%s batch failed: %s", function, inv.funcErr)
	}
	var resp events.SQSEventResponse
	if err := json.Unmarshal(inv.payload, &resp); err != nil {
		return batchRun{}, fmt.Errorf("%s batch answer: %w", function, err)
	}
	inv.records = len(ev.Records)
	return batchRun{inv: inv, failures: len(resp.BatchItemFailures)}, nil
}

// sweepRun is the measure of one watchdog sweep.
type sweepRun struct {
	secrets, alerts int
	inv             invocation
}

// sweepSizes are the fleet sizes the watchdog's sweep is timed at: two, to
// show the time grows linearly.
var sweepSizes = []int{50, 100}

// sweeps tops the managed secrets up to each of sweepSizes (the secrets of
// the earlier runs count) and times one sweep at each size. The simulator
// plays one application: every added secret names another client id, so LWA
// rejects it and the sweep publishes a CREDENTIALS_REJECTED alert for it,
// the most publishing a sweep of that size can do.
func (s *stack) sweeps(ctx context.Context) ([]sweepRun, error) {
	var runs []sweepRun
	for _, size := range sweepSizes {
		listed, err := health.List(ctx, s.h.SecretsManager)
		if err != nil {
			return runs, err
		}
		for i := len(listed); i < size; i++ {
			clientID := fmt.Sprintf("amzn1.application-oa2-client.benchsweep%03d", i)
			if _, err := s.seed(ctx, fmt.Sprintf("bench/sweep-%03d", i), clientID, "amzn1.oa2-cs.v1.sweep"+randomHex(16)); err != nil {
				return runs, err
			}
		}
		inv, err := s.measure(ctx, harness.FunctionWatchdog, map[string]any{})
		if err != nil {
			return runs, err
		}
		if inv.funcErr != "" {
			return runs, fmt.Errorf("watchdog sweep of %d secrets failed: %s", size, inv.funcErr)
		}
		var res struct{ Secrets, Alerts int }
		if err := json.Unmarshal(inv.payload, &res); err != nil {
			return runs, fmt.Errorf("watchdog sweep answer: %w", err)
		}
		runs = append(runs, sweepRun{secrets: res.Secrets, alerts: res.Alerts, inv: inv})
	}
	return runs, nil
}

// warmUp invokes each function once with an empty batch or a step for a
// missing secret, so the measured invocations are warm (the cold start is
// measured on its own).
func (s *stack) warmUp(ctx context.Context) error {
	for _, f := range functionNames {
		ev, _ := minimalEvent(f)
		if _, err := s.measure(ctx, f, ev); err != nil {
			return err
		}
	}
	s.takeRecords()
	return nil
}

// queueARN is the ARN of the moto queue at url.
func queueARN(url string) string {
	return "arn:aws:sqs:" + harness.Region + ":" + harness.AccountID + ":" + path.Base(url)
}

func cloneJSON(m map[string]any) map[string]any {
	b, _ := json.Marshal(m)
	var out map[string]any
	json.Unmarshal(b, &out)
	return out
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// sumCalls adds call maps.
func sumCalls(ms ...map[string]int) map[string]int {
	out := map[string]int{}
	for _, m := range ms {
		for k, v := range m {
			out[k] += v
		}
	}
	return out
}

// minimalEvent is an invocation that does as little as the function allows:
// an SQS batch with no records, an empty object for the watchdog, or a
// createSecret for a secret that does not exist.
func minimalEvent(function string) (any, string) {
	if function == "rotate-secret" {
		return events.SecretsManagerSecretRotationEvent{
			Step:               "createSecret",
			SecretID:           "arn:aws:secretsmanager:us-east-1:123456789012:secret:bench-missing-AbCdEf",
			ClientRequestToken: "00000000-0000-4000-8000-000000000000",
		}, "createSecret for a nonexistent secret"
	}
	if function == "watchdog" {
		return map[string]any{}, "an empty object, i.e. a sweep"
	}
	return events.SQSEvent{Records: []events.SQSMessage{}}, "SQS event with zero records"
}
