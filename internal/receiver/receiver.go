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
//     managed.ReceivedToken(notificationId)) exists with a label: a
//     redelivery. Nothing is written; go to 7, which decides again whether
//     it is the newest secret, since the delivery that stored it may have
//     crashed between 6 and 7, or before a rotation was started.
//  5. LWA_RECEIVED holds the same secret (a duplicate under another
//     notification id): nothing is written. Go to 8, unless AWSCURRENT
//     already holds a secret that expires at or after this one (nothing to
//     do).
//  6. Store it: write the AWSCURRENT document with the new secret and
//     clientSecretExpiresAt = newClientSecretExpiryTime as the version of
//     this notification, labelled LWA_SUPERSEDED (PutSecretValue without a
//     label would make the version AWSCURRENT). The same token with the same
//     value is a no-op; ResourceExistsException (the same token with another
//     value) means the version is already there. Any other error fails the
//     message; nothing was acknowledged. From here on the secret is stored
//     whatever happens next, and the decision below never loses it.
//     (6a) Before the write: the label leaves the version that holds it. If
//     that version holds a secret newer than AWSCURRENT and than the holder
//     of LWA_RECEIVED, its own delivery stored it but has not moved
//     LWA_RECEIVED to it yet (7 failed; the message waits for its
//     redelivery), and without a label no rotation would find it meanwhile:
//     it is promoted first, by 7 on its behalf. A failure fails this message
//     before anything is written. (One GetSecretValue, only when
//     LWA_SUPERSEDED is on a version that holds neither LWA_RECEIVED nor
//     AWSCURRENT.)
//  7. Promote it by compare-and-swap on LWA_RECEIVED, at most
//     promoteAttempts times. H is the version holding LWA_RECEIVED as last
//     read (by 5 at first), or none. (7a) H is this version: go to 8. (7b) H
//     holds the same secret: go to 8 with H, as in 5. (7c) AWSCURRENT, or H
//     if it names the same client id, holds a secret that expires at or
//     after this one: this one is older (delivered out of order, or another
//     receiver stored a newer one meanwhile). It stays stored and is not
//     adopted; nothing more is done (INFO, NONE). Expiries are compared as
//     the documents hold them, with the notification's fraction of a second:
//     two secrets issued within one second (a rotate call and a rotation by
//     hand, or two concurrent rotate calls) compared equal in whole seconds,
//     and the newer one, delivered second, was never adopted. (7e) The
//     same expiry as the later of the two, to the millisecond, with another
//     secret: Amazon issued both at once (a rotate call and a rotation by
//     hand), nothing in the notifications orders them, and the one adopted
//     may be the one Amazon replaced, which LWA stops accepting after its
//     grace period. It stays under LWA_SUPERSEDED (never adopted: createSecret
//     wants a strictly later expiry) and LWA_RECEIVED stays where it is. A
//     rotation after the one adopting the other secret must ask Amazon for
//     a secret known to be the newest. When the other secret is AWSCURRENT,
//     go to 8 as if a rotation in progress were adopting a rival (8a, 8b).
//     When it is on LWA_RECEIVED and newer than AWSCURRENT, the next
//     rotation adopts it and asks nothing, even one this delivery starts:
//     RotateSecret (so that the adoption runs; refused when it already
//     does), and the message fails with ErrRotationBusy; its redelivery,
//     once the other secret is AWSCURRENT, goes to 8 (chaos seed 9574 under
//     load: a rotation started here adopted the other secret and nothing
//     asked Amazon, leaving the one Amazon replaced in AWSCURRENT). (7d)
//     Otherwise
//     UpdateSecretVersionStage(LWA_RECEIVED, MoveToVersionId = this version,
//     RemoveFromVersionId = H, omitted when there is no H). On success
//     LWA_SUPERSEDED is taken off this version (best effort: it only tidies
//     the labels) and we go to 8. InvalidParameterException means
//     LWA_RECEIVED is no longer where it was read (another receiver moved
//     it): read H again and repeat from 7a. Attempts used up, or any other
//     error: the message fails, and its retry resumes at 4 with the secret
//     already stored.
//  8. Make sure a rotation adopts it. Rotation not enabled: CRITICAL,
//     MANUAL_ACTION_REQUIRED with the commands that adopt it by hand.
//     Otherwise RotateSecret: started (ROTATION_STARTED), or refused because
//     a rotation is in progress, whose createSecret will find the version
//     (ROTATION_RESUMED; Secrets Manager reattempts it). Any other error
//     fails the message; the retry writes nothing new.
//     (8a) Refused, but the rotation in progress has already written its
//     pending version with another (older) client secret: it will promote
//     that one. The message fails with ErrRotationBusy, and its redelivery,
//     after that rotation finished, starts the rotation that adopts this
//     secret. (8b) Refused, the pending version has no value yet, and 7d
//     moved LWA_RECEIVED from a version holding a secret newer than
//     AWSCURRENT: the rotation's createSecret may have read that version
//     just before the move and be writing the pending version from it now,
//     so "a rotation in progress will adopt it" is not known yet. The
//     receiver reads the pending version again every Config.AdoptPoll, for
//     at most Config.AdoptWait: this secret, ROTATION_RESUMED; another,
//     8a; still no value, the message fails with ErrRotationBusy and its
//     redelivery decides. Without such a version nothing else can be
//     adopted, and the createSecret that is waiting adopts this one.
//  9. Publish NEW_CLIENT_SECRET_RECEIVED saying what happened. A failed
//     publish fails the message; the secret stays stored and the retry
//     writes nothing new.
//
// Why compare-and-swap: the SQS event source runs up to two receivers at
// once. If each read LWA_RECEIVED, judged its own secret newer and then
// wrote it with the label, two receivers with two different secrets could
// interleave so that the label ended on the older one, which Amazon
// invalidates soon after it issued the newer. UpdateSecretVersionStage moves
// a label only when RemoveFromVersionId names the version that holds it now
// (and refuses when the label is attached somewhere and RemoveFromVersionId
// is omitted), so a decision taken on a stale read is refused and taken
// again on a fresh one: LWA_RECEIVED only ever moves to a later expiry,
// whatever the interleaving. AWSCURRENT is read once, in 2: a newer secret reaches
// AWSCURRENT by way of LWA_RECEIVED, which keeps it, so 7c on H covers what
// changes meanwhile; or from LWA_SUPERSEDED while its own delivery is
// between 6 and 7 (see below), which a rotation would have to adopt and
// finish within this message's few calls to go unnoticed.
//
// LWA_SUPERSEDED, like every label, is on one version at a time: of several
// older secrets only the last stored keeps it, and the others stay as
// versions without a label, values intact. It is also on a new secret from
// 6 until 7 has moved LWA_RECEIVED to it, which may take until the
// message's redelivery when the move fails; so that a rotation meanwhile
// neither misses it nor asks Amazon for yet another secret, createSecret
// adopts the LWA_SUPERSEDED version when its expiry is later than those of
// AWSCURRENT and LWA_RECEIVED (rotation package doc, Case 3), and 6a keeps
// another delivery from taking the label off it. An older secret under
// LWA_SUPERSEDED never is adopted.
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
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/spapi-lwa/secret-rotation/internal/alert"
	"github.com/spapi-lwa/secret-rotation/internal/lwa"
	"github.com/spapi-lwa/secret-rotation/internal/managed"
	"github.com/spapi-lwa/secret-rotation/internal/notification"
	"github.com/spapi-lwa/secret-rotation/internal/redact"
	"github.com/spapi-lwa/secret-rotation/internal/secretdoc"
)

