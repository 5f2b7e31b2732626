package lwa

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

const (
	testClientID     = "amzn1.application-oa2-client.0123456789abcdef"
	testSecret       = ClientSecret("amzn1.oa2-cs.v1.s3cr3t-client-secret-value")
	testRefreshToken = "Atzr|r3fr3sh-token-value" // an answer may echo one
	testAccessToken  = "Atza|acc3ss-token-value"
	tokenPath        = "/auth/o2/token"
)

// answer is one canned HTTP answer of the fake token endpoint.
type answer struct {
	status int
	header map[string]string
	body   string
}

// tokenServer is a fake LWA token endpoint that checks every request and
// serves answers in order (the last one repeats).
type tokenServer struct {
	t        *testing.T
	answers  []answer
	wantForm url.Values
	calls    atomic.Int32
	srv      *httptest.Server
}

func newTokenServer(t *testing.T, wantForm url.Values, answers ...answer) *tokenServer {
	t.Helper()
	ts := &tokenServer{t: t, answers: answers, wantForm: wantForm}
	ts.srv = httptest.NewServer(http.HandlerFunc(ts.serve))
	t.Cleanup(ts.srv.Close)
	return ts
}

func (ts *tokenServer) serve(w http.ResponseWriter, r *http.Request) {
	n := int(ts.calls.Add(1))
	if r.Method != http.MethodPost {
		ts.t.Errorf("method = %q, want POST", r.Method)
	}
	if r.URL.Path != tokenPath {
		ts.t.Errorf("path = %q, want %q", r.URL.Path, tokenPath)
	}
	if got := r.Header.Get("Content-Type"); got != "application/x-www-form-urlencoded" {
		ts.t.Errorf("Content-Type = %q, want application/x-www-form-urlencoded", got)
	}
	if got := r.Header.Get("User-Agent"); !strings.HasPrefix(got, "spapi-lwa-secret-rotation/") {
		ts.t.Errorf("User-Agent = %q, want the project's name", got)
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		ts.t.Errorf("read request body: %v", err)
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		ts.t.Errorf("parse form: %v", err)
	}
	if ts.wantForm != nil {
		if len(form) != len(ts.wantForm) {
			ts.t.Errorf("form has %d fields, want %d", len(form), len(ts.wantForm))
		}
		for k, want := range ts.wantForm {
			if got := form[k]; len(got) != 1 || got[0] != want[0] {
				ts.t.Errorf("form[%q] = %q, want %q", k, got, want)
			}
		}
	}
	a := ts.answers[min(n, len(ts.answers))-1]
	for k, v := range a.header {
		w.Header().Set(k, v)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(a.status)
	io.WriteString(w, a.body)
}

func (ts *tokenServer) client() *Client {
	c := NewClient(ts.srv.URL+tokenPath, ts.srv.Client())
	c.MinBackoff, c.MaxBackoff = time.Millisecond, 5*time.Millisecond
	return c
}

func okBody() string {
	return `{"access_token":"` + testAccessToken + `","token_type":"bearer","expires_in":3600}`
}

func credentialsForm() url.Values {
	return url.Values{
		"grant_type":    {"client_credentials"},
		"scope":         {ScopeRotation},
		"client_id":     {testClientID},
		"client_secret": {testSecret.Reveal()},
	}
}

func TestClientCredentials(t *testing.T) {
	ts := newTokenServer(t, credentialsForm(), answer{status: 200, body: okBody()})
	tok, err := ts.client().ClientCredentials(context.Background(), testClientID, testSecret, ScopeRotation)
	if err != nil {
		t.Fatalf("ClientCredentials() error = %v", err)
	}
	want := Token{AccessToken: testAccessToken, TokenType: "bearer", ExpiresIn: time.Hour}
	if tok != want {
		t.Errorf("ClientCredentials() = %#v, want %#v", tok, want)
	}
	if tok.AccessToken.Reveal() != testAccessToken {
		t.Errorf("AccessToken.Reveal() does not return the token from the answer")
	}
	if n := ts.calls.Load(); n != 1 {
		t.Errorf("calls = %d, want 1", n)
	}
}

func TestErrorCodes(t *testing.T) {
	tests := []struct {
		status   int
		code     string
		desc     string
		sentinel error
	}{
		{400, "invalid_client", "Client authentication failed", ErrInvalidClient},
		{401, "invalid_client", "Client authentication failed", ErrInvalidClient},
		{400, "invalid_grant", "The request has an invalid grant parameter : refresh_token", nil},
		{400, "unauthorized_client", "Not authorized for requested operation", nil},
		{400, "invalid_scope", "An unknown scope was requested", ErrInvalidScope},
		{400, "invalid_request", "The request is missing a required parameter : client_secret", nil},
		{400, "unsupported_grant_type", "", nil},
	}
	all := []error{ErrInvalidClient, ErrInvalidScope, ErrServer, ErrMalformedResponse}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d_%s", tt.status, tt.code), func(t *testing.T) {
			body := fmt.Sprintf(`{"error":%q,"error_description":%q}`, tt.code, tt.desc)
			ts := newTokenServer(t, credentialsForm(), answer{status: tt.status, body: body})
			_, err := ts.client().ClientCredentials(context.Background(), testClientID, testSecret, ScopeRotation)
			if err == nil {
				t.Fatalf("ClientCredentials() error = nil, want %v", tt.sentinel)
			}
			for _, s := range all {
				if got, want := errors.Is(err, s), s == tt.sentinel; got != want {
					t.Errorf("errors.Is(%v, %v) = %v, want %v", err, s, got, want)
				}
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("errors.As(%v, *Error) = false, want true", err)
			}
			if e.StatusCode != tt.status || e.Code != tt.code || e.Description != tt.desc {
				t.Errorf("*Error = %+v, want status %d, code %q, description %q", *e, tt.status, tt.code, tt.desc)
			}
			want := "lwa: token request: " + tt.code
			if tt.desc != "" {
				want += ": " + tt.desc
			}
			want += fmt.Sprintf(" (status %d)", tt.status)
			if err.Error() != want {
				t.Errorf("Error() = %q, want %q", err.Error(), want)
			}
			if n := ts.calls.Load(); n != 1 {
				t.Errorf("calls = %d, want 1 (4xx is not retried)", n)
			}
		})
	}
}

