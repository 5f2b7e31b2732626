// Package receiver stores the new LWA client secrets that Amazon delivers as
// APPLICATION_OAUTH_CLIENT_NEW_SECRET notifications on SQS, and makes sure a
// rotation adopts them: the receiver part of DESIGN.md "The rotation
// protocol", with the alerts of DESIGN.md "Alerts (SNS)".
//
// A new client secret exists nowhere but in the notification until it is
// stored, so nothing Amazon issued is ever dropped: a message is acknowledged
// only after its secret is in Secrets Manager (or is known to be there
// already), and every message that cannot be stored fails, so SQS redelivers
// it and finally moves it to the dead-letter queue, with a
// NOTIFICATION_REJECTED alert that says how to recover it.
//
// The messages of a batch are handled one after another, in batch order; a
// failed message is reported in BatchItemFailures and the others go on. For
// each message:
//
//  1. Parse and validate the body, and find the managed secret by the tag
//     sp-api-lwa:client-id. A malformed body, a wrong notification type, an
//     unknown or ambiguous client id: the message fails with a
//     NOTIFICATION_REJECTED alert (CRITICAL, MANUAL_ACTION_REQUIRED: the body
//     may hold a secret that exists nowhere else), published once per message
//     id per invocation.
//  2. Read AWSCURRENT. It must parse and name the notification's client id;
//     otherwise the message is rejected as in 1.
//  3. AWSCURRENT already holds the new secret: it was adopted. Nothing to do
//     (INFO, NONE). Starting a rotation here would make Amazon issue yet
//     another secret.
//  4. The version of this notification (ClientRequestToken =
//     managed.ReceivedToken(notificationId)) exists: a redelivery. If it
//     still holds LWA_RECEIVED, go to 8, since the delivery that wrote it may
//     have crashed before a rotation was started. Otherwise a newer secret
//     has arrived since: nothing to do.
//  5. LWA_RECEIVED holds the same secret (a duplicate under another
//     notification id): go to 8.
//  6. LWA_RECEIVED or AWSCURRENT already holds a secret that expires at or
//     after this one: this one was delivered out of order. It is stored
//     anyway, under LWA_SUPERSEDED, so that it is not lost, and never
//     adopted (INFO, NONE). LWA_RECEIVED only ever moves to a later expiry.
//  7. Write the AWSCURRENT document with the new secret and
//     clientSecretExpiresAt = newClientSecretExpiryTime, labelled
//     LWA_RECEIVED. ResourceExistsException is Secrets Manager's answer to a
//     reused token with another value: the version is already there, go to 8.
//     Any other error fails the message; nothing was acknowledged.
//  8. Make sure a rotation adopts it. Rotation not enabled: CRITICAL,
//     MANUAL_ACTION_REQUIRED with the commands that adopt it by hand.
//     Otherwise RotateSecret: started (ROTATION_STARTED), or refused because
//     a rotation is in progress, whose createSecret will find the version
//     (ROTATION_RESUMED; Secrets Manager reattempts it). Any other error
//     fails the message; the retry writes nothing new.
//  9. Publish NEW_CLIENT_SECRET_RECEIVED saying what happened. A failed
//     publish fails the message; the secret stays stored and the retry
//     writes nothing new.
//
// Known race: two receivers running at the same time with two different new
// secrets for the same application could both pass 6 and leave LWA_RECEIVED
// on the older one (both secrets stay stored). The deployment sets the
// receiver's reserved concurrency to 1, which rules this out.
//
// Logs carry messageId, notificationId, clientId, secretId, versionId and
// outcome; never a message body or a secret value.
package receiver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/spapi-lwa/secret-rotation/internal/alert"
	"github.com/spapi-lwa/secret-rotation/internal/managed"
	"github.com/spapi-lwa/secret-rotation/internal/notification"
	"github.com/spapi-lwa/secret-rotation/internal/secretdoc"
)

// secretStore is the part of Secrets Manager the receiver reads and writes.
type secretStore interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
	PutSecretValue(ctx context.Context, in *secretsmanager.PutSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.PutSecretValueOutput, error)
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
	_ secretStore     = (*secretsmanager.Client)(nil)
	_ rotationStarter = (*secretsmanager.Client)(nil)
	_ alerter         = (*alert.Publisher)(nil)
)

