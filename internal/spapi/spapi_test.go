package spapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spapi-lwa/secret-rotation/internal/lwa"
)

const testToken = lwa.AccessToken("Atza|sp-api-test-access-token")

// model is the part of the official Swagger model the tests use.
type model struct {
	Paths map[string]map[string]struct {
		OperationID string            `json:"operationId"`
		Parameters  []json.RawMessage `json:"parameters"`
		Responses   map[string]struct {
			Description string                     `json:"description"`
			Headers     map[string]json.RawMessage `json:"headers"`
			Sandbox     *struct {
				Static []struct {
					Response json.RawMessage `json:"response"`
				} `json:"static"`
			} `json:"x-amzn-api-sandbox"`
		} `json:"responses"`
	} `json:"paths"`
}

func loadModel(t *testing.T) model {
	t.Helper()
	b, err := os.ReadFile("testdata/application_2023-11-30.json")
	if err != nil {
		t.Fatal(err)
	}
	var m model
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("decode model: %v", err)
	}
	return m
}

// answer is one canned HTTP answer of the fake SP-API.
type answer struct {
	status int
	header map[string]string
	body   string
}

// spServer is a fake SP-API that checks every request against what the
// model and SP-API require, and serves answers in order (the last repeats).
type spServer struct {
	t       *testing.T
	srv     *httptest.Server
	mu      sync.Mutex
	answers []answer
	calls   []time.Time
}

func newSPServer(t *testing.T, answers ...answer) *spServer {
	t.Helper()
	s := &spServer{t: t, answers: answers}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *spServer) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.calls = append(s.calls, time.Now())
	a := s.answers[min(len(s.calls), len(s.answers))-1]
	s.mu.Unlock()
	if r.Method != http.MethodPost {
		s.t.Errorf("method = %q, want POST", r.Method)
	}
	if r.URL.Path != RotatePath || r.URL.RawQuery != "" {
		s.t.Errorf("URL = %q, want %q", r.URL, RotatePath)
	}
	if got := r.Header.Get("x-amz-access-token"); got != testToken.Reveal() {
		s.t.Errorf("x-amz-access-token = %q, want the access token", got)
	}
	if got := r.Header.Get("Accept"); got != "application/json" {
		s.t.Errorf("Accept = %q, want application/json", got)
	}
	if got := r.Header.Get("User-Agent"); !strings.HasPrefix(got, "spapi-lwa-secret-rotation/") {
		s.t.Errorf("User-Agent = %q, want the project's name", got)
	}
	if b, _ := io.ReadAll(r.Body); len(b) != 0 || r.ContentLength != 0 {
		s.t.Errorf("request body = %q (Content-Length %d), want none", b, r.ContentLength)
	}
	for k, v := range a.header {
		w.Header().Set(k, v)
	}
	if a.body != "" {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(a.status)
	io.WriteString(w, a.body)
}

func (s *spServer) callTimes() []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

func (s *spServer) client() *Client {
	c := NewClient(s.srv.URL, s.srv.Client())
	c.Interval, c.MinBackoff = 50*time.Millisecond, 5*time.Millisecond
	return c
}

func TestModelOperation(t *testing.T) {
	m := loadModel(t)
	op, ok := m.Paths[RotatePath]["post"]
	if !ok {
		t.Fatalf("model has no POST %s", RotatePath)
	}
	if op.OperationID != "rotateApplicationClientSecret" {
		t.Errorf("operationId = %q, want rotateApplicationClientSecret", op.OperationID)
	}
	if len(op.Parameters) != 0 {
		t.Errorf("model lists %d parameters, the client sends none", len(op.Parameters))
	}
	if _, ok := op.Responses["204"]; !ok {
		t.Errorf("model has no 204 response, the client's success")
	}
}

