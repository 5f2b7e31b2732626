package endpoint

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

func TestCheck(t *testing.T) {
	tests := []struct {
		raw     string
		ok      bool
		mention string // the error names this
	}{
		{"https://api.amazon.com/auth/o2/token", true, ""},
		{"https://sellingpartnerapi-na.amazon.com", true, ""},
		{"https://sellingpartnerapi-eu.amazon.com:443/", true, ""},
		{"http://127.0.0.1:9000/auth/o2/token", true, ""},
		{"http://127.3.4.5:9000", true, ""},
		{"http://[::1]:9000", true, ""},
		{"http://localhost:9000", true, ""},
		{"http://LOCALHOST", true, ""},
		{"https://127.0.0.1:9000", true, ""},
		{"http://example.com", false, "example.com"},
		{"http://api.amazon.com/auth/o2/token", false, "want https"},
		{"http://localhost.example.com", false, "want https"},
		{"http://128.0.0.1", false, "want https"},
		{"http://10.0.0.1", false, "want https"},
		{"http://[::2]", false, "want https"},
		{"ftp://sellingpartnerapi-na.amazon.com", false, "want an https URL"},
		{"api.amazon.com/auth/o2/token", false, "want an https URL"},
		{"https://", false, "host"},
		{"https:opaque", false, "host"},
		{"", false, "want an https URL"},
		{"https://user:pa55word@api.amazon.com/auth/o2/token", false, "user information"},
		{"https://api.amazon.com/auth/o2/token?client_secret=x", false, "query"},
		{"https://api.amazon.com/auth/o2/token?", false, "query"},
		{"https://api.amazon.com/auth/o2/token#fr4gment", false, "fragment"},
		{"https://api.amazon.com/%zz", false, "not a URL"},
	}
	for _, tt := range tests {
		err := Check(tt.raw)
		if (err == nil) != tt.ok {
			t.Errorf("Check(%q) = %v, want ok %v", tt.raw, err, tt.ok)
			continue
		}
		if err == nil {
			continue
		}
		if !errors.Is(err, ErrInsecure) {
			t.Errorf("Check(%q) = %v, want it to wrap ErrInsecure", tt.raw, err)
		}
		if !strings.Contains(err.Error(), tt.mention) {
			t.Errorf("Check(%q) = %q, want it to mention %q", tt.raw, err, tt.mention)
		}
		for _, hidden := range []string{"pa55word", "client_secret", "fr4g"} {
			if strings.Contains(err.Error(), hidden) {
				t.Errorf("Check(%q) = %q, quotes %q", tt.raw, err, hidden)
			}
		}
	}
}

// TestClientNeverFollows: whatever redirect policy the caller's client has, the
// copy answers a 3xx itself; the Location's host receives nothing (no body, no
// header), and the caller's client is unchanged.
func TestClientNeverFollows(t *testing.T) {
	var hits atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer target.Close()
	followAll := func(*http.Request, []*http.Request) error { return nil }
	clients := map[string]*http.Client{"nil": nil, "default": {}, "follows every": {CheckRedirect: followAll}}
	for _, status := range []int{301, 302, 303, 307, 308} {
		src := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, target.URL+"/elsewhere?token=x", status)
		}))
		for name, hc := range clients {
			var before string
			if hc != nil {
				before = fmt.Sprintf("%p", hc.CheckRedirect)
			}
			header := map[string]string{"x-amz-access-token": "tok"}
			a, err := NewClient(src.URL+"/path", hc).Post(context.Background(), strings.NewReader("body"), header, 10)
			var re *RedirectError
			if !errors.As(err, &re) || re.StatusCode != status || re.Endpoint != strings.TrimPrefix(src.URL, "http://")+"/path" {
				t.Errorf("%d %s: Post() error = %v, want a *RedirectError naming the status and endpoint", status, name, err)
			}
			if err != nil && strings.Contains(err.Error(), strings.TrimPrefix(target.URL, "http://")) {
				t.Errorf("%d %s: Post() error = %q, names the Location", status, name, err)
			}
			if a == nil || a.StatusCode != status {
				t.Errorf("%d %s: Post() answer = %+v, want the redirect itself", status, name, a)
			}
			if hc != nil && fmt.Sprintf("%p", hc.CheckRedirect) != before {
				t.Errorf("%d %s: NewClient() changed the caller's client", status, name)
			}
		}
		src.Close()
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("redirect target received %d requests, want 0", n)
	}
	// Control: the caller's own client does follow, so the check above can fail.
	src := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+"/elsewhere", http.StatusTemporaryRedirect)
	}))
	defer src.Close()
	if resp, err := src.Client().Get(src.URL); err == nil {
		resp.Body.Close()
	}
	if hits.Load() == 0 {
		t.Fatalf("control: a following client did not reach the target; the test proves nothing")
	}
	if c := NewClient(src.URL, nil).hc; c.CheckRedirect == nil || c.Timeout != 0 {
		t.Errorf("NewClient(nil) client = %+v, want a default client that does not follow", c)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestPostRefused: Post to an endpoint Check refuses fails with its error and
// sends nothing; https and loopback http are sent.
func TestPostRefused(t *testing.T) {
	var sent atomic.Int32
	hc := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		sent.Add(1)
		return &http.Response{StatusCode: 204, Body: http.NoBody, Request: r}, nil
	})}
	refused := []string{"http://example.com/x", "http://api.amazon.com/auth/o2/token", "ftp://api.amazon.com/x",
		"https://user:pw@api.amazon.com/auth/o2/token", "https://sellingpartnerapi-na.amazon.com?x=1"}
	for _, u := range refused {
		_, err := NewClient(u, hc).Post(context.Background(), http.NoBody, nil, 10)
		if !errors.Is(err, ErrInsecure) {
			t.Errorf("Post() to %s error = %v, want ErrInsecure", u, err)
		}
	}
	if n := sent.Load(); n != 0 {
		t.Errorf("requests sent to refused endpoints = %d, want 0", n)
	}
	accepted := []string{"http://127.0.0.1:9/x", "http://localhost:9/", "http://[::1]:9", "https://api.amazon.com/auth/o2/token"}
	for _, u := range accepted {
		if _, err := NewClient(u, hc).Post(context.Background(), http.NoBody, nil, 10); err != nil {
			t.Errorf("Post() to %s error = %v, want nil", u, err)
		}
	}
	if n := sent.Load(); n != int32(len(accepted)) {
		t.Errorf("requests sent to accepted endpoints = %d, want %d", n, len(accepted))
	}
}

func TestRedirectError(t *testing.T) {
	err := error(&RedirectError{StatusCode: 307, Endpoint: "api.amazon.com/auth/o2/token"})
	if !errors.Is(err, ErrRedirect) {
		t.Errorf("errors.Is(%v, ErrRedirect) = false", err)
	}
	for _, want := range []string{"307", "api.amazon.com/auth/o2/token"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Error() = %q, want it to name %q", err, want)
		}
	}
}
