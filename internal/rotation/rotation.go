package rotation

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/spapi-lwa/secret-rotation/internal/alert"
	"github.com/spapi-lwa/secret-rotation/internal/endpoint"
	"github.com/spapi-lwa/secret-rotation/internal/lwa"
	"github.com/spapi-lwa/secret-rotation/internal/managed"
	"github.com/spapi-lwa/secret-rotation/internal/retry"
	"github.com/spapi-lwa/secret-rotation/internal/secretdoc"
	"github.com/spapi-lwa/secret-rotation/internal/spapi"
)

// Steps of a Secrets Manager rotation, as the event names them.
const (
	StepCreate = "createSecret"
	StepSet    = "setSecret"
	StepTest   = "testSecret"
	StepFinish = "finishSecret"
)

var (
	// ErrSecretNotReceived: the new secret has not arrived before the deadline (Case 6).
	ErrSecretNotReceived = errors.New("the new client secret has not arrived yet; Secrets Manager will retry the rotation, and the receiver resumes it as soon as the secret arrives")
	// ErrMisconfigured: a person must fix the secret's value or tags (Case 2, Case 7).
	ErrMisconfigured = errors.New("managed secret is misconfigured")
)

type secretStore interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
	PutSecretValue(ctx context.Context, in *secretsmanager.PutSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.PutSecretValueOutput, error)
	DescribeSecret(ctx context.Context, in *secretsmanager.DescribeSecretInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error)
	UpdateSecretVersionStage(ctx context.Context, in *secretsmanager.UpdateSecretVersionStageInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.UpdateSecretVersionStageOutput, error)
	secretIndex
}

type secretIndex interface {
	ListSecretVersionIds(ctx context.Context, in *secretsmanager.ListSecretVersionIdsInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.ListSecretVersionIdsOutput, error)
	ListSecrets(ctx context.Context, in *secretsmanager.ListSecretsInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.ListSecretsOutput, error)
}

type secretTagger interface {
	TagResource(ctx context.Context, in *secretsmanager.TagResourceInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.TagResourceOutput, error)
	UntagResource(ctx context.Context, in *secretsmanager.UntagResourceInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.UntagResourceOutput, error)
}

type tokenSource interface {
	ClientCredentials(ctx context.Context, clientID string, secret lwa.ClientSecret, scope string) (lwa.Token, error)
}

type secretRotator interface {
	RotateApplicationClientSecret(ctx context.Context, token lwa.AccessToken) error
}

type alerter interface {
	Publish(ctx context.Context, a alert.Alert) error
}

var (
	_ secretStore   = (*secretsmanager.Client)(nil)
	_ secretTagger  = (*secretsmanager.Client)(nil)
	_ tokenSource   = (*lwa.Client)(nil)
	_ secretRotator = (*spapi.Client)(nil)
	_ alerter       = (*alert.Publisher)(nil)
)

// Config tunes a Rotator. A zero field takes its default.
type Config struct {
	// Keys names the document's client id and secret keys (default secretdoc.DefaultKeys).
	Keys secretdoc.Keys
	// Cooldown: how long an outstanding request is waited for before asking again (Case 4).
	Cooldown time.Duration
	// PollInterval spaces the looks for the new secret until DeadlineMargin (10s) before the deadline.
	PollInterval, DeadlineMargin time.Duration
	// TestRetryFor (default 60s) bounds the retries of invalid_client, TestRetryInterval (5s) spaces them.
	TestRetryFor, TestRetryInterval time.Duration
	// RejectAfter: how long LWA must have refused a stored secret before it is rejected (Case 9).
	RejectAfter time.Duration
	// Settle is the wait before reading rotation-requested-at back (Case 5; negative: none).
	Settle time.Duration
	// Now is the clock for tags and alerts (default time.Now).
	Now func() time.Time
}

// Defaults.
const (
	DefaultCooldown     = 30 * time.Minute
	DefaultPollInterval = 2 * time.Second
	DefaultSettle       = 500 * time.Millisecond
	DefaultRejectAfter  = 15 * time.Minute // shorter than the new-secret queue's redelivery budget
)

// Rotator runs the rotation steps. It holds only dependencies.
type Rotator struct {
	store  secretStore
	tagger secretTagger
	tokens tokenSource
	api    secretRotator
	alerts alerter
	logger *slog.Logger
	cfg    Config
}