// TestModelResponses serves every response of the model (its sandbox
// example where it has one) and checks how the client maps it.
func TestModelResponses(t *testing.T) {
	// want is keyed by status; every status of the model must be here.
	want := map[int]struct {
		code     string // used when the model has no example
		sentinel error
		phrase   string // the message must say this
	}{
		204: {},
		400: {"", ErrNotEnrolled, `register the ARN of the new-secret SQS queue (stack output NewSecretQueueArn) in the Developer Console, Notification Preferences, row "Application Client New Secret", then retry the rotation`},
		403: {"Unauthorized", ErrForbidden, "may lack the role"},
		404: {"NotFound", nil, "unexpected answer"},
		413: {"RequestEntityTooLarge", nil, "unexpected answer"},
		415: {"UnsupportedMediaType", nil, "unexpected answer"},
		429: {"QuotaExceeded", ErrThrottled, "throttled"},
		500: {"InternalFailure", ErrUnavailable, "service unavailable"},
		503: {"ServiceUnavailable", ErrUnavailable, "service unavailable"},
	}
	sentinels := []error{ErrNotEnrolled, ErrForbidden, ErrThrottled, ErrUnavailable}

	responses := loadModel(t).Paths[RotatePath]["post"].Responses
	if len(responses) != len(want) {
		t.Errorf("model has %d responses, test expects %d", len(responses), len(want))
	}
	for key, resp := range responses {
		status, err := strconv.Atoi(key)
		if err != nil {
			t.Fatalf("model response %q is not a status", key)
		}
		w, ok := want[status]
		if !ok {
			t.Errorf("model response %d has no expectation in the test", status)
			continue
		}
		t.Run(key, func(t *testing.T) {
			const requestID = "b2d5f5a1-0f3a-4c3b-9a3e-1d2c3b4a5e6f"
			header := map[string]string{}
			if _, ok := resp.Headers["x-amzn-RequestId"]; ok {
				header["x-amzn-RequestId"] = requestID
			}
			if _, ok := resp.Headers["x-amzn-RateLimit-Limit"]; ok {
				header["x-amzn-RateLimit-Limit"] = "0.0167"
			}
			var body string
			var wantCodes []string
			switch {
			case status == 204:
			case resp.Sandbox != nil && len(resp.Sandbox.Static) > 0:
				body = string(resp.Sandbox.Static[0].Response)
				var l errorList
				if err := json.Unmarshal(resp.Sandbox.Static[0].Response, &l); err != nil {
					t.Fatalf("decode sandbox example: %v", err)
				}
				for _, d := range l.Errors {
					wantCodes = append(wantCodes, d.Code)
				}
			default:
				b, _ := json.Marshal(errorList{Errors: []ErrorDetail{{Code: w.code, Message: resp.Description}}})
				body = string(b)
				wantCodes = []string{w.code}
			}
			s := newSPServer(t, answer{status, header, body})
			c := s.client()
			c.MaxAttempts = 1
			err := c.RotateApplicationClientSecret(context.Background(), testToken)
			if n := len(s.callTimes()); n != 1 {
				t.Errorf("calls = %d, want 1", n)
			}
			if status == 204 {
				if err != nil {
					t.Errorf("RotateApplicationClientSecret() = %v, want nil", err)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("RotateApplicationClientSecret() = %v, want *Error", err)
			}
			if e.StatusCode != status || e.RequestID != requestID {
				t.Errorf("*Error = %+v, want status %d, request id %q", *e, status, requestID)
			}
			var codes []string
			for _, d := range e.Errors {
				codes = append(codes, d.Code)
			}
			if !slices.Equal(codes, wantCodes) {
				t.Errorf("codes = %q, want %q", codes, wantCodes)
			}
			for _, s := range sentinels {
				if got, want := errors.Is(err, s), s == w.sentinel; got != want {
					t.Errorf("errors.Is(err, %v) = %v, want %v", s, got, want)
				}
			}
			msg := err.Error()
			for _, part := range append([]string{"spapi: rotateApplicationClientSecret: ", strconv.Itoa(status), "request " + requestID, w.phrase}, wantCodes...) {
				if !strings.Contains(msg, part) {
					t.Errorf("Error() = %q, want it to contain %q", msg, part)
				}
			}
			if strings.Contains(msg, testToken.Reveal()) {
				t.Errorf("Error() = %q contains the access token", msg)
			}
		})
	}
}

func TestNotEnrolledMessage(t *testing.T) {
	e := &Error{StatusCode: 400, RequestID: "req-1", Errors: []ErrorDetail{{Code: "InvalidInput", Message: "Application is not enrolled for rotation notification."}}}
	want := `spapi: rotateApplicationClientSecret: application is not enrolled for rotation notification (400 InvalidInput, request req-1): ` +
		`register the ARN of the new-secret SQS queue (stack output NewSecretQueueArn) in the Developer Console, ` +
		`Notification Preferences, row "Application Client New Secret", then retry the rotation`
	if got := e.Error(); got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	other := &Error{StatusCode: 400, Errors: []ErrorDetail{{Code: "InvalidParameter", Message: "bad"}}}
	if errors.Is(other, ErrNotEnrolled) {
		t.Errorf("errors.Is(400 InvalidParameter, ErrNotEnrolled) = true, want false")
	}
	if want := "spapi: rotateApplicationClientSecret: unexpected answer (400 InvalidParameter, no request id: bad)"; other.Error() != want {
		t.Errorf("Error() = %q, want %q", other.Error(), want)
	}
}

func TestRetries(t *testing.T) {
	const id = "req-retry"
	hdr := map[string]string{"x-amzn-RequestId": id}
	throttled := answer{429, hdr, `{"errors":[{"code":"QuotaExceeded","message":"You exceeded your quota for the requested resource."}]}`}
	failed := answer{500, hdr, `{"errors":[{"code":"InternalFailure","message":"We encountered an internal error. Please try again."}]}`}
	ok := answer{204, nil, ""}
	tests := []struct {
		name      string
		answers   []answer
		attempts  int
		interval  time.Duration
		wantCalls int
		wantErr   error
		minGap    time.Duration // between consecutive calls
	}{
		{"429 then 204", []answer{throttled, ok}, 5, 200 * time.Millisecond, 2, nil, 200 * time.Millisecond},
		{"429 with Retry-After then 204", []answer{{429, map[string]string{"Retry-After": "1"}, ""}, ok}, 5, 50 * time.Millisecond, 2, nil, time.Second},
		{"500 then 204", []answer{failed, ok}, 5, time.Minute, 2, nil, 0},
		{"503 no body then 204", []answer{{503, nil, ""}, ok}, 5, time.Minute, 2, nil, 0},
		{"500 until attempts run out", []answer{failed}, 3, time.Minute, 3, ErrUnavailable, 0},
		{"429 until attempts run out", []answer{throttled}, 3, 20 * time.Millisecond, 3, ErrThrottled, 20 * time.Millisecond},
		{"500 then 429 then 204", []answer{failed, throttled, ok}, 5, 100 * time.Millisecond, 3, nil, 0},
		{"400 not retried", []answer{{400, hdr, `{"errors":[{"code":"InvalidInput","message":"not enrolled"}]}`}, ok}, 5, time.Millisecond, 1, ErrNotEnrolled, 0},
		{"403 not retried", []answer{{403, hdr, `{"errors":[{"code":"Unauthorized","message":"Access to requested resource is denied."}]}`}, ok}, 5, time.Millisecond, 1, ErrForbidden, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSPServer(t, tt.answers...)
			c := s.client()
			c.MaxAttempts, c.Interval = tt.attempts, tt.interval
			err := c.RotateApplicationClientSecret(context.Background(), testToken)
			if tt.wantErr == nil && err != nil {
				t.Errorf("RotateApplicationClientSecret() = %v, want nil", err)
			}
			if tt.wantErr != nil {
				var e *Error
				if !errors.Is(err, tt.wantErr) || !errors.As(err, &e) || e.RequestID != id {
					t.Errorf("RotateApplicationClientSecret() = %v, want %v with request id %s", err, tt.wantErr, id)
				}
			}
			calls := s.callTimes()
			if len(calls) != tt.wantCalls {
				t.Fatalf("calls = %d, want %d", len(calls), tt.wantCalls)
			}
			for i := 1; i < len(calls); i++ {
				if gap := calls[i].Sub(calls[i-1]); gap < tt.minGap {
					t.Errorf("call %d came %v after call %d, want at least %v", i+1, gap, i, tt.minGap)
				}
			}
		})
	}
}

