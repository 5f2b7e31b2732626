package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/spapi-lwa/secret-rotation/test/harness"
	"github.com/spapi-lwa/secret-rotation/test/spapisim"
)

const (
	batchSize   = 10
	stepTimeout = 60 * time.Second
)

// stack is test/harness's local stack with one instance of each function (so that an invocation's
// bootstrap is known), a timing proxy before each function's peers, and a record of every invocation.
type stack struct {
	h       *harness.Stack
	meters  map[string]*meter  // by function, made before the stack starts
	servers []*httptest.Server // the proxies
	runOnly string             // when set, the only secret whose rotation runs
	seeded  int                // managed secrets created
	mu      sync.Mutex
	records map[string][]invocation // by function
}

// runStack takes the local stack's measurements into r, with the bootstraps in dir/<function>/bootstrap.
func runStack(ctx context.Context, r *results, work, dir string) (err error) {
	s := &stack{meters: map[string]*meter{}, records: map[string][]invocation{}}
	for _, f := range functionNames {
		s.meters[f] = &meter{peerStats: peerStats{calls: map[string]int{}}}
	}
	defer func() {
		for _, srv := range s.servers {
			srv.Close()
		}
	}()
	if s.h, err = harness.Start(ctx, harness.Options{
		BinDir:           dir,
		RotationTimeout:  stepTimeout,
		RotationAttempts: 1,
		Instances:        map[string]int{harness.FunctionRotate: 1},                           // the others have one already
		Env:              map[string]string{"HOME": filepath.Join(work, "home"), "TZ": "UTC"}, // made by coldStarts
		DeliveryDelay:    500 * time.Millisecond,
		WrapPeer:         s.wrapPeer,
		AroundInvoke:     s.around,
	}); err != nil {
		return err
	}
	defer func() {
		for _, f := range functionNames {
			pid, _ := s.h.BootstrapPID(f)
			r.peakRSS[f] = procKB(fmt.Sprintf("/proc/%d/status", pid), "VmHWM")
			if err != nil {
				err = fmt.Errorf("%w\nlog of %s:\n%s", err, f, tail(s.h.Logs(f), 3000))
			}
		}
		s.h.Close()
	}()
	if err := s.warmUp(ctx); err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	if r.rotation, err = s.rotation(ctx); err != nil {
		return err
	}
	for _, f := range []string{harness.FunctionReceive, harness.FunctionExpiry} {
		inv, err := s.sqsBatch(ctx, f)
		if err != nil {
			return err
		}
		r.batches = append(r.batches, inv)
	}
	r.sweeps, err = s.sweeps(ctx)
	return err
}

func (s *stack) wrapPeer(function, peer, target string) string {
	u, _ := url.Parse(target) // the harness's own URL
	srv := httptest.NewServer(timed(s.meters[function], peer, httputil.NewSingleHostReverseProxy(u)))
	s.servers = append(s.servers, srv)
	return srv.URL
}

type invocation struct {
	label     string        // its row in the report
	step      string        // the rotation step
	roundTrip time.Duration // POST to the emulator until its answer
	records   int           // the secrets a sweep read
	cpu       time.Duration // of the bootstrap's threads
	peerStats               // the peer requests during the invocation
}

// around measures and records every invocation.
func (s *stack) around(ctx context.Context, function string, event any, invoke func(context.Context) ([]byte, error)) ([]byte, error) {
	inv := invocation{label: function + ": the rotation's delivery"} // a batch's label replaces it
	if ev, ok := event.(events.SecretsManagerSecretRotationEvent); ok {
		if s.runOnly != "" && ev.SecretID != s.runOnly { // the batches' secrets: their functions are measured
			return nil, errors.New("bench: rotation of this secret is not run")
		}
		inv.label, inv.step = function+" "+ev.Step, ev.Step
	}
	m := s.meters[function]
	pid, _ := s.h.BootstrapPID(function)
	cpu0, _ := cpuTime(pid), m.snapshot()
	start := time.Now()
	out, err := invoke(ctx)
	inv.roundTrip = time.Since(start)
	inv.peerStats, inv.cpu = m.snapshot(), cpuTime(pid)-cpu0
	s.mu.Lock()
	s.records[function] = append(s.records[function], inv)
	s.mu.Unlock()
	return out, err
}

