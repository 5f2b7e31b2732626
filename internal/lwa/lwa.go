// Package lwa is a client for the Login with Amazon token endpoint's grantless
// client_credentials grant; its errors carry the LWA code, description and
// status, never the form or the raw answer.
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

const (
	// ScopeRotation is the grantless scope that rotateApplicationClientSecret requires.
	ScopeRotation = "sellingpartnerapi::client_credential:rotation"
	redacted      = "[redacted]"

	maxBodySize, maxCode, maxDescription = 64 << 10, 64, 200
)

// Secret is a credential that prints as [redacted], except from an unexported struct
// field (fmt cannot call its methods there). K keeps kinds of credential apart.
type Secret[K any] string

type clientSecret struct{}
type accessToken struct{}

// ClientSecret is an LWA client secret.
type ClientSecret = Secret[clientSecret]

// AccessToken is an LWA access token.
type AccessToken = Secret[accessToken]

// Reveal returns the value, for the few places that must send or store it.
func (s Secret[K]) Reveal() string { return string(s) }

// String implements fmt.Stringer.
func (Secret[K]) String() string { return redacted }

// GoString implements fmt.GoStringer.
func (Secret[K]) GoString() string { return redacted }

// LogValue implements slog.LogValuer.
func (Secret[K]) LogValue() slog.Value { return slog.StringValue(redacted) }

// Format implements fmt.Formatter: every verb, %#v and %d included, prints [redacted].
func (Secret[K]) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, redacted) }

// MarshalText keeps the value out of encoders that fall back to text.
func (Secret[K]) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// Token is a successful token response.
type Token struct {
	AccessToken AccessToken
	TokenType   string
	ExpiresIn   time.Duration
}

// Sentinel errors; an *Error wraps the one of its LWA error code.
var (
	ErrInvalidClient = errors.New("invalid_client")
	ErrInvalidScope  = errors.New("invalid_scope")
	// ErrServer: 5xx, 429 or unreachable until the retries or the deadline ran out.
	ErrServer = errors.New("server_error")
	// ErrMalformedResponse: a 200 answer that is not a usable token response.
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
	ep                     *endpoint.Client
	MinBackoff, MaxBackoff time.Duration // between retries
	MaxAttempts            int           // tries of one call
}

// NewClient returns a client for tokenURL (LWA_TOKEN_URL) through endpoint.NewClient.
func NewClient(tokenURL string, hc *http.Client) *Client {
	ep := endpoint.NewClient(tokenURL, hc)
	return &Client{ep: ep, MinBackoff: 200 * time.Millisecond, MaxBackoff: 5 * time.Second, MaxAttempts: 5}
}

// ClientCredentials obtains a grantless access token for scope, retrying 5xx, 429 and
// transport failures within the context's deadline; a refusal is an *Error.
func (c *Client) ClientCredentials(ctx context.Context, clientID string, secret ClientSecret, scope string) (Token, error) {
	body := url.Values{"grant_type": {"client_credentials"}, "scope": {scope},
		"client_id": {clientID}, "client_secret": {secret.Reveal()}}.Encode()
	var last error
	for n := 1; ; n++ {
		tok, a := c.once(ctx, body, []string{secret.Reveal()})
		if a.err == nil {
			return tok, nil
		}
		if ctx.Err() != nil && last != nil { // the answer before says more than the context error
			return Token{}, last
		}
		last = a.err
		wait := max(retry.Backoff(n, c.MinBackoff, c.MaxBackoff), a.retryAfter)
		if !a.retryable || n >= max(c.MaxAttempts, 1) || !retry.SleepUntil(ctx, time.Now().Add(wait)) {
			return Token{}, last
		}
	}
}

type attempt struct {
	err        error
	retryable  bool
	retryAfter time.Duration
}

