// Package watchdog checks every managed secret's health without waiting for Amazon's
// notices, and alerts on Secrets Manager's rotation-failure events (docs/design.md "The
// watchdog"). It never writes a secret: its Secrets Manager interfaces have no write method.
//
//  1. A scheduled event (aws.scheduler or aws.events, "Scheduled Event") or {}: a sweep.
//  2. A CloudTrail RotationFailed, RotationAbandoned or TestRotationFailed event: ROTATION_FAILED
//     (CRITICAL), with its error text if that passes the secret-shape check. (2a) A secret
//     not managed, or gone, is logged and left alone.
//  3. Anything else is an error.
//  4. A sweep lists the managed secrets once (health.List) and reads each (health.Read).
//  5. LWA is asked once per usable secret; an unavailable LWA is logged and judges nothing.
//  6. One SECRET_AT_RISK alert per secret and reason (health.Judge).
//  7. One Embedded Metric Format record per secret whose expiry is known.
//  8. A secret not read or not alerted fails the invocation, with a count, after the others.
package watchdog

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/spapi-lwa/secret-rotation/internal/alert"
	"github.com/spapi-lwa/secret-rotation/internal/health"
	"github.com/spapi-lwa/secret-rotation/internal/lwa"
	"github.com/spapi-lwa/secret-rotation/internal/managed"
	"github.com/spapi-lwa/secret-rotation/internal/redact"
	"github.com/spapi-lwa/secret-rotation/internal/secretdoc"
)

type tokenRequester interface {
	ClientCredentials(ctx context.Context, clientID string, secret lwa.ClientSecret, scope string) (lwa.Token, error)
}

var _ tokenRequester = (*lwa.Client)(nil)

const concurrency = 8 // secrets checked at once: a check mostly waits on AWS and LWA

// Config is the watchdog's configuration.
type Config struct {
	Keys              secretdoc.Keys   // the document's client id and secret keys
	RotateFunctionARN string           // ROTATE_SECRET_FUNCTION_ARN
	StuckAfter        time.Duration    // STUCK_ROTATION_AFTER; zero means health.DefaultStuckAfter
	Metrics           io.Writer        // the EMF records; nil means os.Stdout (CloudWatch Logs)
	Now               func() time.Time // the clock; nil means time.Now
}

// Handler is the watchdog's Lambda handler.
type Handler struct {
	list    managed.SecretLister
	read    health.SecretReader
	lwa     tokenRequester
	alerts  *alert.Publisher
	logger  *slog.Logger
	cfg     Config
	metrics *log.Logger // one Write per record, serialized across the sweep's workers
}

// New returns a Handler.
func New(list managed.SecretLister, read health.SecretReader, tokens tokenRequester, alerts *alert.Publisher, logger *slog.Logger, cfg Config) *Handler {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Handler{list: list, read: read, lwa: tokens, alerts: alerts, logger: logger, cfg: cfg,
		metrics: log.New(cmp.Or(cfg.Metrics, io.Writer(os.Stdout)), "", 0)}
}

// Result is what an invocation did.
type Result struct {
	Kind    string `json:"kind"`              // "sweep" or "rotationFailure"
	Secrets int    `json:"secrets"`           // how many managed secrets were checked
	Alerts  int    `json:"alerts"`            // how many alerts were published
	Ignored bool   `json:"ignored,omitempty"` // a rotation failure of a secret not managed
}

// ErrUnknownEvent is returned for an event that is neither a schedule nor a rotation failure.
var ErrUnknownEvent = errors.New("watchdog: unknown event")

var failureEvents = map[string]bool{"RotationFailed": true, "RotationAbandoned": true, "TestRotationFailed": true}

type failureDetail struct {
	EventName           string `json:"eventName"`
	ErrorCode           string `json:"errorCode"`
	ErrorMessage        string `json:"errorMessage"`
	AdditionalEventData struct {
		SecretID string `json:"SecretId"`
	} `json:"additionalEventData"`
}