// New returns a Rotator; store and tagger are usually one *secretsmanager.Client. A nil logger discards logs.
func New(store secretStore, tagger secretTagger, tokens tokenSource, api secretRotator, alerts alerter,
	logger *slog.Logger, cfg Config) *Rotator {
	cfg.Keys = cmp.Or(cfg.Keys, secretdoc.DefaultKeys)
	cfg.Cooldown = cmp.Or(cfg.Cooldown, DefaultCooldown)
	cfg.PollInterval = cmp.Or(cfg.PollInterval, DefaultPollInterval)
	cfg.DeadlineMargin = cmp.Or(cfg.DeadlineMargin, 10*time.Second)
	cfg.TestRetryFor = cmp.Or(cfg.TestRetryFor, 60*time.Second)
	cfg.TestRetryInterval = cmp.Or(cfg.TestRetryInterval, 5*time.Second)
	cfg.Settle = cmp.Or(cfg.Settle, DefaultSettle)
	cfg.RejectAfter = cmp.Or(cfg.RejectAfter, DefaultRejectAfter)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	logger = cmp.Or(logger, slog.New(slog.DiscardHandler))
	return &Rotator{store: store, tagger: tagger, tokens: tokens, api: api, alerts: alerts, logger: logger, cfg: cfg}
}

type call struct {
	step, secretID, token, arn string
	stages                     map[string][]string
	tags                       map[string]string
	log                        *slog.Logger
}

func (c *call) errorf(format string, a ...any) error {
	return fmt.Errorf("rotation: %s %s version %s: "+format, append([]any{c.step, c.secretID, c.token}, a...)...)
}

// Handle runs one rotation step. It is the Lambda handler of rotate-secret.
func (r *Rotator) Handle(ctx context.Context, ev events.SecretsManagerSecretRotationEvent) (err error) {
	log := r.logger.With("step", ev.Step, "secretId", ev.SecretID, "versionId", ev.ClientRequestToken)
	defer func() {
		switch {
		case err == nil:
			log.InfoContext(ctx, "rotation step succeeded")
		case errors.Is(err, ErrSecretNotReceived):
			log.WarnContext(ctx, "rotation step waiting for the new client secret", "error", err)
		default:
			log.ErrorContext(ctx, "rotation step failed", "error", err)
		}
	}()
	step, ok := map[string]func(context.Context, *call, *version) error{
		StepCreate: r.createSecret, StepSet: r.setSecret, StepTest: r.testSecret, StepFinish: r.finishSecret,
	}[ev.Step]
	if !ok {
		return fmt.Errorf("rotation: unknown step %q for secret %s", ev.Step, ev.SecretID)
	}
	if ev.SecretID == "" || ev.ClientRequestToken == "" {
		return fmt.Errorf("rotation: %s: event has no SecretId or ClientRequestToken", ev.Step)
	}
	c := &call{step: ev.Step, secretID: ev.SecretID, token: ev.ClientRequestToken, log: log}
	out, err := r.store.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(c.secretID)})
	if err != nil {
		return c.errorf("describe secret: %w", err)
	}
	c.arn, c.stages, c.tags = aws.ToString(out.ARN), out.VersionIdsToStages, managed.TagMap(out.Tags)
	stages, ok := c.stages[c.token]
	switch {
	case !aws.ToBool(out.RotationEnabled):
		return c.errorf("rotation is not enabled for the secret")
	case !ok:
		return c.errorf("the secret has no such version")
	case slices.Contains(stages, managed.StageCurrent) && ev.Step == StepFinish:
		return r.finishRetried(ctx, c) // Case 11: the one exception to "already current".
	case slices.Contains(stages, managed.StageCurrent):
		log.InfoContext(ctx, "version is already AWSCURRENT; nothing to do")
		return nil
	case !slices.Contains(stages, managed.StagePending):
		return c.errorf("version is not AWSPENDING")
	}
	pending, invalid, err := r.read(ctx, c, &c.token, aws.String(managed.StagePending))
	if err != nil {
		return c.errorf("read pending version: %w", err)
	} else if invalid != nil {
		return c.errorf("pending value: %w", invalid)
	} else if pending == nil && (ev.Step == StepSet || ev.Step == StepFinish) {
		return c.errorf("pending version has no value: createSecret has not completed")
	}
	return step(ctx, c, pending)
}

type version struct {
	id      string
	created time.Time
	doc     *secretdoc.Document
}

