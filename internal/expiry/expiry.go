// Package expiry turns Amazon's APPLICATION_OAUTH_CLIENT_SECRET_EXPIRY notifications into
// CLIENT_SECRET_EXPIRING alerts and, when policy says so, starts the rotation that replaces
// the expiring secret (docs/design.md "The expiry alert"). It reads secret metadata only.
// For each message, in batch order:
//
//  1. A malformed body or a wrong type fails the message with NOTIFICATION_REJECTED.
//  2. Whole days left to clientSecretExpiryTime, rounded down, set the severity.
//  3. No secret, or several, tagged with the client id: MANUAL_ACTION_REQUIRED; it succeeds.
//  4. The tag client-secret-expires-at is over a minute after the notice's expiry: the
//     secret was already replaced. INFO, NONE.
//  5. Already expired: MANUAL_ACTION_REQUIRED, rotate in the portal.
//  6. Rotation enabled and AUTO_ROTATE_ON_EXPIRY_NOTICE: RotateSecret; ROTATION_STARTED, or
//     ROTATION_RESUMED. (6a) Other errors: CRITICAL alert, and the message fails.
//  7. Rotation enabled, auto-rotate off: NONE; MANUAL_ACTION_REQUIRED at 7 days or fewer,
//     or when the next scheduled rotation is not before the expiry.
//  8. Rotation not enabled: MANUAL_ACTION_REQUIRED with the commands.
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

// secretMeta has no GetSecretValue on purpose: this function must not read secret values.
type secretMeta interface {
	managed.SecretLister
	DescribeSecret(ctx context.Context, in *secretsmanager.DescribeSecretInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error)
}

type rotationStarter interface {
	RotateSecret(ctx context.Context, in *secretsmanager.RotateSecretInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.RotateSecretOutput, error)
}

var (
	_ secretMeta      = (*secretsmanager.Client)(nil)
	_ rotationStarter = (*secretsmanager.Client)(nil)
)

// Config is the expiry alert's configuration.
type Config struct {
	AutoRotate bool             // start a rotation on an expiry notice (AUTO_ROTATE_ON_EXPIRY_NOTICE)
	Now        func() time.Time // the clock for days left; nil means time.Now
}

// Handler handles batches of APPLICATION_OAUTH_CLIENT_SECRET_EXPIRY messages.
type Handler struct {
	meta      secretMeta
	rotations rotationStarter
	alerts    *alert.Publisher
	logger    *slog.Logger
	cfg       Config
}

// New returns a Handler.
func New(meta secretMeta, rotations rotationStarter, alerts *alert.Publisher, logger *slog.Logger, cfg Config) *Handler {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Handler{meta: meta, rotations: rotations, alerts: alerts, logger: logger, cfg: cfg}
}

const replacedMargin = time.Minute // rounding between the notice's expiry and AWSCURRENT's (Case 4)

var errRejected = errors.New("notification rejected")

const portal = "rotate the client secret in the Solution Provider Portal (Developer Central, the application's LWA credentials: Rotate secret)"

type notice struct {
	sm   events.SQSMessage
	a    alert.Alert
	exp  time.Time // the secret's expiry
	days int       // whole days left
	lead string    // "The LWA client secret of <app> expires in N days (<date>)"
}

