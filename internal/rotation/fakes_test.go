package rotation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/spapi-lwa/secret-rotation/internal/alert"
	"github.com/spapi-lwa/secret-rotation/internal/lwa"
	"github.com/spapi-lwa/secret-rotation/internal/managed"
	"github.com/spapi-lwa/secret-rotation/internal/secretdoc"
	"github.com/spapi-lwa/secret-rotation/test/logsink"
	"github.com/spapi-lwa/secret-rotation/test/secretsmanagertest"
)

const (
	testClientID     = "amzn1.application-oa2-client.0123456789abcdef0123456789abcdef"
	otherClientID    = "amzn1.application-oa2-client.ffffffffffffffffffffffffffffffff"
	oldSecret        = "amzn1.oa2-cs.v1.0ld5ecret0ld5ecret0ld5ecret0ld5ecret0ld5ecret0ld5ecret0ld5ecret0ld5e"
	refreshToken     = "Atzr|IwEBrefreshTOKENrefreshTOKENrefreshTOKEN"
	testTopicARN     = "arn:aws:sns:us-east-1:123456789012:sp-api-lwa-alerts"
	rotationLambda   = "arn:aws:lambda:us-east-1:123456789012:function:RotateSecretFunction"
	initialExpiresAt = "2027-01-10T10:00:00Z"
)

// initialDoc is the seeded AWSCURRENT value, with an extra key that must survive.
var initialDoc = `{"clientId":"` + testClientID + `","clientSecret":"` + oldSecret + `","clientSecretExpiresAt":"` + initialExpiresAt + `","refreshToken":"` + refreshToken + `","note":{"team":"payments","n":[1,2]}}`

// clock is a test clock that moves forward 1ms on every reading, so every
// created date and tag value is distinct and ordered.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Millisecond)
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fakeLWA is an LWA token endpoint that accepts the secrets it knows.
type fakeLWA struct {
	mu       sync.Mutex
	accepted map[string]bool // clientID + " " + secret
	// rejectFirst answers invalid_client this many times for a secret
	// before accepting it (a new secret still propagating).
	rejectFirst map[string]int
	// err, when set, is returned instead of asking.
	err    error
	calls  int
	tokens []string
}

func (f *fakeLWA) accept(clientID, secret string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.accepted[clientID+" "+secret] = true
}

func (f *fakeLWA) valid(token lwa.AccessToken) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Contains(f.tokens, token.Reveal())
}

func (f *fakeLWA) Calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

func (f *fakeLWA) ClientCredentials(ctx context.Context, clientID string, secret lwa.ClientSecret, scope string) (lwa.Token, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if scope != lwa.ScopeRotation {
		return lwa.Token{}, &lwa.Error{StatusCode: 400, Code: "invalid_scope"}
	}
	if f.err != nil {
		return lwa.Token{}, f.err
	}
	if n := f.rejectFirst[secret.Reveal()]; n > 0 {
		f.rejectFirst[secret.Reveal()] = n - 1
		return lwa.Token{}, &lwa.Error{StatusCode: 401, Code: "invalid_client", Description: "Client authentication failed"}
	}
	if !f.accepted[clientID+" "+secret.Reveal()] {
		return lwa.Token{}, &lwa.Error{StatusCode: 401, Code: "invalid_client", Description: "Client authentication failed"}
	}
	tok := fmt.Sprintf("Atza|IwEBaccessTOKEN%04daccessTOKEN", len(f.tokens)+1)
	f.tokens = append(f.tokens, tok)
	return lwa.Token{AccessToken: lwa.AccessToken(tok), TokenType: "bearer", ExpiresIn: time.Hour}, nil
}

// issued is one client secret Amazon issued.
type issued struct {
	secret    string
	expiresAt time.Time
}

// fakeSPAPI is rotateApplicationClientSecret: on success it issues a new
// secret, makes LWA accept it, and delivers it (when deliver is set) or
// queues it.
type fakeSPAPI struct {
	mu    sync.Mutex
	lwa   *fakeLWA
	now   func() time.Time
	calls int
	// fail, when set, is consulted on call n; issue reports whether Amazon
	// issued a secret despite the error (an ambiguous 5xx).
	fail    func(n int) (err error, issue bool)
	deliver func(issued)
	issued  []issued
	queued  []issued
}

func (f *fakeSPAPI) Calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

