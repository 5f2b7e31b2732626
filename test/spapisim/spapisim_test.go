package spapisim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/spapi-lwa/secret-rotation/internal/notification"
	"github.com/spapi-lwa/secret-rotation/test/logsink"
)

const (
	testClientID = "amzn1.application-oa2-client.test"
	testAppID    = "amzn1.sp.solution.test"
	testSecret   = "amzn1.oa2-cs.v1.initial"
)

var start = time.Date(2026, 1, 10, 22, 9, 17, 456_000_000, time.UTC)

// recorder is a Deliverer that keeps what it is sent and can be made to fail.
type recorder struct {
	mu     sync.Mutex
	bodies [][]byte
	fail   int // fail this many calls first
}

func (r *recorder) Deliver(ctx context.Context, body []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail > 0 {
		r.fail--
		return errors.New("queue unavailable")
	}
	r.bodies = append(r.bodies, bytes.Clone(body))
	return nil
}

func (r *recorder) got() [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.bodies)
}

type fixture struct {
	sim   *Sim
	clock *ManualClock
	srv   *httptest.Server
	rec   *recorder
	logs  *logsink.Buffer
}

// newFixture starts a simulator on a manual clock with a recorder as the
// new-secret queue; mod may change the config first.
func newFixture(t *testing.T, mod func(*Config)) *fixture {
	t.Helper()
	f := &fixture{clock: NewManualClock(start), rec: &recorder{}, logs: &logsink.Buffer{}}
	cfg := Config{
		ClientID:           testClientID,
		ApplicationID:      testAppID,
		InitialSecret:      testSecret,
		Clock:              f.clock.Now,
		NewSecretDeliverer: f.rec,
		DeliveryDelay:      2 * time.Second,
		Rand:               rand.New(rand.NewPCG(1, 2)),
		Logger:             slog.New(slog.NewJSONHandler(f.logs, nil)),
	}
	if mod != nil {
		mod(&cfg)
	}
	f.sim = New(cfg)
	f.srv = httptest.NewServer(f.sim.Handler())
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fixture) advance(d time.Duration) { f.clock.Set(f.clock.Now().Add(d)) }

// drain delivers everything queued, duplicates included, once every delay has passed.
func (f *fixture) drain(t *testing.T) {
	t.Helper()
	f.advance(time.Hour)
	for f.sim.Stats().Pending > 0 {
		if n, err := f.sim.DeliverDue(t.Context()); n == 0 || err != nil {
			t.Fatalf("DeliverDue() = %d, %v with %d pending", n, err, f.sim.Stats().Pending)
		}
	}
}

type tokenAnswer struct {
	status int
	body   map[string]any
	header http.Header
}

