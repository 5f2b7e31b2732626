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

// sink is a server that must receive nothing: the host a redirect points at.
type sink struct {
	srv  *httptest.Server
	hits atomic.Int32
	seen atomic.Value // string: what the last request carried
}

func newSink(t *testing.T) *sink {
	t.Helper()
	s := &sink{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		b, _ := io.ReadAll(r.Body)
		s.seen.Store(string(b) + " " + r.Header.Get("x-amz-access-token"))
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, okBody())
	}))
	t.Cleanup(s.srv.Close)
	return s
}

// followingClients are *http.Client values a caller might pass: Go's
// default policy follows up to ten redirects, and a caller may even ask
// for every redirect to be followed.
func followingClients() map[string]*http.Client {
	return map[string]*http.Client{
		"nil":           nil,
		"default":       {},
		"follows every": {CheckRedirect: func(*http.Request, []*http.Request) error { return nil }},
	}
}

// TestRedirectNotFollowed: a 3xx from the token endpoint is an error naming
// the status and the endpoint; the host it points at receives nothing (no
// form, no client secret), and the call is not retried.
func TestRedirectNotFollowed(t *testing.T) {
	for _, status := range []int{301, 302, 303, 307, 308} {
		for name, hc := range followingClients() {
			t.Run(fmt.Sprintf("%d %s", status, name), func(t *testing.T) {
				target := newSink(t)
				var calls atomic.Int32
				src := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					calls.Add(1)
					w.Header().Set("Location", target.srv.URL+tokenPath+"?client_secret="+url.QueryEscape(testSecret.Reveal()))
					w.WriteHeader(status)
					io.WriteString(w, `{"error":"moved","error_description":"see `+testSecret.Reveal()+`"}`)
				}))
				defer src.Close()
				var callerCheck func(*http.Request, []*http.Request) error
				if hc != nil {
					callerCheck = hc.CheckRedirect
				}
				c := NewClient(src.URL+tokenPath, hc)
				c.MinBackoff, c.MaxBackoff = time.Millisecond, time.Millisecond
				_, err := c.ClientCredentials(context.Background(), testClientID, testSecret, ScopeRotation)
				if !errors.Is(err, endpoint.ErrRedirect) {
					t.Fatalf("ClientCredentials() error = %v, want endpoint.ErrRedirect", err)
				}
				if n := target.hits.Load(); n != 0 {
					t.Errorf("redirect target received %d requests (%q), want 0", n, target.seen.Load())
				}
				if n := calls.Load(); n != 1 {
					t.Errorf("calls = %d, want 1 (a redirect is not retried)", n)
				}
				host := strings.TrimPrefix(src.URL, "http://")
				for _, want := range []string{fmt.Sprint(status), host + tokenPath} {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error %q does not name %q", err, want)
					}
				}
				if target := strings.TrimPrefix(target.srv.URL, "http://"); strings.Contains(err.Error(), target) {
					t.Errorf("error %q names the Location", err)
				}
				assertNoSecrets(t, err, nil)
				if hc != nil && fmt.Sprintf("%p", hc.CheckRedirect) != fmt.Sprintf("%p", callerCheck) {
					t.Errorf("NewClient changed the caller's *http.Client")
				}
			})
		}
	}
}

// TestEndpointRefused: a token URL that is neither https nor loopback http
// fails every call, and nothing is sent.
func TestEndpointRefused(t *testing.T) {
	var sent atomic.Int32
	hc := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		sent.Add(1)
		return nil, errors.New("must not be called")
	})}
	for _, u := range []string{"http://example.com/auth/o2/token", "http://api.amazon.com/auth/o2/token", "ftp://api.amazon.com/x", "https://user:pw@api.amazon.com/auth/o2/token"} {
		c := NewClient(u, hc)
		_, err := c.ClientCredentials(context.Background(), testClientID, testSecret, ScopeRotation)
		if !errors.Is(err, endpoint.ErrInsecure) {
			t.Errorf("ClientCredentials() with %s error = %v, want endpoint.ErrInsecure", u, err)
		}
		assertNoSecrets(t, err, nil)
	}
	if n := sent.Load(); n != 0 {
		t.Errorf("requests sent = %d, want 0", n)
	}
	// Loopback http is accepted (local testing), and so is https.
	for _, u := range []string{"http://127.0.0.1:9/auth/o2/token", "http://localhost:9/auth/o2/token", "http://[::1]:9/x", "https://api.amazon.com/auth/o2/token"} {
		c := NewClient(u, hc)
		c.MaxAttempts = 1
		_, err := c.ClientCredentials(context.Background(), testClientID, testSecret, ScopeRotation)
		if errors.Is(err, endpoint.ErrInsecure) {
			t.Errorf("ClientCredentials() with %s error = %v, want the endpoint accepted", u, err)
		}
	}
	if n := sent.Load(); n != 4 {
		t.Errorf("requests sent to accepted endpoints = %d, want 4", n)
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