// Handle handles the messages in order and reports the failed ones in BatchItemFailures.
// It returns an error only when no message could be attempted.
func (h *Handler) Handle(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	resp := events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{}}
	if err := ctx.Err(); err != nil {
		return resp, fmt.Errorf("expiry: handle batch of %d messages: %w", len(ev.Records), err)
	}
	rejected := make(map[string]bool)
	for _, sm := range ev.Records {
		nt := &notice{sm: sm, a: alert.Alert{MessageID: sm.MessageId}}
		err := h.process(ctx, rejected, nt)
		attrs := []slog.Attr{slog.String("messageId", sm.MessageId)}
		for _, kv := range [][2]string{{"notificationId", nt.a.NotificationID}, {"clientId", nt.a.ClientID}, {"secretId", nt.a.SecretARN}} {
			if kv[1] != "" {
				attrs = append(attrs, slog.String(kv[0], kv[1]))
			}
		}
		if nt.a.ClientID != "" {
			attrs = append(attrs, slog.Int("daysLeft", nt.days))
		}
		switch {
		case err == nil:
			h.logger.LogAttrs(ctx, slog.LevelInfo, "expiry notice handled", append(attrs, slog.String("outcome", string(nt.a.Action)))...)
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

func (h *Handler) process(ctx context.Context, rejected map[string]bool, nt *notice) error {
	// Case 1: parse and validate.
	n, err := notification.ParseSecretExpiry([]byte(nt.sm.Body))
	if err != nil {
		return h.reject(ctx, rejected, nt.sm.MessageId, err)
	}
	// Case 2: days left and severity.
	nt.exp = n.ClientSecretExpiryTime.UTC()
	nt.days = alert.DaysLeft(h.cfg.Now(), nt.exp)
	when := "expired at " + nt.exp.Format(time.RFC3339)
	if nt.days >= 0 {
		when = alert.ExpiresIn(nt.days) + " (" + nt.exp.Format(time.RFC3339) + ")"
	}
	nt.lead = "The LWA client secret of " + n.Metadata.ApplicationID + " " + when
	nt.a = alert.Alert{
		Event: alert.EventExpiring, Severity: alert.SeverityForDaysLeft(nt.days),
		Action:   alert.ActionManual, // unless a case below says otherwise
		ClientID: n.ClientID, ApplicationID: n.Metadata.ApplicationID, ExpiresAt: &nt.exp, DaysLeft: &nt.days,
		NotificationID: n.Metadata.NotificationID, MessageID: nt.sm.MessageId,
	}
	sec, err := managed.FindByClientID(ctx, h.meta, n.ClientID)
	switch {
	case errors.Is(err, managed.ErrUnknownClient), errors.Is(err, managed.ErrAmbiguous):
		// Case 3: no managed secret, or several.
		nt.unmanaged(err)
		return h.publish(ctx, nt.a)
	case err != nil:
		return fmt.Errorf("expiry: message %s: %w", nt.sm.MessageId, err)
	}
	nt.a.SecretARN = sec.ARN
	desc, err := h.meta.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(sec.ARN)})
	if err != nil {
		return fmt.Errorf("expiry: describe secret %s: %w", sec.ARN, err)
	}
	tags := sec.Tags
	if desc.Tags != nil {
		tags = managed.TagMap(desc.Tags)
	}
	current, err := time.Parse(time.RFC3339Nano, tags[managed.TagClientSecretExpiresAt])
	enabled, lambdaARN := aws.ToBool(desc.RotationEnabled), aws.ToString(desc.RotationLambdaARN)
	switch {
	case err == nil && nt.exp.Before(current.Add(-replacedMargin)):
		nt.replaced(current) // Case 4: a replaced secret.
	case nt.days < 0:
		nt.expired(enabled, lambdaARN) // Case 5: expired.
	case enabled && h.cfg.AutoRotate:
		return h.rotate(ctx, nt) // Case 6: rotate.
	case enabled:
		nt.scheduled(desc.NextRotationDate) // Case 7: left to the schedule.
	default:
		nt.disabled(lambdaARN) // Case 8: rotation not enabled.
	}
	return h.publish(ctx, nt.a)
}

func (nt *notice) unmanaged(err error) {
	id := nt.a.ClientID
	if errors.Is(err, managed.ErrAmbiguous) {
		nt.a.Message = nt.lead + ", and more than one secret is tagged with its client id, so nothing rotates it."
		nt.a.Did = "Nothing was rotated: " + err.Error() + "."
		nt.a.ToDo = fmt.Sprintf("Keep the tag %s=%s on exactly one secret, then rotate it:\n"+
			"  aws secretsmanager untag-resource --secret-id <other secret> --tag-keys %s\n"+
			"  aws secretsmanager rotate-secret --secret-id <the managed secret>\n",
			managed.TagClientID, id, managed.TagClientID)
		return
	}
	nt.a.Message = nt.lead + ", and no secret in Secrets Manager is tagged with its client id, so nothing rotates it."
	nt.a.Did = "No managed secret is tagged " + managed.TagClientID + "=" + id + ". Nothing was rotated."
	nt.a.ToDo = fmt.Sprintf("If the credentials are kept in Secrets Manager, tag that secret and configure its rotation (go run ./cmd/lwa-rotation enable <secret name> --stack <stack> does both), then rotate it:\n"+
		"  aws secretsmanager tag-resource --secret-id <secret name> --tags Key=%s,Value=%s\n"+
		"  aws secretsmanager rotate-secret --secret-id <secret name>\n"+
		"Otherwise %s before %s, and store the new secret where the application reads it.\n",
		managed.TagClientID, id, portal, nt.exp.Format(time.RFC3339))
}

