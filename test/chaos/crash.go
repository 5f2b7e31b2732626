package chaos

import (
	"context"
	"errors"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sns"
)

// ErrCrash is what an operation returns once its invocation has crashed.
var ErrCrash = errors.New("chaos: the function was interrupted at this point")

// Crash interrupts one handler invocation at one side-effect boundary: the
// Nth operation Op (matching Match) either fails without effect (After
// false), or takes effect and then its answer is lost (After true). Either
// way every later operation of the same invocation fails too, as if the
// process died there; the retries of Secrets Manager and SQS must then
// repair everything.
type Crash struct {
	// Op is a Secrets Manager operation, "Publish" (SNS), "ClientCredentials"
	// (LWA), "RotateApplicationClientSecret" (SP-API) or "DeleteMessage"
	// (the event source acknowledging an SQS message).
	Op    string
	Match func(in any) bool // nil matches every call of Op
	// Step, when set, matches only calls made by that rotation step (a
	// rotation.Step* name): finishSecret's LWA call, not testSecret's.
	Step  string
	Nth   int // 1-based; 0 means 1
	After bool
}

// crashState is the world's crash bookkeeping.
type crashState struct {
	seen    int
	hits    int
	crashed map[int64]bool
}

// CrashHits returns how many times the crash was injected.
func (w *World) CrashHits() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.crash.hits
}

func invocationOf(ctx context.Context) (*invocation, bool) {
	inv, ok := ctx.Value(invocationKey{}).(*invocation)
	return inv, ok
}

// crashBefore runs before an operation of a handler: it fails the operation
// if the invocation crashed, or if this is the crash point (After false).
func (w *World) crashBefore(ctx context.Context, op string, in any) error {
	inv, ok := invocationOf(ctx)
	if !ok {
		return nil
	}
	id := inv.id
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.crash.crashed[id] {
		return ErrCrash
	}
	c := w.Crash
	if c == nil || c.Op != op || (c.Step != "" && c.Step != inv.step) || (c.Match != nil && !c.Match(in)) {
		return nil
	}
	w.crash.seen++
	if w.crash.seen != max(c.Nth, 1) {
		return nil
	}
	if c.After {
		w.crash.crashed[-id] = true // armed: crash after this call
		return nil
	}
	w.crash.hits++
	w.crash.crashed[id] = true
	return ErrCrash
}

// crashAfter runs after the operation took effect (err is its result).
func (w *World) crashAfter(ctx context.Context, err error) error {
	inv, ok := invocationOf(ctx)
	if !ok {
		return err
	}
	id := inv.id
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.crash.crashed[-id] {
		return err
	}
	delete(w.crash.crashed, -id)
	w.crash.hits++
	w.crash.crashed[id] = true
	return ErrCrash
}

func guard[T any](w *World, ctx context.Context, op string, in any, f func() (*T, error)) (*T, error) {
	if err := w.crashBefore(ctx, op, in); err != nil {
		return nil, err
	}
	out, err := f()
	if cerr := w.crashAfter(ctx, err); cerr != err {
		return nil, cerr
	}
	return out, err
}

// smClient is the Secrets Manager the handlers see: the fake, behind the
// crash points.
type smClient struct{ w *World }

func (c smClient) GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, o ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	return guard(c.w, ctx, "GetSecretValue", in, func() (*secretsmanager.GetSecretValueOutput, error) { return c.w.SM.GetSecretValue(ctx, in, o...) })
}

func (c smClient) PutSecretValue(ctx context.Context, in *secretsmanager.PutSecretValueInput, o ...func(*secretsmanager.Options)) (*secretsmanager.PutSecretValueOutput, error) {
	return guard(c.w, ctx, "PutSecretValue", in, func() (*secretsmanager.PutSecretValueOutput, error) { return c.w.SM.PutSecretValue(ctx, in, o...) })
}

func (c smClient) DescribeSecret(ctx context.Context, in *secretsmanager.DescribeSecretInput, o ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error) {
	return guard(c.w, ctx, "DescribeSecret", in, func() (*secretsmanager.DescribeSecretOutput, error) { return c.w.SM.DescribeSecret(ctx, in, o...) })
}

func (c smClient) UpdateSecretVersionStage(ctx context.Context, in *secretsmanager.UpdateSecretVersionStageInput, o ...func(*secretsmanager.Options)) (*secretsmanager.UpdateSecretVersionStageOutput, error) {
	return guard(c.w, ctx, "UpdateSecretVersionStage", in, func() (*secretsmanager.UpdateSecretVersionStageOutput, error) {
		return c.w.SM.UpdateSecretVersionStage(ctx, in, o...)
	})
}