// read returns nil when the version has no value, or invalid: why it is not a secret document.
func (r *Rotator) read(ctx context.Context, c *call, versionID, stage *string) (v *version, invalid, err error) {
	out, err := r.store.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{
		SecretId: aws.String(c.secretID), VersionId: versionID, VersionStage: stage,
	})
	if errors.As(err, new(*types.ResourceNotFoundException)) {
		return nil, nil, nil
	} else if err != nil {
		return nil, nil, err
	}
	if out.SecretString == nil {
		return nil, errors.New("value is binary, not a JSON secret document"), nil
	}
	doc, err := secretdoc.Parse([]byte(*out.SecretString), r.cfg.Keys)
	if err != nil {
		return nil, err, nil
	}
	return &version{id: aws.ToString(out.VersionId), created: aws.ToTime(out.CreatedDate), doc: doc}, nil, nil
}

func (r *Rotator) readCurrent(ctx context.Context, c *call) (*version, error) {
	cur, invalid, err := r.read(ctx, c, nil, aws.String(managed.StageCurrent))
	switch {
	case err != nil:
		return nil, c.errorf("read AWSCURRENT: %w", err)
	case invalid != nil:
		return nil, c.errorf("AWSCURRENT is not a valid secret document: %w: %w; put a JSON object whose keys %q and %q hold the client id and client secret", ErrMisconfigured, invalid, r.cfg.Keys.ClientID, r.cfg.Keys.ClientSecret)
	case cur == nil:
		return nil, c.errorf("AWSCURRENT has no value: %w; put the application's credentials as a JSON object with the keys %q and %q", ErrMisconfigured, r.cfg.Keys.ClientID, r.cfg.Keys.ClientSecret)
	}
	return cur, r.checkClient(c, cur.doc)
}

// checkClient's errors quote no value: a broken document may hold the client secret as its client id.
func (r *Rotator) checkClient(c *call, doc *secretdoc.Document) error {
	switch tag := c.tags[managed.TagClientID]; {
	case tag == "":
		return c.errorf("the secret has no tag %s: %w; tag it with the client id that its value holds under the key %q", managed.TagClientID, ErrMisconfigured, r.cfg.Keys.ClientID)
	case tag != doc.ClientID():
		return c.errorf("the value under the key %q is not the client id that the tag %s names: %w; correct the tag or the value", r.cfg.Keys.ClientID, managed.TagClientID, ErrMisconfigured)
	}
	c.log = c.log.With("clientId", doc.ClientID())
	return nil
}

// giveUp is the earlier of limit (zero: none) and DeadlineMargin before ctx's deadline.
func (r *Rotator) giveUp(ctx context.Context, limit time.Time) time.Time {
	if d, ok := ctx.Deadline(); ok && (limit.IsZero() || d.Add(-r.cfg.DeadlineMargin).Before(limit)) {
		return d.Add(-r.cfg.DeadlineMargin)
	}
	return limit
}

func (r *Rotator) failWithAlert(ctx context.Context, c *call, clientID string, err error, message, did, todo string) error {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if perr := r.alerts.Publish(cctx, alert.Alert{
		Event: alert.EventRotationFailed, Severity: alert.SeverityCritical, Action: alert.ActionManual,
		ClientID: clientID, SecretARN: c.arn, VersionID: c.token, Message: message, Did: did, ToDo: todo,
	}); perr != nil {
		return errors.Join(err, c.errorf("publish %s alert: %w", alert.EventRotationFailed, perr))
	}
	return err
}

const nothingRequested = "Nothing was requested from Amazon; the secret is unchanged."

func (r *Rotator) createSecret(ctx context.Context, c *call, pending *version) error {
	// Case 1: the token's version already has a value.
	if pending != nil {
		c.log.InfoContext(ctx, "pending version already has a value")
		return nil
	}

	// Case 2: AWSCURRENT must be a valid document for the tagged client id.
	cur, err := r.readCurrent(ctx, c)
	if errors.Is(err, ErrMisconfigured) {
		return r.failWithAlert(ctx, c, c.tags[managed.TagClientID], err,
			"The secret cannot be rotated until its value or tags are fixed.", nothingRequested, err.Error())
	} else if err != nil {
		return err
	} else if cur.id == c.token { // Case 1: a concurrent run finished the rotation after the entry checks.
		c.log.InfoContext(ctx, "version is already AWSCURRENT; nothing to do")
		return nil
	}

	// Case 3: adopt a secret already stored.
	seen := map[string]*version{}
	if adopted, err := r.adoptStored(ctx, c, cur, seen); err != nil || adopted {
		return err
	}

	// Case 4: a request is outstanding.
	if at, ok := r.outstanding(ctx, c, cur); ok {
		c.log.InfoContext(ctx, "rotation already requested; waiting for the new client secret", "requestedAt", at)
	} else if err := r.requestSecret(ctx, c, cur); err != nil { // Case 5: request a new secret.
		return err
	}

	// Case 6: wait for it.
	giveUp, start := r.giveUp(ctx, time.Time{}), time.Now()
	for polls := 1; ; polls++ {
		if !retry.Sleep(ctx, r.cfg.PollInterval) {
			return c.errorf("wait for the new client secret: %w", ctx.Err())
		}
		if adopted, err := r.adoptStored(ctx, c, cur, seen); err != nil || adopted {
			return err
		}
		if !giveUp.IsZero() && time.Now().Add(r.cfg.PollInterval).After(giveUp) {
			return c.errorf("waited %s (%d looks): %w", time.Since(start).Round(time.Millisecond), polls, ErrSecretNotReceived)
		}
		c.log.DebugContext(ctx, "new client secret not received yet", "polls", polls)
	}
}

