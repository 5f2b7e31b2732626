package spapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spapi-lwa/secret-rotation/internal/endpoint"
)

// TestRedirectNotFollowed: the client posts through endpoint.Client, so a 3xx
// is an ErrRedirect naming the status and endpoint, the host it points at
// receives nothing (no x-amz-access-token), and the call is not retried.
// endpoint's tests cover every 3xx and every caller policy.
func TestRedirectNotFollowed(t *testing.T) {
	var hits atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer target.Close()
	var calls atomic.Int32
	src := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Location", target.URL+RotatePath+"?t="+testToken.Reveal())
		w.WriteHeader(http.StatusPermanentRedirect)
		io.WriteString(w, `{"errors":[{"code":"Moved","message":"see elsewhere"}]}`)
	}))
	defer src.Close()
	follows := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return nil }}
	c := NewClient(src.URL, follows)
	c.Interval, c.MinBackoff = time.Millisecond, time.Millisecond
	err := c.RotateApplicationClientSecret(context.Background(), testToken)
	if !errors.Is(err, endpoint.ErrRedirect) {
		t.Fatalf("RotateApplicationClientSecret() = %v, want endpoint.ErrRedirect", err)
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("redirect target received %d requests, want 0", n)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("calls = %d, want 1 (a redirect is not retried)", n)
	}
	if want := strings.TrimPrefix(src.URL, "http://") + RotatePath; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not name %q", err, want)
	}
	if strings.Contains(err.Error(), "Moved") {
		t.Errorf("error %q quotes the body", err)
	}
	assertNoToken(t, err)
}