// TestDeadline: a wait that cannot end before the context's deadline is not
// started, so the last answer comes back at once (well before the deadline);
// when retries run into the deadline, the last answer, not a context error,
// comes back as the deadline passes (a call in flight then is cut short, so
// "before the deadline" cannot be asked of those rows).
func TestDeadline(t *testing.T) {
	// deadlineGrace: how long after the deadline a call it cut short may
	// take to come back on a loaded machine.
	const deadlineGrace = 300 * time.Millisecond
	const id = "req-deadline"
	hdr := map[string]string{"x-amzn-RequestId": id}
	tests := []struct {
		name       string
		answer     answer
		interval   time.Duration
		minBackoff time.Duration
		timeout    time.Duration
		returnBy   time.Duration
		wantErr    error
		minCalls   int
		maxCalls   int
	}{
		{"429, interval longer than time left", answer{429, hdr, `{"errors":[{"code":"QuotaExceeded","message":"m"}]}`}, time.Minute, time.Millisecond, 3 * time.Second, time.Second, ErrThrottled, 1, 1},
		{"429, Retry-After longer than time left", answer{429, map[string]string{"x-amzn-RequestId": id, "Retry-After": "10"}, ""}, 10 * time.Millisecond, time.Millisecond, 3 * time.Second, time.Second, ErrThrottled, 1, 1},
		{"500, backoff longer than time left", answer{500, hdr, ""}, time.Minute, 5 * time.Second, 3 * time.Second, time.Second, ErrUnavailable, 1, 1},
		{"429 several times then deadline", answer{429, hdr, ""}, 100 * time.Millisecond, time.Millisecond, 450 * time.Millisecond, 450*time.Millisecond + deadlineGrace, ErrThrottled, 3, 5},
		{"503 several times then deadline", answer{503, hdr, ""}, 80 * time.Millisecond, 20 * time.Millisecond, 400 * time.Millisecond, 400*time.Millisecond + deadlineGrace, ErrUnavailable, 3, 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSPServer(t, tt.answer)
			c := s.client()
			c.Interval, c.MinBackoff, c.MaxAttempts = tt.interval, tt.minBackoff, 100
			ctx, cancel := context.WithTimeout(context.Background(), tt.timeout)
			defer cancel()
			start := time.Now()
			err := c.RotateApplicationClientSecret(ctx, testToken)
			if el := time.Since(start); el > tt.returnBy {
				t.Errorf("RotateApplicationClientSecret() returned after %v, want within %v", el, tt.returnBy)
			}
			var e *Error
			if !errors.Is(err, tt.wantErr) || !errors.As(err, &e) || e.RequestID != id {
				t.Errorf("RotateApplicationClientSecret() = %v, want %v with request id %s", err, tt.wantErr, id)
			}
			if n := len(s.callTimes()); n < tt.minCalls || n > tt.maxCalls {
				t.Errorf("calls = %d, want %d to %d", n, tt.minCalls, tt.maxCalls)
			}
		})
	}
}