func (f *fakeSPAPI) RotateApplicationClientSecret(ctx context.Context, token lwa.AccessToken) error {
	if !f.lwa.valid(token) {
		return errors.New("spapi: unauthorized token")
	}
	f.mu.Lock()
	f.calls++
	n := f.calls
	var err error
	issue := true
	if f.fail != nil {
		err, issue = f.fail(n)
		if err == nil {
			issue = true
		}
	}
	var s issued
	if issue {
		s = issued{
			secret:    fmt.Sprintf("amzn1.oa2-cs.v1.n3w%02dSECRETn3wSECRETn3wSECRETn3wSECRETn3wSECRETn3wSECRETn3wSECRET", len(f.issued)+1),
			expiresAt: f.now().Add(180 * 24 * time.Hour).UTC().Truncate(time.Second),
		}
		f.issued = append(f.issued, s)
		f.lwa.accept(testClientID, s.secret)
	}
	deliver := f.deliver
	if issue && deliver == nil {
		f.queued = append(f.queued, s)
	}
	f.mu.Unlock()
	if issue && deliver != nil {
		deliver(s)
	}
	return err
}

func (f *fakeSPAPI) Issued() []issued {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.issued)
}

// takeQueued returns and forgets the secrets issued but not delivered yet.
func (f *fakeSPAPI) takeQueued() []issued {
	f.mu.Lock()
	defer f.mu.Unlock()
	q := f.queued
	f.queued = nil
	return q
}

// fakeAlerter records alerts after rendering them as the real publisher does.
type fakeAlerter struct {
	mu     sync.Mutex
	fail   error
	alerts []alert.Alert
	texts  []string // rendered subject and message of each alert
}

func (f *fakeAlerter) Publish(ctx context.Context, a alert.Alert) error {
	in, err := alert.Render(testTopicARN, a)
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	f.alerts = append(f.alerts, a)
	f.texts = append(f.texts, aws.ToString(in.Subject)+"\n"+aws.ToString(in.Message))
	return nil
}

func (f *fakeAlerter) Alerts() []alert.Alert {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.alerts)
}

func (f *fakeAlerter) events() []alert.Event {
	var evs []alert.Event
	for _, a := range f.Alerts() {
		evs = append(evs, a.Event)
	}
	return evs
}

// world is one managed secret with Secrets Manager, LWA, SP-API, the alert
// topic and a receiver-like delivery, all fakes.
type world struct {
	t      *testing.T
	clock  *clock
	sm     *secretsmanagertest.Fake
	lwa    *fakeLWA
	api    *fakeSPAPI
	alerts *fakeAlerter
	logs   *logsink.Buffer
	r      *Rotator
	arn    string

	external  atomic.Bool
	mu        sync.Mutex
	ops       map[string]int // Secrets Manager calls made by the rotator
	inject    func(op string, n int, in any) error
	errs      []error // every error a step returned
	delivered int
}

func newWorld(t *testing.T, tune ...func(*Config)) *world {
	t.Helper()
	w := &world{
		t:      t,
		clock:  &clock{t: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)},
		sm:     secretsmanagertest.New(),
		alerts: &fakeAlerter{},
		logs:   &logsink.Buffer{},
		ops:    map[string]int{},
	}
	w.sm.Now = w.clock.Now
	w.sm.Fail = w.fail
	w.arn = w.sm.Seed("sp-api/lwa/app-1", initialDoc, map[string]string{managed.TagClientID: testClientID})
	w.sm.SetRotation(w.arn, true, rotationLambda)
	w.lwa = &fakeLWA{accepted: map[string]bool{testClientID + " " + oldSecret: true}, rejectFirst: map[string]int{}}
	w.api = &fakeSPAPI{lwa: w.lwa, now: w.clock.Now, deliver: w.receive}
	cfg := Config{
		Cooldown:          30 * time.Minute,
		PollInterval:      5 * time.Millisecond,
		DeadlineMargin:    50 * time.Millisecond,
		TestRetryFor:      200 * time.Millisecond,
		TestRetryInterval: 5 * time.Millisecond,
		Settle:            -1,
		Now:               w.clock.Now,
	}
	for _, f := range tune {
		f(&cfg)
	}
	logger := slog.New(slog.NewJSONHandler(w.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	w.r = New(w.sm, w.sm, w.lwa, w.api, w.alerts, logger, cfg)
	return w
}

// fail is the fake's error injection: it counts the rotator's calls and
// consults inject. Calls made by the test itself (the receiver, the
// engine's RotateSecret) are not counted.
func (w *world) fail(_ context.Context, op string, in any) error {
	if w.external.Load() {
		return nil
	}
	w.mu.Lock()
	w.ops[op]++
	n := w.ops[op]
	inject := w.inject
	w.mu.Unlock()
	if inject != nil {
		return inject(op, n, in)
	}
	return nil
}

// resetOps zeroes the rotator's call counts and sets the injection.
func (w *world) resetOps(inject func(op string, n int, in any) error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.ops = map[string]int{}
	w.inject = inject
}

func (w *world) opCounts() map[string]int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return maps.Clone(w.ops)
}

