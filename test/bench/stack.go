package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/spapi-lwa/secret-rotation/internal/health"
	"github.com/spapi-lwa/secret-rotation/test/harness"
)

const (
	batchSize     = 10
	stepTimeout   = 60 * time.Second
	benchClientID = "amzn1.application-oa2-client.benchrotation0000000000"
)

// stack is test/harness's local stack with one instance of each function (so that an invocation's
// bootstrap is known), a timing proxy before each function's peers, and a record of every invocation.
type stack struct {
	root    string
	h       *harness.Stack
	meters  map[string]*meter // by function, made before the stack starts
	servers []*http.Server    // the proxies
	mu      sync.Mutex
	records map[string][]invocation // by function
	runOnly string                  // when set, the only secret whose rotation runs
}

// startStack starts the stack with the bootstraps of bins; close it even after an error.
func startStack(ctx context.Context, root, work string, bins map[string]string) (*stack, error) {
	s := &stack{root: root, meters: map[string]*meter{}, records: map[string][]invocation{}}
	binDir, one := filepath.Join(work, "stack"), map[string]int{}
	for _, f := range functionNames {
		s.meters[f] = &meter{meterState: meterState{calls: map[string]int{}, lastEnd: map[string]time.Time{}}}
		one[f] = 1
		if err := os.MkdirAll(filepath.Join(binDir, f), 0o755); err != nil {
			return s, err
		}
		if err := os.Symlink(bins[f], filepath.Join(binDir, f, "bootstrap")); err != nil {
			return s, err
		}
	}
	h, err := harness.Start(ctx, harness.Options{
		BinDir:           binDir,
		RotationTimeout:  stepTimeout,
		RotationAttempts: 1,
		Instances:        one,
		Env:              map[string]string{"HOME": filepath.Join(work, "home"), "TZ": "UTC"}, // made by coldStarts
		ClientID:         benchClientID,
		ApplicationID:    "amzn1.sp.solution.benchrotation0000000000000000",
		InitialSecret:    "amzn1.oa2-cs.v1.bench" + harness.NewToken(),
		DeliveryDelay:    500 * time.Millisecond,
		WrapPeer:         s.wrapPeer,
		AroundInvoke:     s.around,
	})
	s.mu.Lock()
	s.h = h
	s.mu.Unlock()
	return s, err
}

func (s *stack) close() {
	if s.h != nil {
		s.h.Close()
	}
	for _, srv := range s.servers {
		srv.Close()
	}
}

func (s *stack) wrapPeer(function, peer, target string) string {
	u, err := url.Parse(target)
	if err != nil {
		return unreachable // the function then fails to reach the peer, and the run says so
	}
	addr, srv, err := serve(timed(s.meters[function], peer, httputil.NewSingleHostReverseProxy(u)))
	if err != nil {
		return unreachable
	}
	s.servers = append(s.servers, srv)
	return "http://" + addr
}

type invocation struct {
	label     string        // the rotation step, or a batch's row in the report
	roundTrip time.Duration // POST to the emulator until its answer
	peer      time.Duration // time with at least one peer request in flight
	cpu       time.Duration // of the bootstrap's threads
	calls     map[string]int
	refused   int       // RotateSecret calls the engine refused
	records   int       // SQS records in the event
	sent      time.Time // the earliest SentTimestamp of the SQS records
}

func (s *stack) around(ctx context.Context, function string, event any, invoke func(context.Context) ([]byte, error)) ([]byte, error) {
	s.mu.Lock()
	h, runOnly := s.h, s.runOnly
	s.mu.Unlock()
	var inv invocation
	switch ev := event.(type) {
	case events.SecretsManagerSecretRotationEvent:
		if runOnly != "" && ev.SecretID != runOnly { // the batches' secrets: their functions are measured
			return nil, errors.New("bench: rotation of this secret is not run")
		}
		inv.label = ev.Step
	case events.SQSEvent:
		inv.records = len(ev.Records)
		for _, r := range ev.Records {
			ms, err := strconv.ParseInt(r.Attributes["SentTimestamp"], 10, 64)
			if t := time.UnixMilli(ms); err == nil && (inv.sent.IsZero() || t.Before(inv.sent)) {
				inv.sent = t
			}
		}
	}
	m := s.meters[function]
	p, _ := h.BootstrapPID(function)
	cpu0, _ := cpuTime(p), m.snapshot()
	start := time.Now()
	out, err := invoke(ctx)
	inv.roundTrip = time.Since(start)
	st := m.snapshot()
	if p == 0 { // aws-lambda-rie may start the bootstrap only with the first invocation
		p, _ = h.BootstrapPID(function)
	}
	inv.cpu = cpuTime(p) - cpu0
	var fe *harness.FunctionError
	if err != nil && !errors.As(err, &fe) {
		return out, err
	}
	inv.peer, inv.refused, inv.calls = st.busy, st.refused, st.calls
	s.mu.Lock()
	s.records[function] = append(s.records[function], inv)
	s.mu.Unlock()
	return out, err
}

