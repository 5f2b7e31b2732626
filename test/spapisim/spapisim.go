// Package spapisim simulates one application's Amazon peers: the LWA token endpoint (the
// client_credentials grant with scope), SP-API's rotateApplicationClientSecret, and the
// new-secret and expiry notifications in the shape of the official examples. Faults are drawn from
// Config.Rand, so a seed replays a run. No secret, token or notification body is logged.
//
//  1. LWA accepts a secret from its issue (plus Faults.ActivationDelay after a rotation) until the
//     earlier of its expiry and 7 days after the rotation that replaced it.
//  2. Rotating needs an unexpired access token with ScopeRotation; otherwise 403 Unauthorized.
//  3. A rotate call within a minute of the last one let through is 429 QuotaExceeded and
//     consumes nothing; a call let through consumes it even when it then fails.
//  4. With no new-secret queue registered the answer is 400 InvalidInput and nothing is issued.
//  5. Otherwise a new secret is issued, the previous one enters its grace period, the new-secret
//     notification is queued for DeliveryDelay later, and the answer is 204.
package spapisim

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// Values of the simulated protocol.
const (
	TokenPath          = "/auth/o2/token"
	RotatePath         = "/applications/2023-11-30/clientSecret"
	ScopeRotation      = "sellingpartnerapi::client_credential:rotation"
	ScopeNotifications = "sellingpartnerapi::notifications"
	RateLimit          = "0.0167"
	TokenLifetime      = time.Hour
	SecretPrefix       = "amzn1.oa2-cs.v1."

	secretLifetime = 180 * 24 * time.Hour
	oldSecretGrace = 7 * 24 * time.Hour
	rotateInterval = time.Minute // rate 0.0167/s, burst 1
)

// Config configures a Sim; every field but ClientID and InitialSecret has a default.
type Config struct {
	ClientID      string           // the application's LWA client id
	ApplicationID string           // notificationMetadata.applicationId
	InitialSecret string           // the secret in force at start
	InitialExpiry time.Time        // its expiry; default 180 days after Clock()
	Clock         func() time.Time // simulated time; default time.Now

	NewSecretDeliverer Deliverer     // the new-secret queue; nil: none registered (case 4)
	ExpiryDeliverer    Deliverer     // where EmitExpiryNotice sends given no Deliverer
	DeliveryDelay      time.Duration // from a rotation to the due time of its notification

	Faults Faults
	Rand   *rand.Rand   // drives every random choice, to replay a run; default randomly seeded
	Logger *slog.Logger // one line per request and delivery (ids and outcomes); default discards
}

// Faults are the knobs of injected trouble. Rates are fractions in [0, 1].
type Faults struct {
	TokenErrorRate          float64       // token calls answered 500 or 503
	RotateErrorRate         float64       // rotate calls answered 500 or 503, no secret issued
	RotateLostResponseRate  float64       // rotate calls that issue a secret but answer 500 or 503
	RotateThrottleRate      float64       // extra 429s on rotate calls
	Latency                 time.Duration // each call waits up to this long (uniform), in real time
	FailNextTokenCalls      int           // answers the next n token calls 503, then counts down
	ThrottleNextRotateCalls int           // answers the next n rotate calls 429, then counts down
	ActivationDelay         time.Duration // a rotated secret answers invalid_client this long after issue
	DuplicateRate           float64       // new-secret deliveries sent again (same body) on the next pass
	Reorder                 bool          // holds each new-secret notification until the next one is sent
	ReorderWindow           time.Duration // how long a held one waits (simulated); 0: until a follower
}

// Stats counts what the simulator saw and did.
type Stats struct {
	TokenClientCredentials int // access tokens granted
	TokenServerErrors      int // injected 5xx
	RotateCalls            int // every request to the rotate path
	Rotations              int // secrets issued through the API (204 or lost response)
	RotateNotEnrolled      int // 400
	RotateThrottled        int // 429
	PortalRotations        int // secrets issued by PortalRotate
	Deliveries             int // new-secret notifications sent, duplicates included
	Duplicates             int // of which duplicates
	Pending                int // new-secret notifications not yet sent
}

// secretRecord is one issued secret; deadline is expiresAt, or replacement plus grace (case 1).
type secretRecord struct {
	value                         string
	activeAt, expiresAt, deadline time.Time
}