func (nt *notice) replaced(current time.Time) {
	cur := current.UTC().Format(time.RFC3339)
	nt.a.Severity, nt.a.Action = alert.SeverityInfo, alert.ActionNone
	nt.a.Message = "This expiry notice for " + nt.a.ApplicationID + " is about a client secret that has already been replaced; the current one expires " + cur + "."
	nt.a.Did = "Nothing: the secret in AWSCURRENT of " + nt.a.SecretARN + " is a newer one (" + managed.TagClientSecretExpiresAt + " = " + cur +
		"). The old secret keeps working until " + nt.exp.Format(time.RFC3339) + "."
}

func (nt *notice) expired(enabled bool, lambdaARN string) {
	nt.a.Message = nt.lead + "; the application cannot call SP-API until a new secret is in place."
	nt.a.Did = "Nothing: a rotation cannot request a new secret with an expired one."
	nt.a.ToDo = "Now, " + portal + ". The new secret arrives as a notification; the receiver stores it"
	if enabled {
		nt.a.ToDo += " and starts the rotation that adopts it.\n"
	} else {
		nt.a.ToDo += ", but rotation is not enabled for " + nt.a.SecretARN + ", so enable it to adopt the new secret:\n" +
			alert.EnableCommands(nt.a.SecretARN, lambdaARN)
	}
}

func (nt *notice) scheduled(next *time.Time) {
	arn := nt.a.SecretARN
	nt.a.Did = "No rotation was started: AUTO_ROTATE_ON_EXPIRY_NOTICE is false."
	if next != nil {
		nt.a.Did += " Secrets Manager's next scheduled rotation of " + arn + " is " + next.UTC().Format(time.RFC3339) + "."
	}
	if nt.days <= 7 || (next != nil && !next.Before(nt.exp)) {
		nt.a.Message = nt.lead + " and the rotation schedule will not replace it in time: rotate it now."
		nt.a.ToDo = "Rotate it now:\n" + rotateCommand(arn)
	} else {
		nt.a.Action = alert.ActionNone
		nt.a.Message = nt.lead + "; the rotation schedule is left to replace it."
		nt.a.ToDo = "Nothing if the scheduled rotation runs before " + nt.exp.Format(time.RFC3339) + ". To rotate now:\n" + rotateCommand(arn)
	}
}

func (nt *notice) disabled(lambdaARN string) {
	arn := nt.a.SecretARN
	nt.a.Message = nt.lead + " and rotation is not enabled for its secret: rotate it."
	nt.a.Did = "Nothing was rotated: rotation is not enabled for " + arn + "."
	nt.a.ToDo = "Enable rotation and rotate now (before " + nt.exp.Format(time.RFC3339) + "):\n" + alert.EnableCommands(arn, lambdaARN) +
		"Or " + portal + "; the receiver stores the new secret, and it is adopted once rotation is enabled.\n"
}

