// Package receiver stores each LWA client secret that Amazon delivers as an
// APPLICATION_OAUTH_CLIENT_NEW_SECRET notification on SQS as a version of its own, and makes sure a
// rotation adopts it (docs/design.md, "The receiver"). Each message of a batch, in order:
//
//  1. Reject, failing the message with NOTIFICATION_REJECTED once per message id per invocation:
//     (1a) a malformed body or wrong type; (1b) a client id tagged on no secret or several;
//     (1c) an AWSCURRENT that is not a document for that client id.
//  2. Store, as decide says: nothing when (2a) AWSCURRENT holds the secret or (2b) this
//     notification's version exists; (2c) else the AWSCURRENT document with the new secret, labelled
//     LWA_RECEIVED if not rejected and later than AWSCURRENT and LWA_RECEIVED, else LWA_SUPERSEDED.
//  3. A failure before the write succeeded fails the message.
//  4. Adopt, and publish NEW_CLIENT_SECRET_RECEIVED: (4a) nothing to adopt when AWSCURRENT expires
//     later or the secret was rejected before; (4b) rotation off: MANUAL_ACTION_REQUIRED;
//     (4c) RotateSecret starts a rotation or (4d) one is in progress: wait up to AdoptWait for
//     its pending version to hold this secret, else ErrRotationBusy.
package receiver

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/spapi-lwa/secret-rotation/internal/alert"
	"github.com/spapi-lwa/secret-rotation/internal/managed"
	"github.com/spapi-lwa/secret-rotation/internal/notification"
	"github.com/spapi-lwa/secret-rotation/internal/redact"
	"github.com/spapi-lwa/secret-rotation/internal/retry"
	"github.com/spapi-lwa/secret-rotation/internal/secretdoc"
)

type secretStore interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
	DescribeSecret(ctx context.Context, in *secretsmanager.DescribeSecretInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error)
	ListSecrets(ctx context.Context, in *secretsmanager.ListSecretsInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.ListSecretsOutput, error)
	PutSecretValue(ctx context.Context, in *secretsmanager.PutSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.PutSecretValueOutput, error)
}

type rotationStarter interface {
	RotateSecret(ctx context.Context, in *secretsmanager.RotateSecretInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.RotateSecretOutput, error)
}

var (
	_ secretStore     = (*secretsmanager.Client)(nil)
	_ rotationStarter = (*secretsmanager.Client)(nil)
)

// ErrRotationBusy fails a message whose stored secret the rotation in progress has not taken (Case 4d).
var ErrRotationBusy = errors.New("a rotation in progress has not taken this client secret; retry after it")

// Config is the receiver's configuration; a zero field takes its default.
type Config struct {
	Keys      secretdoc.Keys   // keys of the secret document (secretdoc.DefaultKeys)
	Now       func() time.Time // the clock for daysLeft in alerts (time.Now)
	AdoptWait time.Duration    // the longest wait of Case 4c/4d (10s), also left free before the deadline
	AdoptPoll time.Duration    // the interval of that wait's reads (1s)
}

// Handler handles batches of APPLICATION_OAUTH_CLIENT_NEW_SECRET messages.
type Handler struct {
	store     secretStore
	rotations rotationStarter
	alerts    *alert.Publisher
	logger    *slog.Logger
	cfg       Config
}

// New returns a Handler. A nil logger discards logs.
func New(store secretStore, rotations rotationStarter, alerts *alert.Publisher, logger *slog.Logger, cfg Config) *Handler {
	logger = cmp.Or(logger, slog.New(slog.DiscardHandler))
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.Keys = cmp.Or(cfg.Keys, secretdoc.DefaultKeys)
	cfg.AdoptWait = cmp.Or(cfg.AdoptWait, 10*time.Second) // five of the rotation's polls
	cfg.AdoptPoll = cmp.Or(cfg.AdoptPoll, time.Second)
	return &Handler{store: store, rotations: rotations, alerts: alerts, logger: logger, cfg: cfg}
}