// Sim is a simulated LWA and SP-API for one application, safe for concurrent use.
type Sim struct {
	cfg            Config // with defaults; Faults, NewSecretDeliverer and Rand are guarded by mu
	subscriptionID string // notificationMetadata.subscriptionId, random

	mu         sync.Mutex
	secrets    []*secretRecord
	tokens     map[string]time.Time // access tokens with ScopeRotation, to their expiry
	lastRotate time.Time            // last rotate call let through by the limiter
	pending    []*delivery
	held       *delivery // held back by Reorder for a follower; due is when it was held
	seq        int
	stats      Stats

	deliverMu sync.Mutex // serializes delivery passes so their order is kept
}

// New returns a simulator configured by cfg.
func New(cfg Config) *Sim {
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	cfg.Logger = cmp.Or(cfg.Logger, slog.New(slog.DiscardHandler))
	cfg.Rand = cmp.Or(cfg.Rand, rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())))
	s := &Sim{cfg: cfg, tokens: make(map[string]time.Time)}
	s.subscriptionID = s.uuidLocked()
	expiry := cmp.Or(cfg.InitialExpiry, cfg.Clock().Add(secretLifetime))
	s.secrets = []*secretRecord{{cfg.InitialSecret, expiry.Add(-secretLifetime), expiry, expiry}}
	return s
}

// Issued returns every client secret the application has had, the current one last.
func (s *Sim) Issued() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, len(s.secrets))
	for i, r := range s.secrets {
		out[i] = r.value
	}
	return out
}

// Current returns the newest client secret and its expiry.
func (s *Sim) Current() (secret string, expiresAt time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.secrets[len(s.secrets)-1]
	return r.value, r.expiresAt
}

// Accepts reports whether LWA would accept secret for the client now (case 1).
func (s *Sim) Accepts(secret string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.acceptsLocked(secret, s.cfg.Clock())
}

func (s *Sim) acceptsLocked(secret string, now time.Time) bool {
	i := slices.IndexFunc(s.secrets, func(r *secretRecord) bool { return r.value == secret })
	return secret != "" && i >= 0 && !now.Before(s.secrets[i].activeAt) && now.Before(s.secrets[i].deadline)
}

// Stats returns a snapshot of the counters.
func (s *Sim) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Pending = len(s.pending)
	if s.held != nil {
		st.Pending++
	}
	return st
}

// SetFaults replaces the fault knobs.
func (s *Sim) SetFaults(f Faults) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cfg.Faults = f
}

// Enroll registers d as the new-secret queue (nil unregisters it); queued notifications keep theirs.
func (s *Sim) Enroll(d Deliverer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cfg.NewSecretDeliverer = d
}

// PortalRotate is a rotation by hand in the Solution Provider Portal: no limiter, no fault.
func (s *Sim) PortalRotate() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.PortalRotations++
	s.cfg.Logger.Info("spapisim: portal rotation", "notificationId", s.rotateLocked())
}

// rotateLocked is case 5; it returns the notification id ("" when no queue is registered).
func (s *Sim) rotateLocked() string {
	now := s.cfg.Clock()
	prev := s.secrets[len(s.secrets)-1]
	if d := now.Add(oldSecretGrace); d.Before(prev.deadline) {
		prev.deadline = d
	}
	expiry := now.Add(secretLifetime)
	value := SecretPrefix + hex.EncodeToString(s.randBytesLocked(32))
	r := &secretRecord{value, now.Add(s.cfg.Faults.ActivationDelay), expiry, expiry}
	s.secrets = append(s.secrets, r)
	if s.cfg.NewSecretDeliverer == nil {
		return ""
	}
	due := now.Add(s.cfg.DeliveryDelay)
	id, body := s.notificationLocked("NEW_SECRET", "NewSecret", due, map[string]string{
		"newClientSecret": r.value, "newClientSecretExpiryTime": formatTime(r.expiresAt),
		"oldClientSecretExpiryTime": formatTime(prev.deadline)})
	s.seq++
	s.pending = append(s.pending, &delivery{s.seq, due, id, body, s.cfg.NewSecretDeliverer, false})
	return id
}

// EmitExpiryNotice sends an expiry notice at once through d (default Config.ExpiryDeliverer, then
// required) for expiresAt (default the current secret's expiry).
func (s *Sim) EmitExpiryNotice(ctx context.Context, d Deliverer, expiresAt time.Time) error {
	s.mu.Lock()
	d, expiresAt = cmp.Or(d, s.cfg.ExpiryDeliverer), cmp.Or(expiresAt, s.secrets[len(s.secrets)-1].expiresAt)
	id, body := s.notificationLocked("SECRET_EXPIRY", "SecretExpiry", s.cfg.Clock(), map[string]string{
		"clientSecretExpiryTime": formatTime(expiresAt), "clientSecretExpiryReason": "PERIODIC_ROTATION"})
	s.mu.Unlock()
	if err := d.Deliver(ctx, body); err != nil {
		return fmt.Errorf("spapisim: emit expiry notice %s: %w", id, err)
	}
	s.cfg.Logger.InfoContext(ctx, "spapisim: expiry notice sent", "notificationId", id)
	return nil
}

