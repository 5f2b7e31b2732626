// Package spapisim simulates, for tests, the local stack and the demo, the two
// Amazon endpoints the project talks to and the notifications Amazon sends:
// the Login with Amazon (LWA) token endpoint (POST /auth/o2/token, grants
// client_credentials with scope and refresh_token); the Application Management
// 2023-11-30 operation rotateApplicationClientSecret (POST
// /applications/2023-11-30/clientSecret); and the notifications
// APPLICATION_OAUTH_CLIENT_NEW_SECRET and APPLICATION_OAUTH_CLIENT_SECRET_EXPIRY
// in the exact shape of the official examples.
//
// It models one application with one LWA client, keeps every client secret it
// issued (Issued) and decides from its clock whether LWA accepts one (Accepts):
//
//  1. A secret is accepted from its issue (plus Faults.ActivationDelay for a
//     secret issued by a rotation) until the earlier of its expiry
//     (SecretLifetime after issue) and OldSecretGrace after the rotation that
//     replaced it. Every replaced secret keeps its own grace period.
//  2. rotateApplicationClientSecret requires an access token, unexpired on the
//     simulated clock, granted with scope ScopeRotation; otherwise 403 Unauthorized.
//  3. The usage plan (0.0167 requests per second, burst 1) is a limiter: a call
//     within RotateInterval of the last call it let through is answered 429
//     QuotaExceeded and consumes nothing. A call let through consumes it even
//     when it then fails (400, 5xx), as a rate limit in front of a service does.
//  4. With no new-secret queue registered (no NewSecretDeliverer) the call is
//     answered 400 InvalidInput and no secret is issued.
//  5. Otherwise a new secret is issued, the previous one enters its grace
//     period, an APPLICATION_OAUTH_CLIENT_NEW_SECRET notification is queued
//     for delivery DeliveryDelay later, and the answer is 204.
//
// Delivery is explicit so that tests are deterministic: a notification is
// queued with a due time on the simulated clock and sent by DeliverDue (what is
// due), Flush (everything) or Run (DeliverDue every PollInterval of real time).
// A failed delivery stays queued and is retried; nothing is dropped.
//
// Faults are drawn from Config.Rand, so a seed replays a run. No client secret,
// access token or notification body is ever logged or put in an error.
package spapisim

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"
)

// Values of the simulated protocol: the paths of the token endpoint and of
// rotateApplicationClientSecret, the grantless scopes LWA grants, the latter's
// x-amzn-RateLimit-Limit, the lifetime of an access token (expires_in 3600) and
// the start of every client secret the simulator issues.
const (
	TokenPath          = "/auth/o2/token"
	RotatePath         = "/applications/2023-11-30/clientSecret"
	ScopeRotation      = "sellingpartnerapi::client_credential:rotation"
	ScopeNotifications = "sellingpartnerapi::notifications"
	RateLimit          = "0.0167"
	TokenLifetime      = time.Hour
	SecretPrefix       = "amzn1.oa2-cs.v1."
)

// Config configures a Sim. Every field but ClientID and InitialSecret has a default.
type Config struct {
	ClientID       string    // the application's LWA client id
	ApplicationID  string    // notificationMetadata.applicationId
	SubscriptionID string    // notificationMetadata.subscriptionId; default a random UUID
	InitialSecret  string    // the secret in force at start
	InitialExpiry  time.Time // its expiry; default Clock()+SecretLifetime

	Clock          func() time.Time // simulated time; default time.Now
	SecretLifetime time.Duration    // default 180 days
	OldSecretGrace time.Duration    // default 7 days
	RotateInterval time.Duration    // default 1 minute (rate 0.0167/s, burst 1)

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
	ReorderWindow           time.Duration // how long a held one waits (simulated); 0: until a follower or Flush
}

