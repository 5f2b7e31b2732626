// Package expiry turns Amazon's APPLICATION_OAUTH_CLIENT_SECRET_EXPIRY
// notifications into CLIENT_SECRET_EXPIRING alerts and, when policy says so,
// starts the rotation that replaces the expiring secret (docs/design.md "The
// expiry alert", with the alerts of "Alerts").
//
// It works on secret metadata only (DescribeSecret, ListSecrets,
// RotateSecret); it cannot read a secret value, and the deployment does not
// allow it to.
//
// For each message, in batch order:
//
//  1. Parse and validate the body. A malformed body or a wrong notification
//     type fails the message (it reaches the dead-letter queue after the
//     queue's retries) with a NOTIFICATION_REJECTED alert (WARNING,
//     MANUAL_ACTION_REQUIRED), published once per message id per invocation.
//  2. daysLeft is the whole days from now to clientSecretExpiryTime, rounded
//     down; the severity follows from it (alert.SeverityForDaysLeft: CRITICAL
//     at 7 or fewer, including 0 and expired; WARNING at 30 or fewer).
//  3. Find the managed secret by the tag sp-api-lwa:client-id. None, or more
//     than one: MANUAL_ACTION_REQUIRED with the commands that fix it; the
//     message succeeds (retrying would not change anything).
//  4. The tag sp-api-lwa:client-secret-expires-at is later than the notice's
//     expiry by more than a minute: the notice is about a secret that has
//     already been replaced (Amazon keeps the old one working for 7 days and
//     warns about it). INFO, NONE.
//  5. The secret has already expired: a rotation cannot work any more
//     (asking Amazon for a new secret needs the current one).
//     MANUAL_ACTION_REQUIRED: rotate it in the Solution Provider Portal; the
//     receiver stores the new secret and a rotation adopts it.
//  6. Rotation enabled and AUTO_ROTATE_ON_EXPIRY_NOTICE true: RotateSecret.
//     ROTATION_STARTED, or ROTATION_RESUMED when Secrets Manager refuses
//     because a rotation is in progress (not an error). (6a) Any other error:
//     CRITICAL, MANUAL_ACTION_REQUIRED naming the error code and the attempt,
//     and the message fails, so SQS's redelivery retries the rotation.
//  7. Rotation enabled, AUTO_ROTATE_ON_EXPIRY_NOTICE false: the schedule is
//     left to rotate it. NONE, with the command to rotate now; but
//     MANUAL_ACTION_REQUIRED when 7 days or fewer are left, or when Secrets
//     Manager's next scheduled rotation is not before the expiry, since then
//     the schedule will not replace the secret in time.
//  8. Rotation not enabled: MANUAL_ACTION_REQUIRED with the exact commands.
//
// A failed publish fails the message, so it is retried.
package expiry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/smithy-go"

	"github.com/spapi-lwa/secret-rotation/internal/alert"
	"github.com/spapi-lwa/secret-rotation/internal/managed"
	"github.com/spapi-lwa/secret-rotation/internal/notification"
)

// secretMeta is the metadata part of Secrets Manager. It has no
// GetSecretValue on purpose: this function must not read secret values.
type secretMeta interface {
	DescribeSecret(ctx context.Context, in *secretsmanager.DescribeSecretInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error)
	ListSecrets(ctx context.Context, in *secretsmanager.ListSecretsInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.ListSecretsOutput, error)
}

// rotationStarter starts (or resumes) a Secrets Manager rotation.
type rotationStarter interface {
	RotateSecret(ctx context.Context, in *secretsmanager.RotateSecretInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.RotateSecretOutput, error)
}

// alerter publishes alerts; *alert.Publisher in production.
type alerter interface {
	Publish(ctx context.Context, a alert.Alert) error
}

var (
	_ secretMeta      = (*secretsmanager.Client)(nil)
	_ rotationStarter = (*secretsmanager.Client)(nil)
	_ alerter         = (*alert.Publisher)(nil)
)

// Config is the expiry alert's configuration.
type Config struct {
	// AutoRotate starts a rotation on an expiry notice
	// (AUTO_ROTATE_ON_EXPIRY_NOTICE).
	AutoRotate bool
	// Now is the clock for days left; nil means time.Now.
	Now func() time.Time
}

// Handler handles batches of APPLICATION_OAUTH_CLIENT_SECRET_EXPIRY messages.
type Handler struct {
	meta       secretMeta
	rotations  rotationStarter
	alerts     alerter
	logger     *slog.Logger
	autoRotate bool
	now        func() time.Time
}