func (r *Rotator) outstanding(ctx context.Context, c *call, cur *version) (time.Time, bool) {
	v, ok := c.tags[managed.TagRotationRequestedAt]
	at, err := time.Parse(time.RFC3339Nano, v)
	if ok && err != nil {
		c.log.WarnContext(ctx, "ignoring unreadable tag", "tag", managed.TagRotationRequestedAt)
	}
	return at, ok && err == nil && at.After(cur.created) && r.cfg.Now().Sub(at) < r.cfg.Cooldown
}

func (r *Rotator) adoptStored(ctx context.Context, c *call, cur *version, seen map[string]*version) (bool, error) {
	stored, err := r.stored(ctx, c, cur.id, seen)
	if err != nil {
		return false, err
	}
	best, tied := choose(cur, stored, c.tags[managed.TagRejectedSecrets])
	if tied {
		c.log.InfoContext(ctx, "two received client secrets expire at the same instant; neither is adopted")
	}
	if best == nil {
		return false, nil
	}
	return true, r.writePending(ctx, c, cur, best)
}

// stored reads only the versions not in seen.
func (r *Rotator) stored(ctx context.Context, c *call, currentID string, seen map[string]*version) ([]*version, error) {
	in := &secretsmanager.ListSecretVersionIdsInput{SecretId: aws.String(c.secretID), IncludeDeprecated: aws.Bool(true)}
	var stored []*version
	for pages := secretsmanager.NewListSecretVersionIdsPaginator(r.store, in); pages.HasMorePages(); {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, c.errorf("list versions: %w", err)
		}
		for _, e := range page.Versions {
			id := aws.ToString(e.VersionId)
			if id == c.token || id == currentID || slices.Contains(e.VersionStages, managed.StagePrevious) {
				continue // the empty pending version, or a secret already replaced
			}
			v, ok := seen[id]
			if !ok {
				if v, err = r.readStored(ctx, c, id); err != nil {
					return nil, err
				}
				seen[id] = v
			}
			if v != nil {
				stored = append(stored, v)
			}
		}
	}
	return stored, nil
}

func (r *Rotator) readStored(ctx context.Context, c *call, id string) (*version, error) {
	v, invalid, err := r.read(ctx, c, &id, nil)
	if err != nil {
		return nil, c.errorf("read version %s: %w", id, err)
	} else if invalid != nil {
		c.log.WarnContext(ctx, "stored version is not a valid secret document; not adopted", "storedVersionId", id, "error", invalid)
	}
	return v, nil
}

// choose is the pure decision of Case 3: the version to adopt, or nil (always on a tie).
func choose(cur *version, stored []*version, rejected string) (best *version, tied bool) {
	for _, v := range stored {
		switch {
		case v.doc.ClientID() != cur.doc.ClientID(),
			v.doc.ClientSecret() == cur.doc.ClientSecret(),
			managed.Rejected(rejected, v.doc.ClientSecret().Reveal()),
			!newer(v, cur):
			continue
		case best == nil || newer(v, best):
			best, tied = v, false
		case !newer(best, v) && v.doc.ClientSecret() != best.doc.ClientSecret():
			tied = true
		}
	}
	if tied {
		best = nil
	}
	return best, tied
}

// newer compares expiries when both have one: a version may be older than an AWSCURRENT written since.
func newer(a, b *version) bool {
	ae, aok := a.doc.ExpiresAt()
	be, bok := b.doc.ExpiresAt()
	if aok && bok {
		return ae.After(be)
	}
	return a.created.After(b.created)
}

