// Package spapi is a client for the Selling Partner API for Application
// Management (version 2023-11-30): rotateApplicationClientSecret,
// POST /applications/2023-11-30/clientSecret, which makes Amazon issue a new
// LWA client secret and deliver it as an APPLICATION_OAUTH_CLIENT_NEW_SECRET
// notification.
//
// The client never follows a redirect: a 3xx answer is an error naming the
// status and the endpoint (host and path), not retried, and the access
// token is sent nowhere else. The endpoint must be https (plain http only on
// a loopback address); a client built for another URL refuses every call
// without sending anything. Both rules are internal/endpoint's.
package spapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/spapi-lwa/secret-rotation/internal/endpoint"
	"github.com/spapi-lwa/secret-rotation/internal/lwa"
	"github.com/spapi-lwa/secret-rotation/internal/retry"
)

// RotatePath is the path of rotateApplicationClientSecret.
const RotatePath = "/applications/2023-11-30/clientSecret"

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
	endpoint string
	// name is the operation's URL as errors name it (host and path).
	name string
	// refused is why endpoint may not be called (endpoint.Check), or nil.
	refused error
	hc      *http.Client
	// Interval is the operation's rate limit: 1/0.0167 s, about one minute.
	// A 429 is retried no sooner than this after the previous call.
	Interval time.Duration
	// MinBackoff bounds the first wait after a 5xx.
	MinBackoff time.Duration
	// MaxAttempts bounds the tries of one call (the context bounds them too).
	MaxAttempts int
}

// NewClient returns a client for base (SP_API_ENDPOINT) that uses a copy of
// hc (http.DefaultClient when nil) that never follows redirects; hc itself
// is not changed. When base is not an endpoint the project may call
// (endpoint.Check: https, or http on a loopback address), every call fails
// with that error and sends nothing.
func NewClient(base string, hc *http.Client) *Client {
	c := &Client{endpoint: base, hc: endpoint.Client(hc), Interval: 60 * time.Second, MinBackoff: time.Second, MaxAttempts: 5}
	c.refused = endpoint.Check(base)
	if u, err := url.Parse(c.url()); err == nil {
		c.name = endpoint.Name(u)
	}
	return c
}

// url is the operation's URL.
func (c *Client) url() string { return strings.TrimRight(c.endpoint, "/") + RotatePath }

// RotateApplicationClientSecret asks Amazon for a new client secret. nil means 204.
//
// 429 and 5xx answers are retried, at most MaxAttempts tries in all: after a
// 429 the next try comes no sooner than Interval after the throttled answer
// (or later, if Retry-After says so), after a 5xx with exponential backoff
// from MinBackoff. A wait that would not end before the context's deadline is
// not started: the last answer is returned at once, so a caller near its
// Lambda deadline gets the error while it can still act on it.
//
// A call that got a 5xx and then another refusal wraps ErrOutcomeUnknown:
// the 5xx may have issued a secret. So does a call whose retry the context
// cut short before its answer came (it returns the previous answer): that
// retry may have reached Amazon and issued a secret (chaos runs under CPU
// load: a 429, then a retry that Amazon answered 204 after the deadline,
// returned as a plain 429, and the rotation asked again within the
// cooldown). A transport error (no HTTP answer) is not retried: the request
// may have reached Amazon and issued a secret, and the rotation protocol's
// cooldown, not a blind second call, is what handles that case.
func (c *Client) RotateApplicationClientSecret(ctx context.Context, token lwa.AccessToken) error {
	maxAttempts := max(c.MaxAttempts, 1)
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
		a := c.once(ctx, token)
		if a.err == nil {
			return nil
		}
		if a.status == 0 && ctx.Err() != nil && last != nil {
			// Cut short by the caller's context before an answer came:
			// the previous answer says more than "context deadline
			// exceeded", but this try may have issued a secret.
			cut = true
			return fail()
		}
		last = a.err
		if !a.retryable || n >= maxAttempts {
			return fail()
		}
		var next time.Time
		if a.status == http.StatusTooManyRequests {
			// Rate 0.0167/s, burst 1: the bucket holds one call and
			// refills in Interval. The throttled call arrived before
			// a.at, so a.at+Interval is safely after the refill. A
			// Retry-After header is the service's own word and wins,
			// shorter or longer.
			next = a.at.Add(c.Interval)
			if a.retryAfter > 0 {
				next = a.at.Add(a.retryAfter)
			}
		} else {
			failures5xx++
			// By Interval the rate limit, not the backoff, spaces the calls.
			next = a.at.Add(retry.Backoff(failures5xx, c.MinBackoff, c.Interval))
		}
		if ra := a.at.Add(a.retryAfter); ra.After(next) {
			next = ra
		}
		if !retry.SleepUntil(ctx, next) {
			return fail()
		}
	}
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
	if e.StatusCode != http.StatusBadRequest {
		return false
	}
	for _, d := range e.Errors {
		if d.Code == "InvalidInput" {
			return true
		}
	}
	return false
}

// summary is "<status> <codes>, request <id>".
func (e *Error) summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d", e.StatusCode)
	var codes []string
	for _, d := range e.Errors {
		if d.Code != "" {
			codes = append(codes, d.Code)
		}
	}
	if len(codes) > 0 {
		b.WriteString(" ")
		b.WriteString(strings.Join(codes, ","))
	}
	if e.RequestID != "" {
		b.WriteString(", request ")
		b.WriteString(e.RequestID)
	} else {
		b.WriteString(", no request id")
	}
	return b.String()
}