// receive plays the receiver: it stores a delivered secret as a new version
// labelled LWA_RECEIVED (the AWSCURRENT document with the new secret).
func (w *world) receive(s issued) {
	w.external.Store(true)
	defer w.external.Store(false)
	ctx := context.Background()
	out, err := w.sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(w.arn), VersionStage: aws.String(managed.StageCurrent)})
	if err != nil {
		w.t.Errorf("receiver: read AWSCURRENT: %v", err)
		return
	}
	doc, err := secretdoc.Parse([]byte(aws.ToString(out.SecretString)), secretdoc.DefaultKeys)
	if err != nil {
		w.t.Errorf("receiver: parse AWSCURRENT: %v", err)
		return
	}
	w.putReceived(doc, s)
}

func (w *world) putReceived(doc *secretdoc.Document, s issued) {
	w.t.Helper()
	w.putStored(doc, s, managed.StageReceived)
}

// putStored writes doc with the client secret and expiry of s as a new
// version labelled stage, as the receiver does.
func (w *world) putStored(doc *secretdoc.Document, s issued, stage string) {
	w.t.Helper()
	value, err := doc.WithClientSecret(lwa.ClientSecret(s.secret), s.expiresAt)
	if err != nil {
		w.t.Errorf("receiver: build value: %v", err)
		return
	}
	w.mu.Lock()
	w.delivered++
	id := managed.ReceivedToken(fmt.Sprintf("notification-%d-%s", w.delivered, s.secret[len(s.secret)-8:]))
	w.mu.Unlock()
	_, err = w.sm.PutSecretValue(context.Background(), &secretsmanager.PutSecretValueInput{
		SecretId: aws.String(w.arn), ClientRequestToken: aws.String(id),
		SecretString: aws.String(string(value)), VersionStages: []string{stage},
	})
	if err != nil {
		w.t.Errorf("receiver: put %s: %v", stage, err)
	}
}

// deliverQueued delivers the secrets issued while delivery was off.
func (w *world) deliverQueued() int {
	q := w.api.takeQueued()
	for _, s := range q {
		w.receive(s)
	}
	return len(q)
}

// start plays the engine's RotateSecret and returns the token.
func (w *world) start() string {
	w.t.Helper()
	w.external.Store(true) // not the rotator's call
	defer w.external.Store(false)
	out, err := w.sm.RotateSecret(context.Background(), &secretsmanager.RotateSecretInput{SecretId: aws.String(w.arn)})
	if err != nil {
		w.t.Fatalf("RotateSecret() error = %v", err)
	}
	return aws.ToString(out.VersionId)
}

// step runs one step through Handle and records its error.
func (w *world) step(ctx context.Context, step, token string) error {
	err := w.r.Handle(ctx, events.SecretsManagerSecretRotationEvent{Step: step, SecretID: w.arn, ClientRequestToken: token})
	if err != nil {
		w.mu.Lock()
		w.errs = append(w.errs, err)
		w.mu.Unlock()
	}
	return err
}

// mustStep runs a step that must succeed.
func (w *world) mustStep(step, token string) {
	w.t.Helper()
	// A deadline, so that a step that would wait forever fails instead.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := w.step(ctx, step, token); err != nil {
		w.t.Fatalf("Handle(%s) = %v, want nil", step, err)
	}
}

var allSteps = []string{StepCreate, StepSet, StepTest, StepFinish}

// rotate runs a full rotation that must succeed and returns its token.
func (w *world) rotate() string {
	w.t.Helper()
	token := w.start()
	for _, s := range allSteps {
		w.mustStep(s, token)
	}
	w.sm.FinishRotation(w.arn, token)
	return token
}

// value returns the value of a version.
func (w *world) value(versionID string) string {
	w.t.Helper()
	v, ok := w.sm.Value(w.arn, versionID)
	if !ok {
		w.t.Fatalf("version %s has no value", versionID)
	}
	return v
}

func (w *world) current() (string, *secretdoc.Document) {
	w.t.Helper()
	id, ok := w.sm.StageVersion(w.arn, managed.StageCurrent)
	if !ok {
		w.t.Fatal("no AWSCURRENT version")
	}
	doc, err := secretdoc.Parse([]byte(w.value(id)), secretdoc.DefaultKeys)
	if err != nil {
		w.t.Fatalf("AWSCURRENT does not parse: %v", err)
	}
	return id, doc
}