func (r *Rotator) writePending(ctx context.Context, c *call, cur *version, recv *version) error {
	expiresAt, _ := recv.doc.ExpiresAt()
	value, err := cur.doc.WithClientSecret(recv.doc.ClientSecret(), expiresAt)
	if err != nil {
		return c.errorf("build pending value from version %s: %w", recv.id, err)
	}
	_, err = r.store.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
		SecretId: aws.String(c.secretID), ClientRequestToken: aws.String(c.token),
		SecretString: aws.String(string(value)), VersionStages: []string{managed.StagePending},
	})
	if errors.As(err, new(*types.ResourceExistsException)) {
		pending, _, rerr := r.read(ctx, c, &c.token, aws.String(managed.StagePending))
		if rerr == nil && pending != nil {
			c.log.InfoContext(ctx, "pending version was written by a concurrent run")
			return nil
		}
	}
	if err != nil {
		return c.errorf("put pending version from version %s: %w", recv.id, err)
	}
	c.log.InfoContext(ctx, "adopted the received client secret as the pending version", "receivedVersionId", recv.id)
	return nil
}

func (r *Rotator) requestSecret(ctx context.Context, c *call, cur *version) error {
	if _, err := managed.FindByClientID(ctx, r.store, cur.doc.ClientID()); err != nil {
		err = c.errorf("check that the client id is tagged on this secret alone: %w", err)
		if errors.Is(err, managed.ErrAmbiguous) {
			return r.failWithAlert(ctx, c, cur.doc.ClientID(), err,
				"The client id is tagged on more than one secret, so no new client secret was requested.", nothingRequested,
				fmt.Sprintf("Keep the tag %s on exactly one secret (aws secretsmanager untag-resource --secret-id <other secret> --tag-keys %s), then run: aws secretsmanager rotate-secret --secret-id %s", managed.TagClientID, managed.TagClientID, c.arn))
		}
		return err
	}
	stamp := r.cfg.Now().UTC().Format(time.RFC3339Nano)
	if _, err := r.tagger.TagResource(ctx, c.tagInput(managed.TagRotationRequestedAt, stamp)); err != nil {
		return c.errorf("tag %s: %w", managed.TagRotationRequestedAt, err)
	}
	if !retry.Sleep(ctx, r.cfg.Settle) {
		return r.untagAfter(ctx, c, c.errorf("settle after tagging: %w", ctx.Err()))
	}
	out, err := r.store.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(c.secretID)})
	if err != nil {
		return r.untagAfter(ctx, c, c.errorf("read back tag %s: %w", managed.TagRotationRequestedAt, err))
	}
	if managed.TagMap(out.Tags)[managed.TagRotationRequestedAt] != stamp {
		c.log.InfoContext(ctx, "a concurrent run requested the rotation; waiting for its client secret")
		return nil
	}

	tok, err := r.tokens.ClientCredentials(ctx, cur.doc.ClientID(), cur.doc.ClientSecret(), lwa.ScopeRotation)
	if err != nil {
		return r.requestFailed(ctx, c, cur, c.errorf("obtain LWA token with the AWSCURRENT credentials: %w", err), false)
	}
	c.log.InfoContext(ctx, "calling rotateApplicationClientSecret")
	if err := r.api.RotateApplicationClientSecret(ctx, tok.AccessToken); err != nil {
		return r.requestFailed(ctx, c, cur, c.errorf("rotateApplicationClientSecret: %w", err), true)
	}
	c.log.InfoContext(ctx, "rotateApplicationClientSecret accepted; the new client secret is on its way")
	return nil
}