// measure invokes function with event, decodes its answer and returns the invocation's record.
func (s *stack) measure(ctx context.Context, function string, event, answer any) (invocation, error) {
	out, err := s.h.Invoke(ctx, function, event)
	if err == nil {
		err = json.Unmarshal(out, answer)
	}
	if err != nil {
		return invocation{}, fmt.Errorf("%s: %w", function, err)
	}
	recs := s.takeRecords()[function]
	return recs[len(recs)-1], nil
}

func (s *stack) takeRecords() map[string][]invocation {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.records
	s.records = map[string][]invocation{}
	return out
}

func (s *stack) seed(ctx context.Context, name, clientID string) error {
	_, err := s.h.Seed(ctx, harness.SeedOptions{Name: name, Rotation: true, Document: &harness.SecretDocument{
		ClientID: clientID, ClientSecret: "amzn1.oa2-cs.v1.bench" + harness.NewToken(), RefreshToken: "Atzr|bench"}})
	s.seeded++
	return err
}

type rotationRun struct {
	steps    []invocation
	receives []invocation  // receive-secret invocations while the rotation ran
	took     time.Duration // RotateSecret to AWSPENDING removed
}

// rotation runs one scheduled rotation of a fresh secret of the simulator's application, the new
// one delivered through SQS.
func (s *stack) rotation(ctx context.Context) (*rotationRun, error) {
	seeded := time.Now()
	arn, err := s.h.Seed(ctx, harness.SeedOptions{Name: "bench/rotation", Rotation: true})
	s.seeded++
	if err != nil {
		return nil, err
	}
	// moto dates versions to the second; createSecret adopts only a version dated after AWSCURRENT.
	time.Sleep(time.Until(seeded.Add(1100 * time.Millisecond)))
	s.runOnly = arn
	s.takeRecords()
	start := time.Now()
	if _, err := s.h.StartRotation(ctx, arn); err != nil {
		return nil, err
	}
	if err := s.h.Settle(ctx, 3*stepTimeout); err != nil {
		return nil, err
	}
	tl := s.h.Timeline()
	i := slices.IndexFunc(tl, func(ev harness.Event) bool { return ev.SecretARN == arn && ev.Rotation != "" })
	ok, err := s.h.CurrentIsNewest(ctx, arn)
	ok = ok && i >= 0 && tl[i].Rotation == harness.RotationSucceeded
	if newest, _ := s.h.Sim.Current(); !ok || newest == s.h.InitialSecret {
		return nil, fmt.Errorf("the rotation of %s did not end with the new secret as AWSCURRENT (%v)", arn, err)
	}
	recs := s.takeRecords()
	return &rotationRun{steps: recs[harness.FunctionRotate], receives: recs[harness.FunctionReceive],
		took: tl[i].Time.Sub(start)}, nil
}

// sqsBatch seeds batchSize applications and invokes function (receive-secret or expiry-alert) with
// one batch (at most 10, as an event source mapping) of the notification of its kind that a
// simulator of each application sends.
func (s *stack) sqsBatch(ctx context.Context, function string) (invocation, error) {
	kind, _, _ := strings.Cut(function, "-")
	var ev events.SQSEvent
	queue := spapisim.DelivererFunc(func(_ context.Context, body []byte) error {
		ev.Records = append(ev.Records, events.SQSMessage{MessageId: harness.NewToken(), Body: string(body),
			Attributes: map[string]string{"ApproximateReceiveCount": "1"}, EventSource: "aws:sqs"})
		return nil
	})
	for i := range batchSize {
		clientID := fmt.Sprintf("amzn1.application-oa2-client.bench%s%02d", kind, i)
		if err := s.seed(ctx, fmt.Sprintf("bench/%s-%02d", kind, i), clientID); err != nil {
			return invocation{}, err
		}
		sim := spapisim.New(spapisim.Config{ClientID: clientID, ApplicationID: "amzn1.sp.solution.bench",
			InitialSecret: "amzn1.oa2-cs.v1.bench" + harness.NewToken(), NewSecretDeliverer: queue})
		var err error
		if function == harness.FunctionReceive {
			sim.PortalRotate()
			_, err = sim.DeliverDue(ctx) // no DeliveryDelay: due at once
		} else {
			days := time.Duration([]int{90, 60, 30, 15, 7, 1, 90, 30, 7, 1}[i])
			err = sim.EmitExpiryNotice(ctx, queue, time.Now().Add(days*24*time.Hour+time.Hour))
		}
		if err != nil {
			return invocation{}, err
		}
	}
	time.Sleep(1100 * time.Millisecond) // moto dates versions to the second
	var resp events.SQSEventResponse
	inv, err := s.measure(ctx, function, ev, &resp)
	what := map[string]string{harness.FunctionReceive: "new secrets", harness.FunctionExpiry: "expiry notices"}[function]
	inv.label = fmt.Sprintf("%s: batch of %d %s (%d failed)", function, batchSize, what, len(resp.BatchItemFailures))
	return inv, err
}