// Stats counts what the simulator saw and did.
type Stats struct {
	TokenCalls             int // every request to the token endpoint
	TokenClientCredentials int // access tokens granted with client_credentials
	TokenRefresh           int // access tokens granted with refresh_token
	TokenInvalidClient     int // 401 invalid_client
	TokenBadRequest        int // other 400s
	TokenServerErrors      int // injected 5xx

	RotateCalls       int // every request to the rotate path
	Rotations         int // secrets issued through the API (204 or lost response)
	RotateForbidden   int // 403
	RotateNotEnrolled int // 400
	RotateThrottled   int // 429
	RotateServerError int // 5xx (injected errors and lost responses)
	PortalRotations   int // secrets issued by PortalRotate

	Deliveries       int // new-secret notifications sent, duplicates included
	Duplicates       int // of which duplicates
	DeliveryFailures int // failed sends (each retried later)
	Pending          int // new-secret notifications not yet sent
	ExpiryNotices    int // expiry notices sent
}

// secretRecord is one issued client secret. LWA accepts it from activeAt
// (issue plus activation delay) until deadline: expiresAt, or replacement plus grace.
type secretRecord struct {
	value                         string
	activeAt, expiresAt, deadline time.Time
}

// token is a granted access token.
type token struct {
	scopes    map[string]bool
	expiresAt time.Time
}

// Sim is a simulated LWA and SP-API for one application. It is safe for
// concurrent use.
type Sim struct {
	cfg Config // with defaults; Faults, NewSecretDeliverer and Rand are guarded by mu

	mu          sync.Mutex
	secrets     []*secretRecord
	tokens      map[string]token
	lastRotate  time.Time // last rotate call let through by the limiter
	limiterUsed bool
	pending     []*delivery
	held        *delivery
	heldAt      time.Time
	seq         int
	stats       Stats

	deliverMu sync.Mutex // serializes delivery passes so their order is kept
}

// New returns a simulator configured by cfg.
func New(cfg Config) *Sim {
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.SecretLifetime <= 0 {
		cfg.SecretLifetime = 180 * 24 * time.Hour
	}
	if cfg.OldSecretGrace <= 0 {
		cfg.OldSecretGrace = 7 * 24 * time.Hour
	}
	if cfg.RotateInterval <= 0 {
		cfg.RotateInterval = time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	s := &Sim{cfg: cfg, tokens: make(map[string]token)}
	if s.cfg.SubscriptionID == "" {
		s.cfg.SubscriptionID = s.uuidLocked()
	}
	expiry := cfg.InitialExpiry
	if expiry.IsZero() {
		expiry = cfg.Clock().Add(cfg.SecretLifetime)
	}
	s.secrets = []*secretRecord{{cfg.InitialSecret, expiry.Add(-cfg.SecretLifetime), expiry, expiry}}
	return s
}

// Issued returns every client secret the application has had, in order of
// issue: the initial secret first, the current one last.
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
	for _, r := range s.secrets {
		if r.value == secret && secret != "" {
			return !now.Before(r.activeAt) && now.Before(r.deadline)
		}
	}
	return false
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

// SetFaults replaces the fault knobs, e.g. to stop faults and let the system settle.
func (s *Sim) SetFaults(f Faults) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cfg.Faults = f
}

// Enroll registers d as the new-secret queue (nil unregisters it). Notifications
// already queued keep the deliverer they were queued with.
func (s *Sim) Enroll(d Deliverer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cfg.NewSecretDeliverer = d
}

// PortalRotate is a rotation by hand in the Solution Provider Portal: it issues
// a new secret and queues its notification (when a queue is registered) with no
// API call, no limiter and no injected fault.
func (s *Sim) PortalRotate() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.PortalRotations++
	s.cfg.Logger.Info("spapisim: portal rotation", "notificationId", s.rotateLocked())
}