// TestErrorHidesSecrets: whatever the endpoint answers, the error never
// carries the client secret, the refresh token or the request form.
func TestErrorHidesSecrets(t *testing.T) {
	long := strings.Repeat("x", 5000)
	tests := []struct {
		name     string
		status   int
		body     string
		wantDesc string
	}{
		{"secret echoed", 400, `{"error":"invalid_client","error_description":"bad secret ` + testSecret.Reveal() + `"}`, ""},
		{"refresh token echoed", 400, `{"error":"invalid_grant","error_description":"bad token ` + testRefreshToken + `"}`, ""},
		{"other secret-looking value", 400, `{"error":"invalid_client","error_description":"amzn1.oa2-cs.v1.someoneelse"}`, ""},
		{"secret in code", 400, `{"error":"` + testSecret.Reveal() + `"}`, ""},
		{"form echoed", 400, `{"error":"invalid_request","error_description":"client_secret=` + url.QueryEscape(testSecret.Reveal()) + `"}`, ""},
		{"long description", 400, `{"error":"invalid_request","error_description":"` + long + `"}`, strings.Repeat("x", maxDescription) + "…"},
		{"control characters", 400, `{"error":"invalid_request","error_description":"line1\nline2\u0000"}`, "line1 line2 "},
		{"not JSON", 400, `client_secret=` + testSecret.Reveal(), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTokenServer(t, nil, answer{status: tt.status, body: tt.body})
			_, err := ts.client().ClientCredentials(context.Background(), testClientID, testSecret, ScopeRotation)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("ClientCredentials() error = %v, want *Error", err)
			}
			msg := err.Error()
			for _, s := range []string{testSecret.Reveal(), testRefreshToken} {
				if strings.Contains(msg, s) || strings.Contains(fmt.Sprintf("%+v %#v", e, e), s) {
					t.Errorf("error %q contains a secret", msg)
				}
			}
			if e.Description != tt.wantDesc {
				t.Errorf("Description = %q, want %q", e.Description, tt.wantDesc)
			}
			if len(msg) > 400 {
				t.Errorf("len(Error()) = %d, want at most 400", len(msg))
			}
		})
	}
}

