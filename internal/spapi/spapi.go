// Package spapi is a client for the Selling Partner API for Application
// Management (version 2023-11-30): rotateApplicationClientSecret,
// POST /applications/2023-11-30/clientSecret, which makes Amazon issue a new
// LWA client secret and deliver it as an APPLICATION_OAUTH_CLIENT_NEW_SECRET
// notification.
//
// The endpoint must be https (plain http only on a loopback address) and a
// redirect is never followed, so the access token is sent nowhere else: both
// rules are internal/endpoint's.
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

// RotatePath is the path of rotateApplicationClientSecret.
const RotatePath = "/applications/2023-11-30/clientSecret"

// Bounds on how much of an error answer is read, and on what an *Error keeps.
const (
	maxBodySize = 64 << 10
	maxErrors   = 10
	maxCode     = 64
	maxMessage  = 300
	maxDetails  = 300
	maxReqID    = 128
)

// Sentinel errors a caller acts on; an *Error wraps the one that matches it.
var (
	// ErrNotEnrolled: 400 InvalidInput, the application has no queue registered
	// for "Application Client New Secret" notifications.
	ErrNotEnrolled = errors.New("application is not enrolled for rotation notification")
	// ErrForbidden: 403, the token lacks access.
	ErrForbidden = errors.New("forbidden")
	// ErrThrottled: 429 still answered when the retries ran out.
	ErrThrottled = errors.New("throttled")
	// ErrUnavailable: 5xx still answered when the retries ran out.
	ErrUnavailable = errors.New("service unavailable")
	// ErrOutcomeUnknown: an earlier try of this call got a 5xx, so Amazon may
	// have issued a new client secret even though the last answer (a 429,
	// say) refused. The caller must wait for a delivery before asking again.
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
	ep *endpoint.Client
	// Interval is the operation's rate limit: 1/0.0167 s, about one minute.
	// A 429 is retried no sooner than this after the previous call.
	Interval time.Duration
	// MinBackoff bounds the first wait after a 5xx.
	MinBackoff time.Duration
	// MaxAttempts bounds the tries of one call (the context bounds them too).
	MaxAttempts int
}

// NewClient returns a client for base (SP_API_ENDPOINT) over a copy of hc
// (endpoint.NewClient: never follows a redirect; a URL endpoint.Check
// refuses makes every call fail and send nothing).
func NewClient(base string, hc *http.Client) *Client {
	ep := endpoint.NewClient(strings.TrimRight(base, "/")+RotatePath, hc)
	return &Client{ep: ep, Interval: 60 * time.Second, MinBackoff: time.Second, MaxAttempts: 5}
}

// RotateApplicationClientSecret asks Amazon for a new client secret. nil means 204.
//
// 429 and 5xx answers are retried, at most MaxAttempts tries in all: after a
// 429 no sooner than Interval (or Retry-After) after the answer, after a 5xx
// with exponential backoff from MinBackoff. A wait that would not end before
// the context's deadline is not started: the last answer is returned at once.
//
// A 5xx, or a retry the context cut short before its answer came, may have
// issued a secret: a later refusal, or the previous answer, then wraps
// ErrOutcomeUnknown. A transport error (no HTTP answer) is not retried for
// the same reason: the rotation protocol's cooldown handles that case.
func (c *Client) RotateApplicationClientSecret(ctx context.Context, token lwa.AccessToken) error {
	var last error
	failures5xx := 0
	cut := false
	// fail returns the last answer, marked when an earlier 5xx or a try cut
	// short left it open whether Amazon issued a secret.
	fail := func() error {
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
		if a == nil && ctx.Err() != nil && last != nil {
			// Cut short by the caller's context before an answer came: the
			// previous answer says more than "context deadline exceeded".
			cut = true
			return fail()
		}
		last = err
		retryable := a != nil && (a.StatusCode == http.StatusTooManyRequests || a.StatusCode/100 == 5)
		if !retryable || n >= max(c.MaxAttempts, 1) {
			return fail()
		}
		// A Retry-After header is the service's own word and wins.
		retryAfter := retry.After(a.Header.Get("Retry-After"), a.At)
		var wait time.Duration
		if a.StatusCode == http.StatusTooManyRequests {
			// Rate 0.0167/s, burst 1: the bucket refills in Interval, and
			// the throttled call arrived before a.At.
			wait = cmp.Or(retryAfter, c.Interval)
		} else {
			failures5xx++
			// By Interval the rate limit, not the backoff, spaces the calls.
			wait = max(retryAfter, retry.Backoff(failures5xx, c.MinBackoff, c.Interval))
		}
		if !retry.SleepUntil(ctx, a.At.Add(wait)) {
			return fail()
		}
	}
}

// once performs one call; its answer is nil when no HTTP answer came.
func (c *Client) once(ctx context.Context, token lwa.AccessToken) (*endpoint.Answer, error) {
	// The operation has no parameters: no body, Content-Length 0.
	a, err := c.ep.Post(ctx, http.NoBody, map[string]string{"x-amz-access-token": token.Reveal()}, maxBodySize)
	switch {
	case err != nil:
		// A redirect is not retried: asking the wrong endpoint again changes nothing.
		return a, fmt.Errorf("spapi: rotateApplicationClientSecret: %w", err)
	case a.StatusCode == http.StatusNoContent:
		return a, nil
	}
	e := &Error{
		StatusCode: a.StatusCode,
		RequestID:  redact.Clean(a.Header.Get("x-amzn-RequestId"), maxReqID, token.Reveal()),
	}
	if len(a.Body) <= maxBodySize {
		e.Errors = parseErrorList(a.Body, token.Reveal())
	}
	return a, e
}

// parseErrorList decodes the model's ErrorList. A body that is not one yields
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

// errorList is the model's ErrorList.
type errorList struct {
	Errors []ErrorDetail `json:"errors"`
}

// Error implements error. Every message names the status, the error codes
// and the request id, and says what to do where the answer tells it.
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

// notEnrolled reports a 400 with the code InvalidInput, the model's answer
// for an application with no queue registered for new secrets.
func (e *Error) notEnrolled() bool {
	return e.StatusCode == http.StatusBadRequest &&
		slices.ContainsFunc(e.Errors, func(d ErrorDetail) bool { return d.Code == "InvalidInput" })
}

// summary is "<status> <codes>, request <id>".
func (e *Error) summary() string {
	s := strconv.Itoa(e.StatusCode)
	var codes []string
	for _, d := range e.Errors {
		if d.Code != "" {
			codes = append(codes, d.Code)
		}
	}
	if len(codes) > 0 {
		s += " " + strings.Join(codes, ",")
	}
	if e.RequestID == "" {
		return s + ", no request id"
	}
	return s + ", request " + e.RequestID
}
