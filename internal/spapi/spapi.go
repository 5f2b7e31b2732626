// Package spapi is a client for SP-API Application Management 2023-11-30
// rotateApplicationClientSecret, which makes Amazon issue a new LWA client
// secret and deliver it as an APPLICATION_OAUTH_CLIENT_NEW_SECRET notification.
package spapi

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spapi-lwa/secret-rotation/internal/endpoint"
	"github.com/spapi-lwa/secret-rotation/internal/lwa"
	"github.com/spapi-lwa/secret-rotation/internal/redact"
	"github.com/spapi-lwa/secret-rotation/internal/retry"
)

const (
	// RotatePath is the path of rotateApplicationClientSecret.
	RotatePath = "/applications/2023-11-30/clientSecret"
	// Bounds on how much of an error answer is read, and on what an *Error keeps.
	maxBodySize, maxErrors                    = 64 << 10, 10
	maxCode, maxMessage, maxDetails, maxReqID = 64, 300, 300, 128
)

// Sentinel errors a caller acts on; an *Error wraps the one that matches it.
var (
	// ErrNotEnrolled: 400 InvalidInput, no queue registered for new-secret notifications.
	ErrNotEnrolled = errors.New("application is not enrolled for rotation notification")
	ErrForbidden   = errors.New("forbidden")           // 403
	ErrThrottled   = errors.New("throttled")           // 429 when the retries ran out
	ErrUnavailable = errors.New("service unavailable") // 5xx when the retries ran out
	// ErrOutcomeUnknown: an earlier try got a 5xx, so Amazon may have issued a
	// secret; the caller must wait for a delivery before asking again.
	ErrOutcomeUnknown = errors.New("an earlier attempt may have issued a new client secret")
)

// ErrorDetail is one entry of the model's ErrorList.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Details string `json:"details,omitempty"`
}

// Error is an unsuccessful answer of the operation.
type Error struct {
	StatusCode int
	Errors     []ErrorDetail
	RequestID  string // x-amzn-RequestId
}

// Client calls SP-API.
type Client struct {
	ep          *endpoint.Client
	Interval    time.Duration // the rate limit (0.0167/s): the wait after a 429
	MinBackoff  time.Duration // the first wait after a 5xx
	MaxAttempts int           // tries of one call
}

// NewClient returns a client for base (SP_API_ENDPOINT) through endpoint.NewClient.
func NewClient(base string, hc *http.Client) *Client {
	ep := endpoint.NewClient(strings.TrimRight(base, "/")+RotatePath, hc)
	return &Client{ep: ep, Interval: 60 * time.Second, MinBackoff: time.Second, MaxAttempts: 5}
}

// RotateApplicationClientSecret asks Amazon for a new client secret (nil: 204),
// retrying 429 and 5xx; after a 5xx or a try cut short, a refusal wraps ErrOutcomeUnknown.
func (c *Client) RotateApplicationClientSecret(ctx context.Context, token lwa.AccessToken) error {
	var last error
	failures5xx := 0
	// fail marks last when an earlier 5xx or a try cut short may have issued a secret.
	fail := func(cut bool) error {
		if (failures5xx > 0 || cut) && !errors.Is(last, ErrUnavailable) {
			return fmt.Errorf("%w (%w)", last, ErrOutcomeUnknown)
		}
		return last
	}
	for n := 1; ; n++ {
		a, err := c.once(ctx, token)
		if err == nil {
			return nil
		}
		if a == nil && ctx.Err() != nil && last != nil { // the answer before says more
			return fail(true)
		}
		last = err
		// No answer (a transport error) is not retried: the rotation's cooldown handles it.
		retryable := a != nil && (a.StatusCode == http.StatusTooManyRequests || a.StatusCode/100 == 5)
		if !retryable || n >= max(c.MaxAttempts, 1) {
			return fail(false)
		}
		retryAfter := retry.After(a.Header.Get("Retry-After"), a.At)
		// 429: burst 1, so the bucket refills in Interval from before a.At.
		wait := cmp.Or(retryAfter, c.Interval)
		if a.StatusCode != http.StatusTooManyRequests {
			failures5xx++
			// By Interval the rate limit, not the backoff, spaces the calls.
			wait = max(retryAfter, retry.Backoff(failures5xx, c.MinBackoff, c.Interval))
		}
		if !retry.SleepUntil(ctx, a.At.Add(wait)) {
			return fail(false)
		}
	}
}