func (f *fixture) postToken(t *testing.T, form url.Values) tokenAnswer {
	t.Helper()
	resp, err := http.PostForm(f.srv.URL+TokenPath, form)
	if err != nil {
		t.Fatalf("POST %s: %v", TokenPath, err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("decode token answer (status %d): %v", resp.StatusCode, err)
	}
	return tokenAnswer{resp.StatusCode, body, resp.Header}
}

func ccForm(secret, scope string) url.Values {
	return url.Values{"grant_type": {"client_credentials"}, "client_id": {testClientID}, "client_secret": {secret}, "scope": {scope}}
}

// rotationToken returns an access token with the rotation scope.
func (f *fixture) rotationToken(t *testing.T, secret string) string {
	t.Helper()
	a := f.postToken(t, ccForm(secret, ScopeRotation))
	if a.status != http.StatusOK {
		t.Fatalf("token status = %d, want 200 (%v)", a.status, a.body["error"])
	}
	return a.body["access_token"].(string)
}

type rotateAnswer struct {
	status int
	body   []byte
	header http.Header
}

func (f *fixture) rotate(t *testing.T, accessToken string) rotateAnswer {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, f.srv.URL+RotatePath, nil)
	if err != nil {
		t.Fatal(err)
	}
	if accessToken != "" {
		req.Header.Set("x-amz-access-token", accessToken)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", RotatePath, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return rotateAnswer{resp.StatusCode, b, resp.Header}
}

func TestToken(t *testing.T) {
	tests := []struct {
		name       string
		form       url.Values
		wantStatus int
		wantError  string
	}{
		{"client credentials", ccForm(testSecret, ScopeRotation), 200, ""},
		{"client credentials two scopes", ccForm(testSecret, ScopeRotation+" "+ScopeNotifications), 200, ""},
		{"wrong secret", ccForm("amzn1.oa2-cs.v1.wrong", ScopeRotation), 401, "invalid_client"},
		{"unknown client", url.Values{"grant_type": {"client_credentials"}, "client_id": {"other"}, "client_secret": {testSecret}, "scope": {ScopeRotation}}, 401, "invalid_client"},
		{"no grant type", url.Values{"client_id": {testClientID}, "client_secret": {testSecret}}, 400, "invalid_request"},
		{"unsupported grant", url.Values{"grant_type": {"password"}, "client_id": {testClientID}, "client_secret": {testSecret}}, 400, "unsupported_grant_type"},
		{"no client secret", url.Values{"grant_type": {"client_credentials"}, "client_id": {testClientID}, "scope": {ScopeRotation}}, 400, "invalid_request"},
		{"no client id", url.Values{"grant_type": {"client_credentials"}, "client_secret": {testSecret}, "scope": {ScopeRotation}}, 400, "invalid_request"},
		{"no scope", url.Values{"grant_type": {"client_credentials"}, "client_id": {testClientID}, "client_secret": {testSecret}}, 400, "invalid_request"},
		{"unknown scope", ccForm(testSecret, "sellingpartnerapi::everything"), 400, "invalid_scope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, nil)
			a := f.postToken(t, tt.form)
			if a.status != tt.wantStatus {
				t.Fatalf("status = %d, want %d (body error %v)", a.status, tt.wantStatus, a.body["error"])
			}
			if a.header.Get("x-amzn-RequestId") == "" {
				t.Errorf("x-amzn-RequestId missing")
			}
			if tt.wantError != "" {
				if a.body["error"] != tt.wantError {
					t.Errorf("error = %v, want %s", a.body["error"], tt.wantError)
				}
				if d, _ := a.body["error_description"].(string); d == "" {
					t.Errorf("error_description empty")
				}
				if tt.wantError == "invalid_client" && a.body["error_description"] != "Client authentication failed" {
					t.Errorf("error_description = %v, want Client authentication failed", a.body["error_description"])
				}
				return
			}
			if tok, _ := a.body["access_token"].(string); !strings.HasPrefix(tok, "Atza|") || len(tok) < 40 {
				t.Errorf("access_token = %q, want Atza|<random>", tok)
			}
			if a.body["token_type"] != "bearer" || a.body["expires_in"] != float64(3600) {
				t.Errorf("token_type, expires_in = %v, %v; want bearer, 3600", a.body["token_type"], a.body["expires_in"])
			}
		})
	}
}

func TestTokenWrongMethod(t *testing.T) {
	f := newFixture(t, nil)
	resp, err := http.Get(f.srv.URL + TokenPath)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("x-amzn-RequestId") == "" {
		t.Errorf("GET token: status %d, request id %q; want 405 and an id", resp.StatusCode, resp.Header.Get("x-amzn-RequestId"))
	}
}

func TestOldSecretGrace(t *testing.T) {
	f := newFixture(t, nil)
	f.rotate(t, f.rotationToken(t, testSecret))
	issued := f.sim.Issued()
	if len(issued) != 2 || issued[0] != testSecret {
		t.Fatalf("Issued() = %d secrets, first initial %v; want 2, true", len(issued), issued[0] == testSecret)
	}
	newSecret := issued[1]
	tests := []struct {
		after         time.Duration
		wantOld, want bool
	}{
		{0, true, true},
		{7*24*time.Hour - time.Second, true, true},
		{7 * 24 * time.Hour, false, true},
		{170 * 24 * time.Hour, false, true},
		{180 * 24 * time.Hour, false, false},
	}
	for _, tt := range tests {
		f.clock.Set(start.Add(tt.after))
		if got := f.sim.Accepts(testSecret); got != tt.wantOld {
			t.Errorf("after %v: Accepts(old) = %v, want %v", tt.after, got, tt.wantOld)
		}
		if got := f.sim.Accepts(newSecret); got != tt.want {
			t.Errorf("after %v: Accepts(new) = %v, want %v", tt.after, got, tt.want)
		}
		wantStatus := http.StatusUnauthorized
		if tt.wantOld {
			wantStatus = http.StatusOK
		}
		if a := f.postToken(t, ccForm(testSecret, ScopeRotation)); a.status != wantStatus {
			t.Errorf("after %v: token with old secret: status %d, want %d", tt.after, a.status, wantStatus)
		}
	}
}

