// Package lwa is a client for the Login with Amazon (LWA) token endpoint
// (POST LWA_TOKEN_URL, form-encoded): the client_credentials grant (grantless,
// with a scope), the only one the rotation needs. Calls retry 5xx, 429 and
// transport failures with jittered exponential backoff, never waiting past the
// context's deadline. Errors carry the LWA error code, Amazon's description
// and the status, never the request form or the raw answer. The endpoint
// rules (https, no redirects) are internal/endpoint's.
//
// Secret-bearing values are of the type Secret, which every verb of fmt,
// encoding/json and log/slog prints as [redacted] when it is passed directly
// or held in an exported field. fmt does not call methods on unexported
// struct fields: a struct that keeps a secret in one must not be printed.
package lwa

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/spapi-lwa/secret-rotation/internal/endpoint"
	"github.com/spapi-lwa/secret-rotation/internal/redact"
	"github.com/spapi-lwa/secret-rotation/internal/retry"
)

// ScopeRotation is the grantless scope that rotateApplicationClientSecret requires.
const ScopeRotation = "sellingpartnerapi::client_credential:rotation"

const (
	redacted = "[redacted]"
	// maxBodySize bounds how much of an answer is read. Token answers are a few
	// hundred bytes; anything near this limit is not a token endpoint talking.
	maxBodySize = 64 << 10
	// Bounds on the error code and error_description kept in an *Error.
	maxCode        = 64
	maxDescription = 200
)

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
	ep *endpoint.Client
	// MinBackoff and MaxBackoff bound the wait between retries of 5xx and 429.
	MinBackoff, MaxBackoff time.Duration
	// MaxAttempts bounds the tries of one call (the context bounds them too).
	MaxAttempts int
}

// NewClient returns a client for tokenURL (LWA_TOKEN_URL) over a copy of hc
// (endpoint.NewClient: never follows a redirect; a URL endpoint.Check
// refuses makes every call fail and send nothing).
func NewClient(tokenURL string, hc *http.Client) *Client {
	ep := endpoint.NewClient(tokenURL, hc)
	return &Client{ep: ep, MinBackoff: 200 * time.Millisecond, MaxBackoff: 5 * time.Second, MaxAttempts: 5}
}

// ClientCredentials obtains a grantless access token for scope (for
// rotateApplicationClientSecret, ScopeRotation). A refused request returns
// an *Error that matches one of the sentinels; retries that ran out return
// an error matching ErrServer.
func (c *Client) ClientCredentials(ctx context.Context, clientID string, secret ClientSecret, scope string) (Token, error) {
	body := url.Values{
		"grant_type":    {"client_credentials"},
		"scope":         {scope},
		"client_id":     {clientID},
		"client_secret": {secret.Reveal()},
	}.Encode()
	var last error
	for n := 1; ; n++ {
		tok, a := c.once(ctx, body, []string{secret.Reveal()})
		if a.err == nil {
			return tok, nil
		}
		if ctx.Err() != nil && last != nil {
			// Cut short by the caller's context: the answer before it says
			// more than "context deadline exceeded".
			return Token{}, last
		}
		last = a.err
		if !a.retryable || n >= max(c.MaxAttempts, 1) {
			return Token{}, last
		}
		wait := max(retry.Backoff(n, c.MinBackoff, c.MaxBackoff), a.retryAfter)
		if !retry.SleepUntil(ctx, time.Now().Add(wait)) {
			return Token{}, last
		}
	}
}

// attempt is the outcome of one HTTP exchange.
type attempt struct {
	err        error
	retryable  bool
	retryAfter time.Duration // from Retry-After, 0 if absent
}

