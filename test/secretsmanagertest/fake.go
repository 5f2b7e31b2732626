// Package secretsmanagertest is a stateful in-memory AWS Secrets Manager for tests: versions,
// staging labels, tags and dates, and the SDK's typed errors. It plays RotateSecret's empty
// AWSPENDING version and its refusal while a rotation is incomplete, PutSecretValue idempotent per
// ClientRequestToken, AWSPREVIOUS, and ListSecrets filters matching by prefix.
package secretsmanagertest

import (
	"cmp"
	"context"
	"crypto/rand"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sm "github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
)

const (
	stageCurrent  = "AWSCURRENT"
	stagePending  = "AWSPENDING"
	stagePrevious = "AWSPREVIOUS"
)

// Fake is an in-memory Secrets Manager. The zero value is not ready; use New.
type Fake struct {
	Now func() time.Time // the clock of created and rotation dates
	// Fail, if set, is called before every operation; an error is its answer and it does nothing.
	Fail func(ctx context.Context, op string, in any) error
	// After, if set, is called after every operation Fail let through; an error replaces its answer.
	After func(ctx context.Context, op string, in any) error
	// OnRotate, if set, is called without the lock after RotateSecret created the pending version
	// (retry false) or refused as a rotation is incomplete (retry true, that rotation's token).
	OnRotate func(ctx context.Context, secretARN, token string, retry bool)

	mu      sync.Mutex
	secrets []*secret
	calls   map[string]int
}

type secret struct {
	arn, name       string
	lambdaARN       *string // nil until rotation is configured
	rotationEnabled bool
	tags            map[string]string
	versions        []*version
	lastRotated     *time.Time
}

type version struct {
	id      string
	value   *string // nil until the version holds a value
	stages  []string
	created time.Time
}

// Version is a snapshot of one version.
type Version struct {
	ID       string
	Stages   []string
	Created  time.Time
	HasValue bool
}

// New returns an empty fake.
func New() *Fake { return &Fake{Now: time.Now, calls: map[string]int{}} }

// do counts the operation in's type names, runs Fail, then fn as with does, then After; the hooks
// run without the lock.
func do[T any](f *Fake, ctx context.Context, in any, id *string, fn func(*secret) (*T, error)) (*T, error) {
	op := strings.TrimSuffix(strings.TrimPrefix(fmt.Sprintf("%T", in), "*secretsmanager."), "Input")
	f.with(nil, func(*secret) { f.calls[op]++ })
	if f.Fail != nil {
		if err := f.Fail(ctx, op, in); err != nil {
			return nil, err
		}
	}
	var out *T
	var err error
	if werr := f.with(id, func(s *secret) { out, err = fn(s) }); werr != nil {
		err = werr
	}
	if f.After != nil {
		if aerr := f.After(ctx, op, in); aerr != nil {
			return nil, aerr
		}
	}
	return out, err
}

// with runs fn under the lock on the secret with the name or ARN id, or on nil when id is nil.
func (f *Fake) with(id *string, fn func(*secret)) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	var s *secret
	if id != nil {
		i := slices.IndexFunc(f.secrets, func(s *secret) bool { return s.arn == *id || s.name == *id })
		if i < 0 {
			return notFound("Secrets Manager can't find the specified secret.")
		}
		s = f.secrets[i]
	}
	fn(s)
	return nil
}

// read returns fn's answer under the lock on the secret id names (as with), the zero value if there is none.
func read[T any](f *Fake, id *string, fn func(*secret) T) (out T) {
	f.with(id, func(s *secret) { out = fn(s) })
	return out
}

func notFound(msg string) error         { return &types.ResourceNotFoundException{Message: &msg} }
func invalidRequest(msg string) error   { return &types.InvalidRequestException{Message: &msg} }
func invalidParameter(msg string) error { return &types.InvalidParameterException{Message: &msg} }
func exists(msg string) error           { return &types.ResourceExistsException{Message: &msg} }

// tokenOr returns the client request token, or a new random UUID.
func tokenOr(token *string) string {
	var b [16]byte
	rand.Read(b[:])
	return cmp.Or(aws.ToString(token), fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:]))
}