// secretReader is the part of Secrets Manager the receiver reads.
type secretReader interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
	DescribeSecret(ctx context.Context, in *secretsmanager.DescribeSecretInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error)
	ListSecrets(ctx context.Context, in *secretsmanager.ListSecretsInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.ListSecretsOutput, error)
}

// secretWriter is the part of Secrets Manager the receiver writes: it
// stores a version, then moves LWA_RECEIVED to it by compare-and-swap.
type secretWriter interface {
	PutSecretValue(ctx context.Context, in *secretsmanager.PutSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.PutSecretValueOutput, error)
	UpdateSecretVersionStage(ctx context.Context, in *secretsmanager.UpdateSecretVersionStageInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.UpdateSecretVersionStageOutput, error)
}

// secretStore is what New takes: one Secrets Manager client in both roles.
type secretStore interface {
	secretReader
	secretWriter
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
	_ secretReader    = (*secretsmanager.Client)(nil)
	_ secretWriter    = (*secretsmanager.Client)(nil)
	_ secretStore     = (*secretsmanager.Client)(nil)
	_ rotationStarter = (*secretsmanager.Client)(nil)
	_ alerter         = (*alert.Publisher)(nil)
)

// ErrRotationBusy fails a message whose secret is stored but cannot be
// adopted yet: the rotation in progress is promoting another client secret.
// The redelivery starts the rotation that adopts it.
var ErrRotationBusy = errors.New("a rotation in progress adopts another client secret; retry after it")