// Handle handles the messages in order and lists the failed ones in BatchItemFailures. It returns an
// error only when no message could be attempted.
func (h *Handler) Handle(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	resp := events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{}}
	if err := ctx.Err(); err != nil {
		return resp, fmt.Errorf("receiver: handle batch of %d messages: %w", len(ev.Records), err)
	}
	alerted := map[string]bool{} // message ids a NOTIFICATION_REJECTED was published for
	for _, m := range ev.Records {
		d := &alert.Delivery{MessageID: m.MessageId}
		err := h.process(ctx, m.Body, d)
		var r rejection
		rejected := errors.As(err, &r)
		if rejected && !alerted[m.MessageId] {
			alerted[m.MessageId] = true
			err = h.publishRejected(ctx, d, r)
		}
		attrs := []slog.Attr{slog.String("messageId", d.MessageID)}
		for _, kv := range [][2]string{
			{"notificationId", d.NotificationID}, {"clientId", d.ClientID}, {"secretId", d.SecretARN}, {"versionId", d.VersionID},
		} {
			if kv[1] != "" {
				attrs = append(attrs, slog.String(kv[0], kv[1]))
			}
		}
		switch {
		case err == nil:
			h.logger.LogAttrs(ctx, slog.LevelInfo, "new client secret message handled", append(attrs, slog.String("outcome", string(d.Outcome)))...)
		case rejected:
			h.logger.LogAttrs(ctx, slog.LevelWarn, "new client secret message rejected", append(attrs, slog.String("outcome", "rejected"), slog.String("error", err.Error()))...)
		default:
			h.logger.LogAttrs(ctx, slog.LevelError, "new client secret message failed", append(attrs, slog.String("outcome", "failed"), slog.String("error", err.Error()))...)
		}
		if err != nil {
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: m.MessageId})
		}
	}
	return resp, nil
}

// rejection fails a message in Case 1: a short cause, and what a person must do.
type rejection struct{ cause, fix string }

func (r rejection) Error() string { return "notification rejected: " + r.cause }