func TestInitialSecretExpiry(t *testing.T) {
	expiry := start.Add(24 * time.Hour)
	f := newFixture(t, func(c *Config) { c.InitialExpiry = expiry })
	if !f.sim.Accepts(testSecret) {
		t.Errorf("Accepts(initial) before expiry = false, want true")
	}
	if _, exp := f.sim.Current(); !exp.Equal(expiry) {
		t.Errorf("Current() expiry = %v, want %v", exp, expiry)
	}
	f.clock.Set(expiry)
	if a := f.postToken(t, ccForm(testSecret, ScopeRotation)); a.status != http.StatusUnauthorized || a.body["error"] != "invalid_client" {
		t.Errorf("token with expired secret: %d %v, want 401 invalid_client", a.status, a.body["error"])
	}
}

func TestRotateAuthorization(t *testing.T) {
	f := newFixture(t, nil)
	notif := f.postToken(t, ccForm(testSecret, ScopeNotifications))
	expired := f.rotationToken(t, testSecret)
	f.advance(TokenLifetime)
	tests := []struct {
		name, token string
	}{
		{"no token", ""},
		{"unknown token", "Atza|forged"},
		{"other scope", notif.body["access_token"].(string)},
		{"expired", expired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := f.rotate(t, tt.token)
			want := `{"errors":[{"code":"Unauthorized","message":"Access to requested resource is denied.","details":""}]}`
			if a.status != http.StatusForbidden || strings.TrimSpace(string(a.body)) != want {
				t.Errorf("rotate = %d %s, want 403 %s", a.status, a.body, want)
			}
			if a.header.Get("x-amzn-RequestId") == "" {
				t.Errorf("x-amzn-RequestId missing")
			}
		})
	}
	if n := len(f.sim.Issued()); n != 1 {
		t.Errorf("Issued() has %d secrets after forbidden calls, want 1", n)
	}
	if st := f.sim.Stats(); st.RotateCalls != len(tests) || st.Rotations != 0 {
		t.Errorf("Stats() calls, rotations = %d, %d; want %d, 0", st.RotateCalls, st.Rotations, len(tests))
	}
}

func TestRotateRateLimit(t *testing.T) {
	f := newFixture(t, nil)
	tok := f.rotationToken(t, testSecret)
	quota := `{"errors":[{"code":"QuotaExceeded","message":"You exceeded your quota for the requested resource."}]}`
	steps := []struct {
		advance    time.Duration
		wantStatus int
	}{
		{0, 204},
		{0, 429},
		{59 * time.Second, 429},
		{time.Second, 204},
		{30 * time.Second, 429},
		{30 * time.Second, 204},
	}
	wantIssued := 1
	for i, s := range steps {
		f.advance(s.advance)
		a := f.rotate(t, tok)
		if a.status != s.wantStatus {
			t.Fatalf("step %d: rotate = %d %s, want %d", i, a.status, a.body, s.wantStatus)
		}
		if a.header.Get("x-amzn-RequestId") == "" {
			t.Errorf("step %d: x-amzn-RequestId missing", i)
		}
		switch s.wantStatus {
		case 204:
			wantIssued++
			if len(a.body) != 0 || a.header.Get("x-amzn-RateLimit-Limit") != "0.0167" {
				t.Errorf("step %d: 204 body %q, rate limit %q; want empty, 0.0167", i, a.body, a.header.Get("x-amzn-RateLimit-Limit"))
			}
		case 429:
			if got := strings.TrimSpace(string(a.body)); got != quota {
				t.Errorf("step %d: 429 body = %s, want %s", i, got, quota)
			}
		}
		if n := len(f.sim.Issued()); n != wantIssued {
			t.Errorf("step %d: Issued() has %d secrets, want %d", i, n, wantIssued)
		}
	}
	if st := f.sim.Stats(); st.RotateCalls != 6 || st.Rotations != 3 || st.RotateThrottled != 3 || st.Pending != 3 {
		t.Errorf("Stats() = %+v, want 6 calls, 3 rotations, 3 throttled, 3 pending", st)
	}
}

func TestRotateNotEnrolled(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.NewSecretDeliverer = nil })
	tok := f.rotationToken(t, testSecret)
	a := f.rotate(t, tok)
	want := `{"errors":[{"code":"InvalidInput","message":"Application is not enrolled for rotation notification. Please update application notification preference in Developer console."}]}`
	if a.status != http.StatusBadRequest || strings.TrimSpace(string(a.body)) != want {
		t.Fatalf("rotate = %d %s, want 400 %s", a.status, a.body, want)
	}
	if n := len(f.sim.Issued()); n != 1 {
		t.Errorf("Issued() has %d secrets, want 1", n)
	}
	// The call consumed the limiter; once enrolled and a minute later it works.
	f.sim.Enroll(f.rec)
	if a := f.rotate(t, tok); a.status != http.StatusTooManyRequests {
		t.Errorf("rotate right after 400 = %d, want 429", a.status)
	}
	f.advance(time.Minute)
	if a := f.rotate(t, tok); a.status != http.StatusNoContent {
		t.Errorf("rotate after enrolling = %d, want 204", a.status)
	}
	if st := f.sim.Stats(); st.RotateNotEnrolled != 1 || st.Rotations != 1 {
		t.Errorf("Stats() not enrolled, rotations = %d, %d; want 1, 1", st.RotateNotEnrolled, st.Rotations)
	}
}