// Config is the receiver's configuration.
type Config struct {
	// Keys names the client id and client secret keys of the secret
	// document (SECRET_CLIENT_ID_KEY, SECRET_CLIENT_SECRET_KEY); zero means
	// secretdoc.DefaultKeys.
	Keys secretdoc.Keys
	// Now is the clock for daysLeft in alerts; nil means time.Now.
	Now func() time.Time
	// AdoptWait bounds how long a message waits for the rotation in
	// progress to write its pending version (case 8b); zero means
	// DefaultAdoptWait. The wait also leaves AdoptWait of the invocation's
	// time to the messages after it.
	AdoptWait time.Duration
	// AdoptPoll is the interval of that wait's reads; zero means
	// DefaultAdoptPoll.
	AdoptPoll time.Duration
}

// Defaults of Config.
const (
	// DefaultAdoptWait is five of the rotation's polls (rotation.DefaultPollInterval).
	DefaultAdoptWait = 10 * time.Second
	DefaultAdoptPoll = time.Second
)

// Handler handles batches of APPLICATION_OAUTH_CLIENT_NEW_SECRET messages.
type Handler struct {
	reader    secretReader
	writer    secretWriter
	rotations rotationStarter
	alerts    alerter
	logger    *slog.Logger
	keys      secretdoc.Keys
	now       func() time.Time
	adoptWait time.Duration
	adoptPoll time.Duration
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
	if cfg.AdoptWait <= 0 {
		cfg.AdoptWait = DefaultAdoptWait
	}
	if cfg.AdoptPoll <= 0 {
		cfg.AdoptPoll = DefaultAdoptPoll
	}
	return &Handler{reader: store, writer: store, rotations: rotations, alerts: alerts, logger: logger, keys: cfg.Keys, now: cfg.Now,
		adoptWait: cfg.AdoptWait, adoptPoll: cfg.AdoptPoll}
}

// Outcomes, as logged (key "outcome").
const (
	outcomeStored         = "stored"
	outcomeAlreadyStored  = "alreadyStored"
	outcomeAlreadyCurrent = "alreadyCurrent"
	outcomeOlder          = "storedSuperseded"
	outcomeReplaced       = "alreadyReplaced"
	outcomeTied           = "storedTied"
	outcomePromoted       = "storedEarlierPromoted"
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
	// rival: LWA_RECEIVED was moved to this secret from a version a
	// rotation in progress may be adopting at this moment (case 8b).
	rival bool
}

