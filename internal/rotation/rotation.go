package rotation

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

// Errors a caller acts on.
var (
	// ErrSecretNotReceived: the new client secret was requested but has not
	// arrived before the deadline (Case 6). Nothing is lost: Secrets Manager
	// retries the rotation, and the receiver resumes it as soon as the secret
	// arrives.
	ErrSecretNotReceived = errors.New("the new client secret has not arrived yet; Secrets Manager will retry the rotation, and the receiver resumes it as soon as the secret arrives")
	// ErrMisconfigured: the managed secret (its value or its tags) must be
	// fixed by a person before it can be rotated (Case 2, Case 7).
	ErrMisconfigured = errors.New("managed secret is misconfigured")
)

// secretStore is the part of Secrets Manager the rotation reads and writes.
type secretStore interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
	PutSecretValue(ctx context.Context, in *secretsmanager.PutSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.PutSecretValueOutput, error)
	DescribeSecret(ctx context.Context, in *secretsmanager.DescribeSecretInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error)
	UpdateSecretVersionStage(ctx context.Context, in *secretsmanager.UpdateSecretVersionStageInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.UpdateSecretVersionStageOutput, error)
}

// secretIndex lists what a rotation chooses among: the secret's versions
// (Case 3) and the secrets tagged with its client id (Case 5).
type secretIndex interface {
	ListSecretVersionIds(ctx context.Context, in *secretsmanager.ListSecretVersionIdsInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.ListSecretVersionIdsOutput, error)
	ListSecrets(ctx context.Context, in *secretsmanager.ListSecretsInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.ListSecretsOutput, error)
}

// secretTagger is the part of Secrets Manager that keeps the metadata tags.
type secretTagger interface {
	TagResource(ctx context.Context, in *secretsmanager.TagResourceInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.TagResourceOutput, error)
	UntagResource(ctx context.Context, in *secretsmanager.UntagResourceInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.UntagResourceOutput, error)
}

// tokenSource obtains grantless LWA access tokens.
type tokenSource interface {
	ClientCredentials(ctx context.Context, clientID string, secret lwa.ClientSecret, scope string) (lwa.Token, error)
}

// secretRotator asks Amazon for a new client secret.
type secretRotator interface {
	RotateApplicationClientSecret(ctx context.Context, token lwa.AccessToken) error
}

// alerter publishes alerts.
type alerter interface {
	Publish(ctx context.Context, a alert.Alert) error
}

var (
	_ secretStore   = (*secretsmanager.Client)(nil)
	_ secretIndex   = (*secretsmanager.Client)(nil)
	_ secretTagger  = (*secretsmanager.Client)(nil)
	_ tokenSource   = (*lwa.Client)(nil)
	_ secretRotator = (*spapi.Client)(nil)
	_ alerter       = (*alert.Publisher)(nil)
)

// Config tunes a Rotator. A zero field takes its default.
type Config struct {
	// Keys names the document's client id and secret keys (default secretdoc.DefaultKeys).
	Keys secretdoc.Keys
	// Cooldown is how long an outstanding rotation request is waited for
	// before asking again (ROTATION_REQUEST_COOLDOWN, default 30m).
	Cooldown time.Duration
	// PollInterval is the wait between looks for the new secret (default 2s).
	PollInterval time.Duration
	// DeadlineMargin: give up waiting this long before the context's
	// deadline, so the step returns its own error (default 10s).
	DeadlineMargin time.Duration
	// TestRetryFor bounds the retries of invalid_client in testSecret
	// (default 60s, never past the deadline margin).
	TestRetryFor time.Duration
	// TestRetryInterval is the wait between those retries (default 5s).
	TestRetryInterval time.Duration
	// RejectAfter: testSecret marks a secret rejected only when LWA still
	// refuses it this long after it was first stored (Case 9;
	// SECRET_REJECT_AFTER, default DefaultRejectAfter). A genuine new secret
	// can take minutes to be accepted; until then the step fails and is
	// reattempted.
	RejectAfter time.Duration
	// Settle is the wait between setting rotation-requested-at and reading it
	// back (Case 5), long enough for a concurrent run's write to show
	// (default 500ms; negative: no wait).
	Settle time.Duration
	// Now is the clock for tags and alerts (default time.Now).
	Now func() time.Time
}