// Config is the receiver's configuration.
type Config struct {
	// Keys names the client id and client secret keys of the secret
	// document (SECRET_CLIENT_ID_KEY, SECRET_CLIENT_SECRET_KEY); zero means
	// secretdoc.DefaultKeys.
	Keys secretdoc.Keys
	// Now is the clock for daysLeft in alerts; nil means time.Now.
	Now func() time.Time
}

// Handler handles batches of APPLICATION_OAUTH_CLIENT_NEW_SECRET messages.
type Handler struct {
	store     secretStore
	rotations rotationStarter
	alerts    alerter
	logger    *slog.Logger
	keys      secretdoc.Keys
	now       func() time.Time
}

// New returns a Handler. A nil logger discards logs.
func New(store secretStore, rotations rotationStarter, alerts alerter, logger *slog.Logger, cfg Config) *Handler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Keys == (secretdoc.Keys{}) {
		cfg.Keys = secretdoc.DefaultKeys
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Handler{store: store, rotations: rotations, alerts: alerts, logger: logger, keys: cfg.Keys, now: cfg.Now}
}

// Outcomes, as logged (key "outcome").
const (
	outcomeStored         = "stored"
	outcomeAlreadyStored  = "alreadyStored"
	outcomeAlreadyCurrent = "alreadyCurrent"
	outcomeOlder          = "storedSuperseded"
	outcomeReplaced       = "alreadyReplaced"
	outcomeRejected       = "rejected"
	outcomeFailed         = "failed"
)

// errRejected is wrapped by the error of a message that was rejected (case 1
// and 2): it will not succeed by retrying alone.
var errRejected = errors.New("notification rejected")

// Handle handles the batch's messages one by one, in order, and reports the
// failed ones in BatchItemFailures. It returns an error only when no message
// could be attempted.
func (h *Handler) Handle(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	resp := events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{}}
	if err := ctx.Err(); err != nil {
		return resp, fmt.Errorf("receiver: handle batch of %d messages: %w", len(ev.Records), err)
	}
	b := &batch{rejected: make(map[string]bool)}
	for _, m := range ev.Records {
		if err := h.handleMessage(ctx, b, m); err != nil {
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: m.MessageId})
		}
	}
	return resp, nil
}

// batch is what one invocation remembers across its messages.
type batch struct {
	rejected map[string]bool // message ids a NOTIFICATION_REJECTED was published for
}

// message is what is known about the message being handled; every field is
// safe to log.
type message struct {
	messageID      string
	notificationID string
	applicationID  string
	clientID       string
	secretID       string
	versionID      string
	outcome        string
}

func (m *message) attrs() []slog.Attr {
	attrs := []slog.Attr{slog.String("messageId", m.messageID)}
	add := func(k, v string) {
		if v != "" {
			attrs = append(attrs, slog.String(k, v))
		}
	}
	add("notificationId", m.notificationID)
	add("clientId", m.clientID)
	add("secretId", m.secretID)
	add("versionId", m.versionID)
	return attrs
}

// handleMessage handles one message and logs its outcome once.
func (h *Handler) handleMessage(ctx context.Context, b *batch, sm events.SQSMessage) error {
	m := &message{messageID: sm.MessageId}
	err := h.process(ctx, b, sm, m)
	attrs := m.attrs()
	switch {
	case err == nil:
		h.logger.LogAttrs(ctx, slog.LevelInfo, "new client secret message handled", append(attrs, slog.String("outcome", m.outcome))...)
	case errors.Is(err, errRejected):
		h.logger.LogAttrs(ctx, slog.LevelWarn, "new client secret message rejected", append(attrs, slog.String("outcome", outcomeRejected), slog.String("error", err.Error()))...)
	default:
		h.logger.LogAttrs(ctx, slog.LevelError, "new client secret message failed", append(attrs, slog.String("outcome", outcomeFailed), slog.String("error", err.Error()))...)
	}
	return err
}

// received describes a stored new secret for steps 8 and 9.
type received struct {
	n                 *notification.NewSecret
	arn               string
	versionID         string // the version holding the new secret
	currentID         string // the AWSCURRENT version
	rotation          bool   // rotation enabled
	rotationLambdaARN string // RotationLambdaARN, when Secrets Manager reports one
	did               string // what the receiver did with the secret
}