func (h *Handler) process(ctx context.Context, b *batch, sm events.SQSMessage, m *message) error {
	// Case 1: parse, validate, find the secret.
	n, err := notification.ParseNewSecret([]byte(sm.Body))
	if err != nil {
		return h.reject(ctx, b, m, nil, err, "")
	}
	m.notificationID = n.Metadata.NotificationID
	m.applicationID = n.Metadata.ApplicationID
	if redact.LooksSecret(n.ClientID) || n.ClientID == n.NewClientSecret.Reveal() {
		// Never log or publish this "client id".
		return h.reject(ctx, b, m, nil, errors.New("receiver: clientId has the shape of a client secret"), "")
	}
	m.clientID = n.ClientID
	sec, err := managed.FindByClientID(ctx, h.reader, n.ClientID)
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
	desc, err := h.reader.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(sec.ARN)})
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
	// The value Case 6 stores. Expiries are compared as stored documents
	// hold them, so this one is read back from it.
	value, err := cur.WithClientSecret(n.NewClientSecret, n.NewClientSecretExpiryTime)
	if err != nil {
		return fmt.Errorf("receiver: build version %s of %s: %w", token, sec.ARN, err)
	}
	exp, err := storedExpiry(value, h.keys, n.NewClientSecretExpiryTime)
	if err != nil {
		return fmt.Errorf("receiver: build version %s of %s: %w", token, sec.ARN, err)
	}
	curExp, curHasExp := cur.ExpiresAt()
	currentIsNewer := curHasExp && !curExp.Before(exp)

	// Case 4: this notification's version exists with a label: nothing is
	// written, and 7 decides again.
	stages, stored := desc.VersionIdsToStages[token]
	m.versionID = token

	// Case 5: LWA_RECEIVED holds the same secret.
	hold, err := h.readHolder(ctx, m, sec.ARN)
	if err != nil {
		return err
	}
	if hold.id != token && hold.holds(n.NewClientSecret) {
		return h.sameSecretReceived(ctx, m, r, hold.id, currentIsNewer, "")
	}

	// Case 6: store it under LWA_SUPERSEDED before deciding anything; first
	// promote a newer secret that would lose that label (6a).
	fresh := false
	if !stored {
		if hold, err = h.promoteWaiting(ctx, m, sec.ARN, desc.VersionIdsToStages, token, cur, hold); err != nil {
			return err
		}
		switch err := h.put(ctx, sec.ARN, token, value, managed.StageSuperseded); {
		case err == nil:
			fresh = true
		case isExists(err):
			// Stored by an earlier delivery.
		default:
			return err
		}
	}
	labelled := fresh || slices.Contains(stages, managed.StageSuperseded)

	// Case 7: promote it by compare-and-swap on LWA_RECEIVED.
	res, hold, err := h.promote(ctx, m, sec.ARN, token, candidate{n.ClientID, n.NewClientSecret, exp}, hold, currentIsNewer)
	if err != nil {
		return err
	}
	switch res {
	case older:
		later := curExp
		if e, ok := hold.expiresAt(n.ClientID); ok && e.After(later) {
			later = e
		}
		if exp.Equal(later) {
			// Case 7e: issued in the same millisecond as the newest secret
			// received: neither can be told to be the newer, and the one
			// adopted may be the one Amazon replaced. A rotation must ask
			// Amazon for a secret known to be the newest.
			m.outcome = outcomeTied
			r.rival = true // a rotation in progress adopts the other one (8b)
			r.did = fmt.Sprintf("This client secret expires at the same instant (%s) as one already received: Amazon issued both at once, and which one it replaced cannot be told. It was stored as version %s (label %s) so that it is not lost; a rotation asks Amazon for a newer client secret.",
				later.UTC().Format(time.RFC3339Nano), token, managed.StageSuperseded)
			if r.rotation && later.After(curExp) {
				return h.awaitTiedAdoption(ctx, r, hold.id)
			}
			return h.adopt(ctx, m, r)
		}
		if !fresh {
			m.outcome = outcomeReplaced
			return h.publishReceived(ctx, m, r, alert.SeverityInfo, alert.ActionNone,
				"This notification was delivered again. Its secret was stored earlier, and a newer client secret has been received since; it will not be adopted. Nothing was written.", "")
		}
		m.outcome = outcomeOlder
		return h.publishReceived(ctx, m, r, alert.SeverityInfo, alert.ActionNone, fmt.Sprintf(
			"This client secret is older than one already received (which expires %s): it was delivered out of order, or a newer one arrived at the same time. It was stored as version %s (label %s) so that it is not lost, and it will not be adopted.",
			later.UTC().Format(time.RFC3339), token, managed.StageSuperseded), "")
	case duplicate:
		also := ""
		if fresh {
			also = " A copy was stored as version " + token + " (label " + managed.StageSuperseded + ") before it was found."
		}
		return h.sameSecretReceived(ctx, m, r, hold.id, false, also)
	case held:
		if fresh {
			m.outcome = outcomeStored
			r.did = "The new client secret was stored in Secrets Manager as version " + token + " (label " + managed.StageReceived + ")."
		} else {
			m.outcome = outcomeAlreadyStored
			r.did = "This notification was delivered again; its secret was already stored (label " + managed.StageReceived + "). Nothing was written."
		}
	case promoted:
		r.rival = rivalOf(hold, cur)
		if fresh {
			m.outcome = outcomeStored
			r.did = "The new client secret was stored in Secrets Manager as version " + token + " (label " + managed.StageReceived + ")."
		} else {
			m.outcome = outcomePromoted
			r.did = "This notification was delivered again; its secret was already stored as version " + token + " and is the newest received, so the label " + managed.StageReceived + " was moved to it."
		}
	}
	if labelled {
		h.untagSuperseded(ctx, m, sec.ARN, token)
	}
	return h.adopt(ctx, m, r)
}