// Handle runs one invocation: a sweep, or a rotation failure's alert.
func (h *Handler) Handle(ctx context.Context, raw json.RawMessage) (Result, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil || fields == nil {
		return Result{}, fmt.Errorf("%w: not a JSON object", ErrUnknownEvent)
	}
	var ev struct {
		Source     string          `json:"source"`
		DetailType string          `json:"detail-type"`
		Detail     json.RawMessage `json:"detail"`
	}
	if err := json.Unmarshal(raw, &ev); err != nil {
		return Result{}, fmt.Errorf("%w: %v", ErrUnknownEvent, err)
	}
	switch {
	case len(fields) == 0, (ev.Source == "aws.scheduler" || ev.Source == "aws.events") && ev.DetailType == "Scheduled Event":
		// Case 1.
		return h.Sweep(ctx)
	case ev.DetailType == "AWS Service Event via CloudTrail":
		var d failureDetail
		if err := json.Unmarshal(ev.Detail, &d); err != nil {
			return Result{}, fmt.Errorf("%w: detail: %v", ErrUnknownEvent, err)
		}
		// Case 2.
		if failureEvents[d.EventName] && d.AdditionalEventData.SecretID != "" {
			return h.rotationFailed(ctx, d)
		}
		return Result{}, fmt.Errorf("%w: %s event %q without a secret id", ErrUnknownEvent, ev.DetailType, safeText(d.EventName, 64))
	}
	// Case 3.
	return Result{}, fmt.Errorf("%w: source %q, detail-type %q", ErrUnknownEvent, safeText(ev.Source, 64), safeText(ev.DetailType, 64))
}

func (h *Handler) rotationFailed(ctx context.Context, d failureDetail) (Result, error) {
	res := Result{Kind: "rotationFailure"}
	id := d.AdditionalEventData.SecretID
	desc, err := h.read.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(id)})
	var nf *types.ResourceNotFoundException
	switch {
	case errors.As(err, &nf):
		// Case 2a.
		h.logger.InfoContext(ctx, "rotation failure of a secret that no longer exists; ignored", "secretId", safeText(id, 2048), "eventName", d.EventName)
		res.Ignored = true
		return res, nil
	case err != nil:
		return res, fmt.Errorf("watchdog: describe secret %s after %s: %w", safeText(id, 2048), d.EventName, err)
	}
	arn, name := aws.ToString(desc.ARN), aws.ToString(desc.Name)
	clientID, ok := managed.TagMap(desc.Tags)[managed.TagClientID]
	if !ok {
		// Case 2a.
		h.logger.InfoContext(ctx, "rotation failure of a secret that is not managed; ignored", "secretId", arn, "eventName", d.EventName)
		res.Ignored = true
		return res, nil
	}
	clientID = safeClientID(clientID)
	code, msg, detail := strings.TrimSpace(d.ErrorCode), strings.TrimSpace(d.ErrorMessage), ""
	text := code + ": " + msg
	if code == "" || msg == "" {
		text = code + msg
	}
	if cleaned := redact.Clean(text, 500); cleaned != "" {
		detail = " Secrets Manager says: " + cleaned
	} else if text != "" {
		detail = " (The event's error text was withheld: it looked like a secret value.)"
	}
	a := alert.Alert{
		Event: alert.EventRotationFailed, Severity: alert.SeverityCritical, Action: alert.ActionManual,
		ClientID: clientID, SecretARN: arn,
		Message: fmt.Sprintf("Secrets Manager reports %s for secret %s.%s", d.EventName, name, detail),
		Did:     "The watchdog received Secrets Manager's rotation-failure event; it changed nothing.",
		ToDo: fmt.Sprintf("Find the failing step in the rotation function's log (%s), fix its cause, then retry: aws secretsmanager rotate-secret --secret-id %s",
			health.LogsCommand(h.cfg.RotateFunctionARN), arn),
	}
	if err := h.alerts.Publish(ctx, a); err != nil {
		return res, fmt.Errorf("watchdog: alert %s of %s: %w", d.EventName, arn, err)
	}
	res.Alerts = 1
	h.logger.InfoContext(ctx, "rotation failure alerted", "secretArn", arn, "clientId", clientID, "eventName", d.EventName)
	return res, nil
}

// Sweep checks every managed secret (cases 4 to 8).
func (h *Handler) Sweep(ctx context.Context) (Result, error) {
	res := Result{Kind: "sweep"}
	now := h.cfg.Now()
	listed, err := health.List(ctx, h.list)
	if err != nil {
		return res, fmt.Errorf("watchdog: sweep: %w", err)
	}
	var alerts, unreadable, unpublished atomic.Int64
	sem := make(chan struct{}, concurrency)
	var wg sync.WaitGroup
	for _, l := range listed {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			s, err := h.check(ctx, l)
			if err != nil {
				unreadable.Add(1)
				h.logger.ErrorContext(ctx, "secret could not be checked", "secretArn", l.ARN, "clientId", safeClientID(l.ClientID), "error", err)
				return
			}
			h.report(ctx, s, now, &alerts, &unpublished)
		})
	}
	wg.Wait()
	res.Secrets, res.Alerts = len(listed), int(alerts.Load())
	bad, lost := unreadable.Load(), unpublished.Load()
	h.logger.InfoContext(ctx, "sweep done", "secrets", res.Secrets, "alerts", res.Alerts, "unreadable", bad, "unpublished", lost)
	if bad > 0 || lost > 0 {
		return res, fmt.Errorf("watchdog: sweep: %d of %d secrets could not be checked, %d alerts could not be published", bad, len(listed), lost)
	}
	return res, nil
}

