package rotation

import (
	"cmp"
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
	// ErrSecretNotReceived: the new secret has not arrived before the deadline (Case 6).
	ErrSecretNotReceived = errors.New("the new client secret has not arrived yet; Secrets Manager will retry the rotation, and the receiver resumes it as soon as the secret arrives")
	// ErrMisconfigured: a person must fix the secret's value or tags (Case 2, Case 7).
	ErrMisconfigured = errors.New("managed secret is misconfigured")
)

// secretStore is the part of Secrets Manager the rotation reads and writes.
type secretStore interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
	PutSecretValue(ctx context.Context, in *secretsmanager.PutSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.PutSecretValueOutput, error)
	DescribeSecret(ctx context.Context, in *secretsmanager.DescribeSecretInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error)
	UpdateSecretVersionStage(ctx context.Context, in *secretsmanager.UpdateSecretVersionStageInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.UpdateSecretVersionStageOutput, error)
	secretIndex
}

// secretIndex lists the secret's versions (Case 3) and the secrets with its client id (Case 5).
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
	// PollInterval spaces the looks for the new secret, which stop DeadlineMargin (default 10s)
	// before the deadline (Case 6).
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
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
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
	pending, err := r.readPending(ctx, c)
	if err != nil {
		return err
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

func (r *Rotator) readPending(ctx context.Context, c *call) (*version, error) {
	v, invalid, err := r.read(ctx, c, &c.token, aws.String(managed.StagePending))
	if err != nil {
		return nil, c.errorf("read pending version: %w", err)
	} else if invalid != nil {
		return nil, c.errorf("pending value: %w", invalid)
	}
	return v, nil
}

// readCurrent reads AWSCURRENT and checks its client id (Case 2).
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

// checkClient checks doc against the tag sp-api-lwa:client-id. The error quotes no value: a broken
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