// requestFailed decides if Amazon may have issued a secret (keep the tag) and if a person must act.
func (r *Rotator) requestFailed(ctx context.Context, c *call, cur *version, err error, called bool) error {
	var le *lwa.Error
	var se *spapi.Error
	var message, todo string
	did := "Amazon issued no new client secret; the secret is unchanged."
	rerun := "aws secretsmanager rotate-secret --secret-id " + c.arn
	switch {
	case errors.Is(err, endpoint.ErrRedirect) || errors.Is(err, endpoint.ErrInsecure):
		message = "The LWA or SP-API endpoint answered with a redirect (or is not https), so no new client secret was requested."
		did = "Nothing was sent to the redirect's target; the secret is unchanged."
		todo = fmt.Sprintf("Check the stack parameters LwaTokenUrl and SpApiEndpoint (environment LWA_TOKEN_URL, SP_API_ENDPOINT of the rotation function): they must be Amazon's https endpoints. Then run: %s. The error was: %v", rerun, err)
	case !called && errors.As(err, &le) && !errors.Is(err, lwa.ErrServer):
		message = "Login with Amazon rejected the credentials in AWSCURRENT, so no new client secret could be requested."
		did = nothingRequested
		todo = fmt.Sprintf("Check that the client id and client secret in AWSCURRENT of %s are the application's current LWA credentials (Solution Provider Portal, Developer Central, View credentials). If the secret was rotated in the portal, wait for its APPLICATION_OAUTH_CLIENT_NEW_SECRET notification to be stored, or put the new secret into AWSCURRENT. Then run: %s. LWA said: %v", c.arn, rerun, le)
	case !called, errors.Is(err, spapi.ErrThrottled) && !errors.Is(err, spapi.ErrOutcomeUnknown):
		// Nothing issued: no call, or throttled (after an earlier 5xx, outcome unknown, it may have been).
		return r.untagAfter(ctx, c, err)
	case errors.Is(err, spapi.ErrNotEnrolled):
		message = "SP-API refused to rotate the client secret: the application is not enrolled for the rotation notification."
		todo = fmt.Sprintf("Register the new-secret queue (stack output NewSecretQueueArn) in the Developer Console, Notification Preferences, row \"Application Client New Secret\". Then run: %s. SP-API said: %v", rerun, err)
	case errors.Is(err, spapi.ErrForbidden):
		message = "SP-API refused to rotate the client secret (403 forbidden)."
		todo = fmt.Sprintf("Check that the application is allowed to call the Application Management API (rotateApplicationClientSecret) with a grantless token of scope %s, and that the credentials in AWSCURRENT belong to it. Then run: %s. SP-API said: %v", lwa.ScopeRotation, rerun, err)
	case errors.As(err, &se) && se.StatusCode >= 400 && se.StatusCode < 500 && se.StatusCode != http.StatusTooManyRequests:
		message = fmt.Sprintf("SP-API refused to rotate the client secret (status %d).", se.StatusCode)
		todo = fmt.Sprintf("Read SP-API's answer and fix its cause, then run: %s. SP-API said: %v", rerun, err)
	default:
		// 5xx or timeout: Amazon may have issued a secret. Keep the tag: Case 4 waits for it.
		return err
	}
	return r.untagAfter(ctx, c, r.failWithAlert(ctx, c, cur.doc.ClientID(), err, message, did, todo))
}

func (r *Rotator) untagAfter(ctx context.Context, c *call, err error) error {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if _, uerr := r.tagger.UntagResource(cctx, &secretsmanager.UntagResourceInput{
		SecretId: aws.String(c.secretID), TagKeys: []string{managed.TagRotationRequestedAt},
	}); uerr != nil {
		return errors.Join(err, c.errorf("untag %s: %w", managed.TagRotationRequestedAt, uerr))
	}
	return err
}

func (r *Rotator) setSecret(ctx context.Context, c *call, pending *version) error {
	// Case 7: a valid document for the client of AWSCURRENT and of the tag.
	if _, err := r.readCurrent(ctx, c); err != nil {
		return err
	}
	if err := r.checkClient(c, pending.doc); err != nil {
		return fmt.Errorf("pending version: %w", err)
	}
	return nil
}

func (r *Rotator) testSecret(ctx context.Context, c *call, pending *version) error {
	if pending == nil {
		// Case 8: configuration test.
		cur, err := r.readCurrent(ctx, c)
		if err != nil {
			return err
		}
		if _, err := r.tokens.ClientCredentials(ctx, cur.doc.ClientID(), cur.doc.ClientSecret(), lwa.ScopeRotation); err != nil {
			return c.errorf("configuration test: obtain LWA token with the AWSCURRENT credentials: %w", err)
		}
		c.log.InfoContext(ctx, "configuration test: AWSCURRENT credentials work")
		return nil
	}

	// Case 9: test the pending credentials.
	if err := r.checkClient(c, pending.doc); err != nil {
		return fmt.Errorf("pending version: %w", err)
	}
	until := r.giveUp(ctx, time.Now().Add(r.cfg.TestRetryFor))
	for attempt := 1; ; attempt++ {
		_, err := r.tokens.ClientCredentials(ctx, pending.doc.ClientID(), pending.doc.ClientSecret(), lwa.ScopeRotation)
		if err == nil {
			c.log.InfoContext(ctx, "pending credentials work", "attempts", attempt)
			return nil
		}
		const failed = "obtain LWA token with the pending credentials (%d attempts): %w"
		if !errors.Is(err, lwa.ErrInvalidClient) {
			return c.errorf(failed, attempt, err)
		}
		if time.Now().Add(r.cfg.TestRetryInterval).After(until) {
			return r.refused(ctx, c, pending, c.errorf(failed, attempt, err))
		}
		c.log.DebugContext(ctx, "pending client secret not accepted yet; retrying", "attempts", attempt)
		if !retry.Sleep(ctx, r.cfg.TestRetryInterval) {
			return c.errorf(failed, attempt, errors.Join(err, ctx.Err()))
		}
	}
}