// get returns the version with the id or holding the stage ("" matches nothing), or nil.
func (s *secret) get(id, stage string) *version {
	for _, v := range s.versions {
		if v.id == id || slices.Contains(v.stages, stage) {
			return v
		}
	}
	return nil
}

func (v *version) drop(stage string) {
	v.stages = slices.DeleteFunc(v.stages, func(x string) bool { return x == stage })
}

// moveStage puts stage on v alone; the version losing AWSCURRENT gets AWSPREVIOUS, as in the service.
func (s *secret) moveStage(stage string, v *version) {
	old := s.get("", stage)
	if old == v {
		return
	}
	if old != nil {
		old.drop(stage)
		if stage == stageCurrent {
			s.moveStage(stagePrevious, old)
		}
	}
	v.stages = append(v.stages, stage)
	if stage == stageCurrent {
		v.drop(stagePrevious)
	}
}

// put gives the token's version the value and moves stages (default AWSCURRENT) to it; the same
// value again is a no-op, another value ResourceExistsException; an empty version takes the value.
func (f *Fake) put(s *secret, token *string, value string, stages []string) (*version, error) {
	id := tokenOr(token)
	v := s.get(id, "")
	switch {
	case v == nil:
		v = &version{id: id, created: f.Now()}
		s.versions = append(s.versions, v)
		fallthrough
	case v.value == nil:
		v.value = &value
		if len(stages) == 0 {
			stages = []string{stageCurrent}
		}
		for _, st := range stages {
			s.moveStage(st, v)
		}
	case *v.value != value:
		return nil, exists("You can't modify an existing version, you can only create a new version.")
	}
	return v, nil
}

// page returns the page of list at the offset in token, of at most size (default 100) entries.
func page[T any](list []T, token *string, size *int32) ([]T, *string) {
	start, n := 0, cmp.Or(int(aws.ToInt32(size)), 100)
	fmt.Sscan(aws.ToString(token), &start)
	if list = list[min(start, len(list)):]; n < len(list) {
		return list[:n], aws.String(fmt.Sprint(start + n))
	}
	return list, nil
}

// Seed creates a secret whose AWSCURRENT holds value, uncounted, and returns its ARN.
func (f *Fake) Seed(name, value string, tags map[string]string) string {
	out, _ := f.CreateSecret(context.Background(), &sm.CreateSecretInput{Name: aws.String(name),
		SecretString: aws.String(value), Tags: toTags(tags)})
	f.with(nil, func(*secret) { f.calls["CreateSecret"]-- })
	return aws.ToString(out.ARN)
}

func toTags(m map[string]string) []types.Tag {
	var tags []types.Tag
	for _, k := range slices.Sorted(maps.Keys(m)) {
		tags = append(tags, types.Tag{Key: aws.String(k), Value: aws.String(m[k])})
	}
	return tags
}