func TestRetries(t *testing.T) {
	server500 := `{"error":"server_error","error_description":"Internal error"}`
	tests := []struct {
		name      string
		answers   []answer
		attempts  int
		wantCalls int32
		wantErr   error
	}{
		{"500 then 200", []answer{{500, nil, server500}, {200, nil, okBody()}}, 5, 2, nil},
		{"503 no body then 200", []answer{{503, nil, ""}, {200, nil, okBody()}}, 5, 2, nil},
		{"429 then 200", []answer{{429, nil, `{"error":"rate_limited"}`}, {200, nil, okBody()}}, 5, 2, nil},
		{"500 three times then 200", []answer{{500, nil, server500}, {502, nil, ""}, {504, nil, ""}, {200, nil, okBody()}}, 5, 4, nil},
		{"500 until attempts run out", []answer{{500, nil, server500}}, 3, 3, ErrServer},
		{"429 until attempts run out", []answer{{429, nil, ""}}, 4, 4, ErrServer},
		{"400 not retried", []answer{{400, nil, `{"error":"invalid_client"}`}, {200, nil, okBody()}}, 5, 1, ErrInvalidClient},
		{"200 without token not retried", []answer{{200, nil, `{"token_type":"bearer"}`}, {200, nil, okBody()}}, 5, 1, ErrMalformedResponse},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTokenServer(t, credentialsForm(), tt.answers...)
			c := ts.client()
			c.MaxAttempts = tt.attempts
			tok, err := c.ClientCredentials(context.Background(), testClientID, testSecret, ScopeRotation)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("ClientCredentials() error = %v, want nil", err)
				}
				if tok.AccessToken.Reveal() != testAccessToken {
					t.Errorf("ClientCredentials() token is not the one from the answer")
				}
			} else if !errors.Is(err, tt.wantErr) {
				t.Errorf("ClientCredentials() error = %v, want %v", err, tt.wantErr)
			}
			if n := ts.calls.Load(); n != tt.wantCalls {
				t.Errorf("calls = %d, want %d", n, tt.wantCalls)
			}
		})
	}
}

func TestRetryAfter(t *testing.T) {
	ts := newTokenServer(t, nil, answer{429, map[string]string{"Retry-After": "1"}, ""}, answer{200, nil, okBody()})
	start := time.Now()
	if _, err := ts.client().ClientCredentials(context.Background(), testClientID, testSecret, ScopeRotation); err != nil {
		t.Fatalf("ClientCredentials() error = %v", err)
	}
	if el := time.Since(start); el < time.Second {
		t.Errorf("ClientCredentials() returned after %v, want at least the Retry-After of 1s", el)
	}
	if n := ts.calls.Load(); n != 2 {
		t.Errorf("calls = %d, want 2", n)
	}
}

// TestRetryStopsAtDeadline: no wait runs past the context's deadline; the
// last answer (not a context error) is returned.
func TestRetryStopsAtDeadline(t *testing.T) {
	tests := []struct {
		name        string
		answer      answer
		min, max    time.Duration
		deadline    time.Duration
		maxCalls    int32
		mustReturn  time.Duration
		wantStatus  int
		minimumCall int32
	}{
		{"backoff longer than time left", answer{500, nil, ""}, 5 * time.Second, 5 * time.Second, 3 * time.Second, 1, time.Second, 500, 1},
		{"Retry-After longer than time left", answer{429, map[string]string{"Retry-After": "30"}, ""}, time.Millisecond, time.Millisecond, 3 * time.Second, 1, time.Second, 429, 1},
		// A call in flight when the deadline passes is cut short: the
		// answer comes back as the deadline passes, not before it.
		{"several retries then deadline", answer{503, nil, ""}, 50 * time.Millisecond, 50 * time.Millisecond, 400 * time.Millisecond, 8, 700 * time.Millisecond, 503, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTokenServer(t, nil, tt.answer)
			c := ts.client()
			c.MinBackoff, c.MaxBackoff, c.MaxAttempts = tt.min, tt.max, 100
			ctx, cancel := context.WithTimeout(context.Background(), tt.deadline)
			defer cancel()
			start := time.Now()
			_, err := c.ClientCredentials(ctx, testClientID, testSecret, ScopeRotation)
			if el := time.Since(start); el > tt.mustReturn {
				t.Errorf("ClientCredentials() returned after %v, want within %v", el, tt.mustReturn)
			}
			if !errors.Is(err, ErrServer) {
				t.Errorf("ClientCredentials() error = %v, want ErrServer", err)
			}
			var e *Error
			if !errors.As(err, &e) || e.StatusCode != tt.wantStatus {
				t.Errorf("ClientCredentials() error = %v, want *Error with status %d", err, tt.wantStatus)
			}
			if n := ts.calls.Load(); n < tt.minimumCall || n > tt.maxCalls {
				t.Errorf("calls = %d, want between %d and %d", n, tt.minimumCall, tt.maxCalls)
			}
		})
	}
}

