package spapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/spapi-lwa/secret-rotation/internal/endpoint"
	"github.com/spapi-lwa/secret-rotation/internal/lwa"
	"github.com/spapi-lwa/secret-rotation/internal/redact"
	"github.com/spapi-lwa/secret-rotation/internal/retry"
)

// UserAgent names the project in every request, in the form SP-API asks for.
const UserAgent = "spapi-lwa-secret-rotation/1.0 (Language=Go)"

// maxBodySize bounds how much of an error answer is read.
const maxBodySize = 64 << 10

// Bounds on what an *Error keeps from an answer.
const (
	maxErrors  = 10
	maxCode    = 64
	maxMessage = 300
	maxDetails = 300
	maxReqID   = 128
)

// attempt is the outcome of one HTTP exchange.
type attempt struct {
	err        error
	status     int           // 0 if there was no HTTP answer
	retryable  bool          // 429 or 5xx
	retryAfter time.Duration // from Retry-After, 0 if absent
	at         time.Time     // when the answer (or failure) came
}

// once performs one call of rotateApplicationClientSecret.
func (c *Client) once(ctx context.Context, token lwa.AccessToken) attempt {
	if c.refused != nil {
		return attempt{err: fmt.Errorf("spapi: rotateApplicationClientSecret: %w", c.refused), at: time.Now()}
	}
	// The operation has no parameters: no body, Content-Length 0.
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url(), http.NoBody)
	if err != nil {
		return attempt{err: fmt.Errorf("spapi: rotateApplicationClientSecret: build request: %w", err), at: time.Now()}
	}
	req.Header.Set("x-amz-access-token", token.Reveal())
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", UserAgent)
	resp, err := c.hc.Do(req)
	if err != nil {
		// *url.Error names the method and URL; the token is in a header.
		return attempt{err: fmt.Errorf("spapi: rotateApplicationClientSecret: %w", err), at: time.Now()}
	}
	defer resp.Body.Close()
	if endpoint.IsRedirect(resp.StatusCode) {
		// The client did not follow it (endpoint.Client); neither the
		// Location nor the body is quoted. Not retried: the endpoint is
		// wrong, and asking it again changes nothing.
		return attempt{err: fmt.Errorf("spapi: rotateApplicationClientSecret: %w", &endpoint.RedirectError{StatusCode: resp.StatusCode, Endpoint: c.name}), status: resp.StatusCode, at: time.Now()}
	}
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxBodySize+1))
	at := time.Now()
	if resp.StatusCode == http.StatusNoContent {
		return attempt{status: resp.StatusCode, at: at}
	}
	e := &Error{
		StatusCode: resp.StatusCode,
		RequestID:  redact.Clean(resp.Header.Get("x-amzn-RequestId"), maxReqID, token.Reveal()),
	}
	if len(raw) <= maxBodySize {
		e.Errors = parseErrorList(raw, token.Reveal())
	}
	return attempt{
		err:        e,
		status:     resp.StatusCode,
		retryable:  resp.StatusCode == http.StatusTooManyRequests || (resp.StatusCode >= 500 && resp.StatusCode <= 599),
		retryAfter: retry.After(resp.Header.Get("Retry-After"), at),
		at:         at,
	}
}

// errorList is the model's ErrorList.
type errorList struct {
	Errors []ErrorDetail `json:"errors"`
}

// parseErrorList decodes an ErrorList body. A body that is not one yields
// nil. Kept strings are printable and bounded, and dropped if they contain
// token (an answer must not smuggle the access token into a log).
func parseErrorList(raw []byte, token string) []ErrorDetail {
	var l errorList
	if err := json.Unmarshal(raw, &l); err != nil {
		return nil
	}
	var out []ErrorDetail
	for _, d := range l.Errors {
		if len(out) == maxErrors {
			break
		}
		d = ErrorDetail{
			Code:    redact.Clean(d.Code, maxCode, token),
			Message: redact.Clean(d.Message, maxMessage, token),
			Details: redact.Clean(d.Details, maxDetails, token),
		}
		if d != (ErrorDetail{}) {
			out = append(out, d)
		}
	}
	return out
}
