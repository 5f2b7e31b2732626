package lwa

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spapi-lwa/secret-rotation/internal/endpoint"
)

// TestRedirectNotFollowed: the client posts through endpoint.Client, so a 3xx
// is an ErrRedirect naming the status and endpoint, the host it points at
// receives nothing (no form, no client secret), and the call is not retried.
// endpoint's tests cover every 3xx and every caller policy.
func TestRedirectNotFollowed(t *testing.T) {
	var hits atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer target.Close()
	var calls atomic.Int32
	src := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Location", target.URL+tokenPath+"?client_secret="+url.QueryEscape(testSecret.Reveal()))
		w.WriteHeader(http.StatusTemporaryRedirect)
		io.WriteString(w, `{"error":"moved","error_description":"see `+testSecret.Reveal()+`"}`)
	}))
	defer src.Close()
	follows := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return nil }}
	c := NewClient(src.URL+tokenPath, follows)
	c.MinBackoff, c.MaxBackoff = time.Millisecond, time.Millisecond
	_, err := c.ClientCredentials(context.Background(), testClientID, testSecret, ScopeRotation)
	if !errors.Is(err, endpoint.ErrRedirect) {
		t.Fatalf("ClientCredentials() error = %v, want endpoint.ErrRedirect", err)
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("redirect target received %d requests, want 0", n)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("calls = %d, want 1 (a redirect is not retried)", n)
	}
	if want := strings.TrimPrefix(src.URL, "http://") + tokenPath; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not name %q", err, want)
	}
	assertNoSecrets(t, err, nil)
}