// compareKeys reports every key path present in one of want, got and not the other.
func compareKeys(path string, want, got any) []string {
	wm, wok := want.(map[string]any)
	gm, gok := got.(map[string]any)
	if wok != gok {
		return []string{path + ": object in one, not in the other"}
	}
	if !wok {
		if _, ok := got.(string); !ok {
			return []string{path + ": not a string"}
		}
		return nil
	}
	var diffs []string
	for k, v := range wm {
		g, ok := gm[k]
		if !ok {
			diffs = append(diffs, path+"."+k+": missing")
			continue
		}
		diffs = append(diffs, compareKeys(path+"."+k, v, g)...)
	}
	for k := range gm {
		if _, ok := wm[k]; !ok {
			diffs = append(diffs, path+"."+k+": unexpected")
		}
	}
	sort.Strings(diffs)
	return diffs
}

func decodeFile(t *testing.T, name string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("decode %s: %v", name, err)
	}
	return m
}

func field(m map[string]any, path ...string) string {
	var v any = m
	for _, p := range path {
		mm, _ := v.(map[string]any)
		v = mm[p]
	}
	s, _ := v.(string)
	return s
}

var (
	msTime = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)
	uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	secRE  = regexp.MustCompile(`^amzn1\.oa2-cs\.v1\.[0-9a-f]{64}$`)
)