// sweepSizes are the fleet sizes the watchdog's sweep is timed at: two, to show it is linear.
var sweepSizes = []int{50, 100}

// sweeps tops the managed secrets up to each of sweepSizes and times one sweep at each size; LWA
// rejects every added secret (unknown application), so the sweep publishes the most alerts it can.
func (s *stack) sweeps(ctx context.Context) ([]invocation, error) {
	var runs []invocation
	for _, size := range sweepSizes {
		for i := s.seeded; i < size; i++ {
			clientID := fmt.Sprintf("amzn1.application-oa2-client.benchsweep%03d", i)
			if err := s.seed(ctx, fmt.Sprintf("bench/sweep-%03d", i), clientID); err != nil {
				return runs, err
			}
		}
		var res struct{ Secrets, Alerts int }
		inv, err := s.measure(ctx, harness.FunctionWatchdog, map[string]any{}, &res)
		if err != nil {
			return runs, err
		}
		inv.records = res.Secrets
		inv.label = fmt.Sprintf("watchdog: sweep of %d managed secrets (%d alerts)", res.Secrets, res.Alerts)
		runs = append(runs, inv)
	}
	return runs, nil
}

// warmUp invokes each function once, so that every bootstrap runs and the figures are warm; the
// rotation function's createSecret of a missing secret makes its first call.
func (s *stack) warmUp(ctx context.Context) error {
	for _, f := range functionNames {
		var ev any = map[string]any{}
		if f == harness.FunctionRotate {
			ev = events.SecretsManagerSecretRotationEvent{Step: "createSecret", ClientRequestToken: harness.NewToken(),
				SecretID: "arn:aws:secretsmanager:us-east-1:123456789012:secret:bench-missing-AbCdEf"}
		}
		var fe *harness.FunctionError
		if _, err := s.h.Invoke(ctx, f, ev); err != nil && !errors.As(err, &fe) {
			return err
		}
	}
	s.takeRecords()
	return nil
}

// meter accounts one function's peer requests: the wall time with at least one in flight (busy),
// and their number per operation. A function runs one invocation at a time: a snapshot after it
// gives its figures.
type meter struct {
	mu        sync.Mutex
	inflight  int
	busySince time.Time
	peerStats
}

type peerStats struct {
	busy  time.Duration
	calls map[string]int // "peer operation" → count
}

// snapshot returns the figures since the last snapshot and starts anew.
func (m *meter) snapshot() peerStats {
	m.mu.Lock()
	defer m.mu.Unlock()
	if now := time.Now(); m.inflight > 0 {
		m.busy, m.busySince = m.busy+now.Sub(m.busySince), now
	}
	st := m.peerStats
	m.busy, m.calls = 0, map[string]int{}
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
		next.ServeHTTP(w, r)
		m.mu.Lock()
		defer m.mu.Unlock()
		if m.inflight--; m.inflight == 0 {
			m.busy += time.Since(m.busySince)
		}
		m.calls[op]++
	})
}

// operation names a request to peer: Secrets Manager's by its X-Amz-Target, SNS's by its Action
// form field, LWA's and SP-API's by their path.
func operation(peer string, r *http.Request) string {
	switch peer {
	case harness.PeerSecretsManager:
		_, op, _ := strings.Cut(r.Header.Get("X-Amz-Target"), ".") // "secretsmanager.GetSecretValue"
		return "Secrets Manager " + cmp.Or(op, "?")
	case harness.PeerSNS:
		dump, _ := httputil.DumpRequest(r, true) // puts the body back
		_, body, _ := strings.Cut(string(dump), "\r\n\r\n")
		v, _ := url.ParseQuery(body)
		return "SNS " + cmp.Or(v.Get("Action"), "?")
	}
	return cmp.Or(amazonOperations[r.URL.Path], r.URL.Path)
}

var amazonOperations = map[string]string{
	"/auth/o2/token":                        "LWA token",
	"/applications/2023-11-30/clientSecret": "SP-API rotateApplicationClientSecret",
}