// refused rejects the pending secret once LWA has refused it for RejectAfter since first stored.
func (r *Rotator) refused(ctx context.Context, c *call, pending *version, err error) error {
	stored, serr := r.stored(ctx, c, "", map[string]*version{})
	if serr != nil {
		return errors.Join(err, serr)
	}
	var at time.Time
	for _, v := range stored {
		if v.doc.ClientSecret() == pending.doc.ClientSecret() && (at.IsZero() || v.created.Before(at)) {
			at = v.created
		}
	}
	if at.IsZero() {
		at = pending.created // RotateSecret may have created it long before the secret came
	}
	if age := r.cfg.Now().Sub(at); age >= r.cfg.RejectAfter {
		return r.reject(ctx, c, pending, fmt.Errorf("%w; LWA has refused it since it was stored %s ago", err, age.Round(time.Second)))
	}
	return err
}

// reject: each part is safe to repeat, so a retried step redoes them all.
func (r *Rotator) reject(ctx context.Context, c *call, pending *version, cause error) error {
	rejected := managed.WithRejected(c.tags[managed.TagRejectedSecrets], pending.doc.ClientSecret().Reveal())
	if _, err := r.tagger.TagResource(ctx, c.tagInput(managed.TagRejectedSecrets, rejected)); err != nil {
		return errors.Join(cause, c.errorf("tag %s: %w", managed.TagRejectedSecrets, err))
	}
	if id := managed.Holder(c.stages, managed.StageReceived); id != "" {
		v, err := r.readStored(ctx, c, id)
		if err == nil && v != nil && v.doc.ClientSecret() == pending.doc.ClientSecret() {
			err = r.removeStage(ctx, c, managed.StageReceived, id)
		}
		if err != nil {
			return errors.Join(cause, err)
		}
	}
	cause = r.failWithAlert(ctx, c, pending.doc.ClientID(), cause,
		"Login with Amazon kept rejecting a delivered client secret; it was not promoted and is listed in the tag "+managed.TagRejectedSecrets+" so that it is never adopted again.",
		"The secret stays stored (its fingerprint is in the tag "+managed.TagRejectedSecrets+"); AWSCURRENT is unchanged; the next rotation asks Amazon for a new client secret or adopts a later delivered one.",
		fmt.Sprintf("Check where the rejected secret came from: the NEW_CLIENT_SECRET_RECEIVED alerts of %s name the notification of each delivered version (a message on the new-secret queue that Amazon did not send, or a damaged one). If AWSCURRENT still works, run: aws secretsmanager rotate-secret --secret-id %s", c.arn, c.arn))
	if err := r.removeStage(ctx, c, managed.StagePending, c.token); err != nil {
		return errors.Join(cause, err)
	}
	return cause
}

func (r *Rotator) removeStage(ctx context.Context, c *call, stage, id string) error {
	if _, err := r.store.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{
		SecretId: aws.String(c.secretID), VersionStage: aws.String(stage), RemoveFromVersionId: aws.String(id),
	}); err != nil {
		return c.errorf("remove %s from version %s: %w", stage, id, err)
	}
	return nil
}