// TestEndpointRefused: a token URL endpoint.Check refuses fails the call and
// nothing is sent; endpoint's tests cover the rule itself.
func TestEndpointRefused(t *testing.T) {
	var sent atomic.Int32
	hc := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		sent.Add(1)
		return nil, errors.New("must not be called")
	})}
	c := NewClient("http://api.amazon.com/auth/o2/token", hc)
	_, err := c.ClientCredentials(context.Background(), testClientID, testSecret, ScopeRotation)
	if !errors.Is(err, endpoint.ErrInsecure) {
		t.Errorf("ClientCredentials() error = %v, want endpoint.ErrInsecure", err)
	}
	if n := sent.Load(); n != 0 {
		t.Errorf("requests sent = %d, want 0", n)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestErrorPathsKeepSecrets drives every way a token request fails, for
// with an endpoint that echoes what it received (the form, the
// client secret, the refresh token) and hands out an access token in its
// error answers, and asserts that no returned error, in any format, and no
// log line built from it holds any of them.
func TestErrorPathsKeepSecrets(t *testing.T) {
	type serve func(w http.ResponseWriter, r *http.Request, form string)
	echo := func(status int) serve {
		return func(w http.ResponseWriter, r *http.Request, form string) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Retry-After", "0")
			w.Header().Set("X-Echo", form)
			w.WriteHeader(status)
			fmt.Fprintf(w, `{"error":%q,"error_description":%q,"access_token":%q}`, "server_error "+form, "got "+form, testAccessToken)
		}
	}
	tests := []struct {
		name     string
		serve    serve
		attempts int
		timeout  time.Duration // http.Client.Timeout; 0 none
		ctx      time.Duration // context deadline; 0 none
		want     error
	}{
		{"500 until the retries run out", echo(500), 3, 0, 0, ErrServer},
		{"502 without body until the retries run out", func(w http.ResponseWriter, r *http.Request, form string) { w.WriteHeader(502) }, 3, 0, 0, ErrServer},
		{"429 until the retries run out", echo(429), 3, 0, 0, ErrServer},
		{"503 until the deadline", echo(503), 100, 0, 300 * time.Millisecond, ErrServer},
		{"400 echoing the form", echo(400), 3, 0, 0, nil},
		{"401 plain text echo", func(w http.ResponseWriter, r *http.Request, form string) {
			w.WriteHeader(401)
			io.WriteString(w, form)
		}, 3, 0, 0, nil},
		{"200 not JSON", func(w http.ResponseWriter, r *http.Request, form string) {
			io.WriteString(w, "<html>"+form+" "+testAccessToken+"</html>")
		}, 3, 0, 0, ErrMalformedResponse},
		{"200 without access_token", func(w http.ResponseWriter, r *http.Request, form string) {
			fmt.Fprintf(w, `{"token_type":%q,"refresh_token":%q}`, form, testRefreshToken)
		}, 3, 0, 0, ErrMalformedResponse},
		{"200 oversized", func(w http.ResponseWriter, r *http.Request, form string) {
			fmt.Fprintf(w, `{"access_token":%q,"pad":%q}`, testAccessToken, strings.Repeat(form, maxBodySize/len(form)+1))
		}, 3, 0, 0, ErrMalformedResponse},
		{"500 oversized", func(w http.ResponseWriter, r *http.Request, form string) {
			w.WriteHeader(500)
			io.WriteString(w, strings.Repeat(form, maxBodySize/len(form)+1))
		}, 2, 0, 0, ErrServer},
		{"answer cut mid-body", func(w http.ResponseWriter, r *http.Request, form string) {
			w.Header().Set("Content-Length", "100000")
			w.WriteHeader(500)
			io.WriteString(w, form)
			w.(http.Flusher).Flush()
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close()
		}, 2, 0, 0, ErrServer},
		{"connection dropped", func(w http.ResponseWriter, r *http.Request, form string) {
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close()
		}, 2, 0, 0, ErrServer},
		{"client timeout", func(w http.ResponseWriter, r *http.Request, form string) {
			select {
			case <-r.Context().Done():
			case <-time.After(2 * time.Second):
			}
		}, 2, 50 * time.Millisecond, 0, ErrServer},
		{"context deadline while waiting", func(w http.ResponseWriter, r *http.Request, form string) {
			select {
			case <-r.Context().Done():
			case <-time.After(2 * time.Second):
			}
		}, 3, 0, 100 * time.Millisecond, nil},
		{"307 echoing the form", func(w http.ResponseWriter, r *http.Request, form string) {
			w.Header().Set("Location", "/again?"+form)
			w.WriteHeader(307)
			io.WriteString(w, form)
		}, 3, 0, 0, endpoint.ErrRedirect},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				calls.Add(1)
				b, _ := io.ReadAll(r.Body)
				tt.serve(w, r, string(b))
			}))
			defer srv.Close()
			hc := srv.Client()
			hc.Timeout = tt.timeout
			c := NewClient(srv.URL+tokenPath, hc)
			c.MinBackoff, c.MaxBackoff, c.MaxAttempts = time.Millisecond, 2*time.Millisecond, tt.attempts
			ctx := context.Background()
			if tt.ctx > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.ctx)
				defer cancel()
			}
			_, err := c.ClientCredentials(ctx, testClientID, testSecret, ScopeRotation)
			if err == nil {
				t.Fatal("error = nil, want one")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("error = %v, want %v", err, tt.want)
			}
			if calls.Load() == 0 {
				t.Fatal("the endpoint was never called; the test proves nothing")
			}
			form := url.Values{"client_id": {testClientID}, "client_secret": {testSecret.Reveal()}}
			assertNoSecrets(t, err, []string{form.Encode()})
		})
	}
}

// assertNoSecrets fails when err, printed with %v, %+v, %#v or %s, through
// every error it wraps, or logged by slog (JSON and text), holds the client
// secret, the refresh token, the access token, any 8-byte piece of their
// secret parts, or any of extra (request forms).
func assertNoSecrets(t *testing.T, err error, extra []string) {
	t.Helper()
	if err == nil {
		return
	}
	var outs []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
		outs = append(outs, fmt.Sprintf(verb, err))
	}
	for e := err; e != nil; e = errors.Unwrap(e) {
		outs = append(outs, e.Error())
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Error("token request failed", "error", err)
	slog.New(slog.NewTextHandler(&buf, nil)).Error("token request failed", "error", err)
	outs = append(outs, buf.String())

	var needles []string
	for _, s := range []string{testSecret.Reveal(), testRefreshToken, testAccessToken} {
		needles = append(needles, s, url.QueryEscape(s))
		// The parts after the well-known prefixes, in 8-byte pieces.
		tail := s[strings.LastIndexAny(s, ".|")+1:]
		for i := 0; i+8 <= len(tail); i++ {
			needles = append(needles, tail[i:i+8])
		}
	}
	needles = append(needles, "client_secret=", "refresh_token=")
	for _, f := range extra {
		if f != "" {
			needles = append(needles, f)
		}
	}
	for _, out := range outs {
		for _, n := range needles {
			if strings.Contains(out, n) {
				t.Errorf("error output holds %q: %s", n, out)
				return
			}
		}
	}
}