// TestEndpointRefused: an endpoint endpoint.Check refuses fails the call and
// nothing is sent; endpoint's tests cover the rule itself.
func TestEndpointRefused(t *testing.T) {
	var sent atomic.Int32
	hc := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		sent.Add(1)
		return &http.Response{StatusCode: 204, Body: http.NoBody, Request: r}, nil
	})}
	c := NewClient("http://sellingpartnerapi-na.amazon.com", hc)
	err := c.RotateApplicationClientSecret(context.Background(), testToken)
	if !errors.Is(err, endpoint.ErrInsecure) {
		t.Errorf("RotateApplicationClientSecret() = %v, want endpoint.ErrInsecure", err)
	}
	if n := sent.Load(); n != 0 {
		t.Errorf("requests sent = %d, want 0", n)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestErrorPathsKeepToken drives every way the call fails with an endpoint
// that echoes the access token it received (in the body, the request id
// header, a Location) and asserts that no returned error, in any format,
// and no log line built from it holds the token.
func TestErrorPathsKeepToken(t *testing.T) {
	type serve func(w http.ResponseWriter, r *http.Request, tok string)
	echo := func(status int) serve {
		return func(w http.ResponseWriter, r *http.Request, tok string) {
			w.Header().Set("x-amzn-RequestId", "req-"+tok)
			w.Header().Set("Retry-After", "0")
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			fmt.Fprintf(w, `{"errors":[{"code":%q,"message":%q,"details":%q}]}`, "E"+tok, "token "+tok, tok)
		}
	}
	wait := func(w http.ResponseWriter, r *http.Request, tok string) {
		select {
		case <-r.Context().Done():
		case <-time.After(2 * time.Second):
		}
	}
	tests := []struct {
		name     string
		serve    []serve // in order; the last repeats
		attempts int
		timeout  time.Duration // http.Client.Timeout
		ctx      time.Duration // context deadline
		want     error
	}{
		{"500 until the retries run out", []serve{echo(500)}, 3, 0, 0, ErrUnavailable},
		{"503 without body until the retries run out", []serve{func(w http.ResponseWriter, r *http.Request, tok string) { w.WriteHeader(503) }}, 3, 0, 0, ErrUnavailable},
		{"429 until the retries run out", []serve{echo(429)}, 3, 0, 0, ErrThrottled},
		{"500 then 429 until the retries run out", []serve{echo(500), echo(429)}, 3, 0, 0, ErrOutcomeUnknown},
		{"503 until the deadline", []serve{echo(503)}, 100, 0, 300 * time.Millisecond, ErrUnavailable},
		{"400 echoing the token", []serve{echo(400)}, 3, 0, 0, nil},
		{"403 echoing the token", []serve{echo(403)}, 3, 0, 0, ErrForbidden},
		{"500 not JSON", []serve{func(w http.ResponseWriter, r *http.Request, tok string) {
			w.WriteHeader(500)
			io.WriteString(w, "<html>x-amz-access-token: "+tok+"</html>")
		}}, 2, 0, 0, ErrUnavailable},
		{"500 oversized", []serve{func(w http.ResponseWriter, r *http.Request, tok string) {
			w.WriteHeader(500)
			io.WriteString(w, `{"errors":[{"code":"X","message":"`+strings.Repeat(tok, maxBodySize/len(tok)+1)+`"}]}`)
		}}, 2, 0, 0, ErrUnavailable},
		{"200 instead of 204", []serve{func(w http.ResponseWriter, r *http.Request, tok string) {
			io.WriteString(w, `{"token":"`+tok+`"}`)
		}}, 2, 0, 0, nil},
		{"answer cut mid-body", []serve{func(w http.ResponseWriter, r *http.Request, tok string) {
			w.Header().Set("Content-Length", "100000")
			w.WriteHeader(500)
			io.WriteString(w, tok)
			w.(http.Flusher).Flush()
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close()
		}}, 2, 0, 0, ErrUnavailable},
		{"connection dropped", []serve{func(w http.ResponseWriter, r *http.Request, tok string) {
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close()
		}}, 2, 0, 0, nil},
		{"client timeout", []serve{wait}, 2, 50 * time.Millisecond, 0, nil},
		{"500 then a retry the deadline cuts", []serve{echo(500), wait}, 3, 0, 300 * time.Millisecond, ErrUnavailable},
		{"307 echoing the token", []serve{func(w http.ResponseWriter, r *http.Request, tok string) {
			w.Header().Set("Location", "/again?t="+tok)
			w.WriteHeader(307)
			io.WriteString(w, tok)
		}}, 3, 0, 0, endpoint.ErrRedirect},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n := int(calls.Add(1))
				tt.serve[min(n, len(tt.serve))-1](w, r, r.Header.Get("x-amz-access-token"))
			}))
			defer srv.Close()
			hc := srv.Client()
			hc.Timeout = tt.timeout
			c := NewClient(srv.URL, hc)
			c.Interval, c.MinBackoff, c.MaxAttempts = 5*time.Millisecond, time.Millisecond, tt.attempts
			ctx := context.Background()
			if tt.ctx > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.ctx)
				defer cancel()
			}
			err := c.RotateApplicationClientSecret(ctx, testToken)
			if err == nil {
				t.Fatal("RotateApplicationClientSecret() = nil, want an error")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("RotateApplicationClientSecret() = %v, want %v", err, tt.want)
			}
			if calls.Load() == 0 {
				t.Fatal("the endpoint was never called; the test proves nothing")
			}
			assertNoToken(t, err)
		})
	}
}

// assertNoToken fails when err, printed with %v, %+v, %#v, %s or %q,
// through every error it wraps, or logged by slog (JSON and text), holds
// the access token or any 8-byte piece of its secret part.
func assertNoToken(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	var outs []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
		outs = append(outs, fmt.Sprintf(verb, err))
	}
	var walk func(error)
	walk = func(e error) {
		if e == nil {
			return
		}
		outs = append(outs, e.Error(), fmt.Sprintf("%#v", e))
		switch u := e.(type) {
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		case interface{ Unwrap() []error }:
			for _, x := range u.Unwrap() {
				walk(x)
			}
		}
	}
	walk(err)
	var se *Error
	if errors.As(err, &se) {
		outs = append(outs, fmtAll(se))
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Error("rotate failed", "error", err)
	slog.New(slog.NewTextHandler(&buf, nil)).Error("rotate failed", "error", err)
	outs = append(outs, buf.String())
	tok := testToken.Reveal()
	needles := []string{tok, "Atza|"}
	tail := tok[strings.Index(tok, "|")+1:]
	for i := 0; i+8 <= len(tail); i++ {
		needles = append(needles, tail[i:i+8])
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