// New returns a Handler. A nil logger discards logs.
func New(meta secretMeta, rotations rotationStarter, alerts alerter, logger *slog.Logger, cfg Config) *Handler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Handler{meta: meta, rotations: rotations, alerts: alerts, logger: logger, autoRotate: cfg.AutoRotate, now: cfg.Now}
}

// replacedMargin is how much later than the notice's expiry the recorded
// expiry of AWSCURRENT must be for the notice to be about a replaced secret;
// it absorbs rounding of the two times.
const replacedMargin = time.Minute

// errRejected is wrapped by the error of a rejected message.
var errRejected = errors.New("notification rejected")

// Handle handles the batch's messages one by one, in order, and reports the
// failed ones in BatchItemFailures. It returns an error only when no message
// could be attempted.
func (h *Handler) Handle(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	resp := events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{}}
	if err := ctx.Err(); err != nil {
		return resp, fmt.Errorf("expiry: handle batch of %d messages: %w", len(ev.Records), err)
	}
	rejected := make(map[string]bool)
	for _, sm := range ev.Records {
		m := &message{messageID: sm.MessageId}
		err := h.process(ctx, rejected, sm, m)
		attrs := m.attrs()
		switch {
		case err == nil:
			h.logger.LogAttrs(ctx, slog.LevelInfo, "expiry notice handled", append(attrs, slog.String("outcome", m.outcome))...)
		case errors.Is(err, errRejected):
			h.logger.LogAttrs(ctx, slog.LevelWarn, "expiry notice rejected", append(attrs, slog.String("outcome", "rejected"), slog.String("error", err.Error()))...)
		default:
			h.logger.LogAttrs(ctx, slog.LevelError, "expiry notice failed", append(attrs, slog.String("outcome", "failed"), slog.String("error", err.Error()))...)
		}
		if err != nil {
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: sm.MessageId})
		}
	}
	return resp, nil
}

// message is what is known about the message being handled; every field is
// safe to log.
type message struct {
	messageID      string
	notificationID string
	clientID       string
	secretID       string
	daysLeft       int
	outcome        string // the alert's action
}

func (m *message) attrs() []slog.Attr {
	attrs := []slog.Attr{slog.String("messageId", m.messageID)}
	for _, kv := range [][2]string{{"notificationId", m.notificationID}, {"clientId", m.clientID}, {"secretId", m.secretID}} {
		if kv[1] != "" {
			attrs = append(attrs, slog.String(kv[0], kv[1]))
		}
	}
	if m.clientID != "" {
		attrs = append(attrs, slog.Int("daysLeft", m.daysLeft))
	}
	return attrs
}

// notice is what one valid notice says, with the alert being built for it.
type notice struct {
	sm   events.SQSMessage
	m    *message
	a    alert.Alert
	app  string    // the application id
	exp  time.Time // the secret's expiry
	days int       // whole days left
	when string    // "expires in N days (...)"
}

// portal says how to rotate a client secret by hand.
const portal = "rotate the client secret in the Solution Provider Portal (Developer Central, the application's LWA credentials: Rotate secret)"