func (c smClient) TagResource(ctx context.Context, in *secretsmanager.TagResourceInput, o ...func(*secretsmanager.Options)) (*secretsmanager.TagResourceOutput, error) {
	return guard(c.w, ctx, "TagResource", in, func() (*secretsmanager.TagResourceOutput, error) { return c.w.SM.TagResource(ctx, in, o...) })
}

func (c smClient) UntagResource(ctx context.Context, in *secretsmanager.UntagResourceInput, o ...func(*secretsmanager.Options)) (*secretsmanager.UntagResourceOutput, error) {
	return guard(c.w, ctx, "UntagResource", in, func() (*secretsmanager.UntagResourceOutput, error) { return c.w.SM.UntagResource(ctx, in, o...) })
}

func (c smClient) ListSecrets(ctx context.Context, in *secretsmanager.ListSecretsInput, o ...func(*secretsmanager.Options)) (*secretsmanager.ListSecretsOutput, error) {
	return guard(c.w, ctx, "ListSecrets", in, func() (*secretsmanager.ListSecretsOutput, error) { return c.w.SM.ListSecrets(ctx, in, o...) })
}

func (c smClient) ListSecretVersionIds(ctx context.Context, in *secretsmanager.ListSecretVersionIdsInput, o ...func(*secretsmanager.Options)) (*secretsmanager.ListSecretVersionIdsOutput, error) {
	return guard(c.w, ctx, "ListSecretVersionIds", in, func() (*secretsmanager.ListSecretVersionIdsOutput, error) {
		return c.w.SM.ListSecretVersionIds(ctx, in, o...)
	})
}

func (c smClient) RotateSecret(ctx context.Context, in *secretsmanager.RotateSecretInput, o ...func(*secretsmanager.Options)) (*secretsmanager.RotateSecretOutput, error) {
	return guard(c.w, ctx, "RotateSecret", in, func() (*secretsmanager.RotateSecretOutput, error) { return c.w.SM.RotateSecret(ctx, in, o...) })
}

// receiverSM is the Secrets Manager the receiver sees: smClient, recording
// the rotations its RotateSecret started (checkRotateCalls).
type receiverSM struct{ smClient }

func (c receiverSM) RotateSecret(ctx context.Context, in *secretsmanager.RotateSecretInput, o ...func(*secretsmanager.Options)) (*secretsmanager.RotateSecretOutput, error) {
	return guard(c.w, ctx, "RotateSecret", in, func() (*secretsmanager.RotateSecretOutput, error) {
		out, err := c.w.SM.RotateSecret(ctx, in, o...)
		if err == nil {
			c.w.mu.Lock()
			c.w.receiverTokens[aws.ToString(out.VersionId)] = true
			c.w.mu.Unlock()
		}
		return out, err
	})
}

// snsClient is the SNS the handlers see.
type snsClient struct{ w *World }

func (c snsClient) Publish(ctx context.Context, in *sns.PublishInput, o ...func(*sns.Options)) (*sns.PublishOutput, error) {
	return guard(c.w, ctx, "Publish", in, func() (*sns.PublishOutput, error) { return c.w.SNS.Publish(ctx, in, o...) })
}

// Matchers for Crash.Match.

// StageIs matches a PutSecretValue writing stage.
func StageIs(stage string) func(any) bool {
	return func(in any) bool {
		p, ok := in.(*secretsmanager.PutSecretValueInput)
		return ok && slices.Contains(p.VersionStages, stage)
	}
}

// StageMove matches an UpdateSecretVersionStage of stage.
func StageMove(stage string) func(any) bool {
	return func(in any) bool {
		u, ok := in.(*secretsmanager.UpdateSecretVersionStageInput)
		return ok && aws.ToString(u.VersionStage) == stage
	}
}

// TagIs matches a TagResource or UntagResource of key.
func TagIs(key string) func(any) bool {
	return func(in any) bool {
		switch t := in.(type) {
		case *secretsmanager.TagResourceInput:
			for _, x := range t.Tags {
				if aws.ToString(x.Key) == key {
					return true
				}
			}
		case *secretsmanager.UntagResourceInput:
			return slices.Contains(t.TagKeys, key)
		}
		return false
	}
}

// EventIs matches a Publish of an alert of event.
func EventIs(event string) func(any) bool {
	return func(in any) bool {
		p, ok := in.(*sns.PublishInput)
		if !ok {
			return false
		}
		v, ok := p.MessageAttributes["event"]
		return ok && aws.ToString(v.StringValue) == event
	}
}

// QueueIs matches a DeleteMessage on the queue named name.
func QueueIs(name string) func(any) bool {
	return func(in any) bool { s, ok := in.(string); return ok && s == name }
}
