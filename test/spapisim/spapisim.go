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
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"
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
	TokenCalls             int // every request to the token endpoint
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
	id := s.uuidLocked()
	body := s.notification("APPLICATION_OAUTH_CLIENT_NEW_SECRET", "applicationOAuthClientNewSecret", id, now, due,
		map[string]string{"newClientSecret": r.value, "newClientSecretExpiryTime": formatTime(r.expiresAt),
			"oldClientSecretExpiryTime": formatTime(prev.deadline)})
	s.seq++
	s.pending = append(s.pending, &delivery{seq: s.seq, due: due, id: id, body: body, to: s.cfg.NewSecretDeliverer})
	return id
}

// EmitExpiryNotice sends an expiry notice at once through d (default Config.ExpiryDeliverer, then
// required) for expiresAt (default the current secret's expiry).
func (s *Sim) EmitExpiryNotice(ctx context.Context, d Deliverer, expiresAt time.Time) error {
	s.mu.Lock()
	d, expiresAt = cmp.Or(d, s.cfg.ExpiryDeliverer), cmp.Or(expiresAt, s.secrets[len(s.secrets)-1].expiresAt)
	now, id := s.cfg.Clock(), s.uuidLocked()
	body := s.notification("APPLICATION_OAUTH_CLIENT_SECRET_EXPIRY", "applicationOAuthClientSecretExpiry", id,
		now, now, map[string]string{"clientSecretExpiryTime": formatTime(expiresAt),
			"clientSecretExpiryReason": "PERIODIC_ROTATION"})
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
func (c *ManualClock) Now() time.Time { return c.Advance(0) }

// Advance moves the clock forward by d and returns the new time.
func (c *ManualClock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	return c.t
}

// Set moves the clock to t.
func (c *ManualClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}