func (h *Handler) process(ctx context.Context, rejected map[string]bool, sm events.SQSMessage, m *message) error {
	// Case 1.
	n, err := notification.ParseSecretExpiry([]byte(sm.Body))
	if err != nil {
		return h.reject(ctx, rejected, m, err)
	}
	m.notificationID = n.Metadata.NotificationID
	m.clientID = n.ClientID

	// Case 2.
	exp := n.ClientSecretExpiryTime.UTC()
	days := alert.DaysLeft(h.now(), exp)
	m.daysLeft = days
	nt := &notice{sm: sm, m: m, app: n.Metadata.ApplicationID, exp: exp, days: days, when: expiresPhrase(exp, days),
		a: alert.Alert{
			Event:          alert.EventExpiring,
			ClientID:       n.ClientID,
			ApplicationID:  n.Metadata.ApplicationID,
			ExpiresAt:      &exp,
			DaysLeft:       &days,
			NotificationID: n.Metadata.NotificationID,
			MessageID:      m.messageID,
		}}
	nt.a.Severity = alert.SeverityForDaysLeft(days)

	// Case 3.
	sec, err := managed.FindByClientID(ctx, h.meta, n.ClientID)
	if errors.Is(err, managed.ErrUnknownClient) || errors.Is(err, managed.ErrAmbiguous) {
		return h.unmanaged(ctx, nt, err)
	}
	if err != nil {
		return fmt.Errorf("expiry: message %s: %w", m.messageID, err)
	}
	m.secretID = sec.ARN
	nt.a.SecretARN = sec.ARN
	desc, err := h.meta.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(sec.ARN)})
	if err != nil {
		return fmt.Errorf("expiry: describe secret %s: %w", sec.ARN, err)
	}
	tags := sec.Tags
	if desc.Tags != nil {
		tags = managed.TagMap(desc.Tags)
	}

	// Case 4.
	if v, ok := tags[managed.TagClientSecretExpiresAt]; ok {
		if current, err := time.Parse(time.RFC3339Nano, v); err == nil && exp.Before(current.Add(-replacedMargin)) {
			nt.a.Severity, nt.a.Action = alert.SeverityInfo, alert.ActionNone
			nt.a.Message = "This expiry notice for " + nt.app + " is about a client secret that has already been replaced; the current one expires " + current.UTC().Format(time.RFC3339) + "."
			nt.a.Did = "Nothing: the secret in AWSCURRENT of " + sec.ARN + " is a newer one (" + managed.TagClientSecretExpiresAt + " = " + current.UTC().Format(time.RFC3339) + "). The old secret keeps working until " + exp.Format(time.RFC3339) + "."
			return h.publish(ctx, m, nt.a)
		}
	}

	enabled := aws.ToBool(desc.RotationEnabled)
	switch {
	case days < 0:
		return h.expired(ctx, nt, sec.ARN, enabled, aws.ToString(desc.RotationLambdaARN)) // Case 5.
	case enabled && h.autoRotate:
		return h.rotate(ctx, nt, sec.ARN) // Case 6.
	case enabled:
		return h.scheduled(ctx, nt, sec.ARN, desc.NextRotationDate) // Case 7.
	default:
		// Case 8.
		nt.a.Action = alert.ActionManual
		nt.a.Message = "The LWA client secret of " + nt.app + " " + nt.when + " and rotation is not enabled for its secret: rotate it."
		nt.a.Did = "Nothing was rotated: rotation is not enabled for " + sec.ARN + "."
		nt.a.ToDo = "Enable rotation and rotate now (before " + exp.Format(time.RFC3339) + "):\n" + alert.EnableCommands(sec.ARN, aws.ToString(desc.RotationLambdaARN)) +
			"Or " + portal + "; the receiver stores the new secret, and it is adopted once rotation is enabled.\n"
		return h.publish(ctx, m, nt.a)
	}
}

// unmanaged is Case 3: no secret, or more than one, is tagged with the
// notice's client id.
func (h *Handler) unmanaged(ctx context.Context, nt *notice, err error) error {
	id := nt.a.ClientID
	nt.a.Action = alert.ActionManual
	if errors.Is(err, managed.ErrAmbiguous) {
		nt.a.Message = "The LWA client secret of " + nt.app + " " + nt.when + ", and more than one secret is tagged with its client id, so nothing rotates it."
		nt.a.Did = "Nothing was rotated: " + err.Error() + "."
		nt.a.ToDo = fmt.Sprintf("Keep the tag %s=%s on exactly one secret, then rotate it:\n"+
			"  aws secretsmanager untag-resource --secret-id <other secret> --tag-keys %s\n"+
			"  aws secretsmanager rotate-secret --secret-id <the managed secret>\n",
			managed.TagClientID, id, managed.TagClientID)
		return h.publish(ctx, nt.m, nt.a)
	}
	nt.a.Message = "The LWA client secret of " + nt.app + " " + nt.when + ", and no secret in Secrets Manager is tagged with its client id, so nothing rotates it."
	nt.a.Did = "No managed secret is tagged " + managed.TagClientID + "=" + id + ". Nothing was rotated."
	nt.a.ToDo = fmt.Sprintf("If the credentials are kept in Secrets Manager, tag that secret and configure its rotation (go run ./cmd/lwa-rotation enable <secret name> --stack <stack> does both), then rotate it:\n"+
		"  aws secretsmanager tag-resource --secret-id <secret name> --tags Key=%s,Value=%s\n"+
		"  aws secretsmanager rotate-secret --secret-id <secret name>\n"+
		"Otherwise %s before %s, and store the new secret where the application reads it.\n",
		managed.TagClientID, id, portal, nt.exp.Format(time.RFC3339))
	return h.publish(ctx, nt.m, nt.a)
}