func TestTransportErrorNotRetried(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		// Drop the connection without an answer: the outcome is unknown.
		conn, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Errorf("hijack: %v", err)
			return
		}
		conn.Close()
	}))
	defer srv.Close()
	c := NewClient(srv.URL, srv.Client())
	c.MinBackoff = time.Millisecond
	err := c.RotateApplicationClientSecret(context.Background(), testToken)
	if err == nil {
		t.Fatal("RotateApplicationClientSecret() = nil, want an error")
	}
	var e *Error
	if errors.As(err, &e) {
		t.Errorf("RotateApplicationClientSecret() = %v, want a transport error, not *Error", err)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("calls = %d, want 1", n)
	}
	if strings.Contains(err.Error(), testToken.Reveal()) {
		t.Errorf("error %q contains the access token", err)
	}
}

func TestErrorHidesToken(t *testing.T) {
	tok := testToken.Reveal()
	tests := []struct {
		name string
		body string
		id   string
	}{
		{"token in message", `{"errors":[{"code":"Unauthorized","message":"token ` + tok + ` is bad"}]}`, "r1"},
		{"token in details", `{"errors":[{"code":"Unauthorized","message":"m","details":"` + tok + `"}]}`, "r2"},
		{"token in code", `{"errors":[{"code":"` + tok + `","message":"m"}]}`, "r3"},
		{"token in request id", `{"errors":[]}`, tok},
		{"other token", `{"errors":[{"code":"Unauthorized","message":"Atza|someone-else"}]}`, "r5"},
		{"not JSON", `x-amz-access-token: ` + tok, "r6"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSPServer(t, answer{403, map[string]string{"x-amzn-RequestId": tt.id}, tt.body})
			err := s.client().RotateApplicationClientSecret(context.Background(), testToken)
			var e *Error
			if !errors.As(err, &e) || !errors.Is(err, ErrForbidden) {
				t.Fatalf("RotateApplicationClientSecret() = %v, want *Error, ErrForbidden", err)
			}
			for _, out := range []string{err.Error(), fmtAll(e)} {
				if strings.Contains(out, tok) || strings.Contains(out, "Atza|") {
					t.Errorf("error output %q contains an access token", out)
				}
			}
		})
	}
}