func (h *Handler) process(ctx context.Context, b *batch, sm events.SQSMessage, m *message) error {
	// Case 1: parse, validate, find the secret.
	n, err := notification.ParseNewSecret([]byte(sm.Body))
	if err != nil {
		return h.reject(ctx, b, m, nil, err, "")
	}
	m.notificationID = n.Metadata.NotificationID
	m.applicationID = n.Metadata.ApplicationID
	if looksSecret(n.ClientID) || n.ClientID == n.NewClientSecret.Reveal() {
		// Never log or publish this "client id".
		return h.reject(ctx, b, m, nil, errors.New("receiver: clientId has the shape of a client secret"), "")
	}
	m.clientID = n.ClientID
	sec, err := managed.FindByClientID(ctx, h.store, n.ClientID)
	switch {
	case errors.Is(err, managed.ErrUnknownClient):
		return h.reject(ctx, b, m, n, err, fmt.Sprintf(
			"Tag the secret that holds this application's credentials (SECRET_CLIENT_ID_KEY/SECRET_CLIENT_SECRET_KEY document) with its client id, then move the message back from the dead-letter queue (below):\n"+
				"  aws secretsmanager tag-resource --secret-id <secret name> --tags Key=%s,Value=%s\n", managed.TagClientID, n.ClientID))
	case errors.Is(err, managed.ErrAmbiguous):
		return h.reject(ctx, b, m, n, err, fmt.Sprintf(
			"Keep the tag %s=%s on exactly one secret (remove it from the others), then move the message back from the dead-letter queue (below):\n"+
				"  aws secretsmanager untag-resource --secret-id <other secret> --tag-keys %s\n", managed.TagClientID, n.ClientID, managed.TagClientID))
	case err != nil:
		return fmt.Errorf("receiver: message %s: %w", sm.MessageId, err)
	}
	m.secretID = sec.ARN
	desc, err := h.store.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(sec.ARN)})
	if err != nil {
		return fmt.Errorf("receiver: describe secret %s: %w", sec.ARN, err)
	}
	token := managed.ReceivedToken(n.Metadata.NotificationID)
	r := &received{
		n:                 n,
		arn:               sec.ARN,
		versionID:         token,
		rotation:          aws.ToBool(desc.RotationEnabled),
		rotationLambdaARN: aws.ToString(desc.RotationLambdaARN),
	}

	// Case 2: read AWSCURRENT; it must hold this client id.
	cur, curID, err := h.readDoc(ctx, sec.ARN, managed.StageCurrent)
	switch {
	case errors.Is(err, secretdoc.ErrInvalid), isNotFound(err):
		return h.reject(ctx, b, m, n, err, fmt.Sprintf(
			"Fix the AWSCURRENT value of %s: a JSON object with the client id under %q and the client secret under %q. Then move the message back from the dead-letter queue (below).\n",
			sec.ARN, h.keys.ClientID, h.keys.ClientSecret))
	case err != nil:
		return err
	}
	r.currentID = curID
	if cur.ClientID() != n.ClientID {
		return h.reject(ctx, b, m, n, fmt.Errorf("receiver: AWSCURRENT version %s of %s holds client id %s, not the notification's", curID, sec.ARN, cur.ClientID()), fmt.Sprintf(
			"The secret %s is tagged %s=%s but its AWSCURRENT value holds another client id. Correct the tag or the value, then move the message back from the dead-letter queue (below).\n",
			sec.ARN, managed.TagClientID, n.ClientID))
	}

	// Case 3: already adopted.
	if cur.ClientSecret() == n.NewClientSecret {
		m.outcome, m.versionID = outcomeAlreadyCurrent, curID
		r.versionID = curID
		return h.publishReceived(ctx, m, r, alert.SeverityInfo, alert.ActionNone,
			"The client secret is already the current one (AWSCURRENT): this notification was delivered again after the secret was adopted. Nothing was written.", "")
	}
	curExp, curHasExp := cur.ExpiresAt()
	newExp := n.NewClientSecretExpiryTime
	currentIsNewer := curHasExp && !curExp.Before(newExp)

	// Case 4: this notification's version exists.
	if stages, ok := desc.VersionIdsToStages[token]; ok {
		m.versionID = token
		if !slices.Contains(stages, managed.StageReceived) || currentIsNewer {
			m.outcome = outcomeReplaced
			return h.publishReceived(ctx, m, r, alert.SeverityInfo, alert.ActionNone,
				"This notification was delivered again. Its secret was stored earlier, and a newer client secret has been received since; it will not be adopted. Nothing was written.", "")
		}
		m.outcome = outcomeAlreadyStored
		r.did = "This notification was delivered again; its secret was already stored (label " + managed.StageReceived + "). Nothing was written."
		return h.adopt(ctx, m, r)
	}

	// Case 5: LWA_RECEIVED holds the same secret.
	recv, recvID, err := h.readDoc(ctx, sec.ARN, managed.StageReceived)
	switch {
	case isNotFound(err):
		recv = nil
	case errors.Is(err, secretdoc.ErrInvalid):
		// Not a document this project wrote; the new secret replaces it.
		h.logger.LogAttrs(ctx, slog.LevelWarn, "LWA_RECEIVED version is not a valid secret document", append(m.attrs(), slog.String("receivedVersionId", recvID), slog.String("error", err.Error()))...)
		recv = nil
	case err != nil:
		return err
	}
	if recv != nil && recv.ClientSecret() == n.NewClientSecret {
		m.outcome, m.versionID = outcomeAlreadyStored, recvID
		r.versionID = recvID
		if currentIsNewer {
			m.outcome = outcomeReplaced
			return h.publishReceived(ctx, m, r, alert.SeverityInfo, alert.ActionNone,
				"This client secret was already stored under another notification, and AWSCURRENT already holds a secret that expires later; it will not be adopted. Nothing was written.", "")
		}
		r.did = "This client secret was already stored (label " + managed.StageReceived + ") from another notification. Nothing was written."
		return h.adopt(ctx, m, r)
	}

	value, err := cur.WithClientSecret(n.NewClientSecret, newExp)
	if err != nil {
		return fmt.Errorf("receiver: build version %s of %s: %w", token, sec.ARN, err)
	}

	// Case 6: delivered out of order.
	recvExp, recvHasExp := time.Time{}, false
	if recv != nil && recv.ClientID() == n.ClientID {
		recvExp, recvHasExp = recv.ExpiresAt()
	}
	if (recvHasExp && !recvExp.Before(newExp)) || currentIsNewer {
		m.versionID = token
		if err := h.put(ctx, sec.ARN, token, value, managed.StageSuperseded); err != nil && !isExists(err) {
			return err
		}
		m.outcome = outcomeOlder
		later := curExp
		if recvHasExp && recvExp.After(later) {
			later = recvExp
		}
		return h.publishReceived(ctx, m, r, alert.SeverityInfo, alert.ActionNone, fmt.Sprintf(
			"This client secret is older than one already received (which expires %s): it was delivered out of order. It was stored under the label %s so that it is not lost, and it will not be adopted.",
			later.UTC().Format(time.RFC3339), managed.StageSuperseded), "")
	}

	// Case 7: write LWA_RECEIVED.
	m.versionID = token
	switch err := h.put(ctx, sec.ARN, token, value, managed.StageReceived); {
	case err == nil:
		m.outcome = outcomeStored
		r.did = "The new client secret was stored in Secrets Manager as version " + token + " (label " + managed.StageReceived + ")."
	case isExists(err):
		m.outcome = outcomeAlreadyStored
		r.did = "The new client secret was already stored as version " + token + ". Nothing was written."
	default:
		return err
	}
	return h.adopt(ctx, m, r)
}