// expired is Case 5: the secret has expired; a rotation cannot help.
func (h *Handler) expired(ctx context.Context, nt *notice, arn string, enabled bool, lambdaARN string) error {
	nt.a.Action = alert.ActionManual
	nt.a.Message = "The LWA client secret of " + nt.app + " " + nt.when + "; the application cannot call SP-API until a new secret is in place."
	nt.a.Did = "Nothing: a rotation cannot request a new secret with an expired one."
	nt.a.ToDo = "Now, " + portal + ". The new secret arrives as a notification; the receiver stores it"
	if enabled {
		nt.a.ToDo += " and starts the rotation that adopts it.\n"
	} else {
		nt.a.ToDo += ", but rotation is not enabled for " + arn + ", so enable it to adopt the new secret:\n" + alert.EnableCommands(arn, lambdaARN)
	}
	return h.publish(ctx, nt.m, nt.a)
}

// rotate is Case 6: start (or join) the rotation that replaces the secret.
func (h *Handler) rotate(ctx context.Context, nt *notice, arn string) error {
	rotateNow := "  aws secretsmanager rotate-secret --secret-id " + arn + "\n"
	_, err := h.rotations.RotateSecret(ctx, &secretsmanager.RotateSecretInput{SecretId: aws.String(arn)})
	switch {
	case err == nil:
		nt.a.Action = alert.ActionRotationStarted
		nt.a.Message = "The LWA client secret of " + nt.app + " " + nt.when + "; a rotation was started to replace it."
		nt.a.Did = "A rotation of " + arn + " was started. It asks Amazon for a new client secret, which the receiver stores and the rotation adopts; a CLIENT_SECRET_ROTATED alert follows."
	case isInvalidRequest(err):
		inProgress, derr := h.rotationInProgress(ctx, arn)
		if derr != nil {
			return fmt.Errorf("expiry: start rotation of %s: %w (and then: %w)", arn, err, derr)
		}
		if !inProgress {
			return fmt.Errorf("expiry: start rotation of %s: %w", arn, err)
		}
		nt.a.Action = alert.ActionRotationResumed
		nt.a.Message = "The LWA client secret of " + nt.app + " " + nt.when + "; a rotation already in progress will replace it."
		nt.a.Did = "A rotation of " + arn + " is already in progress; Secrets Manager reattempts it. A CLIENT_SECRET_ROTATED alert follows."
	default:
		// Case 6a: tell a person now rather than only once the message
		// reaches the dead-letter queue, then fail the message so that
		// SQS's redelivery retries the rotation.
		rerr := fmt.Errorf("expiry: start rotation of %s: %w", arn, err)
		nt.a.Severity, nt.a.Action = alert.SeverityCritical, alert.ActionManual
		nt.a.Message = "The LWA client secret of " + nt.app + " " + nt.when + ", and the rotation that replaces it could not be started."
		nt.a.Did = "RotateSecret on " + arn + " failed (" + errorCode(err) + "), attempt " + receiveCount(nt.sm) + ". The notice is retried, which tries the rotation again; after the queue's maximum receives it moves to the dead-letter queue."
		nt.a.ToDo = "If no CLIENT_SECRET_ROTATED alert follows within the hour, read the expiry alert function's logs for the cause (permissions, rotation function) and rotate by hand:\n" + rotateNow +
			"or " + portal + " before " + nt.exp.Format(time.RFC3339) + ".\n"
		if perr := h.publish(ctx, nt.m, nt.a); perr != nil {
			return fmt.Errorf("%w (and then: %w)", rerr, perr)
		}
		return rerr
	}
	if nt.days <= 7 {
		nt.a.ToDo = "Nothing, if a CLIENT_SECRET_ROTATED alert arrives within the hour. Otherwise check the rotation function's logs and " + portal + " before " + nt.exp.Format(time.RFC3339) + ".\n"
	}
	return h.publish(ctx, nt.m, nt.a)
}

