// Package endpoint holds the rules the LWA and SP-API clients apply to the
// endpoints they call, and the one POST exchange they share:
//
//  1. An endpoint is an absolute https URL with a host and no user information,
//     query or fragment; plain http only on a loopback host, for local testing.
//  2. Redirects are never followed (they would carry the credentials elsewhere):
//     a 3xx is an error naming the status and host/path, never the Location.
package endpoint

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// userAgent is in the form SP-API asks for.
const userAgent = "spapi-lwa-secret-rotation/1.0 (Language=Go)"

// Sentinel errors.
var (
	ErrRedirect = errors.New("redirect not followed") // wrapped by every *RedirectError
	ErrInsecure = errors.New("endpoint refused")      // wrapped by Check's errors
)

// Check reports whether raw is an endpoint the clients may call (rule 1); its
// errors name the scheme, host and path at most.
func Check(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%w: not a URL", ErrInsecure)
	}
	name, host := u.Scheme+"://"+u.Host+u.EscapedPath(), u.Hostname()
	switch {
	case u.Scheme != "https" && u.Scheme != "http":
		return fmt.Errorf("%w: %s: want an https URL", ErrInsecure, name)
	case host == "":
		return fmt.Errorf("%w: %s: want an absolute URL with a host", ErrInsecure, name)
	case u.User != nil:
		return fmt.Errorf("%w: %s: user information in the URL is not allowed", ErrInsecure, name)
	case u.RawQuery != "" || u.ForceQuery:
		return fmt.Errorf("%w: %s: a query in the URL is not allowed", ErrInsecure, name)
	case u.Fragment != "":
		return fmt.Errorf("%w: %s: a fragment in the URL is not allowed", ErrInsecure, name)
	case u.Scheme == "http" && !strings.EqualFold(host, "localhost") && !net.ParseIP(host).IsLoopback():
		return fmt.Errorf("%w: %s: want https (plain http is accepted only on a loopback address)", ErrInsecure, name)
	}
	return nil
}

// Client posts to one endpoint under rules 1 and 2.
type Client struct {
	url     string
	refused error // Check(url), or nil
	hc      *http.Client
}

// NewClient returns a client for raw over a copy of hc (nil: defaults) that never
// follows a redirect; if raw fails Check, every Post fails with that error.
func NewClient(raw string, hc *http.Client) *Client {
	own := *cmp.Or(hc, &http.Client{})
	own.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &Client{url: raw, refused: Check(raw), hc: &own}
}

// Answer is an HTTP answer read by Post.
type Answer struct {
	StatusCode int
	Header     http.Header
	Body       []byte    // at most limit+1 bytes
	ReadErr    error     // why reading Body failed, if it did
	At         time.Time // when the answer was read
}

// Post sends one POST and reads at most limit+1 bytes of the answer; a 3xx
// comes back with a *RedirectError and an unread body.
func (c *Client) Post(ctx context.Context, body io.Reader, header map[string]string, limit int64) (*Answer, error) {
	if c.refused != nil {
		return nil, c.refused
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, body)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	a := &Answer{StatusCode: resp.StatusCode, Header: resp.Header}
	if resp.StatusCode >= 300 && resp.StatusCode <= 399 {
		u, _ := url.Parse(c.url) // it passed Check
		err = &RedirectError{StatusCode: resp.StatusCode, Endpoint: u.Host + u.EscapedPath()}
	} else {
		a.Body, a.ReadErr = io.ReadAll(io.LimitReader(resp.Body, limit+1))
	}
	a.At = time.Now()
	return a, err
}

// RedirectError is a 3xx answer, refused.
type RedirectError struct {
	StatusCode int
	Endpoint   string // host and path, never the query or the Location
}

// Error implements error.
func (e *RedirectError) Error() string {
	return fmt.Sprintf("redirect answer (status %d) from %s: redirects are never followed, "+
		"nothing was sent onward; set the endpoint to the final https URL", e.StatusCode, e.Endpoint)
}

// Unwrap returns ErrRedirect.
func (e *RedirectError) Unwrap() error { return ErrRedirect }
