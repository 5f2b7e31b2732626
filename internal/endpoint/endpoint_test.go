package endpoint

import (
	"context"
	"errors"
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

// TestClientNeverFollows: the copy answers a 3xx itself; the target of the
// Location header receives nothing, and the caller's client is unchanged.
func TestClientNeverFollows(t *testing.T) {
	var hits atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer target.Close()
	for _, status := range []int{301, 302, 303, 307, 308} {
		src := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, target.URL+"/elsewhere", status)
		}))
		follows := src.Client() // follows redirects, as Go's default does
		a, err := NewClient(src.URL+"/path", follows).Post(context.Background(), strings.NewReader("body"), nil, 10)
		var re *RedirectError
		if !errors.As(err, &re) || re.StatusCode != status || re.Endpoint != strings.TrimPrefix(src.URL, "http://")+"/path" {
			t.Errorf("status %d: Post() error = %v, want a *RedirectError naming the status and endpoint", status, err)
		}
		if a == nil || a.StatusCode != status {
			t.Errorf("Post() answer = %+v, want the redirect %d itself", a, status)
		}
		if follows.CheckRedirect != nil {
			t.Errorf("NewClient() changed the caller's client")
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