func TestTransportErrorRetried(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	u := srv.URL + tokenPath
	srv.Close() // nothing listens any more
	c := NewClient(u, http.DefaultClient)
	c.MinBackoff, c.MaxBackoff, c.MaxAttempts = time.Millisecond, time.Millisecond, 3
	_, err := c.ClientCredentials(context.Background(), testClientID, testSecret, ScopeRotation)
	if !errors.Is(err, ErrServer) {
		t.Errorf("ClientCredentials() error = %v, want ErrServer", err)
	}
	if strings.Contains(err.Error(), testSecret.Reveal()) {
		t.Errorf("error %q contains the client secret", err)
	}
}

func TestMalformedSuccess(t *testing.T) {
	tests := []struct {
		name string
		body string
	}{
		{"invalid JSON", `{"access_token":"` + testAccessToken},
		{"not an object", `["` + testAccessToken + `"]`},
		{"token is a number", `{"access_token":12345678901234,"expires_in":3600}`},
		{"empty token", `{"access_token":"","expires_in":3600}`},
		{"no token", `{"token_type":"bearer","expires_in":3600}`},
		{"negative expiry", `{"access_token":"` + testAccessToken + `","expires_in":-1}`},
		{"huge expiry", `{"access_token":"` + testAccessToken + `","expires_in":9223372036854775807}`},
		{"oversized", `{"access_token":"` + testAccessToken + `","pad":"` + strings.Repeat("a", maxBodySize) + `"}`},
		{"HTML", `<html>` + testAccessToken + `</html>`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTokenServer(t, nil, answer{status: 200, body: tt.body})
			tok, err := ts.client().ClientCredentials(context.Background(), testClientID, testSecret, ScopeRotation)
			if !errors.Is(err, ErrMalformedResponse) {
				t.Fatalf("ClientCredentials() error = %v, want ErrMalformedResponse", err)
			}
			if tok != (Token{}) {
				t.Errorf("ClientCredentials() token = %#v, want zero", tok)
			}
			for _, s := range []string{testAccessToken, "12345678901234", testSecret.Reveal()} {
				if strings.Contains(err.Error(), s) {
					t.Errorf("error %q quotes the answer", err)
				}
			}
			if n := ts.calls.Load(); n != 1 {
				t.Errorf("calls = %d, want 1", n)
			}
		})
	}
}

func TestOversizedErrorBody(t *testing.T) {
	body := `{"error":"invalid_client","error_description":"` + strings.Repeat("a", maxBodySize) + `"}`
	ts := newTokenServer(t, nil, answer{status: 400, body: body})
	_, err := ts.client().ClientCredentials(context.Background(), testClientID, testSecret, ScopeRotation)
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("ClientCredentials() error = %v, want *Error", err)
	}
	if e.StatusCode != 400 || e.Code != "" || e.Description != "" {
		t.Errorf("*Error = %+v, want status 400 and nothing from the body", *e)
	}
	if want := "lwa: token request: unexpected answer (status 400)"; err.Error() != want {
		t.Errorf("Error() = %q, want %q", err.Error(), want)
	}
}
