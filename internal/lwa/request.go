package lwa

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/spapi-lwa/secret-rotation/internal/endpoint"
	"github.com/spapi-lwa/secret-rotation/internal/redact"
	"github.com/spapi-lwa/secret-rotation/internal/retry"
)

// maxBodySize bounds how much of an answer is read. Token answers are a few
// hundred bytes; anything near this limit is not a token endpoint talking.
const maxBodySize = 64 << 10

// maxDescription bounds the error_description kept in an *Error.
const maxDescription = 200

// maxCode bounds the error code kept in an *Error.
const maxCode = 64

// userAgent names the project in every request.
const userAgent = "spapi-lwa-secret-rotation/1.0 (Language=Go)"

// attempt is the outcome of one HTTP exchange.
type attempt struct {
	err        error
	retryable  bool
	retryAfter time.Duration // from Retry-After, 0 if absent
}

// token runs the token request with retries. secrets are the values in form
// that must never appear in an error.
func (c *Client) token(ctx context.Context, form url.Values, secrets []string) (Token, error) {
	body := form.Encode()
	maxAttempts := max(c.MaxAttempts, 1)
	var last error
	for n := 1; ; n++ {
		tok, a := c.once(ctx, body, secrets)
		if a.err == nil {
			return tok, nil
		}
		if ctx.Err() != nil && last != nil {
			// The request was cut short by the caller's context: the
			// answer before it says more than "context deadline exceeded".
			return Token{}, last
		}
		last = a.err
		if !a.retryable || n >= maxAttempts {
			return Token{}, last
		}
		wait := max(retry.Backoff(n, c.MinBackoff, c.MaxBackoff), a.retryAfter)
		if !retry.SleepUntil(ctx, time.Now().Add(wait)) {
			return Token{}, last
		}
	}
}

// once performs one exchange with the token endpoint.
func (c *Client) once(ctx context.Context, body string, secrets []string) (Token, attempt) {
	if c.refused != nil {
		return Token{}, attempt{err: fmt.Errorf("lwa: token request: %w", c.refused)}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.tokenURL, strings.NewReader(body))
	if err != nil {
		return Token{}, attempt{err: fmt.Errorf("lwa: token request: build request: %w", err)}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)
	resp, err := c.hc.Do(req)
	if err != nil {
		// *url.Error names the method and URL only; the form is in the body.
		if ctx.Err() != nil {
			return Token{}, attempt{err: fmt.Errorf("lwa: token request: %w", err)}
		}
		return Token{}, attempt{err: fmt.Errorf("lwa: token request: %w: %w", ErrServer, err), retryable: true}
	}
	defer resp.Body.Close()
	if endpoint.IsRedirect(resp.StatusCode) {
		// The client did not follow it (endpoint.Client); neither the
		// Location nor the body is quoted.
		return Token{}, attempt{err: fmt.Errorf("lwa: token request: %w", &endpoint.RedirectError{StatusCode: resp.StatusCode, Endpoint: c.name})}
	}
	raw, readErr := io.ReadAll(io.LimitReader(resp.Body, maxBodySize+1))
	tooLarge := len(raw) > maxBodySize
	if readErr != nil && !tooLarge {
		return Token{}, attempt{err: fmt.Errorf("lwa: token request: read answer (status %d): %w: %w", resp.StatusCode, ErrServer, readErr), retryable: ctx.Err() == nil}
	}

	if resp.StatusCode == http.StatusOK {
		if tooLarge {
			return Token{}, attempt{err: fmt.Errorf("lwa: token request: answer larger than %d bytes (status 200): %w", maxBodySize, ErrMalformedResponse)}
		}
		tok, err := parseTokenResponse(raw)
		if err != nil {
			return Token{}, attempt{err: fmt.Errorf("lwa: token request: %w", err)}
		}
		return tok, attempt{}
	}

	var e *Error
	if tooLarge {
		e = &Error{StatusCode: resp.StatusCode}
	} else {
		e = parseErrorResponse(resp.StatusCode, raw, secrets)
	}
	retryable := resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests
	return Token{}, attempt{err: e, retryable: retryable, retryAfter: retry.After(resp.Header.Get("Retry-After"), time.Now())}
}

// tokenResponse is the JSON body of a successful token answer.
// refresh_token, sent back by the refresh_token grant, is not kept.
type tokenResponse struct {
	AccessToken *string `json:"access_token"`
	TokenType   string  `json:"token_type"`
	ExpiresIn   *int64  `json:"expires_in"`
}

// parseTokenResponse decodes a 200 body. Its errors never quote the body: it
// holds a token (encoding/json errors can quote values, so they are dropped).
func parseTokenResponse(raw []byte) (Token, error) {
	var r tokenResponse
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

// errorResponse is the JSON body of an error answer.
type errorResponse struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
}

// parseErrorResponse builds the *Error of a non-200 answer. A body that is
// not the expected JSON yields an *Error with the status only. The code and
// description are cleaned (printable, bounded) and dropped if they contain
// any of secrets or look like a secret.
func parseErrorResponse(status int, raw []byte, secrets []string) *Error {
	e := &Error{StatusCode: status}
	var r errorResponse
	if err := json.Unmarshal(raw, &r); err != nil {
		return e
	}
	e.Code = redact.Clean(r.Error, maxCode, secrets...)
	e.Description = redact.Clean(r.ErrorDescription, maxDescription, secrets...)
	return e
}