// ExpiresIn returns the expiry time that leaves daysLeft whole days from now.
func (s *Sim) ExpiresIn(daysLeft int) time.Time {
	return s.cfg.Clock().Add(time.Duration(daysLeft) * 24 * time.Hour)
}

// chanceLocked draws against rate p; a zero rate draws nothing, so that runs without faults keep
// the same random sequence.
func (s *Sim) chanceLocked(p float64) bool { return p > 0 && s.cfg.Rand.Float64() < p }

func (s *Sim) randBytesLocked(n int) []byte {
	var b []byte
	for len(b) < n {
		b = binary.LittleEndian.AppendUint64(b, s.cfg.Rand.Uint64())
	}
	return b[:n]
}

func (s *Sim) uuidLocked() string {
	b := s.randBytesLocked(16)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// ManualClock is a simulated clock that moves only when told to, safe for concurrent use.
type ManualClock struct {
	mu sync.Mutex
	t  time.Time
}

// NewManualClock returns a clock set to t.
func NewManualClock(t time.Time) *ManualClock { return &ManualClock{t: t} }

// Now returns the clock's time.
func (c *ManualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Set moves the clock to t.
func (c *ManualClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// answer is one HTTP answer: a status and a JSON body (none when nil).
type answer struct {
	status int
	body   any
}

func lwaAnswer(status int, code, description string) answer {
	return answer{status, map[string]string{"error": code, "error_description": description}}
}

func apiAnswer(status int, code, message string, details *string) answer {
	return answer{status, map[string]any{"errors": []struct {
		Code    string  `json:"code"`
		Message string  `json:"message"`
		Details *string `json:"details,omitempty"`
	}{{code, message, details}}}}
}

// The answers of LWA and SP-API, as the official model and service give them. An injected server
// error draws index 0 (500) or 1 (503).
var (
	lwaBadClient = lwaAnswer(401, "invalid_client", "Client authentication failed")
	lwaServer    = [2]answer{lwaAnswer(500, "server_error", "Internal server error"),
		lwaAnswer(503, "temporarily_unavailable", "Service temporarily unavailable")}
	apiForbidden   = apiAnswer(403, "Unauthorized", "Access to requested resource is denied.", new(string))
	apiNotEnrolled = apiAnswer(400, "InvalidInput", "Application is not enrolled for rotation notification. "+
		"Please update application notification preference in Developer console.", nil)
	apiQuota  = apiAnswer(429, "QuotaExceeded", "You exceeded your quota for the requested resource.", nil)
	apiServer = [2]answer{
		apiAnswer(500, "InternalFailure", "We encountered an internal error. Please try again.", nil),
		apiAnswer(503, "ServiceUnavailable", "Service temporarily unavailable. Please try again.", nil)}
)

// Handler serves the token endpoint and rotateApplicationClientSecret. Every answer carries a
// request id and waits up to Faults.Latency in real time.
func (s *Sim) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+TokenPath, s.token)
	mux.HandleFunc("POST "+RotatePath, s.rotate)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		w.Header().Set("x-amzn-RequestId", s.uuidLocked())
		d := time.Duration(s.cfg.Rand.Int64N(int64(s.cfg.Faults.Latency) + 1))
		s.mu.Unlock()
		time.Sleep(d)
		mux.ServeHTTP(w, r)
	})
}