func TestNewSecretNotification(t *testing.T) {
	f := newFixture(t, nil)
	if a := f.rotate(t, f.rotationToken(t, testSecret)); a.status != http.StatusNoContent {
		t.Fatalf("rotate = %d, want 204", a.status)
	}
	if n, err := f.sim.DeliverDue(t.Context()); n != 0 || err != nil {
		t.Fatalf("DeliverDue before the delay = %d, %v; want 0, nil", n, err)
	}
	if next, ok := f.sim.NextDue(); !ok || !next.Equal(start.Add(2*time.Second)) {
		t.Errorf("NextDue() = %v, %v; want %v, true", next, ok, start.Add(2*time.Second))
	}
	f.advance(2 * time.Second)
	if n, err := f.sim.DeliverDue(t.Context()); n != 1 || err != nil {
		t.Fatalf("DeliverDue after the delay = %d, %v; want 1, nil", n, err)
	}
	bodies := f.rec.got()
	if len(bodies) != 1 {
		t.Fatalf("delivered %d bodies, want 1", len(bodies))
	}
	var got map[string]any
	if err := json.Unmarshal(bodies[0], &got); err != nil {
		t.Fatalf("decode delivered body: %v", err)
	}
	want := decodeFile(t, "testdata/APPLICATION_OAUTH_CLIENT_NEW_SECRET.example.json")
	if diffs := compareKeys("", want, got); len(diffs) > 0 {
		t.Errorf("delivered body differs from the official example:\n%s", strings.Join(diffs, "\n"))
	}
	p := []string{"payload", "applicationOAuthClientNewSecret"}
	newSecret := f.sim.Issued()[1]
	checks := []struct{ name, got, want string }{
		{"notificationVersion", field(got, "notificationVersion"), "1.0"},
		{"notificationType", field(got, "notificationType"), "APPLICATION_OAUTH_CLIENT_NEW_SECRET"},
		{"payloadVersion", field(got, "payloadVersion"), "2023-11-30"},
		{"eventTime", field(got, "eventTime"), "2026-01-10T22:09:17.456Z"},
		{"clientId", field(got, append(p, "clientId")...), testClientID},
		{"newClientSecretExpiryTime", field(got, append(p, "newClientSecretExpiryTime")...), "2026-07-09T22:09:17.456Z"},
		{"oldClientSecretExpiryTime", field(got, append(p, "oldClientSecretExpiryTime")...), "2026-01-17T22:09:17.456Z"},
		{"applicationId", field(got, "notificationMetadata", "applicationId"), testAppID},
		{"publishTime", field(got, "notificationMetadata", "publishTime"), "2026-01-10T22:09:19.456Z"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	if s := field(got, append(p, "newClientSecret")...); s != newSecret || !secRE.MatchString(s) {
		t.Errorf("newClientSecret is not the issued secret in the form amzn1.oa2-cs.v1.<64 hex>")
	}
	for _, k := range []string{"subscriptionId", "notificationId"} {
		if v := field(got, "notificationMetadata", k); !uuidRE.MatchString(v) {
			t.Errorf("%s = %q, want a UUID", k, v)
		}
	}

	n, err := notification.ParseNewSecret(bodies[0])
	if err != nil && strings.Contains(err.Error(), "not implemented") {
		t.Skip("notification.ParseNewSecret not implemented yet")
	}
	if err != nil {
		t.Fatalf("notification.ParseNewSecret(delivered body) = %v", err)
	}
	if n.ClientID != testClientID || n.NewClientSecret.Reveal() != newSecret {
		t.Errorf("ParseNewSecret: client id %q, secret matches %v; want %q, true", n.ClientID, n.NewClientSecret.Reveal() == newSecret, testClientID)
	}
}

func TestExpiryNotice(t *testing.T) {
	tests := []struct {
		name      string
		expiresAt func(*Sim) time.Time
		want      string
	}{
		{"current secret", func(*Sim) time.Time { return time.Time{} }, "2026-07-09T22:09:17.456Z"},
		{"30 days left", func(s *Sim) time.Time { return s.ExpiresIn(30) }, "2026-02-09T22:09:17.456Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, nil)
			rec := &recorder{}
			if err := f.sim.EmitExpiryNotice(t.Context(), rec, tt.expiresAt(f.sim)); err != nil {
				t.Fatalf("EmitExpiryNotice() = %v", err)
			}
			bodies := rec.got()
			if len(bodies) != 1 {
				t.Fatalf("delivered %d bodies, want 1", len(bodies))
			}
			var got map[string]any
			if err := json.Unmarshal(bodies[0], &got); err != nil {
				t.Fatalf("decode delivered body: %v", err)
			}
			want := decodeFile(t, "testdata/APPLICATION_OAUTH_CLIENT_SECRET_EXPIRY.example.json")
			if diffs := compareKeys("", want, got); len(diffs) > 0 {
				t.Errorf("delivered body differs from the official example:\n%s", strings.Join(diffs, "\n"))
			}
			p := []string{"payload", "applicationOAuthClientSecretExpiry"}
			if g := field(got, append(p, "clientSecretExpiryTime")...); g != tt.want {
				t.Errorf("clientSecretExpiryTime = %q, want %q", g, tt.want)
			}
			if g := field(got, append(p, "clientSecretExpiryReason")...); g != "PERIODIC_ROTATION" {
				t.Errorf("clientSecretExpiryReason = %q, want PERIODIC_ROTATION", g)
			}
			if g, want := field(got, "notificationType"), "APPLICATION_OAUTH_CLIENT_SECRET_EXPIRY"; g != want {
				t.Errorf("notificationType = %q, want %s", g, want)
			}
			for _, k := range []string{"eventTime"} {
				if !msTime.MatchString(field(got, k)) {
					t.Errorf("%s = %q, want RFC 3339 UTC with milliseconds", k, field(got, k))
				}
			}
		})
	}
}

func TestExpiryNoticeDeliverer(t *testing.T) {
	expiry := &recorder{}
	f := newFixture(t, func(c *Config) { c.ExpiryDeliverer = expiry })
	if err := f.sim.EmitExpiryNotice(t.Context(), nil, time.Time{}); err != nil || len(expiry.got()) != 1 {
		t.Errorf("EmitExpiryNotice(nil deliverer) = %v, %d sent to Config.ExpiryDeliverer; want nil, 1", err, len(expiry.got()))
	}
	rec := &recorder{fail: 1}
	err := f.sim.EmitExpiryNotice(t.Context(), rec, time.Time{})
	if err == nil || strings.Contains(err.Error(), testClientID) {
		t.Errorf("EmitExpiryNotice(failing) = %v, want an error without the body", err)
	}
}

func TestPortalRotate(t *testing.T) {
	f := newFixture(t, nil)
	f.sim.PortalRotate()
	issued := f.sim.Issued()
	if len(issued) != 2 || !secRE.MatchString(issued[1]) {
		t.Fatalf("Issued() after PortalRotate = %d secrets, want 2 with a well-formed new one", len(issued))
	}
	if cur, _ := f.sim.Current(); cur != issued[1] {
		t.Errorf("Current() is not the newest issued secret")
	}
	f.drain(t)
	bodies := f.rec.got()
	if len(bodies) != 1 || !bytes.Contains(bodies[0], []byte(issued[1])) {
		t.Fatalf("PortalRotate delivered %d bodies, want 1 holding the new secret", len(bodies))
	}
	st := f.sim.Stats()
	if st.PortalRotations != 1 || st.RotateCalls != 0 || st.Deliveries != 1 || st.Pending != 0 {
		t.Errorf("Stats() = %+v, want 1 portal rotation, 0 rotate calls, 1 delivery, 0 pending", st)
	}
	// A portal rotation does not touch the API limiter.
	if a := f.rotate(t, f.rotationToken(t, testSecret)); a.status != http.StatusNoContent {
		t.Errorf("rotate after a portal rotation = %d, want 204", a.status)
	}
}

func TestActivationDelay(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.Faults.ActivationDelay = 30 * time.Second })
	f.sim.PortalRotate()
	newSecret := f.sim.Issued()[1]
	if a := f.postToken(t, ccForm(newSecret, ScopeRotation)); a.status != http.StatusUnauthorized {
		t.Errorf("token with a new secret during activation = %d, want 401", a.status)
	}
	if !f.sim.Accepts(testSecret) {
		t.Errorf("Accepts(old) during activation = false, want true")
	}
	f.advance(30 * time.Second)
	if a := f.postToken(t, ccForm(newSecret, ScopeRotation)); a.status != http.StatusOK {
		t.Errorf("token with a new secret after activation = %d, want 200", a.status)
	}
}