// once performs one exchange; secrets must never appear in its error.
func (c *Client) once(ctx context.Context, body string, secrets []string) (Token, attempt) {
	form := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	a, err := c.ep.Post(ctx, strings.NewReader(body), form, maxBodySize)
	switch {
	case a == nil && err != nil && ctx.Err() == nil && !errors.Is(err, endpoint.ErrInsecure):
		// No answer: *url.Error names the method and URL only.
		return Token{}, attempt{err: fmt.Errorf("lwa: token request: %w: %w", ErrServer, err), retryable: true}
	case err != nil:
		return Token{}, attempt{err: fmt.Errorf("lwa: token request: %w", err)}
	case a.ReadErr != nil && len(a.Body) <= maxBodySize:
		err := fmt.Errorf("lwa: token request: read answer (status %d): %w: %w", a.StatusCode, ErrServer, a.ReadErr)
		return Token{}, attempt{err: err, retryable: ctx.Err() == nil}
	case a.StatusCode == http.StatusOK && len(a.Body) > maxBodySize:
		const msg = "lwa: token request: answer larger than %d bytes (status 200): %w"
		return Token{}, attempt{err: fmt.Errorf(msg, maxBodySize, ErrMalformedResponse)}
	case a.StatusCode == http.StatusOK:
		tok, err := parseTokenResponse(a.Body)
		return tok, attempt{err: err}
	}
	e := parseErrorResponse(a.StatusCode, a.Body, secrets)
	retryable := a.StatusCode >= 500 || a.StatusCode == http.StatusTooManyRequests
	retryAfter := retry.After(a.Header.Get("Retry-After"), a.At)
	return Token{}, attempt{err: e, retryable: retryable, retryAfter: retryAfter}
}

// Error implements error.
func (e *Error) Error() string {
	msg := "lwa: token request: " + cmp.Or(e.Code, "unexpected answer")
	if e.Description != "" {
		msg += ": " + e.Description
	}
	return fmt.Sprintf("%s (status %d)", msg, e.StatusCode)
}

// Unwrap returns ErrServer for 5xx and 429, else the sentinel of the code, if any.
func (e *Error) Unwrap() error {
	if e.StatusCode >= 500 || e.StatusCode == http.StatusTooManyRequests {
		return ErrServer
	}
	return codeErrors[e.Code]
}

var codeErrors = map[string]error{
	"invalid_client":          ErrInvalidClient,
	"invalid_scope":           ErrInvalidScope,
	"server_error":            ErrServer,
	"temporarily_unavailable": ErrServer,
}

// parseTokenResponse decodes a 200 body; encoding/json's errors can quote the
// token, so they are dropped.
func parseTokenResponse(raw []byte) (Token, error) {
	const op = "lwa: token request: "
	var r struct {
		AccessToken *string `json:"access_token"`
		TokenType   string  `json:"token_type"`
		ExpiresIn   *int64  `json:"expires_in"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return Token{}, fmt.Errorf(op+"decode answer (status 200): %w", ErrMalformedResponse)
	}
	if r.AccessToken == nil || *r.AccessToken == "" {
		return Token{}, fmt.Errorf(op+"answer has no access_token (status 200): %w", ErrMalformedResponse)
	}
	expires := *cmp.Or(r.ExpiresIn, new(int64))
	if expires < 0 || expires > math.MaxInt64/int64(time.Second) {
		return Token{}, fmt.Errorf(op+"answer has expires_in out of range (status 200): %w", ErrMalformedResponse)
	}
	expiresIn := time.Duration(expires) * time.Second
	return Token{AccessToken: AccessToken(*r.AccessToken), TokenType: r.TokenType, ExpiresIn: expiresIn}, nil
}

// parseErrorResponse builds the *Error of a non-200 answer (the status only when
// the body is too large or not the expected JSON).
func parseErrorResponse(status int, raw []byte, secrets []string) *Error {
	e := &Error{StatusCode: status}
	var r struct {
		Error            string `json:"error"`
		ErrorDescription string `json:"error_description"`
	}
	if len(raw) <= maxBodySize && json.Unmarshal(raw, &r) == nil {
		e.Code = redact.Clean(r.Error, maxCode, secrets...)
		e.Description = redact.Clean(r.ErrorDescription, maxDescription, secrets...)
	}
	return e
}
