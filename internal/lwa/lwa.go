// Package lwa is a client for the Login with Amazon (LWA) token endpoint
// (POST LWA_TOKEN_URL, form-encoded) used by Selling Partner API applications:
// the client_credentials grant (grantless, with a scope), the only one the
// rotation needs. Secret-bearing values are of the type Secret, which never
// prints.
//
// Every verb of fmt, encoding/json and log/slog prints them as [redacted]
// when they are passed directly or held in exported fields. fmt (and so the
// slog text handler) does not call methods on unexported struct fields: a
// struct that keeps a secret in an unexported field must not be printed.
//
// Calls retry 5xx, 429 and transport failures with jittered exponential
// backoff, never waiting past the context's deadline. Errors carry the LWA
// error code, Amazon's description and the status, never the request form
// or the raw answer.
//
// The client never follows a redirect: a 3xx answer is an error naming the
// status and the endpoint (host and path), and the form, which holds the
// client secret, is sent nowhere else. The token URL must be https (plain
// http only on a loopback address); a client built for another URL refuses
// every call without sending anything. Both rules are internal/endpoint's.
package lwa

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/spapi-lwa/secret-rotation/internal/endpoint"
)

// ScopeRotation is the grantless scope that rotateApplicationClientSecret requires.
const ScopeRotation = "sellingpartnerapi::client_credential:rotation"

const redacted = "[redacted]"

// Secret is a credential that never prints: String, GoString, Format (every
// fmt verb), LogValue and MarshalText all give [redacted]; Reveal returns the
// value. K only tells kinds of credential apart at compile time, so that an
// access token cannot be passed where a client secret is wanted.
type Secret[K any] string

type (
	clientSecret struct{}
	accessToken  struct{}
)

// ClientSecret is an LWA client secret.
type ClientSecret = Secret[clientSecret]

// AccessToken is an LWA access token.
type AccessToken = Secret[accessToken]

// Reveal returns the value itself, for the few places that must send or store it.
func (s Secret[K]) Reveal() string { return string(s) }

// String implements fmt.Stringer.
func (Secret[K]) String() string { return redacted }

// GoString implements fmt.GoStringer.
func (Secret[K]) GoString() string { return redacted }

// LogValue implements slog.LogValuer.
func (Secret[K]) LogValue() slog.Value { return slog.StringValue(redacted) }

// Format implements fmt.Formatter so every verb prints [redacted]: without
// it, a verb that does not fit a string (%d) makes fmt print the raw value.
func (Secret[K]) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, redacted) }

// MarshalText keeps the value out of encoders that fall back to text.
func (Secret[K]) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// Token is a successful token response.
type Token struct {
	AccessToken AccessToken
	TokenType   string
	ExpiresIn   time.Duration
}

// Sentinel errors for the LWA error codes a caller acts on. An *Error wraps
// the one matching its code, so errors.Is(err, ErrInvalidClient) works.
var (
	ErrInvalidClient      = errors.New("invalid_client")
	ErrInvalidGrant       = errors.New("invalid_grant")
	ErrUnauthorizedClient = errors.New("unauthorized_client")
	ErrInvalidScope       = errors.New("invalid_scope")
	ErrInvalidRequest     = errors.New("invalid_request")
	// ErrServer: the endpoint answered 5xx or 429, or could not be reached,
	// and the retries ran out (attempts, or the time left before the deadline).
	ErrServer = errors.New("server_error")
	// ErrMalformedResponse: a 200 answer that is not a usable token response
	// (not JSON, no access_token, too large).
	ErrMalformedResponse = errors.New("malformed token response")
)

// Error is an error answer of the token endpoint.
type Error struct {
	StatusCode  int
	Code        string // e.g. "invalid_client"
	Description string // error_description, never a secret
}

// Client calls the LWA token endpoint.
type Client struct {
	tokenURL string
	// name is the endpoint as errors name it (host and path).
	name string
	// refused is why tokenURL may not be called (endpoint.Check), or nil.
	refused error
	hc      *http.Client
	// MinBackoff and MaxBackoff bound the wait between retries of 5xx and 429.
	MinBackoff, MaxBackoff time.Duration
	// MaxAttempts bounds the tries of one call (the context bounds them too).
	MaxAttempts int
}

// NewClient returns a client for tokenURL (LWA_TOKEN_URL) that uses a copy
// of hc (http.DefaultClient when nil) that never follows redirects; hc
// itself is not changed. When tokenURL is not an endpoint the project may
// call (endpoint.Check: https, or http on a loopback address), every call
// fails with that error and sends nothing.
func NewClient(tokenURL string, hc *http.Client) *Client {
	c := &Client{tokenURL: tokenURL, hc: endpoint.Client(hc), MinBackoff: 200 * time.Millisecond, MaxBackoff: 5 * time.Second, MaxAttempts: 5}
	c.refused = endpoint.Check(tokenURL)
	if u, err := url.Parse(tokenURL); err == nil {
		c.name = endpoint.Name(u)
	}
	return c
}

// ClientCredentials obtains a grantless access token for scope (for
// rotateApplicationClientSecret, ScopeRotation). A refused request returns
// an *Error that matches one of the sentinels; retries that ran out return
// an error matching ErrServer.
func (c *Client) ClientCredentials(ctx context.Context, clientID string, secret ClientSecret, scope string) (Token, error) {
	form := url.Values{
		"grant_type":    {"client_credentials"},
		"scope":         {scope},
		"client_id":     {clientID},
		"client_secret": {secret.Reveal()},
	}
	return c.token(ctx, form, []string{secret.Reveal()})
}

// Error implements error. It carries the code, Amazon's description and the
// status, never the request or the raw body.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("lwa: token request: ")
	if e.Code == "" {
		b.WriteString("unexpected answer")
	} else {
		b.WriteString(e.Code)
	}
	if e.Description != "" {
		b.WriteString(": ")
		b.WriteString(e.Description)
	}
	fmt.Fprintf(&b, " (status %d)", e.StatusCode)
	return b.String()
}

// Unwrap returns the sentinel that matches the answer: ErrServer for 5xx and
// 429 (worth retrying later), otherwise the one matching the code, if any.
func (e *Error) Unwrap() error {
	if e.StatusCode >= 500 || e.StatusCode == http.StatusTooManyRequests {
		return ErrServer
	}
	switch e.Code {
	case "invalid_client":
		return ErrInvalidClient
	case "invalid_grant":
		return ErrInvalidGrant
	case "unauthorized_client":
		return ErrUnauthorizedClient
	case "invalid_scope":
		return ErrInvalidScope
	case "invalid_request":
		return ErrInvalidRequest
	case "server_error", "temporarily_unavailable":
		return ErrServer
	}
	return nil
}