func TestDuplicateDelivery(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.Faults.DuplicateRate = 1 })
	f.sim.PortalRotate()
	f.drain(t)
	bodies := f.rec.got()
	if len(bodies) != 2 || !bytes.Equal(bodies[0], bodies[1]) {
		t.Fatalf("delivered %d bodies (equal: %v), want the same body twice", len(bodies), len(bodies) == 2 && bytes.Equal(bodies[0], bodies[1]))
	}
	if st := f.sim.Stats(); st.Deliveries != 2 || st.Duplicates != 1 || st.Pending != 0 {
		t.Errorf("Stats() deliveries, duplicates, pending = %d, %d, %d; want 2, 1, 0", st.Deliveries, st.Duplicates, st.Pending)
	}
}

func notificationSecret(t *testing.T, body []byte) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	return field(m, "payload", "applicationOAuthClientNewSecret", "newClientSecret")
}

func TestReorder(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.Faults.Reorder = true })
	f.sim.PortalRotate()
	f.advance(time.Second)
	f.sim.PortalRotate()
	f.advance(time.Second)
	// Only the first is due: it is held back for its follower.
	if n, err := f.sim.DeliverDue(t.Context()); n != 0 || err != nil {
		t.Fatalf("DeliverDue with one due = %d, %v; want 0 (held), nil", n, err)
	}
	f.advance(time.Second)
	if n, err := f.sim.DeliverDue(t.Context()); n != 2 || err != nil {
		t.Fatalf("DeliverDue with both due = %d, %v; want 2, nil", n, err)
	}
	issued := f.sim.Issued()
	bodies := f.rec.got()
	var got []string
	for _, b := range bodies {
		got = append(got, notificationSecret(t, b))
	}
	if want := []string{issued[2], issued[1]}; !slices.Equal(got, want) {
		t.Errorf("delivery order is not swapped (got %d bodies)", len(got))
	}
}

func TestReorderWindow(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.Faults.Reorder = true; c.Faults.ReorderWindow = time.Minute })
	f.sim.PortalRotate()
	f.advance(2 * time.Second)
	for _, advance := range []time.Duration{0, time.Minute - time.Nanosecond} {
		f.advance(advance)
		if n, _ := f.sim.DeliverDue(t.Context()); n != 0 || f.sim.Stats().Pending != 1 {
			t.Fatalf("DeliverDue within the window = %d, pending %d; want 0, 1 (held)", n, f.sim.Stats().Pending)
		}
	}
	if next, ok := f.sim.NextDue(); !ok || !next.Equal(f.clock.Now().Add(time.Nanosecond)) {
		t.Errorf("NextDue() = %v, %v; want the end of the window", next, ok)
	}
	f.advance(time.Nanosecond)
	if n, err := f.sim.DeliverDue(t.Context()); n != 1 || err != nil || f.sim.Stats().Pending != 0 {
		t.Errorf("DeliverDue at the end of the window = %d, %v; want 1, nil and nothing pending", n, err)
	}
}