func (h *Handler) rotate(ctx context.Context, nt *notice) error {
	arn := nt.a.SecretARN
	_, err := h.rotations.RotateSecret(ctx, &secretsmanager.RotateSecretInput{SecretId: aws.String(arn)})
	var refused *types.InvalidRequestException
	switch {
	case err == nil:
		nt.a.Action = alert.ActionRotationStarted
		nt.a.Message = nt.lead + "; a rotation was started to replace it."
		nt.a.Did = "A rotation of " + arn + " was started. It asks Amazon for a new client secret, which the receiver stores and the rotation adopts; a CLIENT_SECRET_ROTATED alert follows."
	case errors.As(err, &refused):
		// Refused: not an error when a rotation is in progress.
		desc, derr := h.meta.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(arn)})
		if derr != nil {
			return fmt.Errorf("expiry: start rotation of %s: %w (and then: describe secret %s: %w)", arn, err, arn, derr)
		}
		if managed.PendingVersion(desc.VersionIdsToStages) == "" {
			return fmt.Errorf("expiry: start rotation of %s: %w", arn, err)
		}
		nt.a.Action = alert.ActionRotationResumed
		nt.a.Message = nt.lead + "; a rotation already in progress will replace it."
		nt.a.Did = "A rotation of " + arn + " is already in progress; Secrets Manager reattempts it. A CLIENT_SECRET_ROTATED alert follows."
	default:
		// Case 6a: tell a person now, not only once the message is dead-lettered.
		rerr := fmt.Errorf("expiry: start rotation of %s: %w", arn, err)
		attempt := "1" // when the event does not say
		if n, err := strconv.Atoi(nt.sm.Attributes["ApproximateReceiveCount"]); err == nil && n > 0 {
			attempt = strconv.Itoa(n)
		}
		nt.a.Severity = alert.SeverityCritical
		nt.a.Message = nt.lead + ", and the rotation that replaces it could not be started."
		nt.a.Did = "RotateSecret on " + arn + " failed (" + errorCode(err) + "), attempt " + attempt +
			". The notice is retried, which tries the rotation again; after the queue's maximum receives it moves to the dead-letter queue."
		nt.a.ToDo = "If no CLIENT_SECRET_ROTATED alert follows within the hour, read the expiry alert function's logs for the cause (permissions, rotation function) and rotate by hand:\n" +
			rotateCommand(arn) + "or " + portal + " before " + nt.exp.Format(time.RFC3339) + ".\n"
		if perr := h.publish(ctx, nt.a); perr != nil {
			return fmt.Errorf("%w (and then: %w)", rerr, perr)
		}
		return rerr
	}
	if nt.days <= 7 {
		nt.a.ToDo = "Nothing, if a CLIENT_SECRET_ROTATED alert arrives within the hour. Otherwise check the rotation function's logs and " + portal + " before " + nt.exp.Format(time.RFC3339) + ".\n"
	}
	return h.publish(ctx, nt.a)
}

func rotateCommand(arn string) string {
	return "  aws secretsmanager rotate-secret --secret-id " + arn + "\n"
}

func (h *Handler) publish(ctx context.Context, a alert.Alert) error {
	if err := h.alerts.Publish(ctx, a); err != nil {
		return fmt.Errorf("expiry: message %s: %w", a.MessageID, err)
	}
	return nil
}

func (h *Handler) reject(ctx context.Context, rejected map[string]bool, messageID string, cause error) error {
	err := fmt.Errorf("expiry: message %s: %w: %w", messageID, errRejected, cause)
	if rejected[messageID] {
		return err
	}
	rejected[messageID] = true
	a := alert.Alert{
		Event: alert.EventRejected, Severity: alert.SeverityWarning, Action: alert.ActionManual, MessageID: messageID,
		Message: "An LWA client secret expiry notification was rejected; the expiry it announces is not tracked.",
		Did:     "The message failed (reason: " + cause.Error() + "). SQS delivers it again and, after the queue's maximum receives, moves it to the dead-letter queue.",
		ToDo: "Inspect the message (SQS message id " + messageID + ") in the expiry queue's dead-letter queue:\n" +
			"  aws sqs receive-message --queue-url <URL of the expiry dead-letter queue> --max-number-of-messages 10 --visibility-timeout 30\n" +
			"Check the client secret's expiry in the Solution Provider Portal and rotate it there if it is due. Once the cause is fixed, move the message back:\n" +
			"  aws sqs start-message-move-task --source-arn <ARN of the expiry dead-letter queue>\n",
	}
	if perr := h.alerts.Publish(ctx, a); perr != nil {
		return fmt.Errorf("%w (and then: %w)", err, perr)
	}
	return err
}

// errorCode names an AWS error by its code: its message text is not the project's to put in an alert.
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