// Defaults.
const (
	DefaultCooldown          = 30 * time.Minute
	DefaultPollInterval      = 2 * time.Second
	DefaultDeadlineMargin    = 10 * time.Second
	DefaultTestRetryFor      = 60 * time.Second
	DefaultTestRetryInterval = 5 * time.Second
	DefaultSettle            = 500 * time.Millisecond
	// DefaultRejectAfter is longer than a new secret takes to be accepted
	// (minutes) and shorter than the new-secret queue's redelivery budget
	// (5 receives, 6 minutes apart): a genuine delivery refused while a
	// forged secret is pending is still being redelivered when that secret
	// is rejected, and its redelivery starts the rotation that adopts it.
	DefaultRejectAfter = 15 * time.Minute
)

// cleanupTimeout bounds the clean-up calls made after the step's context ended.
const cleanupTimeout = 5 * time.Second

// Rotator runs the rotation steps. It holds only dependencies.
type Rotator struct {
	store  secretStore
	index  secretIndex
	tagger secretTagger
	tokens tokenSource
	api    secretRotator
	alerts alerter
	logger *slog.Logger
	cfg    Config
}

// New returns a Rotator. store and tagger are usually the same
// *secretsmanager.Client, tokens an *lwa.Client, api an *spapi.Client and
// alerts an *alert.Publisher.
func New(store interface {
	secretStore
	secretIndex
}, tagger secretTagger, tokens tokenSource, api secretRotator, alerts alerter, logger *slog.Logger, cfg Config) *Rotator {
	if cfg.Keys == (secretdoc.Keys{}) {
		cfg.Keys = secretdoc.DefaultKeys
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&cfg.Cooldown, DefaultCooldown)
	def(&cfg.PollInterval, DefaultPollInterval)
	def(&cfg.DeadlineMargin, DefaultDeadlineMargin)
	def(&cfg.TestRetryFor, DefaultTestRetryFor)
	def(&cfg.TestRetryInterval, DefaultTestRetryInterval)
	def(&cfg.Settle, DefaultSettle)
	def(&cfg.RejectAfter, DefaultRejectAfter)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Rotator{store: store, index: store, tagger: tagger, tokens: tokens, api: api, alerts: alerts, logger: logger, cfg: cfg}
}

// call is one step's view of the secret, from the entry checks.
type call struct {
	step, secretID, token string
	arn                   string
	stages                map[string][]string
	tags                  map[string]string
	log                   *slog.Logger
}

// errorf returns an error prefixed with the package, step, secret and version.
func (c *call) errorf(format string, a ...any) error {
	return fmt.Errorf("rotation: %s %s version %s: "+format, append([]any{c.step, c.secretID, c.token}, a...)...)
}

// Handle runs one rotation step. It is the Lambda handler of rotate-secret.
func (r *Rotator) Handle(ctx context.Context, ev events.SecretsManagerSecretRotationEvent) error {
	log := r.logger.With("step", ev.Step, "secretId", ev.SecretID, "versionId", ev.ClientRequestToken)
	err := r.handle(ctx, log, ev)
	switch {
	case err == nil:
		log.InfoContext(ctx, "rotation step succeeded")
	case errors.Is(err, ErrSecretNotReceived):
		log.WarnContext(ctx, "rotation step waiting for the new client secret", "error", err)
	default:
		log.ErrorContext(ctx, "rotation step failed", "error", err)
	}
	return err
}

func (r *Rotator) handle(ctx context.Context, log *slog.Logger, ev events.SecretsManagerSecretRotationEvent) error {
	var step func(context.Context, *call) error
	switch ev.Step {
	case StepCreate:
		step = r.createSecret
	case StepSet:
		step = r.setSecret
	case StepTest:
		step = r.testSecret
	case StepFinish:
		step = r.finishSecret
	default:
		return fmt.Errorf("rotation: unknown step %q for secret %s", ev.Step, ev.SecretID)
	}
	if ev.SecretID == "" || ev.ClientRequestToken == "" {
		return fmt.Errorf("rotation: %s: event has no SecretId or ClientRequestToken", ev.Step)
	}
	c := &call{step: ev.Step, secretID: ev.SecretID, token: ev.ClientRequestToken, log: log}

	// Entry checks.
	out, err := r.store.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(c.secretID)})
	if err != nil {
		return c.errorf("describe secret: %w", err)
	}
	c.arn, c.stages, c.tags = aws.ToString(out.ARN), out.VersionIdsToStages, managed.TagMap(out.Tags)
	if !aws.ToBool(out.RotationEnabled) {
		return c.errorf("rotation is not enabled for the secret")
	}
	stages, ok := c.stages[c.token]
	if !ok {
		return c.errorf("the secret has no such version")
	}
	if slices.Contains(stages, managed.StageCurrent) {
		if ev.Step == StepFinish {
			// Case 11 (the one exception to "already current: nothing to do").
			return r.finishRetried(ctx, c)
		}
		log.InfoContext(ctx, "version is already AWSCURRENT; nothing to do")
		return nil
	}
	if !slices.Contains(stages, managed.StagePending) {
		return c.errorf("version is not AWSPENDING")
	}
	return step(ctx, c)
}