// sameSecretReceived is case 5 (and 7b): the version id holding LWA_RECEIVED has the
// same secret, stored under another notification. also is appended to what
// the receiver did.
func (h *Handler) sameSecretReceived(ctx context.Context, m *message, r *received, id string, currentIsNewer bool, also string) error {
	m.outcome, m.versionID = outcomeAlreadyStored, id
	r.versionID = id
	if currentIsNewer {
		m.outcome = outcomeReplaced
		return h.publishReceived(ctx, m, r, alert.SeverityInfo, alert.ActionNone,
			"This client secret was already stored under another notification, and AWSCURRENT already holds a secret that expires later; it will not be adopted. Nothing was written.", "")
	}
	if also == "" {
		also = " Nothing was written."
	}
	r.did = "This client secret was already stored (label " + managed.StageReceived + ") from another notification." + also
	return h.adopt(ctx, m, r)
}

// holder is the version holding LWA_RECEIVED, as read.
type holder struct {
	id  string              // "" when no version holds LWA_RECEIVED
	doc *secretdoc.Document // nil when there is none or it is not a secret document
}

func (o holder) holds(secret lwa.ClientSecret) bool {
	return o.doc != nil && o.doc.ClientSecret() == secret
}

// expiresAt is the holder's expiry when it names clientID; a holder for
// another client id (or none, or without an expiry) does not count.
func (o holder) expiresAt(clientID string) (time.Time, bool) {
	if o.doc == nil || o.doc.ClientID() != clientID {
		return time.Time{}, false
	}
	return o.doc.ExpiresAt()
}

// readHolder reads the version holding LWA_RECEIVED (cases 5 and 7).
func (h *Handler) readHolder(ctx context.Context, m *message, arn string) (holder, error) {
	doc, id, err := h.readDoc(ctx, arn, managed.StageReceived)
	switch {
	case err == nil:
		return holder{id: id, doc: doc}, nil
	case isNotFound(err):
		return holder{}, nil
	case errors.Is(err, secretdoc.ErrInvalid):
		// Not a document this project wrote; a new secret replaces it.
		h.logger.LogAttrs(ctx, slog.LevelWarn, "LWA_RECEIVED version is not a valid secret document", append(m.attrs(), slog.String("receivedVersionId", id), slog.String("error", err.Error()))...)
		return holder{id: id}, nil
	default:
		return holder{}, err
	}
}

// promoteAttempts bounds case 7: each refused move means another receiver
// moved LWA_RECEIVED in between, and at most two run at once.
const promoteAttempts = 5

// promotion is the result of case 7.
type promotion int

const (
	promoted  promotion = iota // this call moved LWA_RECEIVED to the version (7d)
	held                       // the version already held LWA_RECEIVED (7a)
	duplicate                  // the holder has the same secret (7b)
	older                      // AWSCURRENT or the holder expires at or after it (7c)
)

// candidate is a stored secret that promote may move LWA_RECEIVED to.
type candidate struct {
	clientID string
	secret   lwa.ClientSecret
	exp      time.Time // as stored
}