func (r *Rotator) finishSecret(ctx context.Context, c *call, pending *version) error {
	// Case 10: check with LWA, untag, move AWSCURRENT, then alert and tag.
	if err := r.checkClient(c, pending.doc); err != nil {
		return fmt.Errorf("pending version: %w", err)
	}
	if _, err := r.tokens.ClientCredentials(ctx, pending.doc.ClientID(), pending.doc.ClientSecret(), lwa.ScopeRotation); err != nil {
		return c.errorf("check the pending credentials with LWA before promoting them: %w", err)
	}
	currentID := managed.Holder(c.stages, managed.StageCurrent)
	if currentID == "" {
		return c.errorf("no version holds AWSCURRENT")
	}
	// Before the move: after it the next rotation may set rotation-requested-at at once.
	untag := []string{managed.TagRotationRequestedAt}
	if expiresTag(pending.doc) == "" {
		untag = append(untag, managed.TagClientSecretExpiresAt)
	}
	if _, err := r.tagger.UntagResource(ctx, &secretsmanager.UntagResourceInput{
		SecretId: aws.String(c.secretID), TagKeys: untag,
	}); err != nil {
		return c.errorf("untag %v: %w", untag, err)
	}
	_, err := r.store.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{
		SecretId: aws.String(c.secretID), VersionStage: aws.String(managed.StageCurrent),
		MoveToVersionId: aws.String(c.token), RemoveFromVersionId: aws.String(currentID),
	})
	switch {
	case err == nil:
		c.log.InfoContext(ctx, "moved AWSCURRENT", "previousVersionId", currentID)
	case errors.As(err, new(*types.InvalidParameterException)) && r.isCurrent(ctx, c):
		c.log.InfoContext(ctx, "a concurrent run already moved AWSCURRENT")
	default:
		return c.errorf("move AWSCURRENT from version %s: %w", currentID, err)
	}
	return r.finishTail(ctx, c, pending.doc)
}

func (r *Rotator) isCurrent(ctx context.Context, c *call) bool {
	out, err := r.store.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(c.secretID)})
	return err == nil && managed.Holder(out.VersionIdsToStages, managed.StageCurrent) == c.token
}

func (r *Rotator) finishRetried(ctx context.Context, c *call) error {
	// Case 11: redo the tail of Case 10 unless the tag shows it was done.
	cur, invalid, err := r.read(ctx, c, &c.token, aws.String(managed.StageCurrent))
	switch {
	case err != nil:
		return c.errorf("read AWSCURRENT: %w", err)
	case invalid != nil:
		return c.errorf("AWSCURRENT: %w", invalid)
	case cur == nil:
		return c.errorf("AWSCURRENT has no value")
	}
	c.log = c.log.With("clientId", cur.doc.ClientID())
	// Not rotation-requested-at: it may be the next rotation's.
	got, ok := c.tags[managed.TagClientSecretExpiresAt]
	if want := expiresTag(cur.doc); got == want && ok == (want != "") {
		c.log.InfoContext(ctx, "version is already AWSCURRENT and its tags are up to date; nothing to do")
		return nil
	}
	c.log.InfoContext(ctx, "version is already AWSCURRENT but the rotation's tail did not finish; redoing it")
	return r.finishTail(ctx, c, cur.doc)
}

func expiresTag(doc *secretdoc.Document) string {
	if t, ok := doc.ExpiresAt(); ok {
		return t.UTC().Format(time.RFC3339)
	}
	return ""
}

// finishTail publishes CLIENT_SECRET_ROTATED, then sets client-secret-expires-at to record it.
func (r *Rotator) finishTail(ctx context.Context, c *call, doc *secretdoc.Document) error {
	a := alert.Alert{
		Event: alert.EventRotated, Severity: alert.SeverityInfo, Action: alert.ActionNone,
		ClientID: doc.ClientID(), SecretARN: c.arn, VersionID: c.token,
		Message: fmt.Sprintf("The LWA client secret of %s was rotated; AWSCURRENT of the secret now holds the new one.", doc.ClientID()),
		Did:     "Secrets Manager serves the new client secret as AWSCURRENT. The previous secret is kept as AWSPREVIOUS and Amazon accepts it for 7 more days.",
	}
	if t, ok := doc.ExpiresAt(); ok {
		a.ExpiresAt, a.DaysLeft = new(t.UTC()), new(alert.DaysLeft(r.cfg.Now(), t))
		a.Message = fmt.Sprintf("The LWA client secret of %s was rotated; the new one is in AWSCURRENT and expires on %s.", doc.ClientID(), a.ExpiresAt.Format(time.RFC3339))
	}
	if err := r.alerts.Publish(ctx, a); err != nil {
		return c.errorf("publish %s alert: %w", alert.EventRotated, err)
	}
	if exp := expiresTag(doc); exp != "" { // an unknown expiry's tag was removed before the move
		if _, err := r.tagger.TagResource(ctx, c.tagInput(managed.TagClientSecretExpiresAt, exp)); err != nil {
			return c.errorf("tag %s: %w", managed.TagClientSecretExpiresAt, err)
		}
	}
	return nil
}

func (c *call) tagInput(key, value string) *secretsmanager.TagResourceInput {
	return &secretsmanager.TagResourceInput{
		SecretId: aws.String(c.secretID), Tags: []types.Tag{{Key: aws.String(key), Value: aws.String(value)}},
	}
}
