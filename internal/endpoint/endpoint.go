// Package endpoint holds the rules the project's HTTP clients of Login with
// Amazon and the Selling Partner API apply to the endpoints they talk to
// (docs/design.md "Security model"):
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
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// ErrRedirect is wrapped by every *RedirectError.
var ErrRedirect = errors.New("redirect not followed")

// ErrInsecure is wrapped by the errors of Check.
var ErrInsecure = errors.New("endpoint refused")

// Check reports whether raw is an endpoint the clients may call (rule 1).
// Its errors name the scheme, host and path of raw at most, never the user
// information or the query.
func Check(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%w: not a URL", ErrInsecure)
	}
	name := u.Scheme + "://" + Name(u)
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
	case u.Scheme == "http" && !Loopback(u.Hostname()):
		return fmt.Errorf("%w: %s: want https (plain http is accepted only on a loopback address)", ErrInsecure, name)
	}
	return nil
}

// Loopback reports whether host (without a port) is a loopback address:
// an IP address in 127.0.0.0/8 or ::1, or the name localhost.
func Loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Name is how errors name an endpoint: host and path, without the scheme,
// user information, query or fragment.
func Name(u *url.URL) string {
	return u.Host + u.EscapedPath()
}

// Client returns a copy of hc (http.DefaultClient's settings when hc is nil)
// that never follows a redirect: a 3xx answer comes back to the caller as it
// is, with nothing sent to the Location it names. hc itself is not changed.
func Client(hc *http.Client) *http.Client {
	var c http.Client
	if hc != nil {
		c = *hc
	}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

// IsRedirect reports whether status is a 3xx, which the clients treat as an
// error (rule 2).
func IsRedirect(status int) bool { return status >= 300 && status <= 399 }

// RedirectError is a 3xx answer, refused.
type RedirectError struct {
	StatusCode int
	Endpoint   string // host and path (Name), never the query or the Location
}

// Error implements error.
func (e *RedirectError) Error() string {
	return fmt.Sprintf("redirect answer (status %d) from %s: redirects are never followed, nothing was sent onward; set the endpoint to the final https URL", e.StatusCode, e.Endpoint)
}

// Unwrap returns ErrRedirect.
func (e *RedirectError) Unwrap() error { return ErrRedirect }