func (s *stack) measure(ctx context.Context, what, function string, event, answer any) (invocation, error) {
	out, err := s.h.Invoke(ctx, function, event)
	if err != nil {
		return invocation{}, fmt.Errorf("%s failed: %w", what, err)
	}
	if err := json.Unmarshal(out, answer); err != nil {
		return invocation{}, fmt.Errorf("%s answer: %w", what, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.records[function][len(s.records[function])-1], nil
}

func (s *stack) takeRecords() map[string][]invocation {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.records
	s.records = map[string][]invocation{}
	return out
}

func (s *stack) seed(ctx context.Context, name, clientID, secret string) (string, error) {
	return s.h.Seed(ctx, harness.SeedOptions{Name: name, Rotation: true, Document: &harness.SecretDocument{
		ClientID: clientID, ClientSecret: secret, RefreshToken: "Atzr|bench-refresh-" + harness.NewToken()}})
}

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

// rotation runs one scheduled rotation of a fresh secret, the new one delivered through SQS.
func (s *stack) rotation(ctx context.Context) (*rotationRun, error) {
	initial, _ := s.h.Sim.Current()
	seeded := time.Now()
	arn, err := s.seed(ctx, "bench/rotation", benchClientID, initial)
	if err != nil {
		return nil, err
	}
	// moto dates versions to the second; createSecret adopts only a version dated after AWSCURRENT.
	time.Sleep(time.Until(seeded.Add(1100 * time.Millisecond)))
	s.mu.Lock()
	s.runOnly = arn
	s.mu.Unlock()
	s.takeRecords()
	before := s.h.Sim.Stats()
	run := &rotationRun{start: time.Now()}
	if _, err := s.h.StartRotation(ctx, arn); err != nil {
		return nil, fmt.Errorf("start rotation: %w", err)
	}
	run.err = s.h.WaitFor(ctx, 3*stepTimeout, "the rotation", func(context.Context) (bool, error) {
		tl := s.h.Timeline()
		i := slices.IndexFunc(tl, func(ev harness.Event) bool { return ev.SecretARN == arn && ev.Rotation != "" })
		if i >= 0 && tl[i].Rotation == harness.RotationSucceeded {
			run.end = tl[i].Time
		}
		return i >= 0, nil
	})
	if run.err == nil {
		run.err = s.h.Settle(ctx, stepTimeout)
	}
	for _, st := range s.h.Steps() {
		if st.SecretID == arn && st.Err != "" && run.err == nil {
			run.err = fmt.Errorf("%s failed: %s", st.Step, st.Err)
		}
	}
	recs := s.takeRecords()
	run.steps, run.receives = recs[harness.FunctionRotate], recs[harness.FunctionReceive]
	for _, inv := range slices.Concat(run.steps, run.receives) {
		run.refused += inv.refused
		if !inv.sent.IsZero() && (run.delivery.IsZero() || inv.sent.Before(run.delivery)) {
			run.delivery = inv.sent
		}
	}
	after := s.h.Sim.Stats()
	run.lwa, run.sp = after.TokenCalls-before.TokenCalls, after.RotateCalls-before.RotateCalls
	run.promoted = s.meters[harness.FunctionRotate].snapshot().lastEnd["Secrets Manager UpdateSecretVersionStage"]
	newest, _ := s.h.Sim.Current()
	ok, err := s.h.CurrentIsNewest(ctx, arn)
	run.current = err == nil && ok && newest != initial
	return run, nil
}

// receiveBatch waits a second after seeding, as moto dates versions to the second.
func (s *stack) receiveBatch(ctx context.Context) (invocation, error) {
	return s.sqsBatch(ctx, harness.FunctionReceive, "new secrets", "APPLICATION_OAUTH_CLIENT_NEW_SECRET",
		s.h.NewSecretQueueURL, 1100*time.Millisecond, func(p map[string]any, now time.Time, _ int) {
			p["newClientSecret"] = "amzn1.oa2-cs.v1.new" + harness.NewToken()
			p["newClientSecretExpiryTime"] = now.Add(180 * 24 * time.Hour).Format(time.RFC3339Nano)
			p["oldClientSecretExpiryTime"] = now.Add(7 * 24 * time.Hour).Format(time.RFC3339Nano)
		})
}

func (s *stack) expiryBatch(ctx context.Context) (invocation, error) {
	days := []int{90, 60, 30, 15, 7, 1, 90, 30, 7, 1}
	return s.sqsBatch(ctx, harness.FunctionExpiry, "expiry notices", "APPLICATION_OAUTH_CLIENT_SECRET_EXPIRY",
		s.h.ExpiryQueueURL, 0, func(p map[string]any, now time.Time, i int) {
			p["clientSecretExpiryTime"] = now.Add(time.Duration(days[i])*24*time.Hour + time.Hour).Format(time.RFC3339Nano)
		})
}

// sqsBatch seeds batchSize applications and invokes function with one batch (at most 10, as an event
// source mapping) of typ's official example in internal/notification/testdata for each, filled in by fill.
func (s *stack) sqsBatch(ctx context.Context, function, what, typ, queueURL string, settle time.Duration,
	fill func(payload map[string]any, now time.Time, i int)) (invocation, error) {
	progress("stack: %s batch of %d", function, batchSize)
	kind, _, _ := strings.Cut(function, "-")
	example, err := os.ReadFile(filepath.Join(s.root, "internal", "notification", "testdata", typ+".example.json"))
	if err != nil {
		return invocation{}, err
	}
	now := time.Now().UTC()
	var ev events.SQSEvent
	for i := range batchSize {
		clientID := fmt.Sprintf("amzn1.application-oa2-client.bench%s%02d", kind, i)
		if _, err := s.seed(ctx, fmt.Sprintf("bench/%s-%02d", kind, i), clientID, "amzn1.oa2-cs.v1."+kind+harness.NewToken()); err != nil {
			return invocation{}, err
		}
		var n map[string]any
		if err := json.Unmarshal(example, &n); err != nil {
			return invocation{}, err
		}
		n["eventTime"] = now.Format(time.RFC3339Nano)
		for _, p := range n["payload"].(map[string]any) { // the one object named after the type
			p.(map[string]any)["clientId"] = clientID
			fill(p.(map[string]any), now, i)
		}
		md := n["notificationMetadata"].(map[string]any)
		md["notificationId"], md["publishTime"] = harness.NewToken(), now.Format(time.RFC3339Nano)
		body, _ := json.Marshal(n)
		ev.Records = append(ev.Records, events.SQSMessage{
			MessageId: harness.NewToken(), ReceiptHandle: "bench-" + harness.NewToken(), Body: string(body),
			Attributes:  map[string]string{"ApproximateReceiveCount": "1", "SentTimestamp": strconv.FormatInt(time.Now().UnixMilli(), 10)},
			EventSource: "aws:sqs", EventSourceARN: "arn:aws:sqs:" + harness.Region + ":" + harness.AccountID + ":" + path.Base(queueURL),
			AWSRegion: harness.Region,
		})
	}
	time.Sleep(settle)
	var resp events.SQSEventResponse
	inv, err := s.measure(ctx, function+" batch", function, ev, &resp)
	inv.label = fmt.Sprintf("%s: batch of %d %s (%d failed)", function, batchSize, what, len(resp.BatchItemFailures))
	return inv, err
}

type sweepRun struct {
	secrets, alerts int
	inv             invocation
}

// sweepSizes are the fleet sizes the watchdog's sweep is timed at: two, to show it is linear.
var sweepSizes = []int{50, 100}

// sweeps tops the managed secrets up to each of sweepSizes and times one sweep at each size; LWA
// rejects every added secret (unknown application), so the sweep publishes the most alerts it can.
func (s *stack) sweeps(ctx context.Context) ([]sweepRun, error) {
	var runs []sweepRun
	for _, size := range sweepSizes {
		listed, err := health.List(ctx, s.h.SecretsManager)
		if err != nil {
			return runs, err
		}
		for i := len(listed); i < size; i++ {
			clientID := fmt.Sprintf("amzn1.application-oa2-client.benchsweep%03d", i)
			if _, err := s.seed(ctx, fmt.Sprintf("bench/sweep-%03d", i), clientID, "amzn1.oa2-cs.v1.sweep"+harness.NewToken()); err != nil {
				return runs, err
			}
		}
		var res struct{ Secrets, Alerts int }
		inv, err := s.measure(ctx, fmt.Sprintf("watchdog sweep of %d secrets", size), harness.FunctionWatchdog, map[string]any{}, &res)
		if err != nil {
			return runs, err
		}
		runs = append(runs, sweepRun{secrets: res.Secrets, alerts: res.Alerts, inv: inv})
	}
	return runs, nil
}

func (s *stack) warmUp(ctx context.Context) error {
	warm := map[string]any{harness.FunctionWatchdog: map[string]any{},
		harness.FunctionRotate: events.SecretsManagerSecretRotationEvent{Step: "createSecret",
			SecretID:           "arn:aws:secretsmanager:us-east-1:123456789012:secret:bench-missing-AbCdEf",
			ClientRequestToken: "00000000-0000-4000-8000-000000000000"}}
	for _, f := range functionNames {
		ev, ok := warm[f]
		if !ok {
			ev = events.SQSEvent{Records: []events.SQSMessage{}}
		}
		var fe *harness.FunctionError
		if _, err := s.h.Invoke(ctx, f, ev); err != nil && !errors.As(err, &fe) {
			return err
		}
	}
	s.takeRecords()
	return nil
}

// meter accounts one function's peer requests: the wall time with at least one in flight, and their
// number per operation. A function runs one invocation at a time: a snapshot after it gives its figures.
type meter struct {
	mu        sync.Mutex
	inflight  int
	busySince time.Time
	meterState
}

type meterState struct {
	busy    time.Duration
	calls   map[string]int       // "peer operation" → count
	refused int                  // RotateSecret calls answered InvalidRequestException
	lastEnd map[string]time.Time // "peer operation" → when its last request finished
}

// snapshot returns the figures since the last snapshot, and lastEnd since the start.
func (m *meter) snapshot() meterState {
	m.mu.Lock()
	defer m.mu.Unlock()
	if now := time.Now(); m.inflight > 0 {
		m.busy, m.busySince = m.busy+now.Sub(m.busySince), now
	}
	st := m.meterState
	st.lastEnd = maps.Clone(m.lastEnd)
	m.busy, m.calls, m.refused = 0, map[string]int{}, 0
	return st
}

func timed(m *meter, peer string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		op := operation(peer, r)
		m.mu.Lock()
		if m.inflight++; m.inflight == 1 {
			m.busySince = time.Now()
		}
		m.mu.Unlock()
		defer func() {
			m.mu.Lock()
			defer m.mu.Unlock()
			now := time.Now()
			if m.inflight--; m.inflight == 0 {
				m.busy += now.Sub(m.busySince)
			}
			m.calls[op]++
			m.lastEnd[op] = now
			// The engine refuses a RotateSecret while a rotation is incomplete.
			if op == "Secrets Manager RotateSecret" && w.Header().Get("X-Amzn-ErrorType") == "InvalidRequestException" {
				m.refused++
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// operation names a request to peer: Secrets Manager's by its X-Amz-Target, SNS's by its Action
// form field (the body is read and put back), LWA's and SP-API's by their path.
func operation(peer string, r *http.Request) string {
	switch peer {
	case harness.PeerSecretsManager:
		_, op, _ := strings.Cut(r.Header.Get("X-Amz-Target"), ".") // "secretsmanager.GetSecretValue"
		return "Secrets Manager " + cmp.Or(op, "?")
	case harness.PeerSNS:
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20)) // the server closes the original body
		r.Body = io.NopCloser(bytes.NewReader(body))
		v, perr := url.ParseQuery(string(body))
		if err != nil || perr != nil || v.Get("Action") == "" {
			return "SNS ?"
		}
		return "SNS " + v.Get("Action")
	}
	return cmp.Or(amazonOperations[r.URL.Path], r.URL.Path)
}

var amazonOperations = map[string]string{
	"/auth/o2/token":                        "LWA token",
	"/applications/2023-11-30/clientSecret": "SP-API rotateApplicationClientSecret",
}