// process reads (Case 1, 2), decides and acts on one message; d collects what is known of it.
func (h *Handler) process(ctx context.Context, body string, d *alert.Delivery) error {
	// Case 1a: parse and validate.
	n, err := notification.ParseNewSecret([]byte(body))
	if err != nil {
		return rejection{err.Error(), ""}
	}
	d.NotificationID, d.ApplicationID = n.Metadata.NotificationID, n.Metadata.ApplicationID
	if redact.LooksSecret(n.ClientID) || n.ClientID == n.NewClientSecret.Reveal() {
		return rejection{"the clientId field has the shape of a client secret", ""} // never log or publish it
	}
	d.ClientID, d.ExpiresAt, d.OldExpiresAt = n.ClientID, n.NewClientSecretExpiryTime, n.OldClientSecretExpiryTime
	d.VersionID = managed.ReceivedToken(n.Metadata.NotificationID)

	// Case 1b: find the secret by its tag.
	sec, err := managed.FindByClientID(ctx, h.store, n.ClientID)
	switch {
	case errors.Is(err, managed.ErrUnknownClient):
		return rejection{err.Error(), fmt.Sprintf("Tag the secret that holds this application's credentials with its client id, then move the message back from the dead-letter queue (below):\n"+
			"  aws secretsmanager tag-resource --secret-id <secret name> --tags Key=%s,Value=%s\n", managed.TagClientID, n.ClientID)}
	case errors.Is(err, managed.ErrAmbiguous):
		return rejection{err.Error(), fmt.Sprintf("Keep the tag %s=%s on exactly one secret, then move the message back from the dead-letter queue (below):\n"+
			"  aws secretsmanager untag-resource --secret-id <other secret> --tag-keys %s\n", managed.TagClientID, n.ClientID, managed.TagClientID)}
	case err != nil:
		return fmt.Errorf("receiver: %w", err)
	}
	d.SecretARN = sec.ARN
	desc, err := h.store.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(sec.ARN)})
	if err != nil {
		return fmt.Errorf("receiver: describe secret %s: %w", sec.ARN, err)
	}
	d.RotationLambdaARN = aws.ToString(desc.RotationLambdaARN)

	// Case 1c: AWSCURRENT must be a document for this client id.
	cur, curID, err := h.read(ctx, sec.ARN, managed.StageCurrent, "")
	if err == nil && cur.ClientID() != n.ClientID {
		err = fmt.Errorf("receiver: the value under the key %q of AWSCURRENT version %s of %s is not the notification's client id: %w", h.cfg.Keys.ClientID, curID, sec.ARN, secretdoc.ErrInvalid)
	}
	switch {
	case errors.Is(err, secretdoc.ErrInvalid), isNotFound(err):
		return rejection{err.Error(), fmt.Sprintf("Fix the AWSCURRENT value of %s: a JSON object with the client id %s under %q and its client secret under %q, and the tag %s naming the same client id. Then move the message back from the dead-letter queue (below).\n",
			sec.ARN, n.ClientID, h.cfg.Keys.ClientID, h.cfg.Keys.ClientSecret, managed.TagClientID)}
	case err != nil:
		return err
	}
	d.CurrentVersionID = curID
	f := facts{secret: n.NewClientSecret, expires: n.NewClientSecretExpiryTime, current: cur,
		rejected: managed.Rejected(sec.Tags[managed.TagRejectedSecrets], n.NewClientSecret.Reveal())}
	_, f.stored = desc.VersionIdsToStages[d.VersionID]
	if id := managed.Holder(desc.VersionIdsToStages, managed.StageReceived); id != "" && id != curID {
		if f.received, _, err = h.read(ctx, sec.ARN, managed.StageReceived, ""); err != nil && !errors.Is(err, secretdoc.ErrInvalid) && !isNotFound(err) {
			return err
		}
	}

	p := decide(f)
	if p.outcome == alert.OutcomeCurrent {
		d.VersionID = curID
	}
	if p.label != "" { // Case 2c: store it.
		if err := h.put(ctx, d, cur, n, p.label); err != nil {
			return err
		}
	}
	switch {
	case p.adopt && !aws.ToBool(desc.RotationEnabled):
		p.outcome = alert.OutcomeRotationOff // Case 4b
	case p.adopt:
		return h.adopt(ctx, d, n)
	}
	return h.publish(ctx, d, p.outcome)
}

// put writes the delivered secret as version d.VersionID (Case 2c). Secrets Manager ignores the same
// token with the same value; ResourceExistsException means an earlier delivery wrote it.
func (h *Handler) put(ctx context.Context, d *alert.Delivery, cur *secretdoc.Document, n *notification.NewSecret, label string) error {
	value, err := cur.WithClientSecret(n.NewClientSecret, n.NewClientSecretExpiryTime)
	if errors.Is(err, secretdoc.ErrInvalid) { // too long, shaped like a client id, or equal to it
		return rejection{err.Error(), "Inspect the message in the dead-letter queue: its newClientSecret is not a valid LWA client secret.\n"}
	}
	if err != nil {
		return fmt.Errorf("receiver: build version %s of %s: %w", d.VersionID, d.SecretARN, err)
	}
	_, err = h.store.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
		SecretId:           aws.String(d.SecretARN),
		ClientRequestToken: aws.String(d.VersionID),
		SecretString:       aws.String(string(value)),
		VersionStages:      []string{label},
	})
	if err != nil && !errors.As(err, new(*types.ResourceExistsException)) {
		return fmt.Errorf("receiver: put version %s (%s) of %s: %w", d.VersionID, label, d.SecretARN, err)
	}
	d.Label = label
	return nil
}

