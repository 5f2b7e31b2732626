package chaos

import (
	"context"
	"errors"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	sm "github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
)

// ErrCrash is what an operation returns once its invocation has crashed.
var ErrCrash = errors.New("chaos: the function was interrupted at this point")

// Crash interrupts one handler invocation at one side-effect boundary: the Nth
// call of Op matching Match and Step either fails without effect (After false)
// or takes effect and loses its answer (After true). Every later operation of
// the invocation fails too, as if the process died; the retries of Secrets
// Manager and SQS must repair everything.
type Crash struct {
	// Op is a Secrets Manager operation, "Publish" (SNS), "ClientCredentials"
	// (LWA), "RotateApplicationClientSecret" (SP-API) or "DeleteMessage" (the
	// event source acknowledging an SQS message).
	Op    string
	Match func(in any) bool // nil matches every call of Op
	Step  string            // a rotation.Step* name: only calls of that step
	Nth   int               // 1-based; 0 means 1
	After bool
}

// CrashHits returns how many times the crash was injected.
func (w *World) CrashHits() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.crashHits
}

// crashBefore runs before an operation of a handler: it fails the operation if
// the invocation crashed, or if this is the crash point (After false).
func (w *World) crashBefore(ctx context.Context, op string, in any) error {
	inv, ok := ctx.Value(invocationKey{}).(*invocation)
	if !ok {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.crashed == inv.id {
		return ErrCrash
	}
	c := w.Crash
	if c == nil || c.Op != op || (c.Step != "" && c.Step != inv.step) || (c.Match != nil && !c.Match(in)) {
		return nil
	}
	w.crashSeen++
	if w.crashSeen != max(c.Nth, 1) {
		return nil
	}
	if c.After {
		w.armed = inv.id // crashAfter takes it from here
		return nil
	}
	w.crashHits++
	w.crashed = inv.id
	return ErrCrash
}

// crashAfter runs after an operation took effect: it loses the answer if this
// was the crash point (After true).
func (w *World) crashAfter(ctx context.Context) error {
	inv, ok := ctx.Value(invocationKey{}).(*invocation)
	if !ok {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.armed != inv.id {
		return nil
	}
	w.armed = 0
	w.crashHits++
	w.crashed = inv.id
	return ErrCrash
}

// guard calls f(ctx, in, o...) as operation op behind the crash points and the
// injected errors.
func guard[I, O, P any](w *World, ctx context.Context, op string, in I, o []P, f func(context.Context, I, ...P) (O, error)) (O, error) {
	var zero O
	if err := w.crashBefore(ctx, op, in); err != nil {
		return zero, err
	}
	out, err := zero, w.inject(op, in)
	if err == nil {
		out, err = f(ctx, in, o...)
	}
	if cerr := w.crashAfter(ctx); cerr != nil {
		return zero, cerr
	}
	return out, err
}

// smClient is the Secrets Manager the handlers see: the fake behind the crash
// points. The receiver's records the rotations its RotateSecret started.
type smClient struct {
	w        *World
	receiver bool
}

func (c smClient) GetSecretValue(ctx context.Context, in *sm.GetSecretValueInput, o ...func(*sm.Options)) (*sm.GetSecretValueOutput, error) {
	return guard(c.w, ctx, "GetSecretValue", in, o, c.w.SM.GetSecretValue)
}

func (c smClient) PutSecretValue(ctx context.Context, in *sm.PutSecretValueInput, o ...func(*sm.Options)) (*sm.PutSecretValueOutput, error) {
	return guard(c.w, ctx, "PutSecretValue", in, o, c.w.SM.PutSecretValue)
}

func (c smClient) DescribeSecret(ctx context.Context, in *sm.DescribeSecretInput, o ...func(*sm.Options)) (*sm.DescribeSecretOutput, error) {
	return guard(c.w, ctx, "DescribeSecret", in, o, c.w.SM.DescribeSecret)
}

func (c smClient) UpdateSecretVersionStage(ctx context.Context, in *sm.UpdateSecretVersionStageInput, o ...func(*sm.Options)) (*sm.UpdateSecretVersionStageOutput, error) {
	return guard(c.w, ctx, "UpdateSecretVersionStage", in, o, c.w.SM.UpdateSecretVersionStage)
}

func (c smClient) TagResource(ctx context.Context, in *sm.TagResourceInput, o ...func(*sm.Options)) (*sm.TagResourceOutput, error) {
	return guard(c.w, ctx, "TagResource", in, o, c.w.SM.TagResource)
}

func (c smClient) UntagResource(ctx context.Context, in *sm.UntagResourceInput, o ...func(*sm.Options)) (*sm.UntagResourceOutput, error) {
	return guard(c.w, ctx, "UntagResource", in, o, c.w.SM.UntagResource)
}

func (c smClient) ListSecrets(ctx context.Context, in *sm.ListSecretsInput, o ...func(*sm.Options)) (*sm.ListSecretsOutput, error) {
	return guard(c.w, ctx, "ListSecrets", in, o, c.w.SM.ListSecrets)
}

func (c smClient) ListSecretVersionIds(ctx context.Context, in *sm.ListSecretVersionIdsInput, o ...func(*sm.Options)) (*sm.ListSecretVersionIdsOutput, error) {
	return guard(c.w, ctx, "ListSecretVersionIds", in, o, c.w.SM.ListSecretVersionIds)
}

func (c smClient) RotateSecret(ctx context.Context, in *sm.RotateSecretInput, o ...func(*sm.Options)) (*sm.RotateSecretOutput, error) {
	return guard(c.w, ctx, "RotateSecret", in, o, func(ctx context.Context, in *sm.RotateSecretInput, o ...func(*sm.Options)) (*sm.RotateSecretOutput, error) {
		out, err := c.w.SM.RotateSecret(ctx, in, o...)
		if err == nil && c.receiver {
			c.w.mu.Lock()
			c.w.byReceiver[aws.ToString(out.VersionId)] = true
			c.w.mu.Unlock()
		}
		return out, err
	})
}

// snsClient is the SNS the handlers see.
type snsClient struct{ w *World }

func (c snsClient) Publish(ctx context.Context, in *sns.PublishInput, o ...func(*sns.Options)) (*sns.PublishOutput, error) {
	return guard(c.w, ctx, "Publish", in, o, c.w.SNS.Publish)
}

// StageIs matches a PutSecretValue writing stage (a Crash.Match).
func StageIs(stage string) func(any) bool {
	return func(in any) bool {
		p, ok := in.(*sm.PutSecretValueInput)
		return ok && slices.Contains(p.VersionStages, stage)
	}
}

// StageMove matches an UpdateSecretVersionStage of stage.
func StageMove(stage string) func(any) bool {
	return func(in any) bool {
		u, ok := in.(*sm.UpdateSecretVersionStageInput)
		return ok && aws.ToString(u.VersionStage) == stage
	}
}

// TagIs matches a TagResource or UntagResource of key.
func TagIs(key string) func(any) bool {
	return func(in any) bool {
		switch t := in.(type) {
		case *sm.TagResourceInput:
			return slices.ContainsFunc(t.Tags, func(x smtypes.Tag) bool { return aws.ToString(x.Key) == key })
		case *sm.UntagResourceInput:
			return slices.Contains(t.TagKeys, key)
		}
		return false
	}
}

// EventIs matches a Publish of an alert of event.
func EventIs(event string) func(any) bool {
	return func(in any) bool {
		p, ok := in.(*sns.PublishInput)
		return ok && aws.ToString(p.MessageAttributes["event"].StringValue) == event
	}
}

// QueueIs matches a DeleteMessage on the queue named name.
func QueueIs(name string) func(any) bool {
	return func(in any) bool { return in == name }
}