// once performs one call; its answer is nil when none came.
func (c *Client) once(ctx context.Context, token lwa.AccessToken) (*endpoint.Answer, error) {
	a, err := c.ep.Post(ctx, http.NoBody, map[string]string{"x-amz-access-token": token.Reveal()}, maxBodySize)
	switch {
	case err != nil:
		return a, fmt.Errorf("spapi: rotateApplicationClientSecret: %w", err)
	case a.StatusCode == http.StatusNoContent:
		return a, nil
	}
	return a, &Error{
		StatusCode: a.StatusCode,
		Errors:     parseErrorList(a.Body, token.Reveal()),
		RequestID:  redact.Clean(a.Header.Get("x-amzn-RequestId"), maxReqID, token.Reveal()),
	}
}

// parseErrorList decodes the model's ErrorList (nil when the body is too large or not one).
func parseErrorList(raw []byte, token string) []ErrorDetail {
	var l struct {
		Errors []ErrorDetail `json:"errors"`
	}
	if len(raw) > maxBodySize || json.Unmarshal(raw, &l) != nil {
		return nil
	}
	var out []ErrorDetail
	for _, d := range l.Errors {
		d = ErrorDetail{
			Code:    redact.Clean(d.Code, maxCode, token),
			Message: redact.Clean(d.Message, maxMessage, token),
			Details: redact.Clean(d.Details, maxDetails, token),
		}
		if d != (ErrorDetail{}) && len(out) < maxErrors {
			out = append(out, d)
		}
	}
	return out
}

// Error implements error: the status, codes and request id, and what to do.
func (e *Error) Error() string {
	const op = "spapi: rotateApplicationClientSecret: "
	switch {
	case e.notEnrolled():
		return op + "application is not enrolled for rotation notification (" + e.summary() + "): " +
			"register the ARN of the new-secret SQS queue (stack output NewSecretQueueArn) in the Developer Console, " +
			"Notification Preferences, row \"Application Client New Secret\", then retry the rotation"
	case e.StatusCode == http.StatusForbidden:
		return op + "forbidden (" + e.summary() + "): the LWA application may lack the role that client secret rotation needs, " +
			"or the access token is invalid or expired (it must come from the client_credentials grant with scope " +
			lwa.ScopeRotation + "); check the application in the Developer Console"
	case e.StatusCode == http.StatusTooManyRequests:
		return op + "throttled (" + e.summary() + "): the operation allows about one call a minute and the retries ran out"
	case e.StatusCode >= 500:
		return op + "service unavailable (" + e.summary() + "): SP-API failed and the retries ran out"
	}
	msg := op + "unexpected answer (" + e.summary()
	if len(e.Errors) > 0 && e.Errors[0].Message != "" {
		msg += ": " + e.Errors[0].Message
	}
	return msg + ")"
}

// Unwrap returns the sentinel that matches the answer, if any.
func (e *Error) Unwrap() error {
	switch {
	case e.notEnrolled():
		return ErrNotEnrolled
	case e.StatusCode == http.StatusForbidden:
		return ErrForbidden
	case e.StatusCode == http.StatusTooManyRequests:
		return ErrThrottled
	case e.StatusCode >= 500 && e.StatusCode <= 599:
		return ErrUnavailable
	}
	return nil
}

func (e *Error) notEnrolled() bool {
	return e.StatusCode == http.StatusBadRequest &&
		slices.ContainsFunc(e.Errors, func(d ErrorDetail) bool { return d.Code == "InvalidInput" })
}

// summary is "<status> <codes>, request <id>".
func (e *Error) summary() string {
	s, sep := strconv.Itoa(e.StatusCode), " "
	for _, d := range e.Errors {
		if d.Code != "" {
			s, sep = s+sep+d.Code, ","
		}
	}
	if e.RequestID == "" {
		return s + ", no request id"
	}
	return s + ", request " + e.RequestID
}