// reply writes a and logs the answer with attrs: codes and ids, never a secret, token or body.
func (s *Sim) reply(w http.ResponseWriter, r *http.Request, a answer, attrs ...any) {
	if a.body != nil {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(a.status)
	if a.body != nil {
		json.NewEncoder(w).Encode(a.body)
	}
	attrs = append(attrs, "path", r.URL.Path, "status", a.status)
	s.cfg.Logger.InfoContext(r.Context(), "spapisim: answered", attrs...)
}

// token answers the token endpoint; injected faults come before any check.
func (s *Sim) token(w http.ResponseWriter, r *http.Request) {
	err := r.ParseForm()
	code, desc := formError(r.PostForm)
	s.mu.Lock()
	defer s.mu.Unlock()
	f, now := &s.cfg.Faults, s.cfg.Clock()
	switch {
	case f.FailNextTokenCalls > 0:
		f.FailNextTokenCalls--
		s.stats.TokenServerErrors++
		s.reply(w, r, lwaServer[1])
	case s.chanceLocked(f.TokenErrorRate):
		s.stats.TokenServerErrors++
		s.reply(w, r, lwaServer[s.cfg.Rand.IntN(2)])
	case err != nil:
		s.reply(w, r, lwaAnswer(400, "invalid_request", "The request has an invalid parameter"))
	case code != "":
		s.reply(w, r, lwaAnswer(400, code, desc), "error", code)
	case r.PostForm.Get("client_id") != s.cfg.ClientID, !s.acceptsLocked(r.PostForm.Get("client_secret"), now):
		s.reply(w, r, lwaBadClient, "error", "invalid_client")
	default:
		s.stats.TokenClientCredentials++
		access := "Atza|" + base64.RawURLEncoding.EncodeToString(s.randBytesLocked(48))
		if slices.Contains(strings.Fields(r.PostForm.Get("scope")), ScopeRotation) {
			s.tokens[access] = now.Add(TokenLifetime)
		}
		s.reply(w, r, answer{http.StatusOK, map[string]any{"access_token": access, "token_type": "bearer",
			"expires_in": int(TokenLifetime / time.Second)}})
	}
}

// formError is LWA's answer to a client-credentials form it cannot take, "" when it can.
func formError(f url.Values) (code, description string) {
	if g := f.Get("grant_type"); g != "" && g != "client_credentials" {
		return "unsupported_grant_type", "The authorization grant type is not supported by the authorization server"
	}
	for _, p := range []string{"grant_type", "client_id", "client_secret", "scope"} { // in LWA's order
		if f.Get(p) == "" {
			return "invalid_request", "The request is missing a required parameter : " + p
		}
	}
	for _, sc := range strings.Fields(f.Get("scope")) {
		if sc != ScopeRotation && sc != ScopeNotifications {
			return "invalid_scope", "The request has an invalid parameter : scope"
		}
	}
	return "", ""
}

// rotate is rotateApplicationClientSecret (cases 2 to 5).
func (s *Sim) rotate(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.RotateCalls++
	now, f := s.cfg.Clock(), &s.cfg.Faults

	// Case 2: a live token with the rotation scope.
	if expiresAt, ok := s.tokens[r.Header.Get("x-amz-access-token")]; !ok || !now.Before(expiresAt) {
		s.reply(w, r, apiForbidden)
		return
	}

	// Case 3: the limiter, and injected throttling in front of it.
	limited := now.Before(s.lastRotate.Add(rotateInterval))
	if f.ThrottleNextRotateCalls > 0 || s.chanceLocked(f.RotateThrottleRate) || limited {
		f.ThrottleNextRotateCalls = max(f.ThrottleNextRotateCalls-1, 0)
		s.stats.RotateThrottled++
		s.reply(w, r, apiQuota)
		return
	}
	s.lastRotate = now
	if s.chanceLocked(f.RotateErrorRate) {
		s.reply(w, r, apiServer[s.cfg.Rand.IntN(2)])
		return
	}

	// Case 4: no queue registered.
	if s.cfg.NewSecretDeliverer == nil {
		w.Header().Set("x-amzn-RateLimit-Limit", RateLimit)
		s.stats.RotateNotEnrolled++
		s.reply(w, r, apiNotEnrolled)
		return
	}

	// Case 5: issue the secret and queue its notification; an injected lost answer comes after.
	s.stats.Rotations++
	id := s.rotateLocked()
	a := answer{status: http.StatusNoContent}
	if s.chanceLocked(f.RotateLostResponseRate) {
		a = apiServer[s.cfg.Rand.IntN(2)]
	} else {
		w.Header().Set("x-amzn-RateLimit-Limit", RateLimit)
	}
	s.reply(w, r, a, "notificationId", id)
}

// Deliverer sends one notification body, which holds a client secret: it must not log it.
type Deliverer interface {
	Deliver(ctx context.Context, body []byte) error
}

// DelivererFunc adapts a function to Deliverer.
type DelivererFunc func(ctx context.Context, body []byte) error

// Deliver calls f.
func (f DelivererFunc) Deliver(ctx context.Context, body []byte) error { return f(ctx, body) }

// SQSDeliverer sends each notification as one SQS message, as SP-API does.
type SQSDeliverer struct {
	Client interface { // the part of the SQS client it uses
		SendMessage(context.Context, *sqs.SendMessageInput, ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
	}
	QueueURL string
}

// Deliver sends body to the queue.
func (d SQSDeliverer) Deliver(ctx context.Context, body []byte) error {
	in := &sqs.SendMessageInput{QueueUrl: aws.String(d.QueueURL), MessageBody: aws.String(string(body))}
	if _, err := d.Client.SendMessage(ctx, in); err != nil {
		return fmt.Errorf("send message to %s: %w", d.QueueURL, err)
	}
	return nil
}

// formatTime is RFC 3339 in UTC with milliseconds, as in the official examples.
func formatTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z07:00") }

// notificationLocked returns the id and body of a new APPLICATION_OAUTH_CLIENT_<typ> notification,
// published at at, whose payload under applicationOAuthClient<key> is fields and the client id.
// Its keys are in key order (the official examples' order carries no meaning).
func (s *Sim) notificationLocked(typ, key string, at time.Time, fields map[string]string) (string, []byte) {
	id := s.uuidLocked()
	fields["clientId"] = s.cfg.ClientID
	meta := map[string]string{"applicationId": s.cfg.ApplicationID, "subscriptionId": s.subscriptionID,
		"publishTime": formatTime(at), "notificationId": id}
	b, _ := json.Marshal(map[string]any{"notificationVersion": "1.0", "payloadVersion": "2023-11-30",
		"notificationType": "APPLICATION_OAUTH_CLIENT_" + typ, "eventTime": formatTime(s.cfg.Clock()),
		"payload": map[string]any{"applicationOAuthClient" + key: fields}, "notificationMetadata": meta})
	return id, b
}

type delivery struct {
	seq  int
	due  time.Time
	id   string // notificationId
	body []byte
	to   Deliverer
	dup  bool // a duplicate of a delivered notification
}

// NextDue returns the earliest time at which DeliverDue has something to send.
func (s *Sim) NextDue() (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var times []time.Time
	for _, d := range s.pending {
		times = append(times, d.due)
	}
	if s.held != nil && s.cfg.Faults.ReorderWindow > 0 {
		times = append(times, s.held.due.Add(s.cfg.Faults.ReorderWindow))
	}
	if len(times) == 0 {
		return time.Time{}, false
	}
	return slices.MinFunc(times, time.Time.Compare), true
}

// Run calls DeliverDue every 50 ms until ctx is done, logging failures; it returns ctx.Err().
func (s *Sim) Run(ctx context.Context) error {
	for tick := time.Tick(50 * time.Millisecond); ; {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick:
			if _, err := s.DeliverDue(ctx); err != nil && ctx.Err() == nil {
				s.cfg.Logger.WarnContext(ctx, "spapisim: delivery failed, will retry", "error", err)
			}
		}
	}
}

// DeliverDue sends every queued notification due now, in due order, with the Duplicate and Reorder
// knobs, and returns how many sends succeeded; failed ones stay queued, their causes joined.
func (s *Sim) DeliverDue(ctx context.Context) (int, error) {
	s.deliverMu.Lock()
	defer s.deliverMu.Unlock()

	s.mu.Lock()
	now, f := s.cfg.Clock(), s.cfg.Faults
	due := func(d *delivery) bool { return !d.due.After(now) }
	batch := slices.DeleteFunc(slices.Clone(s.pending), func(d *delivery) bool { return !due(d) })
	s.pending = slices.DeleteFunc(s.pending, due)
	slices.SortFunc(batch, func(a, b *delivery) int { return cmp.Or(a.due.Compare(b.due), a.seq-b.seq) })
	// The send order: with Reorder, each original is held until the next one has been sent.
	var order []*delivery
	for _, d := range batch {
		switch {
		case !f.Reorder || d.dup:
			order = append(order, d)
		case s.held == nil:
			d.due, s.held = now, d
		default:
			order = append(order, d, s.held)
			s.held = nil
		}
	}
	h := s.held
	if h != nil && (!f.Reorder || (f.ReorderWindow > 0 && !now.Before(h.due.Add(f.ReorderWindow)))) {
		order = append(order, h)
		s.held = nil
	}
	s.mu.Unlock()

	var errs []error
	for _, d := range order {
		err := d.to.Deliver(ctx, d.body)
		s.mu.Lock()
		switch {
		case err != nil:
			s.pending = append(s.pending, d)
			errs = append(errs, fmt.Errorf("spapisim: deliver notification %s: %w", d.id, err))
		case d.dup:
			s.stats.Duplicates++
		case s.chanceLocked(s.cfg.Faults.DuplicateRate):
			s.seq++
			s.pending = append(s.pending, &delivery{seq: s.seq, due: now, id: d.id, body: d.body, to: d.to, dup: true})
		}
		if err == nil {
			s.stats.Deliveries++
			s.cfg.Logger.InfoContext(ctx, "spapisim: delivered", "notificationId", d.id, "duplicate", d.dup)
		}
		s.mu.Unlock()
	}
	return len(order) - len(errs), errors.Join(errs...)
}