// adopt is case 8 and 9: make sure a rotation adopts the stored secret, then
// publish NEW_CLIENT_SECRET_RECEIVED.
func (h *Handler) adopt(ctx context.Context, m *message, r *received) error {
	if !r.rotation {
		lambdaARN := r.rotationLambdaARN
		if lambdaARN == "" {
			lambdaARN = "<RotateSecretFunctionArn output of the stack>"
		}
		deadline := "before the previous client secret stops working"
		if !r.n.OldClientSecretExpiryTime.IsZero() {
			deadline += " (" + r.n.OldClientSecretExpiryTime.UTC().Format(time.RFC3339) + ")"
		}
		todo := fmt.Sprintf("Rotation is not enabled for this secret, so nothing will adopt the new client secret. Do one of these %s:\n"+
			"1. Enable rotation; its first run adopts the stored secret without asking Amazon for another one:\n"+
			"  aws secretsmanager rotate-secret --secret-id %s --rotation-lambda-arn %s --rotation-rules AutomaticallyAfterDays=90\n"+
			"   (or add the secret to the stack's RotationSchedule and deploy, then run: aws secretsmanager rotate-secret --secret-id %s)\n"+
			"2. Or make it current by hand, and record its expiry:\n"+
			"  aws secretsmanager update-secret-version-stage --secret-id %s --version-stage AWSCURRENT --move-to-version-id %s --remove-from-version-id %s\n"+
			"  aws secretsmanager tag-resource --secret-id %s --tags Key=%s,Value=%s\n",
			deadline, r.arn, lambdaARN, r.arn,
			r.arn, r.versionID, r.currentID,
			r.arn, managed.TagClientSecretExpiresAt, r.n.NewClientSecretExpiryTime.UTC().Format(time.RFC3339))
		return h.publishReceived(ctx, m, r, alert.SeverityCritical, alert.ActionManual,
			r.did+" Rotation is not enabled for the secret, so it was not adopted.", todo)
	}
	_, err := h.rotations.RotateSecret(ctx, &secretsmanager.RotateSecretInput{SecretId: aws.String(r.arn)})
	switch {
	case err == nil:
		return h.publishReceived(ctx, m, r, alert.SeverityInfo, alert.ActionRotationStarted,
			r.did+" A rotation was started; it adopts the new secret.", "")
	case isInvalidRequest(err):
		inProgress, derr := h.rotationInProgress(ctx, r.arn)
		if derr != nil {
			return fmt.Errorf("receiver: start rotation of %s: %w (and then: %w)", r.arn, err, derr)
		}
		if !inProgress {
			return fmt.Errorf("receiver: start rotation of %s: %w", r.arn, err)
		}
		return h.publishReceived(ctx, m, r, alert.SeverityInfo, alert.ActionRotationResumed,
			r.did+" A rotation in progress will adopt it; Secrets Manager reattempts it.", "")
	default:
		return fmt.Errorf("receiver: start rotation of %s: %w", r.arn, err)
	}
}