// rotateLocked issues a new secret, starts the grace period of the previous
// one and queues the new-secret notification. It returns the notification id
// ("" when no queue is registered).
func (s *Sim) rotateLocked() string {
	now := s.cfg.Clock()
	prev := s.secrets[len(s.secrets)-1]
	if d := now.Add(s.cfg.OldSecretGrace); d.Before(prev.deadline) {
		prev.deadline = d
	}
	expiry := now.Add(s.cfg.SecretLifetime)
	r := &secretRecord{s.newSecretLocked(), now.Add(s.cfg.Faults.ActivationDelay), expiry, expiry}
	s.secrets = append(s.secrets, r)
	if s.cfg.NewSecretDeliverer == nil {
		return ""
	}
	due := now.Add(s.cfg.DeliveryDelay)
	id := s.uuidLocked()
	p := newSecretPayload{ClientID: s.cfg.ClientID, NewClientSecret: r.value,
		NewClientSecretExpiryTime: formatTime(r.expiresAt), OldClientSecretExpiryTime: formatTime(prev.deadline)}
	body := s.notification(TypeNewSecret, map[string]any{"applicationOAuthClientNewSecret": p}, id, now, due)
	s.seq++
	s.pending = append(s.pending, &delivery{seq: s.seq, due: due, id: id, body: body, to: s.cfg.NewSecretDeliverer})
	return id
}

// EmitExpiryNotice sends an APPLICATION_OAUTH_CLIENT_SECRET_EXPIRY notice at
// once through d (Config.ExpiryDeliverer when d is nil). expiresAt is the
// clientSecretExpiryTime; zero means the current secret's expiry. ExpiresIn
// computes it from days left.
func (s *Sim) EmitExpiryNotice(ctx context.Context, d Deliverer, expiresAt time.Time) error {
	s.mu.Lock()
	if d == nil {
		d = s.cfg.ExpiryDeliverer
	}
	if expiresAt.IsZero() {
		expiresAt = s.secrets[len(s.secrets)-1].expiresAt
	}
	now, id := s.cfg.Clock(), s.uuidLocked()
	p := expiryPayload{ClientID: s.cfg.ClientID, ClientSecretExpiryTime: formatTime(expiresAt),
		ClientSecretExpiryReason: "PERIODIC_ROTATION"}
	body := s.notification(TypeSecretExpiry, map[string]any{"applicationOAuthClientSecretExpiry": p}, id, now, now)
	s.mu.Unlock()
	if d == nil {
		return errors.New("spapisim: emit expiry notice: no deliverer")
	}
	if err := d.Deliver(ctx, body); err != nil {
		return fmt.Errorf("spapisim: emit expiry notice %s: %w", id, err)
	}
	s.mu.Lock()
	s.stats.ExpiryNotices++
	s.mu.Unlock()
	s.cfg.Logger.InfoContext(ctx, "spapisim: expiry notice sent", "notificationId", id)
	return nil
}

// ExpiresIn returns the expiry time that leaves daysLeft whole days from now.
func (s *Sim) ExpiresIn(daysLeft int) time.Time {
	return s.cfg.Clock().Add(time.Duration(daysLeft) * 24 * time.Hour)
}

// chanceLocked draws against rate p; a zero rate draws nothing, so runs
// without faults use the same random sequence.
func (s *Sim) chanceLocked(p float64) bool { return p > 0 && s.cfg.Rand.Float64() < p }

func (s *Sim) randBytesLocked(n int) []byte {
	var b []byte
	for len(b) < n {
		b = binary.LittleEndian.AppendUint64(b, s.cfg.Rand.Uint64())
	}
	return b[:n]
}

func (s *Sim) newSecretLocked() string {
	return SecretPrefix + hex.EncodeToString(s.randBytesLocked(32))
}

// uuidLocked returns a random (version 4) UUID.
func (s *Sim) uuidLocked() string {
	b := s.randBytesLocked(16)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// ManualClock is a simulated clock that moves only when told to. Its Now
// method fits Config.Clock. It is safe for concurrent use.
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

// Advance moves the clock forward by d.
func (c *ManualClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Set moves the clock to t.
func (c *ManualClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}