// once performs one exchange with the token endpoint. secrets are the values
// in body that must never appear in an error.
func (c *Client) once(ctx context.Context, body string, secrets []string) (Token, attempt) {
	form := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	a, err := c.ep.Post(ctx, strings.NewReader(body), form, maxBodySize)
	switch {
	case a == nil && err != nil && ctx.Err() == nil && !errors.Is(err, endpoint.ErrInsecure):
		// No answer: *url.Error names the method and URL only; the form is in the body.
		return Token{}, attempt{err: fmt.Errorf("lwa: token request: %w: %w", ErrServer, err), retryable: true}
	case err != nil:
		return Token{}, attempt{err: fmt.Errorf("lwa: token request: %w", err)}
	}
	tooLarge := len(a.Body) > maxBodySize
	if a.ReadErr != nil && !tooLarge {
		err := fmt.Errorf("lwa: token request: read answer (status %d): %w: %w", a.StatusCode, ErrServer, a.ReadErr)
		return Token{}, attempt{err: err, retryable: ctx.Err() == nil}
	}
	if a.StatusCode == http.StatusOK {
		if tooLarge {
			const msg = "lwa: token request: answer larger than %d bytes (status 200): %w"
			return Token{}, attempt{err: fmt.Errorf(msg, maxBodySize, ErrMalformedResponse)}
		}
		tok, err := parseTokenResponse(a.Body)
		if err != nil {
			return Token{}, attempt{err: fmt.Errorf("lwa: token request: %w", err)}
		}
		return tok, attempt{}
	}
	e := &Error{StatusCode: a.StatusCode}
	if !tooLarge {
		e = parseErrorResponse(a.StatusCode, a.Body, secrets)
	}
	retryable := a.StatusCode >= 500 || a.StatusCode == http.StatusTooManyRequests
	retryAfter := retry.After(a.Header.Get("Retry-After"), a.At)
	return Token{}, attempt{err: e, retryable: retryable, retryAfter: retryAfter}
}

// Error implements error. It carries the code, Amazon's description and the
// status, never the request or the raw body.
func (e *Error) Error() string {
	msg := "lwa: token request: " + cmp.Or(e.Code, "unexpected answer")
	if e.Description != "" {
		msg += ": " + e.Description
	}
	return fmt.Sprintf("%s (status %d)", msg, e.StatusCode)
}

// Unwrap returns the sentinel that matches the answer: ErrServer for 5xx and
// 429 (worth retrying later), otherwise the one matching the code, if any.
func (e *Error) Unwrap() error {
	if e.StatusCode >= 500 || e.StatusCode == http.StatusTooManyRequests {
		return ErrServer
	}
	return codeErrors[e.Code]
}

// codeErrors are the sentinels of the LWA error codes.
var codeErrors = map[string]error{
	"invalid_client":          ErrInvalidClient,
	"invalid_grant":           ErrInvalidGrant,
	"unauthorized_client":     ErrUnauthorizedClient,
	"invalid_scope":           ErrInvalidScope,
	"invalid_request":         ErrInvalidRequest,
	"server_error":            ErrServer,
	"temporarily_unavailable": ErrServer,
}

// parseTokenResponse decodes a 200 body. Its errors never quote the body: it
// holds a token (encoding/json errors can quote values, so they are dropped).
func parseTokenResponse(raw []byte) (Token, error) {
	var r struct {
		AccessToken *string `json:"access_token"`
		TokenType   string  `json:"token_type"`
		ExpiresIn   *int64  `json:"expires_in"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return Token{}, fmt.Errorf("decode answer (status 200): %w", ErrMalformedResponse)
	}
	if r.AccessToken == nil || *r.AccessToken == "" {
		return Token{}, fmt.Errorf("answer has no access_token (status 200): %w", ErrMalformedResponse)
	}
	var expires time.Duration
	if r.ExpiresIn != nil {
		if *r.ExpiresIn < 0 || *r.ExpiresIn > math.MaxInt64/int64(time.Second) {
			return Token{}, fmt.Errorf("answer has expires_in out of range (status 200): %w", ErrMalformedResponse)
		}
		expires = time.Duration(*r.ExpiresIn) * time.Second
	}
	return Token{AccessToken: AccessToken(*r.AccessToken), TokenType: r.TokenType, ExpiresIn: expires}, nil
}

// parseErrorResponse builds the *Error of a non-200 answer. A body that is
// not the expected JSON yields an *Error with the status only. The code and
// description are cleaned (printable, bounded) and dropped if they contain
// any of secrets or look like a secret.
func parseErrorResponse(status int, raw []byte, secrets []string) *Error {
	e := &Error{StatusCode: status}
	var r struct {
		Error            string `json:"error"`
		ErrorDescription string `json:"error_description"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return e
	}
	e.Code = redact.Clean(r.Error, maxCode, secrets...)
	e.Description = redact.Clean(r.ErrorDescription, maxDescription, secrets...)
	return e
}