func fmtAll(e *Error) string {
	b, _ := json.Marshal(e)
	return string(b)
}

func TestBodyLimit(t *testing.T) {
	big := `{"errors":[{"code":"InternalFailure","message":"` + strings.Repeat("m", maxBodySize) + `"}]}`
	s := newSPServer(t, answer{500, map[string]string{"x-amzn-RequestId": "big"}, big})
	c := s.client()
	c.MaxAttempts = 1
	err := c.RotateApplicationClientSecret(context.Background(), testToken)
	var e *Error
	if !errors.As(err, &e) || e.StatusCode != 500 || len(e.Errors) != 0 || e.RequestID != "big" {
		t.Errorf("RotateApplicationClientSecret() = %v, want *Error 500 with no parsed errors and request id big", err)
	}
	if len(err.Error()) > 500 {
		t.Errorf("len(Error()) = %d, want at most 500", len(err.Error()))
	}
}

// TestRetryAfterShorterThanInterval: the service's Retry-After wins over the
// default one-minute spacing, so a 429 that says "1" is retried after a second.
func TestRetryAfterShorterThanInterval(t *testing.T) {
	s := newSPServer(t, answer{429, map[string]string{"Retry-After": "1"}, ""}, answer{204, nil, ""})
	c := s.client()
	c.Interval = time.Minute
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.RotateApplicationClientSecret(ctx, testToken); err != nil {
		t.Fatalf("RotateApplicationClientSecret() = %v, want nil after Retry-After", err)
	}
	calls := s.callTimes()
	if len(calls) != 2 {
		t.Fatalf("calls = %d, want 2", len(calls))
	}
	if gap := calls[1].Sub(calls[0]); gap < time.Second {
		t.Errorf("retry came %v after the 429, want at least the 1s Retry-After", gap)
	}
}

// TestOutcomeUnknownAfter5xx: a 5xx may have issued a secret, so a call
// whose later tries were refused says so; one refused outright does not.
func TestOutcomeUnknownAfter5xx(t *testing.T) {
	failed := answer{500, nil, `{"errors":[{"code":"InternalFailure","message":"internal"}]}`}
	throttled := answer{429, nil, `{"errors":[{"code":"QuotaExceeded","message":"quota"}]}`}
	for _, tc := range []struct {
		name        string
		answers     []answer
		wantUnknown bool
	}{
		{"500 then 429 until attempts run out", []answer{failed, throttled}, true},
		{"429 until attempts run out", []answer{throttled}, false},
		{"500 until attempts run out", []answer{failed}, false}, // ErrUnavailable says it already
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newSPServer(t, tc.answers...).client()
			c.MaxAttempts, c.Interval, c.MinBackoff = 3, time.Millisecond, time.Millisecond
			err := c.RotateApplicationClientSecret(context.Background(), testToken)
			if got := errors.Is(err, ErrOutcomeUnknown); got != tc.wantUnknown {
				t.Errorf("errors.Is(%v, ErrOutcomeUnknown) = %v, want %v", err, got, tc.wantUnknown)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Errorf("error %v is not an *Error", err)
			}
		})
	}
}

// TestOutcomeUnknownWhenRetryCut: a retry the context cuts short before its
// answer came may have reached Amazon and issued a secret. The call returns
// the previous answer (429) marked ErrOutcomeUnknown, so that the rotation
// keeps rotation-requested-at and waits for a delivery.
func TestOutcomeUnknownWhenRetryCut(t *testing.T) {
	var calls atomic.Int32
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusTooManyRequests)
			io.WriteString(w, `{"errors":[{"code":"QuotaExceeded","message":"quota"}]}`)
			return
		}
		<-release // Amazon issues the secret; its answer comes too late
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	defer close(release)
	c := NewClient(srv.URL, srv.Client())
	c.Interval, c.MinBackoff = 10*time.Millisecond, time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err := c.RotateApplicationClientSecret(ctx, testToken)
	if n := calls.Load(); n != 2 {
		t.Fatalf("calls = %d, want 2: the retry must have been in flight", n)
	}
	if !errors.Is(err, ErrThrottled) || !errors.Is(err, ErrOutcomeUnknown) {
		t.Errorf("RotateApplicationClientSecret() = %v, want ErrThrottled marked ErrOutcomeUnknown", err)
	}
}

// errorList is the model's ErrorList.
type errorList struct {
	Errors []ErrorDetail `json:"errors"`
}