func TestDeliveryRetriedNeverDropped(t *testing.T) {
	f := newFixture(t, nil)
	f.rec.fail = 2
	f.sim.PortalRotate()
	f.advance(2 * time.Second)
	for i := range 2 {
		n, err := f.sim.DeliverDue(t.Context())
		if n != 0 || err == nil {
			t.Fatalf("DeliverDue #%d with a failing queue = %d, %v; want 0, an error", i, n, err)
		}
		if s := f.sim.Issued()[1]; strings.Contains(err.Error(), s) || strings.Contains(err.Error(), testClientID) {
			t.Errorf("DeliverDue error quotes the body")
		}
	}
	if n, err := f.sim.DeliverDue(t.Context()); n != 1 || err != nil {
		t.Fatalf("DeliverDue once the queue works = %d, %v; want 1, nil", n, err)
	}
	if st := f.sim.Stats(); st.Deliveries != 1 || st.Pending != 0 {
		t.Errorf("Stats() = %+v, want 1 delivery, 0 pending", st)
	}
}

func TestFaults(t *testing.T) {
	tests := []struct {
		name       string
		faults     Faults
		wantToken  []int // statuses of successive token calls
		wantRotate []int // statuses of successive rotate calls, a minute apart
		wantIssued int
	}{
		{"fail next token calls", Faults{FailNextTokenCalls: 2}, []int{503, 503, 200}, nil, 1},
		{"token error rate", Faults{TokenErrorRate: 1}, []int{5, 5}, nil, 1},
		{"throttle next rotate calls", Faults{ThrottleNextRotateCalls: 2}, []int{200}, []int{429, 429, 204}, 2},
		{"rotate throttle rate", Faults{RotateThrottleRate: 1}, []int{200}, []int{429, 429}, 1},
		{"rotate error rate", Faults{RotateErrorRate: 1}, []int{200}, []int{5, 5}, 1},
		{"lost response", Faults{RotateLostResponseRate: 1}, []int{200}, []int{5, 5}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, func(c *Config) { c.Faults = tt.faults })
			var tok string
			for i, want := range tt.wantToken {
				a := f.postToken(t, ccForm(testSecret, ScopeRotation))
				if a.status != want && !(want == 5 && a.status/100 == 5) {
					t.Fatalf("token call %d = %d, want %d", i, a.status, want)
				}
				if a.status == 200 {
					tok = a.body["access_token"].(string)
				}
			}
			for i, want := range tt.wantRotate {
				a := f.rotate(t, tok)
				if a.status != want && !(want == 5 && a.status/100 == 5) {
					t.Fatalf("rotate call %d = %d, want %d", i, a.status, want)
				}
				f.advance(time.Minute)
			}
			if n := len(f.sim.Issued()); n != tt.wantIssued {
				t.Errorf("Issued() has %d secrets, want %d", n, tt.wantIssued)
			}
			f.drain(t)
			if n := len(f.rec.got()); n != tt.wantIssued-1 {
				t.Errorf("delivered %d notifications, want %d (one per issued secret)", n, tt.wantIssued-1)
			}
		})
	}
}

func TestSetFaults(t *testing.T) {
	f := newFixture(t, nil)
	tok := f.rotationToken(t, testSecret)
	f.sim.SetFaults(Faults{ThrottleNextRotateCalls: 1})
	if a := f.rotate(t, tok); a.status != http.StatusTooManyRequests {
		t.Errorf("rotate after SetFaults(ThrottleNextRotateCalls: 1) = %d, want 429", a.status)
	}
	if a := f.rotate(t, tok); a.status != http.StatusNoContent {
		t.Errorf("rotate once the throttle is spent = %d, want 204", a.status)
	}
}

func TestLatency(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.Faults.Latency = 20 * time.Millisecond })
	for range 3 {
		if a := f.postToken(t, ccForm(testSecret, ScopeRotation)); a.status != http.StatusOK {
			t.Fatalf("token with latency = %d, want 200", a.status)
		}
	}
}