// version is a read secret version with its parsed document.
type version struct {
	id      string
	created time.Time
	doc     *secretdoc.Document
}

// getValue reads a version by id and/or stage. ok is false when the version
// has no value (ResourceNotFoundException).
func (r *Rotator) getValue(ctx context.Context, c *call, versionID, stage string) (out *secretsmanager.GetSecretValueOutput, ok bool, err error) {
	in := &secretsmanager.GetSecretValueInput{SecretId: aws.String(c.secretID)}
	if versionID != "" {
		in.VersionId = aws.String(versionID)
	}
	if stage != "" {
		in.VersionStage = aws.String(stage)
	}
	out, err = r.store.GetSecretValue(ctx, in)
	var nf *types.ResourceNotFoundException
	if errors.As(err, &nf) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return out, true, nil
}

// parse parses a read version. The error never quotes the value.
func (r *Rotator) parse(out *secretsmanager.GetSecretValueOutput) (*version, error) {
	if out.SecretString == nil {
		return nil, errors.New("value is binary, not a JSON secret document")
	}
	doc, err := secretdoc.Parse([]byte(*out.SecretString), r.cfg.Keys)
	if err != nil {
		return nil, err
	}
	return &version{id: aws.ToString(out.VersionId), created: aws.ToTime(out.CreatedDate), doc: doc}, nil
}

// readPending reads the token's version. ok is false when it has no value.
func (r *Rotator) readPending(ctx context.Context, c *call) (v *version, ok bool, err error) {
	out, ok, err := r.getValue(ctx, c, c.token, managed.StagePending)
	if err != nil {
		return nil, false, c.errorf("read pending version: %w", err)
	}
	if !ok {
		return nil, false, nil
	}
	v, err = r.parse(out)
	if err != nil {
		return nil, false, c.errorf("pending value: %w", err)
	}
	return v, true, nil
}

// readCurrent reads AWSCURRENT and checks it against the client-id tag (Case 2).
// Its errors wrap ErrMisconfigured when a person must fix the secret.
func (r *Rotator) readCurrent(ctx context.Context, c *call) (*version, error) {
	out, ok, err := r.getValue(ctx, c, "", managed.StageCurrent)
	if err != nil {
		return nil, c.errorf("read AWSCURRENT: %w", err)
	}
	if !ok {
		return nil, c.errorf("AWSCURRENT has no value: %w; put the application's credentials as a JSON object with the keys %q and %q", ErrMisconfigured, r.cfg.Keys.ClientID, r.cfg.Keys.ClientSecret)
	}
	cur, err := r.parse(out)
	if err != nil {
		return nil, c.errorf("AWSCURRENT is not a valid secret document: %w: %w; put a JSON object whose keys %q and %q hold the client id and client secret", ErrMisconfigured, err, r.cfg.Keys.ClientID, r.cfg.Keys.ClientSecret)
	}
	if err := r.checkClient(c, cur.doc); err != nil {
		return nil, err
	}
	return cur, nil
}

// checkClient checks that doc is for the client the tag sp-api-lwa:client-id
// names. The error names the key and the tag, never a value: a broken
// document may hold the client secret where the client id belongs.
func (r *Rotator) checkClient(c *call, doc *secretdoc.Document) error {
	switch tag := c.tags[managed.TagClientID]; {
	case tag == "":
		return c.errorf("the secret has no tag %s: %w; tag it with the client id that its value holds under the key %q", managed.TagClientID, ErrMisconfigured, r.cfg.Keys.ClientID)
	case tag != doc.ClientID():
		return c.errorf("the value under the key %q is not the client id that the tag %s names: %w; correct the tag or the value", r.cfg.Keys.ClientID, managed.TagClientID, ErrMisconfigured)
	}
	return nil
}

// giveUp returns when waiting must stop: DeadlineMargin before ctx's
// deadline, or the zero time when ctx has none.
func (r *Rotator) giveUp(ctx context.Context) time.Time {
	d, ok := ctx.Deadline()
	if !ok {
		return time.Time{}
	}
	return d.Add(-r.cfg.DeadlineMargin)
}

// cleanupContext is for calls that must run even after ctx ended (removing a
// tag after a failure), bounded by cleanupTimeout.
func cleanupContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
}