// hasValue reports whether the token's version has a value.
func (w *world) hasValue(token string) bool {
	_, ok := w.sm.Value(w.arn, token)
	return ok
}

// assertRotated checks the end state of a rotation of token that adopted
// the last issued secret with exactly wantCalls SP-API calls.
func (w *world) assertRotated(token string, wantCalls int) {
	w.t.Helper()
	id, doc := w.current()
	if id != token {
		w.t.Fatalf("AWSCURRENT is version %s, want %s", id, token)
	}
	if got := w.api.Calls(); got != wantCalls {
		w.t.Errorf("SP-API calls = %d, want %d", got, wantCalls)
	}
	iss := w.api.Issued()
	if len(iss) == 0 {
		w.t.Fatal("no secret was issued")
	}
	last := iss[len(iss)-1]
	if got := doc.ClientSecret().Reveal(); got != last.secret {
		w.t.Errorf("AWSCURRENT holds client secret #%d, want the last issued one", slices.IndexFunc(iss, func(s issued) bool { return s.secret == got }))
	}
	if got, ok := doc.ExpiresAt(); !ok || !got.Equal(last.expiresAt) {
		w.t.Errorf("AWSCURRENT expiry = %v, %v; want %v", got, ok, last.expiresAt)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(w.value(id)), &m); err != nil {
		w.t.Fatal(err)
	}
	if string(m["refreshToken"]) != `"`+refreshToken+`"` || string(m["note"]) != `{"team":"payments","n":[1,2]}` {
		w.t.Errorf("other keys were not kept: refreshToken kept %v, note = %s", string(m["refreshToken"]) == `"`+refreshToken+`"`, m["note"])
	}
	tags := w.sm.Tags(w.arn)
	if v, ok := tags[managed.TagRotationRequestedAt]; ok {
		w.t.Errorf("tag %s = %q after the rotation, want it removed", managed.TagRotationRequestedAt, v)
	}
	if got, want := tags[managed.TagClientSecretExpiresAt], last.expiresAt.Format(time.RFC3339); got != want {
		w.t.Errorf("tag %s = %q, want %q", managed.TagClientSecretExpiresAt, got, want)
	}
	if tags[managed.TagClientID] != testClientID {
		w.t.Errorf("tag %s = %q, want %q", managed.TagClientID, tags[managed.TagClientID], testClientID)
	}
	if !slices.Contains(w.alerts.events(), alert.EventRotated) {
		w.t.Errorf("alerts = %v, want a %s", w.alerts.events(), alert.EventRotated)
	}
	w.assertNoLeak()
}

// secretsSeen lists every secret value of the world: client secrets (old
// and issued), access tokens and the refresh token, each also by its
// distinctive tail so a partial leak is caught.
func (w *world) secretsSeen() []string {
	vals := []string{oldSecret, refreshToken}
	for _, s := range w.api.Issued() {
		vals = append(vals, s.secret)
	}
	w.lwa.mu.Lock()
	vals = append(vals, w.lwa.tokens...)
	w.lwa.mu.Unlock()
	var out []string
	for _, v := range vals {
		out = append(out, v, v[len(v)-20:])
	}
	return out
}

// assertNoLeak checks logs, returned errors and alerts for secret values.
func (w *world) assertNoLeak() {
	w.t.Helper()
	w.mu.Lock()
	var texts []string
	for _, err := range w.errs {
		texts = append(texts, "error: "+err.Error(), fmt.Sprintf("error: %+v %#v", err, err))
	}
	w.mu.Unlock()
	texts = append(texts, "logs: "+w.logs.String())
	for _, a := range w.alerts.Alerts() {
		b, _ := json.Marshal(a)
		texts = append(texts, "alert: "+string(b)+a.Subject()+a.Email()+a.Did+a.ToDo)
	}
	w.alerts.mu.Lock()
	for _, s := range w.alerts.texts {
		texts = append(texts, "published: "+s)
	}
	w.alerts.mu.Unlock()
	for i, s := range w.secretsSeen() {
		for _, text := range texts {
			if strings.Contains(text, s) {
				kind, _, _ := strings.Cut(text, ":")
				w.t.Errorf("secret value #%d (or its tail) appears in the %s", i, kind)
			}
		}
	}
}

// injected is the error the fake returns for an injected failure.
func injected(op string) error {
	return &types.InternalServiceError{Message: aws.String("injected failure of " + op)}
}