// adopt is Case 4c and 4d. A rotation can take another stored secret (a later one, or one LWA will
// reject): only one that took this secret acknowledges the message, else its redelivery starts the next.
func (h *Handler) adopt(ctx context.Context, d *alert.Delivery, n *notification.NewSecret) error {
	arn := d.SecretARN
	_, err := h.rotations.RotateSecret(ctx, &secretsmanager.RotateSecretInput{SecretId: aws.String(arn)})
	outcome := alert.OutcomeRotationStarted
	switch {
	case errors.As(err, new(*types.InvalidRequestException)):
		outcome = alert.OutcomeRotationResumed
	case err != nil:
		return fmt.Errorf("receiver: start rotation of %s: %w", arn, err)
	}
	until := time.Now().Add(h.cfg.AdoptWait)
	if dl, ok := ctx.Deadline(); ok && dl.Add(-h.cfg.AdoptWait).Before(until) {
		until = dl.Add(-h.cfg.AdoptWait)
	}
	for {
		desc, err := h.store.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(arn)})
		if err != nil {
			return fmt.Errorf("receiver: rotation of %s: describe secret %s: %w", arn, arn, err)
		}
		// The pending version, or AWSCURRENT once the rotation has finished.
		doc, _, err := h.read(ctx, arn, managed.StageCurrent, managed.PendingVersion(desc.VersionIdsToStages))
		empty := isNotFound(err) // the pending version has no value yet
		switch {
		case err != nil && !empty && !errors.Is(err, secretdoc.ErrInvalid):
			return fmt.Errorf("receiver: rotation of %s: %w", arn, err)
		case err == nil && doc.ClientSecret() == n.NewClientSecret:
			return h.publish(ctx, d, outcome)
		case !empty || !time.Now().Add(h.cfg.AdoptPoll).Before(until):
			// Another secret, no document (setSecret fails that rotation), or no time left.
			return fmt.Errorf("receiver: the rotation of %s has not taken version %s: %w", arn, d.VersionID, ErrRotationBusy)
		}
		if !retry.Sleep(ctx, h.cfg.AdoptPoll) {
			return fmt.Errorf("receiver: wait for the rotation of %s: %w", arn, ctx.Err())
		}
	}
}

// publish publishes NEW_CLIENT_SECRET_RECEIVED (Case 4); when it fails, the retry writes nothing.
func (h *Handler) publish(ctx context.Context, d *alert.Delivery, o alert.Outcome) error {
	d.Outcome = o
	if err := h.alerts.Publish(ctx, alert.Received(*d, h.cfg.Now())); err != nil {
		return fmt.Errorf("receiver: message %s: %w", d.MessageID, err)
	}
	return nil
}

func (h *Handler) publishRejected(ctx context.Context, d *alert.Delivery, r rejection) error {
	perr := h.alerts.Publish(ctx, alert.RejectedDelivery(*d, r.cause, r.fix))
	if errors.Is(perr, alert.ErrLooksSecret) {
		safe := alert.Delivery{NotificationID: d.NotificationID, MessageID: d.MessageID}
		perr = h.alerts.Publish(ctx, alert.RejectedDelivery(safe, "", "")) // only what is certainly safe
	}
	if perr != nil {
		return fmt.Errorf("receiver: message %s: %w (and then: %w)", d.MessageID, r, perr)
	}
	return fmt.Errorf("receiver: message %s: %w", d.MessageID, r)
}

// read parses version versionID of arn, or if "" the one holding stage; its errors never quote a value.
func (h *Handler) read(ctx context.Context, arn, stage, versionID string) (*secretdoc.Document, string, error) {
	in, what := &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn)}, stage
	if versionID != "" {
		in.VersionId, what = aws.String(versionID), "version "+versionID
	} else {
		in.VersionStage = aws.String(stage)
	}
	out, err := h.store.GetSecretValue(ctx, in)
	if err != nil {
		return nil, "", fmt.Errorf("receiver: read %s of %s: %w", what, arn, err)
	}
	id := aws.ToString(out.VersionId)
	doc, err := secretdoc.Parse([]byte(aws.ToString(out.SecretString)), h.cfg.Keys)
	if err != nil {
		return nil, id, fmt.Errorf("receiver: parse %s (version %s) of %s: %w", what, id, arn, err)
	}
	return doc, id, nil
}

func isNotFound(err error) bool {
	return errors.As(err, new(*types.ResourceNotFoundException))
}