// rotationInProgress reports whether a version other than AWSCURRENT holds
// AWSPENDING, which is what makes Secrets Manager refuse RotateSecret.
func (h *Handler) rotationInProgress(ctx context.Context, arn string) (bool, error) {
	desc, err := h.store.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(arn)})
	if err != nil {
		return false, fmt.Errorf("describe secret %s: %w", arn, err)
	}
	for _, stages := range desc.VersionIdsToStages {
		if slices.Contains(stages, managed.StagePending) && !slices.Contains(stages, managed.StageCurrent) {
			return true, nil
		}
	}
	return false, nil
}

// publishReceived publishes NEW_CLIENT_SECRET_RECEIVED (case 9).
func (h *Handler) publishReceived(ctx context.Context, m *message, r *received, sev alert.Severity, action alert.Action, did, todo string) error {
	exp := r.n.NewClientSecretExpiryTime.UTC()
	days := alert.DaysLeft(h.now(), exp)
	app := r.n.Metadata.ApplicationID
	var msg string
	switch action {
	case alert.ActionRotationStarted:
		msg = "A new LWA client secret for " + app + " was received and stored; a rotation was started to adopt it."
	case alert.ActionRotationResumed:
		msg = "A new LWA client secret for " + app + " was received and stored; the rotation in progress will adopt it."
	case alert.ActionManual:
		msg = "A new LWA client secret for " + app + " was stored but will not be adopted because rotation is not enabled: act before the previous secret stops working."
	default:
		msg = "A new LWA client secret notification for " + app + " needed no action: " + m.outcomeSentence()
	}
	a := alert.Alert{
		Event:          alert.EventReceived,
		Severity:       sev,
		ClientID:       r.n.ClientID,
		ApplicationID:  app,
		SecretARN:      r.arn,
		ExpiresAt:      &exp,
		DaysLeft:       &days,
		Action:         action,
		NotificationID: r.n.Metadata.NotificationID,
		MessageID:      m.messageID,
		VersionID:      r.versionID,
		Message:        msg,
		Did:            did,
		ToDo:           todo,
	}
	if err := h.alerts.Publish(ctx, a); err != nil {
		return fmt.Errorf("receiver: message %s: %w", m.messageID, err)
	}
	return nil
}

func (m *message) outcomeSentence() string {
	switch m.outcome {
	case outcomeAlreadyCurrent:
		return "the secret is already the current one."
	case outcomeOlder:
		return "the secret is older than one already received and was stored without being adopted."
	default:
		return "a newer secret has been received since."
	}
}