func TestSeedReplays(t *testing.T) {
	run := func() ([]string, Stats) {
		f := newFixture(t, func(c *Config) {
			c.Rand = rand.New(rand.NewPCG(42, 7))
			c.Faults = Faults{RotateThrottleRate: 0.5, DuplicateRate: 0.5}
		})
		tok := f.rotationToken(t, testSecret)
		for range 10 {
			f.rotate(t, tok)
			f.advance(time.Minute)
			f.sim.PortalRotate()
		}
		f.drain(t)
		return f.sim.Issued(), f.sim.Stats()
	}
	a, sa := run()
	b, sb := run()
	if !slices.Equal(a, b) || sa != sb {
		t.Errorf("two runs with one seed differ: issued equal %v, stats %+v vs %+v", slices.Equal(a, b), sa, sb)
	}
	if sa.RotateThrottled == 0 || sa.Duplicates == 0 {
		t.Errorf("faults at rate 0.5 never fired in 10 tries: %+v", sa)
	}
}

// TestNoSecretInLogs runs every path and checks that no client secret or
// access token reaches the log.
func TestNoSecretInLogs(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.Faults.DuplicateRate = 1 })
	tok := f.rotationToken(t, testSecret)
	f.postToken(t, ccForm("amzn1.oa2-cs.v1.wrong", ScopeRotation))
	f.rotate(t, tok)
	f.rotate(t, tok)
	f.sim.PortalRotate()
	f.rec.fail = 1
	f.advance(time.Minute)
	f.sim.DeliverDue(t.Context())
	f.drain(t)
	if err := f.sim.EmitExpiryNotice(t.Context(), &recorder{}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	logs := f.logs.String()
	if !strings.Contains(logs, "notificationId") {
		t.Fatalf("logs hold no notificationId; the test would prove nothing:\n%s", logs)
	}
	for i, s := range append(f.sim.Issued(), tok, "amzn1.oa2-cs.v1.wrong") {
		if strings.Contains(logs, s) {
			t.Errorf("secret %d appears in the log", i)
		}
	}
}

type fakeSQS struct {
	in  *sqs.SendMessageInput
	err error
}

func (f *fakeSQS) SendMessage(ctx context.Context, in *sqs.SendMessageInput, _ ...func(*sqs.Options)) (*sqs.SendMessageOutput, error) {
	f.in = in
	return &sqs.SendMessageOutput{MessageId: aws.String("m1")}, f.err
}

func TestSQSDeliverer(t *testing.T) {
	const queue = "http://127.0.0.1:1/000000000000/new-secret"
	fake := &fakeSQS{}
	d := SQSDeliverer{Client: fake, QueueURL: queue}
	if err := d.Deliver(t.Context(), []byte(`{"a":1}`)); err != nil {
		t.Fatalf("Deliver() = %v", err)
	}
	if aws.ToString(fake.in.QueueUrl) != queue || aws.ToString(fake.in.MessageBody) != `{"a":1}` {
		t.Errorf("SendMessage input = %s %s, want %s and the body", aws.ToString(fake.in.QueueUrl), aws.ToString(fake.in.MessageBody), queue)
	}
	fake.err = errors.New("boom")
	if err := d.Deliver(t.Context(), []byte(`{"secret":"s3cr3t"}`)); !errors.Is(err, fake.err) || strings.Contains(err.Error(), "s3cr3t") {
		t.Errorf("Deliver() error = %v, want it to wrap the SQS error without the body", err)
	}
}

func TestRunDeliversInRealTime(t *testing.T) {
	rec := &recorder{fail: 1}
	s := New(Config{ClientID: testClientID, InitialSecret: testSecret, NewSecretDeliverer: rec, DeliveryDelay: 20 * time.Millisecond})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- s.Run(ctx) }()
	s.PortalRotate()
	deadline := time.Now().Add(5 * time.Second)
	for len(rec.got()) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Run() = %v, want context.Canceled", err)
	}
	if n := len(rec.got()); n != 1 {
		t.Errorf("Run delivered %d notifications after a failed try, want 1", n)
	}
}

func TestConcurrentUse(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.Faults.DuplicateRate = 0.3 })
	tok := f.rotationToken(t, testSecret)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for range 5 {
				f.postToken(t, ccForm(testSecret, ScopeRotation))
				f.rotate(t, tok)
				if i%2 == 0 {
					f.sim.PortalRotate()
				}
				f.sim.DeliverDue(t.Context())
				f.advance(time.Second)
			}
		})
	}
	wg.Wait()
	f.drain(t)
	st := f.sim.Stats()
	issued := f.sim.Issued()
	if got := st.Deliveries - st.Duplicates; got != len(issued)-1 {
		t.Errorf("delivered %d distinct notifications for %d issued secrets", got, len(issued)-1)
	}
	if st.TokenClientCredentials != 41 || st.RotateCalls != 40 {
		t.Errorf("Stats() tokens, rotate calls = %d, %d; want 41, 40", st.TokenClientCredentials, st.RotateCalls)
	}
}
