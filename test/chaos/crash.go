package chaos

import (
	"context"
	"errors"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	sm "github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sns"
)

// ErrCrash is what an operation returns once its invocation has crashed.
var ErrCrash = errors.New("chaos: the function was interrupted at this point")

// Crash interrupts one handler invocation at the Nth call of Op matching Arg and Step, before it
// takes effect or (After) losing its answer; every later operation of the invocation fails too.
type Crash struct {
	Op    string // of Secrets Manager, Publish, ClientCredentials, RotateApplicationClientSecret, DeleteMessage
	Arg   string // when set, only calls with it among argsOf(in)
	Step  string // a rotation.Step* name: only calls of that step
	Nth   int    // 1-based; 0 means 1
	After bool
}

// crash fails an operation of an invocation that crashed, and crashes the one at the crash point:
// before it takes effect (after false), or with Crash.After once it did, losing its answer (after true).
func (w *World) crash(ctx context.Context, op string, in any, after bool) error {
	inv, ok := ctx.Value(invocationKey{}).(*invocation)
	if !ok {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	c := w.Crash
	switch {
	case after:
		if w.armed != inv.id {
			return nil
		}
		w.armed = 0
	case w.crashed == inv.id:
		return ErrCrash
	case c == nil || c.Op != op || (c.Step != "" && c.Step != inv.step) ||
		(c.Arg != "" && !slices.Contains(argsOf(in), c.Arg)):
		return nil
	default:
		w.crashSeen++
		if w.crashSeen != max(c.Nth, 1) {
			return nil
		}
		if c.After {
			w.armed = inv.id // its call with after true crashes
			return nil
		}
	}
	w.crashHits++
	w.crashed = inv.id
	return ErrCrash
}

// guard calls f as operation op behind the crash points and the injected errors.
func guard[I, O, P any](w *World, ctx context.Context, op string, in I, o []P, f func(context.Context, I, ...P) (O, error)) (O, error) {
	var zero O
	if err := w.crash(ctx, op, in, false); err != nil {
		return zero, err
	}
	out, err := zero, w.inject(op, in)
	if err == nil {
		out, err = f(ctx, in, o...)
	}
	if cerr := w.crash(ctx, op, in, true); cerr != nil {
		return zero, cerr
	}
	return out, err
}

// client is the Secrets Manager and SNS the handlers see: the fakes behind the crash points and
// the injected errors. The receiver's records the rotations its RotateSecret started.
type client struct {
	w        *World
	receiver bool
}

func (c client) GetSecretValue(ctx context.Context, in *sm.GetSecretValueInput, o ...func(*sm.Options)) (*sm.GetSecretValueOutput, error) {
	return guard(c.w, ctx, "GetSecretValue", in, o, c.w.SM.GetSecretValue)
}

func (c client) PutSecretValue(ctx context.Context, in *sm.PutSecretValueInput, o ...func(*sm.Options)) (*sm.PutSecretValueOutput, error) {
	return guard(c.w, ctx, "PutSecretValue", in, o, c.w.SM.PutSecretValue)
}

func (c client) DescribeSecret(ctx context.Context, in *sm.DescribeSecretInput, o ...func(*sm.Options)) (*sm.DescribeSecretOutput, error) {
	return guard(c.w, ctx, "DescribeSecret", in, o, c.w.SM.DescribeSecret)
}

func (c client) UpdateSecretVersionStage(ctx context.Context, in *sm.UpdateSecretVersionStageInput, o ...func(*sm.Options)) (*sm.UpdateSecretVersionStageOutput, error) {
	return guard(c.w, ctx, "UpdateSecretVersionStage", in, o, c.w.SM.UpdateSecretVersionStage)
}

func (c client) TagResource(ctx context.Context, in *sm.TagResourceInput, o ...func(*sm.Options)) (*sm.TagResourceOutput, error) {
	return guard(c.w, ctx, "TagResource", in, o, c.w.SM.TagResource)
}

func (c client) UntagResource(ctx context.Context, in *sm.UntagResourceInput, o ...func(*sm.Options)) (*sm.UntagResourceOutput, error) {
	return guard(c.w, ctx, "UntagResource", in, o, c.w.SM.UntagResource)
}

func (c client) ListSecrets(ctx context.Context, in *sm.ListSecretsInput, o ...func(*sm.Options)) (*sm.ListSecretsOutput, error) {
	return guard(c.w, ctx, "ListSecrets", in, o, c.w.SM.ListSecrets)
}

func (c client) ListSecretVersionIds(ctx context.Context, in *sm.ListSecretVersionIdsInput, o ...func(*sm.Options)) (*sm.ListSecretVersionIdsOutput, error) {
	return guard(c.w, ctx, "ListSecretVersionIds", in, o, c.w.SM.ListSecretVersionIds)
}

func (c client) RotateSecret(ctx context.Context, in *sm.RotateSecretInput, o ...func(*sm.Options)) (*sm.RotateSecretOutput, error) {
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

func (c client) Publish(ctx context.Context, in *sns.PublishInput, o ...func(*sns.Options)) (*sns.PublishOutput, error) {
	return guard(c.w, ctx, "Publish", in, o, c.w.SNS.Publish)
}

// argsOf returns what Crash.Arg matches in an input: the stages a PutSecretValue writes, the
// stage an UpdateSecretVersionStage moves, the keys of a (un)tagging, an alert's event, a queue's name.
func argsOf(in any) []string {
	switch in := in.(type) {
	case *sm.PutSecretValueInput:
		return in.VersionStages
	case *sm.UpdateSecretVersionStageInput:
		return []string{aws.ToString(in.VersionStage)}
	case *sm.TagResourceInput:
		var keys []string
		for _, t := range in.Tags {
			keys = append(keys, aws.ToString(t.Key))
		}
		return keys
	case *sm.UntagResourceInput:
		return in.TagKeys
	case *sns.PublishInput:
		return []string{aws.ToString(in.MessageAttributes["event"].StringValue)}
	case string: // DeleteMessage's queue
		return []string{in}
	}
	return nil
}