// promote is case 7: it moves LWA_RECEIVED to version token, holding s,
// unless a secret that expires at or after s is already there, by compare-and-swap
// from hold, the holder as last read. It returns the holder the decision was
// taken on.
func (h *Handler) promote(ctx context.Context, m *message, arn, token string, s candidate, hold holder, currentIsNewer bool) (promotion, holder, error) {
	if currentIsNewer {
		return older, hold, nil
	}
	for attempt := 1; ; attempt++ {
		// Case 7a, 7b, 7c.
		if hold.id == token {
			return held, hold, nil
		}
		if hold.holds(s.secret) {
			return duplicate, hold, nil
		}
		if e, ok := hold.expiresAt(s.clientID); ok && !e.Before(s.exp) {
			return older, hold, nil
		}
		// Case 7d: move the label only if it is still where it was read.
		in := &secretsmanager.UpdateSecretVersionStageInput{
			SecretId:        aws.String(arn),
			VersionStage:    aws.String(managed.StageReceived),
			MoveToVersionId: aws.String(token),
		}
		if hold.id != "" {
			in.RemoveFromVersionId = aws.String(hold.id)
		}
		_, err := h.writer.UpdateSecretVersionStage(ctx, in)
		switch {
		case err == nil:
			return promoted, hold, nil
		case !isInvalidParameter(err):
			return 0, hold, fmt.Errorf("receiver: move %s of %s to version %s: %w", managed.StageReceived, arn, token, err)
		case attempt == promoteAttempts:
			return 0, hold, fmt.Errorf("receiver: move %s of %s to version %s: moved by others %d times in a row: %w", managed.StageReceived, arn, token, attempt, err)
		}
		h.logger.LogAttrs(ctx, slog.LevelInfo, "LWA_RECEIVED moved since it was read; reading it again",
			append(m.attrs(), slog.String("receivedVersionId", hold.id), slog.Int("attempt", attempt))...)
		if hold, err = h.readHolder(ctx, m, arn); err != nil {
			return 0, hold, err
		}
	}
}

// promoteWaiting is case 6a. stages is the secret's version stages as read
// at the start; hold the holder of LWA_RECEIVED. The version that holds
// LWA_SUPERSEDED is about to lose the label to version token. If it holds a
// newer secret than AWSCURRENT (cur) and hold, it is a secret whose delivery
// stored it (6) but has not moved LWA_RECEIVED to it yet (7 failed, the
// message waits for its redelivery). Without a label no rotation would find
// it meanwhile, so it is promoted here, as its own delivery would. It
// returns the holder of LWA_RECEIVED afterwards.
func (h *Handler) promoteWaiting(ctx context.Context, m *message, arn string, stages map[string][]string, token string, cur *secretdoc.Document, hold holder) (holder, error) {
	id := managed.Holder(stages, managed.StageSuperseded)
	if id == "" || id == token || id == hold.id || slices.Contains(stages[id], managed.StageCurrent) {
		return hold, nil
	}
	out, err := h.reader.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn), VersionId: aws.String(id)})
	switch {
	case isNotFound(err):
		return hold, nil
	case err != nil:
		return hold, fmt.Errorf("receiver: read %s version %s of %s: %w", managed.StageSuperseded, id, arn, err)
	}
	doc, err := secretdoc.Parse([]byte(aws.ToString(out.SecretString)), h.keys)
	if err != nil || doc.ClientID() != cur.ClientID() || doc.ClientSecret() == cur.ClientSecret() {
		return hold, nil
	}
	exp, ok := doc.ExpiresAt()
	if curExp, curOK := cur.ExpiresAt(); !ok || curOK && !curExp.Before(exp) {
		return hold, nil // older than AWSCURRENT: an out-of-order secret
	}
	res, hold, err := h.promote(ctx, m, arn, id, candidate{doc.ClientID(), doc.ClientSecret(), exp}, hold, false)
	if err != nil {
		return hold, err
	}
	if res == promoted {
		h.logger.LogAttrs(ctx, slog.LevelInfo, "moved LWA_RECEIVED to a newer stored secret that was waiting for it",
			append(m.attrs(), slog.String("receivedVersionId", id))...)
		hold = holder{id: id, doc: doc}
	}
	return hold, nil
}