// scheduled is Case 7: rotation is enabled but not started by notices.
func (h *Handler) scheduled(ctx context.Context, nt *notice, arn string, next *time.Time) error {
	rotateNow := "  aws secretsmanager rotate-secret --secret-id " + arn + "\n"
	nt.a.Action = alert.ActionNone
	nt.a.Did = "No rotation was started: AUTO_ROTATE_ON_EXPIRY_NOTICE is false."
	if next != nil {
		nt.a.Did += " Secrets Manager's next scheduled rotation of " + arn + " is " + next.UTC().Format(time.RFC3339) + "."
	}
	if nt.days <= 7 || (next != nil && !next.Before(nt.exp)) {
		nt.a.Action = alert.ActionManual
		nt.a.Message = "The LWA client secret of " + nt.app + " " + nt.when + " and the rotation schedule will not replace it in time: rotate it now."
		nt.a.ToDo = "Rotate it now:\n" + rotateNow
	} else {
		nt.a.Message = "The LWA client secret of " + nt.app + " " + nt.when + "; the rotation schedule is left to replace it."
		nt.a.ToDo = "Nothing if the scheduled rotation runs before " + nt.exp.Format(time.RFC3339) + ". To rotate now:\n" + rotateNow
	}
	return h.publish(ctx, nt.m, nt.a)
}

// rotationInProgress reports whether a version other than AWSCURRENT holds
// AWSPENDING, which is what makes Secrets Manager refuse RotateSecret.
func (h *Handler) rotationInProgress(ctx context.Context, arn string) (bool, error) {
	desc, err := h.meta.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(arn)})
	if err != nil {
		return false, fmt.Errorf("describe secret %s: %w", arn, err)
	}
	return managed.PendingVersion(desc.VersionIdsToStages) != "", nil
}

func (h *Handler) publish(ctx context.Context, m *message, a alert.Alert) error {
	m.outcome = string(a.Action)
	if err := h.alerts.Publish(ctx, a); err != nil {
		return fmt.Errorf("expiry: message %s: %w", m.messageID, err)
	}
	return nil
}

// reject fails the message (case 1) and publishes NOTIFICATION_REJECTED once
// per message id per invocation.
func (h *Handler) reject(ctx context.Context, rejected map[string]bool, m *message, cause error) error {
	err := fmt.Errorf("expiry: message %s: %w: %w", m.messageID, errRejected, cause)
	if rejected[m.messageID] {
		return err
	}
	rejected[m.messageID] = true
	a := alert.Alert{
		Event:     alert.EventRejected,
		Severity:  alert.SeverityWarning,
		Action:    alert.ActionManual,
		MessageID: m.messageID,
		Message:   "An LWA client secret expiry notification was rejected; the expiry it announces is not tracked.",
		Did:       "The message failed (reason: " + cause.Error() + "). SQS delivers it again and, after the queue's maximum receives, moves it to the dead-letter queue.",
		ToDo: "Inspect the message (SQS message id " + m.messageID + ") in the expiry queue's dead-letter queue:\n" +
			"  aws sqs receive-message --queue-url <URL of the expiry dead-letter queue> --max-number-of-messages 10 --visibility-timeout 30\n" +
			"Check the client secret's expiry in the Solution Provider Portal and rotate it there if it is due. Once the cause is fixed, move the message back:\n" +
			"  aws sqs start-message-move-task --source-arn <ARN of the expiry dead-letter queue>\n",
	}
	if perr := h.alerts.Publish(ctx, a); perr != nil {
		return fmt.Errorf("%w (and then: %w)", err, perr)
	}
	return err
}

// expiresPhrase says when the secret expires, for a sentence.
func expiresPhrase(exp time.Time, days int) string {
	date := exp.Format(time.RFC3339)
	switch {
	case days < 0:
		return "expired at " + date
	case days == 0:
		return "expires today (" + date + ")"
	case days == 1:
		return "expires in 1 day (" + date + ")"
	default:
		return fmt.Sprintf("expires in %d days (%s)", days, date)
	}
}

// errorCode names an AWS error by its code (no message text, which is
// not the project's to put in an alert), or "an error" when it has none.
func errorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) && ae.ErrorCode() != "" {
		return ae.ErrorCode()
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "timed out"
	}
	return "an error without an AWS error code"
}

// receiveCount is how many times SQS has delivered the message, or "1" when
// the event does not say.
func receiveCount(sm events.SQSMessage) string {
	if n, err := strconv.Atoi(sm.Attributes["ApproximateReceiveCount"]); err == nil && n > 0 {
		return strconv.Itoa(n)
	}
	return "1"
}

func isInvalidRequest(err error) bool {
	var e *types.InvalidRequestException
	return errors.As(err, &e)
}