func addTags(m map[string]string, tags []types.Tag) {
	for _, t := range tags {
		m[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
}

// SetRotation turns rotation on or off for the secret id, with the function lambdaARN.
func (f *Fake) SetRotation(id string, enabled bool, lambdaARN string) {
	f.with(&id, func(s *secret) { s.rotationEnabled, s.lambdaARN = enabled, &lambdaARN })
}

// CreateSecret implements the SDK operation.
func (f *Fake) CreateSecret(ctx context.Context, in *sm.CreateSecretInput,
	_ ...func(*sm.Options)) (*sm.CreateSecretOutput, error) {
	return do(f, ctx, in, nil, func(*secret) (*sm.CreateSecretOutput, error) {
		name := aws.ToString(in.Name)
		if slices.ContainsFunc(f.secrets, func(s *secret) bool { return s.name == name }) {
			return nil, exists("The operation failed because the secret " + name + " already exists.")
		}
		s := &secret{name: name, tags: map[string]string{},
			arn: fmt.Sprintf("arn:aws:secretsmanager:us-east-1:123456789012:secret:%s-%06d", name, len(f.secrets)+1)}
		addTags(s.tags, in.Tags)
		f.secrets = append(f.secrets, s)
		out := &sm.CreateSecretOutput{ARN: aws.String(s.arn), Name: aws.String(name)}
		if in.SecretString != nil {
			v, _ := f.put(s, in.ClientRequestToken, *in.SecretString, nil)
			out.VersionId = aws.String(v.id)
		}
		return out, nil
	})
}

// GetSecretValue implements the SDK operation.
func (f *Fake) GetSecretValue(ctx context.Context, in *sm.GetSecretValueInput,
	_ ...func(*sm.Options)) (*sm.GetSecretValueOutput, error) {
	return do(f, ctx, in, in.SecretId, func(s *secret) (*sm.GetSecretValueOutput, error) {
		v := s.get(aws.ToString(in.VersionId), "")
		if in.VersionId == nil {
			v = s.get("", cmp.Or(aws.ToString(in.VersionStage), stageCurrent))
		} else if v != nil && in.VersionStage != nil && !slices.Contains(v.stages, *in.VersionStage) {
			return nil, invalidParameter(
				"You provided a VersionStage that is not associated to the provided VersionId.")
		}
		if v == nil || v.value == nil {
			return nil, notFound("Secrets Manager can't find the specified secret value for staging label or version.")
		}
		return &sm.GetSecretValueOutput{ARN: aws.String(s.arn), Name: aws.String(s.name),
			VersionId: aws.String(v.id), SecretString: aws.String(*v.value), VersionStages: slices.Clone(v.stages),
			CreatedDate: aws.Time(v.created)}, nil
	})
}

// PutSecretValue implements the SDK operation (see put).
func (f *Fake) PutSecretValue(ctx context.Context, in *sm.PutSecretValueInput,
	_ ...func(*sm.Options)) (*sm.PutSecretValueOutput, error) {
	return do(f, ctx, in, in.SecretId, func(s *secret) (*sm.PutSecretValueOutput, error) {
		if in.SecretString == nil {
			return nil, invalidParameter("You must provide either SecretString or SecretBinary.")
		}
		v, err := f.put(s, in.ClientRequestToken, *in.SecretString, in.VersionStages)
		if err != nil {
			return nil, err
		}
		return &sm.PutSecretValueOutput{ARN: aws.String(s.arn), Name: aws.String(s.name),
			VersionId: aws.String(v.id), VersionStages: slices.Clone(v.stages)}, nil
	})
}

// DescribeSecret implements the SDK operation; VersionIdsToStages lists labelled versions only.
func (f *Fake) DescribeSecret(ctx context.Context, in *sm.DescribeSecretInput,
	_ ...func(*sm.Options)) (*sm.DescribeSecretOutput, error) {
	return do(f, ctx, in, in.SecretId, func(s *secret) (*sm.DescribeSecretOutput, error) {
		vs := map[string][]string{}
		for _, v := range s.versions {
			if len(v.stages) > 0 {
				vs[v.id] = slices.Clone(v.stages)
			}
		}
		return &sm.DescribeSecretOutput{ARN: aws.String(s.arn), Name: aws.String(s.name),
			RotationEnabled: aws.Bool(s.rotationEnabled), RotationLambdaARN: s.lambdaARN, Tags: toTags(s.tags),
			VersionIdsToStages: vs, LastRotatedDate: s.lastRotated}, nil
	})
}

// ListSecretVersionIds implements the SDK operation: labelled versions (all with IncludeDeprecated).
func (f *Fake) ListSecretVersionIds(ctx context.Context, in *sm.ListSecretVersionIdsInput,
	_ ...func(*sm.Options)) (*sm.ListSecretVersionIdsOutput, error) {
	return do(f, ctx, in, in.SecretId, func(s *secret) (*sm.ListSecretVersionIdsOutput, error) {
		var list []types.SecretVersionsListEntry
		for _, v := range s.versions {
			if len(v.stages) > 0 || aws.ToBool(in.IncludeDeprecated) {
				list = append(list, types.SecretVersionsListEntry{
					VersionId: aws.String(v.id), VersionStages: slices.Clone(v.stages), CreatedDate: aws.Time(v.created),
				})
			}
		}
		out := &sm.ListSecretVersionIdsOutput{ARN: aws.String(s.arn), Name: aws.String(s.name)}
		out.Versions, out.NextToken = page(list, in.NextToken, in.MaxResults)
		return out, nil
	})
}

// UpdateSecretVersionStage implements the SDK operation; RemoveFromVersionId must name a label's holder.
func (f *Fake) UpdateSecretVersionStage(ctx context.Context, in *sm.UpdateSecretVersionStageInput,
	_ ...func(*sm.Options)) (*sm.UpdateSecretVersionStageOutput, error) {
	return do(f, ctx, in, in.SecretId, func(s *secret) (*sm.UpdateSecretVersionStageOutput, error) {
		stage, from := aws.ToString(in.VersionStage), in.RemoveFromVersionId
		holder, to := s.get("", stage), s.get(aws.ToString(in.MoveToVersionId), "")
		switch {
		case in.MoveToVersionId != nil && to == nil:
			return nil, notFound("Secrets Manager can't find the specified secret version.")
		case from != nil && (holder == nil || holder.id != *from):
			return nil, invalidParameter(
				fmt.Sprintf("The staging label %s is not attached to version %s.", stage, *from))
		case holder != nil && holder != to && from == nil:
			return nil, invalidParameter(fmt.Sprintf("The staging label %s is currently attached to version %s, "+
				"so you must explicitly reference that version in RemoveFromVersionId.", stage, holder.id))
		case to != nil:
			s.moveStage(stage, to)
		case holder != nil:
			holder.drop(stage)
		}
		return &sm.UpdateSecretVersionStageOutput{ARN: aws.String(s.arn), Name: aws.String(s.name)}, nil
	})
}

// TagResource implements the SDK operation.
func (f *Fake) TagResource(ctx context.Context, in *sm.TagResourceInput,
	_ ...func(*sm.Options)) (*sm.TagResourceOutput, error) {
	return do(f, ctx, in, in.SecretId, func(s *secret) (*sm.TagResourceOutput, error) {
		addTags(s.tags, in.Tags)
		return &sm.TagResourceOutput{}, nil
	})
}

// UntagResource implements the SDK operation.
func (f *Fake) UntagResource(ctx context.Context, in *sm.UntagResourceInput,
	_ ...func(*sm.Options)) (*sm.UntagResourceOutput, error) {
	return do(f, ctx, in, in.SecretId, func(s *secret) (*sm.UntagResourceOutput, error) {
		for _, k := range in.TagKeys {
			delete(s.tags, k)
		}
		return &sm.UntagResourceOutput{}, nil
	})
}

// ListSecrets implements the SDK operation with the tag-key and tag-value filters.
func (f *Fake) ListSecrets(ctx context.Context, in *sm.ListSecretsInput,
	_ ...func(*sm.Options)) (*sm.ListSecretsOutput, error) {
	return do(f, ctx, in, nil, func(*secret) (*sm.ListSecretsOutput, error) {
		var list []types.SecretListEntry
		for _, s := range f.secrets {
			if matches(s, in.Filters) {
				list = append(list, types.SecretListEntry{
					ARN: aws.String(s.arn), Name: aws.String(s.name), RotationEnabled: aws.Bool(s.rotationEnabled),
					Tags: toTags(s.tags),
				})
			}
		}
		out := &sm.ListSecretsOutput{}
		out.SecretList, out.NextToken = page(list, in.NextToken, in.MaxResults)
		return out, nil
	})
}

// matches reports whether, for every filter, one of its values prefixes a field its key names.
func matches(s *secret, filters []types.Filter) bool {
	for _, fl := range filters {
		fields := fl.Values // other keys are not modelled: any value passes
		switch fl.Key {
		case types.FilterNameStringTypeTagKey:
			fields = slices.Collect(maps.Keys(s.tags))
		case types.FilterNameStringTypeTagValue:
			fields = slices.Collect(maps.Values(s.tags))
		}
		if !slices.ContainsFunc(fl.Values, func(want string) bool {
			return slices.ContainsFunc(fields, func(f string) bool { return strings.HasPrefix(f, want) })
		}) {
			return false
		}
	}
	return true
}

// RotateSecret implements the SDK operation: it creates an empty AWSPENDING version and hands it
// to OnRotate; while a rotation is incomplete it refuses and hands that one to OnRotate again.
func (f *Fake) RotateSecret(ctx context.Context, in *sm.RotateSecretInput,
	_ ...func(*sm.Options)) (*sm.RotateSecretOutput, error) {
	var arn, token string
	retry := false
	out, err := do(f, ctx, in, in.SecretId, func(s *secret) (*sm.RotateSecretOutput, error) {
		if in.RotationLambdaARN != nil {
			s.lambdaARN, s.rotationEnabled = in.RotationLambdaARN, true
		}
		if !s.rotationEnabled || aws.ToString(s.lambdaARN) == "" {
			return nil, invalidRequest("No Lambda rotation function ARN is associated with this secret.")
		}
		arn = s.arn
		if p := s.get("", stagePending); p != nil && !slices.Contains(p.stages, stageCurrent) {
			token, retry = p.id, true
			return nil, invalidRequest("A previous rotation isn't complete. That rotation will be reattempted.")
		}
		v := &version{id: tokenOr(in.ClientRequestToken), created: f.Now()}
		if s.get(v.id, "") != nil {
			return nil, exists("A version with this ClientRequestToken already exists.")
		}
		s.versions, token = append(s.versions, v), v.id
		s.moveStage(stagePending, v)
		return &sm.RotateSecretOutput{ARN: aws.String(arn), Name: aws.String(s.name),
			VersionId: aws.String(v.id)}, nil
	})
	if token != "" && f.OnRotate != nil {
		f.OnRotate(ctx, arn, token, retry)
	}
	return out, err
}

// FinishRotation is the service's end of a successful rotation: AWSPENDING removed, date recorded.
func (f *Fake) FinishRotation(id, token string) {
	f.with(&id, func(s *secret) {
		if v := s.get(token, ""); v != nil {
			v.drop(stagePending)
			if v.value == nil && len(v.stages) == 0 {
				s.versions = slices.DeleteFunc(s.versions, func(x *version) bool { return x == v })
			}
		}
		s.lastRotated = aws.Time(f.Now())
	})
}

// Calls returns how many times op was called.
func (f *Fake) Calls(op string) int { return f.CallCounts()[op] }

// TotalCalls returns how many operations were called.
func (f *Fake) TotalCalls() (n int) {
	for _, c := range f.CallCounts() {
		n += c
	}
	return n
}

// CallCounts returns a copy of the count of every operation.
func (f *Fake) CallCounts() map[string]int {
	return read(f, nil, func(*secret) map[string]int { return maps.Clone(f.calls) })
}

// ResetCalls sets every count to zero.
func (f *Fake) ResetCalls() { f.with(nil, func(*secret) { clear(f.calls) }) }

// StageVersion returns the id of the version holding stage.
func (f *Fake) StageVersion(id, stage string) (versionID string, ok bool) {
	v := cmp.Or(read(f, &id, func(s *secret) *version { return s.get("", stage) }), &version{})
	return v.id, v.id != ""
}

// Value returns the value of a version.
func (f *Fake) Value(id, versionID string) (value string, ok bool) {
	p := read(f, &id, func(s *secret) *string { return cmp.Or(s.get(versionID, ""), &version{}).value })
	return aws.ToString(p), p != nil
}

// Versions returns every version of the secret, labelled or not, oldest first.
func (f *Fake) Versions(id string) []Version {
	return read(f, &id, func(s *secret) (out []Version) {
		for _, v := range s.versions {
			out = append(out, Version{v.id, slices.Clone(v.stages), v.created, v.value != nil})
		}
		return out
	})
}

// Tags returns a copy of the secret's tags.
func (f *Fake) Tags(id string) map[string]string {
	return read(f, &id, func(s *secret) map[string]string { return maps.Clone(s.tags) })
}