// untagSuperseded takes LWA_SUPERSEDED off version token, which now holds
// LWA_RECEIVED (case 7d). RemoveFromVersionId makes it a no-op when another
// version has taken the label since. Best effort: the label only says the
// version is not the newest, so a failure is logged and changes nothing else.
func (h *Handler) untagSuperseded(ctx context.Context, m *message, arn, token string) {
	_, err := h.writer.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{
		SecretId:            aws.String(arn),
		VersionStage:        aws.String(managed.StageSuperseded),
		RemoveFromVersionId: aws.String(token),
	})
	if err != nil && !isInvalidParameter(err) {
		h.logger.LogAttrs(ctx, slog.LevelWarn, "LWA_SUPERSEDED left on the version holding LWA_RECEIVED",
			append(m.attrs(), slog.String("error", fmt.Errorf("receiver: remove %s from version %s of %s: %w", managed.StageSuperseded, token, arn, err).Error()))...)
	}
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
		pendingID, derr := h.rotationInProgress(ctx, r.arn)
		if derr != nil {
			return fmt.Errorf("receiver: start rotation of %s: %w (and then: %w)", r.arn, err, derr)
		}
		if pendingID == "" {
			return fmt.Errorf("receiver: start rotation of %s: %w", r.arn, err)
		}
		// Case 8a: the rotation in progress already wrote its pending
		// version with another client secret, so it will promote that one,
		// not this newer one. Fail the message: SQS redelivers it after the
		// rotation has finished, and that delivery's RotateSecret starts the
		// rotation that adopts this secret.
		state, perr := h.pendingState(ctx, r, pendingID)
		if perr == nil && state == pendingEmpty && r.rival {
			// Case 8b: its createSecret may be adopting the version
			// LWA_RECEIVED was moved from: wait until it has written.
			state, perr = h.awaitPending(ctx, r, pendingID)
		}
		switch {
		case perr != nil:
			return fmt.Errorf("receiver: start rotation of %s: %w (and then: %w)", r.arn, err, perr)
		case state == pendingOther:
			return fmt.Errorf("receiver: the rotation in progress on %s (version %s) adopts another client secret; version %s waits for a rotation after it: %w", r.arn, pendingID, r.versionID, ErrRotationBusy)
		case state == pendingEmpty && r.rival:
			return fmt.Errorf("receiver: the rotation in progress on %s (version %s) has not written its pending version yet and may adopt the previous %s; version %s waits until it has: %w", r.arn, pendingID, managed.StageReceived, r.versionID, ErrRotationBusy)
		}
		return h.publishReceived(ctx, m, r, alert.SeverityInfo, alert.ActionRotationResumed,
			r.did+" A rotation in progress will adopt it; Secrets Manager reattempts it.", "")
	default:
		return fmt.Errorf("receiver: start rotation of %s: %w", r.arn, err)
	}
}

// awaitTiedAdoption handles a secret tied with the one on LWA_RECEIVED
// (version heldID), which is newer than AWSCURRENT (Case 7e): the next
// rotation, started now or already running, adopts that one, not this, and
// only a rotation after it can ask Amazon for a secret known to be the
// newest. A rotation started by this delivery would be that next one and
// ask nothing. So it makes sure the adoption runs (RotateSecret, refused
// when it already does) and fails the message with ErrRotationBusy: the
// redelivery, once the other secret is AWSCURRENT, starts the rotation that
// asks.
func (h *Handler) awaitTiedAdoption(ctx context.Context, r *received, heldID string) error {
	_, err := h.rotations.RotateSecret(ctx, &secretsmanager.RotateSecretInput{SecretId: aws.String(r.arn)})
	if err != nil && !isInvalidRequest(err) {
		return fmt.Errorf("receiver: start rotation of %s: %w", r.arn, err)
	}
	return fmt.Errorf("receiver: version %s of %s expires at the same instant as version %s (label %s), which a rotation adopts first; it waits until that rotation has finished, and its redelivery starts the rotation that asks Amazon for a newer client secret: %w",
		r.versionID, r.arn, heldID, managed.StageReceived, ErrRotationBusy)
}

