// Package endpoint holds the rules the project's HTTP clients of Login with
// Amazon and the Selling Partner API apply to the endpoints they talk to
// (docs/design.md "Security model"), and the one POST exchange they share:
//
//  1. An endpoint is an absolute https URL with a host and no user
//     information, query or fragment. Plain http is accepted only for a
//     loopback host (127.0.0.0/8, ::1, localhost), for local testing.
//  2. Redirects are never followed. A redirected request would carry its
//     credentials (the LWA form with the client secret, the SP-API access
//     token header) to whatever host the Location header names, and Go's
//     client re-sends a POST body on 307 and 308. A 3xx answer is an error
//     that names the status and the endpoint (host and path), never the
//     Location header, the query or a body.
package endpoint

import (
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

// userAgent names the project in every request, in the form SP-API asks for.
const userAgent = "spapi-lwa-secret-rotation/1.0 (Language=Go)"

var (
	// ErrRedirect is wrapped by every *RedirectError.
	ErrRedirect = errors.New("redirect not followed")
	// ErrInsecure is wrapped by the errors of Check.
	ErrInsecure = errors.New("endpoint refused")
)

// Check reports whether raw is an endpoint the clients may call (rule 1).
// Its errors name the scheme, host and path of raw at most, never the user
// information or the query.
func Check(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%w: not a URL", ErrInsecure)
	}
	name := u.Scheme + "://" + u.Host + u.EscapedPath()
	switch {
	case u.Scheme != "https" && u.Scheme != "http":
		return fmt.Errorf("%w: %s: want an https URL", ErrInsecure, name)
	case u.Host == "" || u.Hostname() == "":
		return fmt.Errorf("%w: %s: want an absolute URL with a host", ErrInsecure, name)
	case u.User != nil:
		return fmt.Errorf("%w: %s: user information in the URL is not allowed", ErrInsecure, name)
	case u.RawQuery != "" || u.ForceQuery:
		return fmt.Errorf("%w: %s: a query in the URL is not allowed", ErrInsecure, name)
	case u.Fragment != "":
		return fmt.Errorf("%w: %s: a fragment in the URL is not allowed", ErrInsecure, name)
	case u.Scheme == "http" && !loopback(u.Hostname()):
		return fmt.Errorf("%w: %s: want https (plain http is accepted only on a loopback address)", ErrInsecure, name)
	}
	return nil
}

// loopback reports whether host is localhost or an IP address in 127.0.0.0/8 or ::1.
func loopback(host string) bool {
	ip := net.ParseIP(host)
	return strings.EqualFold(host, "localhost") || ip != nil && ip.IsLoopback()
}

// Client posts to one endpoint under rules 1 and 2.
type Client struct {
	url     string
	name    string // host and path, as errors name the endpoint
	refused error  // Check(url), or nil
	hc      *http.Client
}

// NewClient returns a client for raw that uses a copy of hc
// (http.DefaultClient's settings when nil) that never follows a redirect; hc
// itself is not changed. When raw fails Check, every Post fails with that
// error and sends nothing.
func NewClient(raw string, hc *http.Client) *Client {
	c := &Client{url: raw, refused: Check(raw), hc: &http.Client{}}
	if hc != nil {
		*c.hc = *hc
	}
	c.hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	if u, err := url.Parse(raw); err == nil {
		c.name = u.Host + u.EscapedPath()
	}
	return c
}

// Answer is an HTTP answer read by Post.
type Answer struct {
	StatusCode int
	Header     http.Header
	Body       []byte    // at most limit+1 bytes
	ReadErr    error     // why reading Body failed, if it did
	At         time.Time // when the answer was read
}

// Post sends one POST of body with header, Accept: application/json and the
// project's User-Agent, and reads at most limit+1 bytes of the answer. A
// refused endpoint fails with Check's error and sends nothing; a 3xx answer
// comes back with a *RedirectError and an unread body. Other errors are the
// transport's: *url.Error names the method and URL, never a header or body.
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
		err = &RedirectError{StatusCode: resp.StatusCode, Endpoint: c.name}
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