func (h *Handler) check(ctx context.Context, l health.Listed) (health.Secret, error) {
	s, doc, err := health.Read(ctx, h.read, l.ARN, h.cfg.Keys)
	if err != nil {
		return s, err
	}
	s.TaggedSecrets = l.TaggedSecrets
	if doc != nil {
		_, err := h.lwa.ClientCredentials(ctx, doc.ClientID(), doc.ClientSecret(), lwa.ScopeRotation)
		switch {
		case err == nil:
			s.Credentials = aws.Bool(true)
		case errors.Is(err, lwa.ErrInvalidClient):
			s.Credentials = aws.Bool(false)
		default:
			// Case 5: LWA could not say; nothing is judged.
			h.logger.WarnContext(ctx, "LWA did not judge the current credentials", "secretArn", s.ARN, "clientId", safeClientID(s.ClientID), "error", err)
		}
	}
	s.ClientID = safeClientID(s.ClientID)
	return s, nil
}

func (h *Handler) report(ctx context.Context, s health.Secret, now time.Time, published, unpublished *atomic.Int64) {
	days, known := health.DaysLeft(now, s.ExpiresAt)
	if known {
		id, _ := json.Marshal(s.ClientID) // a string always marshals
		h.metrics.Printf(emfRecord, now.UnixMilli(), id, days)
	}
	findings := health.Judge(s, now, health.Config{RotateFunctionARN: h.cfg.RotateFunctionARN, StuckAfter: h.cfg.StuckAfter})
	reasons := make([]string, 0, len(findings))
	for _, f := range findings {
		reasons = append(reasons, f.Reason)
		a := alert.Alert{
			Event: alert.EventSecretAtRisk, Severity: f.Severity, Action: alert.ActionManual, Reason: f.Reason,
			ClientID: s.ClientID, SecretARN: s.ARN, Message: f.Message, ToDo: f.Fix,
			Did: "The watchdog's daily check found this; it changed nothing.",
		}
		if known {
			a.ExpiresAt, a.DaysLeft = s.ExpiresAt, &days
		}
		if err := h.alerts.Publish(ctx, a); err != nil {
			unpublished.Add(1)
			h.logger.ErrorContext(ctx, "alert could not be published", "secretArn", s.ARN, "reason", f.Reason, "error", err)
			continue
		}
		published.Add(1)
	}
	attrs := []any{"secretArn", s.ARN, "clientId", s.ClientID, "reasons", reasons}
	if known {
		attrs = append(attrs, "daysLeft", days)
	}
	h.logger.InfoContext(ctx, "secret checked", attrs...)
}

// emfRecord is one secret's DaysUntilExpiry in Embedded Metric Format. The dimension set []
// is the fleet's series, which the template alarms on.
const emfRecord = `{"_aws":{"Timestamp":%d,"CloudWatchMetrics":[{"Namespace":"SpApiLwaRotation",` +
	`"Dimensions":[["ClientId"],[]],"Metrics":[{"Name":"DaysUntilExpiry","Unit":"None"}]}]},` +
	`"ClientId":%s,"DaysUntilExpiry":%d}`

// clientIDPattern is a client id's shape; the length is checked apart, as a bounded
// repetition such as {0,254} compiles into one instruction per repeat (cold start time).
var clientIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

const maxClientIDLen, invalidClientID = 255, "invalid-client-id-tag"

// safeClientID is id, or invalidClientID when id is not shaped like a client id or could be a secret.
func safeClientID(id string) string {
	if len(id) > maxClientIDLen || !clientIDPattern.MatchString(id) || redact.LooksSecret(id) {
		return invalidClientID
	}
	return id
}

// safeText is s fit for an error or a log field: cleaned, and cut to limit.
func safeText(s string, limit int) string {
	if c := redact.Clean(s, limit); c != "" || s == "" {
		return c
	}
	return "[withheld]"
}