// rotationInProgress returns the id of a version other than AWSCURRENT that
// holds AWSPENDING (a rotation is in progress), or "".
func (h *Handler) rotationInProgress(ctx context.Context, arn string) (string, error) {
	desc, err := h.reader.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(arn)})
	if err != nil {
		return "", fmt.Errorf("describe secret %s: %w", arn, err)
	}
	return managed.PendingVersion(desc.VersionIdsToStages), nil
}

// pending is what the pending version of a rotation in progress holds.
type pending int

const (
	pendingEmpty pending = iota // no value yet: its createSecret has not written it
	pendingThis                 // the secret of this message (or no document to promote)
	pendingOther                // another client secret
)

// pendingState reads the pending version pendingID (by id: it keeps its
// value when the rotation finishes meanwhile).
func (h *Handler) pendingState(ctx context.Context, r *received, pendingID string) (pending, error) {
	out, err := h.reader.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{
		SecretId: aws.String(r.arn), VersionId: aws.String(pendingID),
	})
	switch {
	case isNotFound(err):
		return pendingEmpty, nil
	case err != nil:
		return 0, fmt.Errorf("read pending version %s of %s: %w", pendingID, r.arn, err)
	}
	doc, err := secretdoc.Parse([]byte(aws.ToString(out.SecretString)), h.keys)
	if err != nil {
		// Not a document the rotation would promote; setSecret fails it.
		return pendingThis, nil
	}
	if doc.ClientSecret().Reveal() != r.n.NewClientSecret.Reveal() {
		return pendingOther, nil
	}
	return pendingThis, nil
}

// awaitPending re-reads the pending version every adoptPoll until it has a
// value, for at most adoptWait, and never into the last adoptWait before
// the invocation's deadline (case 8b).
func (h *Handler) awaitPending(ctx context.Context, r *received, pendingID string) (pending, error) {
	until := time.Now().Add(h.adoptWait)
	if dl, ok := ctx.Deadline(); ok && dl.Add(-h.adoptWait).Before(until) {
		until = dl.Add(-h.adoptWait)
	}
	for time.Now().Add(h.adoptPoll).Before(until) {
		t := time.NewTimer(h.adoptPoll)
		select {
		case <-ctx.Done():
			t.Stop()
			return pendingEmpty, nil
		case <-t.C:
		}
		state, err := h.pendingState(ctx, r, pendingID)
		if err != nil || state != pendingEmpty {
			return state, err
		}
	}
	return pendingEmpty, nil
}

// rivalOf reports whether hold, the version LWA_RECEIVED was moved from,
// holds a secret a rotation would adopt: another client secret of the same
// client, newer than AWSCURRENT (cur) by its expiry (without both expiries,
// any).
func rivalOf(hold holder, cur *secretdoc.Document) bool {
	if hold.doc == nil || hold.doc.ClientID() != cur.ClientID() || hold.doc.ClientSecret() == cur.ClientSecret() {
		return false
	}
	he, hok := hold.doc.ExpiresAt()
	ce, cok := cur.ExpiresAt()
	return !hok || !cok || he.After(ce)
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

// storedExpiry is the clientSecretExpiresAt of value, the document built
// from AWSCURRENT with the notification's secret and expiry: that expiry at
// the precision documents hold. A zero expiry (not written) stays zero.
func storedExpiry(value []byte, keys secretdoc.Keys, expiresAt time.Time) (time.Time, error) {
	if expiresAt.IsZero() {
		return time.Time{}, nil
	}
	doc, err := secretdoc.Parse(value, keys)
	if err != nil {
		return time.Time{}, err
	}
	exp, ok := doc.ExpiresAt()
	if !ok {
		return time.Time{}, fmt.Errorf("%w: no %s", secretdoc.ErrInvalid, secretdoc.ExpiresAtKey)
	}
	return exp, nil
}

// readDoc reads and parses the version of arn that holds stage.
func (h *Handler) readDoc(ctx context.Context, arn, stage string) (*secretdoc.Document, string, error) {
	out, err := h.reader.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn), VersionStage: aws.String(stage)})
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
	_, err := h.writer.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
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

func isInvalidParameter(err error) bool {
	var e *types.InvalidParameterException
	return errors.As(err, &e)
}

func isInvalidRequest(err error) bool {
	var e *types.InvalidRequestException
	return errors.As(err, &e)
}