// reject fails the message as rejected (case 1 and 2) and publishes
// NOTIFICATION_REJECTED once per message id per invocation. n is nil when the
// body could not be parsed (or its client id cannot be named).
func (h *Handler) reject(ctx context.Context, b *batch, m *message, n *notification.NewSecret, cause error, fix string) error {
	err := fmt.Errorf("receiver: message %s: %w: %w", m.messageID, errRejected, cause)
	if b.rejected[m.messageID] {
		return err
	}
	b.rejected[m.messageID] = true
	a := alert.Alert{
		Event:          alert.EventRejected,
		Severity:       alert.SeverityCritical,
		Action:         alert.ActionManual,
		NotificationID: m.notificationID,
		MessageID:      m.messageID,
		ApplicationID:  m.applicationID,
		SecretARN:      m.secretID,
		Message:        "A new LWA client secret notification was rejected and not stored; it may hold a secret that exists nowhere else.",
		Did:            "The message was not stored and failed (reason: " + cause.Error() + "). SQS delivers it again and, after the queue's maximum receives, moves it to the dead-letter queue.",
		ToDo:           fix + rejectRecovery(m),
	}
	if n != nil {
		a.ClientID = n.ClientID
	}
	perr := h.alerts.Publish(ctx, a)
	if errors.Is(perr, alert.ErrLooksSecret) {
		// Some field looked like a secret: say only what is certainly safe.
		a.ClientID, a.ApplicationID, a.SecretARN = "", "", ""
		a.Did = "The message was not stored and failed. SQS delivers it again and, after the queue's maximum receives, moves it to the dead-letter queue."
		a.ToDo = rejectRecovery(m)
		perr = h.alerts.Publish(ctx, a)
	}
	if perr != nil {
		return fmt.Errorf("%w (and then: %w)", err, perr)
	}
	return err
}

// rejectRecovery says how to find a rejected message and store its secret.
func rejectRecovery(m *message) string {
	return "The message's SQS message id is " + m.messageID + ". Its body contains the new client secret: handle it as a secret.\n" +
		"To move it back for another attempt once the cause is fixed:\n" +
		"  aws sqs start-message-move-task --source-arn <ARN of the new-secret dead-letter queue>\n" +
		"To inspect it:\n" +
		"  aws sqs receive-message --queue-url <URL of the new-secret dead-letter queue> --max-number-of-messages 10 --visibility-timeout 30\n" +
		"If it cannot be processed, store the secret by hand before the previous one stops working: write the AWSCURRENT document with the new client secret and clientSecretExpiresAt = newClientSecretExpiryTime to a file, then\n" +
		"  aws secretsmanager put-secret-value --secret-id <secret> --secret-string file://new-secret.json --version-stages " + managed.StageReceived + "\n" +
		"  aws secretsmanager rotate-secret --secret-id <secret>\n" +
		"and delete the file.\n"
}

// readDoc reads and parses the version of arn that holds stage.
func (h *Handler) readDoc(ctx context.Context, arn, stage string) (*secretdoc.Document, string, error) {
	out, err := h.store.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn), VersionStage: aws.String(stage)})
	if err != nil {
		return nil, "", fmt.Errorf("receiver: read %s of %s: %w", stage, arn, err)
	}
	id := aws.ToString(out.VersionId)
	if out.SecretString == nil {
		return nil, id, fmt.Errorf("receiver: read %s version %s of %s: no SecretString: %w", stage, id, arn, secretdoc.ErrInvalid)
	}
	doc, err := secretdoc.Parse([]byte(*out.SecretString), h.keys)
	if err != nil {
		return nil, id, fmt.Errorf("receiver: parse %s version %s of %s: %w", stage, id, arn, err)
	}
	return doc, id, nil
}

// put writes value as version token of arn with the one label stage.
func (h *Handler) put(ctx context.Context, arn, token string, value []byte, stage string) error {
	_, err := h.store.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
		SecretId:           aws.String(arn),
		ClientRequestToken: aws.String(token),
		SecretString:       aws.String(string(value)),
		VersionStages:      []string{stage},
	})
	if err != nil {
		return fmt.Errorf("receiver: put version %s (%s) of %s: %w", token, stage, arn, err)
	}
	return nil
}

func isNotFound(err error) bool {
	var e *types.ResourceNotFoundException
	return errors.As(err, &e)
}

func isExists(err error) bool {
	var e *types.ResourceExistsException
	return errors.As(err, &e)
}

func isInvalidRequest(err error) bool {
	var e *types.InvalidRequestException
	return errors.As(err, &e)
}

// looksSecret reports whether s has the shape of an LWA client secret or
// token, so that it is never logged or published as a client id.
func looksSecret(s string) bool {
	return strings.Contains(s, "amzn1.oa2-cs.") || strings.Contains(s, "Atza|") || strings.Contains(s, "Atzr|")
}
