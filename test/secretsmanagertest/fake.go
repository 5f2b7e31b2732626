// Package secretsmanagertest is a stateful in-memory AWS Secrets Manager for
// tests. It keeps secrets, versions, staging labels, tags and created dates
// and answers with the SDK's typed errors, so rotation, retry and
// idempotency cases follow from state rather than canned answers. It plays
// the parts of the service the project relies on: an empty AWSPENDING
// version created by RotateSecret, the refusal of RotateSecret while a
// rotation is incomplete, idempotent PutSecretValue per ClientRequestToken,
// AWSPREVIOUS on the version that loses AWSCURRENT, and tag filters of
// ListSecrets that match values by prefix.
package secretsmanagertest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
)

const (
	stageCurrent  = "AWSCURRENT"
	stagePending  = "AWSPENDING"
	stagePrevious = "AWSPREVIOUS"
)

// Fake is an in-memory Secrets Manager. The zero value is not ready; use New.
type Fake struct {
	// Now is the clock for created and rotation dates; default time.Now.
	Now func() time.Time
	// Fail, when set, is called before every operation with its name
	// ("GetSecretValue", …) and input; a non-nil result is returned as the
	// operation's error and the operation does nothing.
	Fail func(op string, in any) error
	// OnRotate, when set, plays the rotation engine: it is called (without
	// the fake's lock held) after RotateSecret created the pending version
	// (retry false), or refused because a rotation is incomplete (retry true,
	// token of that rotation).
	OnRotate func(secretARN, token string, retry bool)

	mu      sync.Mutex
	secrets []*secret
	calls   map[string]int
	seq     int
}

type secret struct {
	arn, name       string
	rotationEnabled bool
	lambdaARN       string
	tags            map[string]string
	versions        []*version
	lastRotated     *time.Time
}

type version struct {
	id       string
	value    *string
	stages   []string
	created  time.Time
	hasValue bool
}

// Version is a snapshot of one version for inspection.
type Version struct {
	ID       string
	Stages   []string
	Created  time.Time
	HasValue bool
}

// New returns an empty fake.
func New() *Fake {
	return &Fake{calls: map[string]int{}}
}

func (f *Fake) now() time.Time {
	if f.Now != nil {
		return f.Now()
	}
	return time.Now()
}

// begin counts the call and runs the error injection. It is called without the lock.
func (f *Fake) begin(op string, in any) error {
	f.mu.Lock()
	f.calls[op]++
	fail := f.Fail
	f.mu.Unlock()
	if fail != nil {
		return fail(op, in)
	}
	return nil
}

func notFound(format string, a ...any) error {
	return &types.ResourceNotFoundException{Message: aws.String(fmt.Sprintf(format, a...))}
}

func invalidRequest(format string, a ...any) error {
	return &types.InvalidRequestException{Message: aws.String(fmt.Sprintf(format, a...))}
}

func invalidParameter(format string, a ...any) error {
	return &types.InvalidParameterException{Message: aws.String(fmt.Sprintf(format, a...))}
}

func newToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// find returns the secret named or with the ARN id. Callers hold the lock.
func (f *Fake) find(id *string) (*secret, error) {
	want := aws.ToString(id)
	for _, s := range f.secrets {
		if s.arn == want || s.name == want {
			return s, nil
		}
	}
	return nil, notFound("Secrets Manager can't find the specified secret.")
}

func (s *secret) version(id string) *version {
	for _, v := range s.versions {
		if v.id == id {
			return v
		}
	}
	return nil
}

func (s *secret) staged(stage string) *version {
	for _, v := range s.versions {
		if slices.Contains(v.stages, stage) {
			return v
		}
	}
	return nil
}

// moveStage puts stage on v, removing it from any other version. Moving
// AWSCURRENT puts AWSPREVIOUS on the version that held it, as the service does.
func (s *secret) moveStage(stage string, v *version) {
	old := s.staged(stage)
	if old == v {
		return
	}
	if old != nil {
		old.stages = slices.DeleteFunc(old.stages, func(x string) bool { return x == stage })
	}
	if stage == stageCurrent && old != nil {
		s.moveStage(stagePrevious, old)
	}
	if v != nil {
		v.stages = append(v.stages, stage)
		if stage == stageCurrent {
			v.stages = slices.DeleteFunc(v.stages, func(x string) bool { return x == stagePrevious })
		}
	}
}

// Seed creates a secret whose only version holds value under AWSCURRENT and returns its ARN.
func (f *Fake) Seed(name, value string, tags map[string]string) string {
	out, err := f.CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{
		Name: aws.String(name), SecretString: aws.String(value), Tags: toTags(tags),
	})
	if err != nil {
		panic(err)
	}
	f.mu.Lock()
	f.calls["CreateSecret"]--
	f.mu.Unlock()
	return aws.ToString(out.ARN)
}

func toTags(m map[string]string) []types.Tag {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var tags []types.Tag
	for _, k := range keys {
		tags = append(tags, types.Tag{Key: aws.String(k), Value: aws.String(m[k])})
	}
	return tags
}

// SetRotation turns rotation on or off for the secret id, with the rotation function lambdaARN.
func (f *Fake) SetRotation(id string, enabled bool, lambdaARN string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, err := f.find(&id)
	if err != nil {
		panic(err)
	}
	s.rotationEnabled, s.lambdaARN = enabled, lambdaARN
}

// CreateSecret implements the SDK operation.
func (f *Fake) CreateSecret(ctx context.Context, in *secretsmanager.CreateSecretInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.CreateSecretOutput, error) {
	if err := f.begin("CreateSecret", in); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	name := aws.ToString(in.Name)
	if name == "" {
		return nil, invalidParameter("You must provide a name.")
	}
	if _, err := f.find(in.Name); err == nil {
		return nil, &types.ResourceExistsException{Message: aws.String("The operation failed because the secret " + name + " already exists.")}
	}
	f.seq++
	s := &secret{
		arn:  fmt.Sprintf("arn:aws:secretsmanager:us-east-1:123456789012:secret:%s-%06d", name, f.seq),
		name: name, tags: map[string]string{},
	}
	for _, t := range in.Tags {
		s.tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	out := &secretsmanager.CreateSecretOutput{ARN: aws.String(s.arn), Name: aws.String(name)}
	if in.SecretString != nil {
		id := aws.ToString(in.ClientRequestToken)
		if id == "" {
			id = newToken()
		}
		s.versions = append(s.versions, &version{id: id, value: aws.String(*in.SecretString), hasValue: true, stages: []string{stageCurrent}, created: f.now()})
		out.VersionId = aws.String(id)
	}
	f.secrets = append(f.secrets, s)
	return out, nil
}

// GetSecretValue implements the SDK operation. Without VersionId or
// VersionStage it reads AWSCURRENT.
func (f *Fake) GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	if err := f.begin("GetSecretValue", in); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s, err := f.find(in.SecretId)
	if err != nil {
		return nil, err
	}
	var v *version
	switch {
	case in.VersionId != nil:
		v = s.version(*in.VersionId)
		if v != nil && in.VersionStage != nil && !slices.Contains(v.stages, *in.VersionStage) {
			return nil, invalidParameter("You provided a VersionStage that is not associated to the provided VersionId.")
		}
	case in.VersionStage != nil:
		v = s.staged(*in.VersionStage)
	default:
		v = s.staged(stageCurrent)
	}
	if v == nil || !v.hasValue {
		return nil, notFound("Secrets Manager can't find the specified secret value for staging label or version.")
	}
	return &secretsmanager.GetSecretValueOutput{
		ARN: aws.String(s.arn), Name: aws.String(s.name), VersionId: aws.String(v.id),
		SecretString: aws.String(*v.value), VersionStages: slices.Clone(v.stages), CreatedDate: aws.Time(v.created),
	}, nil
}

// PutSecretValue implements the SDK operation. A token whose version holds
// the same value is a no-op (its labels stay where they are); another value is ResourceExistsException. An
// empty version (created by RotateSecret) takes the value. Without
// VersionStages the new version becomes AWSCURRENT.
func (f *Fake) PutSecretValue(ctx context.Context, in *secretsmanager.PutSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.PutSecretValueOutput, error) {
	if err := f.begin("PutSecretValue", in); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s, err := f.find(in.SecretId)
	if err != nil {
		return nil, err
	}
	if in.SecretString == nil {
		return nil, invalidParameter("You must provide either SecretString or SecretBinary.")
	}
	id := aws.ToString(in.ClientRequestToken)
	if id == "" {
		id = newToken()
	}
	stages := in.VersionStages
	if len(stages) == 0 {
		stages = []string{stageCurrent}
	}
	v := s.version(id)
	switch {
	case v == nil:
		v = &version{id: id, created: f.now()}
		s.versions = append(s.versions, v)
		fallthrough
	case !v.hasValue:
		v.value, v.hasValue = aws.String(*in.SecretString), true
	case *v.value != *in.SecretString:
		return nil, &types.ResourceExistsException{Message: aws.String("You can't modify an existing version, you can only create a new version.")}
	default:
		// The same token and value again: the service succeeds and does
		// nothing, labels included.
		return &secretsmanager.PutSecretValueOutput{ARN: aws.String(s.arn), Name: aws.String(s.name), VersionId: aws.String(id), VersionStages: slices.Clone(v.stages)}, nil
	}
	for _, st := range stages {
		s.moveStage(st, v)
	}
	return &secretsmanager.PutSecretValueOutput{ARN: aws.String(s.arn), Name: aws.String(s.name), VersionId: aws.String(id), VersionStages: slices.Clone(v.stages)}, nil
}

// DescribeSecret implements the SDK operation. VersionIdsToStages lists the
// versions that have at least one staging label, as the service does.
func (f *Fake) DescribeSecret(ctx context.Context, in *secretsmanager.DescribeSecretInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error) {
	if err := f.begin("DescribeSecret", in); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s, err := f.find(in.SecretId)
	if err != nil {
		return nil, err
	}
	vs := map[string][]string{}
	for _, v := range s.versions {
		if len(v.stages) > 0 {
			vs[v.id] = slices.Clone(v.stages)
		}
	}
	out := &secretsmanager.DescribeSecretOutput{
		ARN: aws.String(s.arn), Name: aws.String(s.name), RotationEnabled: aws.Bool(s.rotationEnabled),
		Tags: toTags(s.tags), VersionIdsToStages: vs, LastRotatedDate: s.lastRotated,
	}
	if s.lambdaARN != "" {
		out.RotationLambdaARN = aws.String(s.lambdaARN)
	}
	return out, nil
}

// ListSecretVersionIds implements the SDK operation: every version with a
// staging label (every version with IncludeDeprecated), with its labels and
// creation date, oldest first, paged by MaxResults.
func (f *Fake) ListSecretVersionIds(ctx context.Context, in *secretsmanager.ListSecretVersionIdsInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.ListSecretVersionIdsOutput, error) {
	if err := f.begin("ListSecretVersionIds", in); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s, err := f.find(in.SecretId)
	if err != nil {
		return nil, err
	}
	var list []types.SecretVersionsListEntry
	for _, v := range s.versions {
		if len(v.stages) > 0 || aws.ToBool(in.IncludeDeprecated) {
			list = append(list, types.SecretVersionsListEntry{
				VersionId: aws.String(v.id), VersionStages: slices.Clone(v.stages), CreatedDate: aws.Time(v.created),
			})
		}
	}
	start := 0
	if in.NextToken != nil {
		fmt.Sscan(*in.NextToken, &start)
	}
	size := int(aws.ToInt32(in.MaxResults))
	if size <= 0 {
		size = 100
	}
	out := &secretsmanager.ListSecretVersionIdsOutput{ARN: aws.String(s.arn), Name: aws.String(s.name)}
	if start < len(list) {
		end := min(start+size, len(list))
		out.Versions = list[start:end]
		if end < len(list) {
			out.NextToken = aws.String(fmt.Sprint(end))
		}
	}
	return out, nil
}

// UpdateSecretVersionStage implements the SDK operation. A label already on
// a version moves only when RemoveFromVersionId names that version.
func (f *Fake) UpdateSecretVersionStage(ctx context.Context, in *secretsmanager.UpdateSecretVersionStageInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.UpdateSecretVersionStageOutput, error) {
	if err := f.begin("UpdateSecretVersionStage", in); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s, err := f.find(in.SecretId)
	if err != nil {
		return nil, err
	}
	stage := aws.ToString(in.VersionStage)
	holder := s.staged(stage)
	var to *version
	if in.MoveToVersionId != nil {
		if to = s.version(*in.MoveToVersionId); to == nil {
			return nil, notFound("Secrets Manager can't find the specified secret version.")
		}
	}
	if in.RemoveFromVersionId != nil && (holder == nil || holder.id != *in.RemoveFromVersionId) {
		return nil, invalidParameter("The staging label %s is not attached to version %s.", stage, *in.RemoveFromVersionId)
	}
	if holder != nil && holder != to && in.RemoveFromVersionId == nil {
		return nil, invalidParameter("The staging label %s is currently attached to version %s, so you must explicitly reference that version in RemoveFromVersionId.", stage, holder.id)
	}
	if to == nil {
		if holder != nil {
			holder.stages = slices.DeleteFunc(holder.stages, func(x string) bool { return x == stage })
		}
	} else {
		s.moveStage(stage, to)
	}
	return &secretsmanager.UpdateSecretVersionStageOutput{ARN: aws.String(s.arn), Name: aws.String(s.name)}, nil
}

// TagResource implements the SDK operation.
func (f *Fake) TagResource(ctx context.Context, in *secretsmanager.TagResourceInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.TagResourceOutput, error) {
	if err := f.begin("TagResource", in); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s, err := f.find(in.SecretId)
	if err != nil {
		return nil, err
	}
	for _, t := range in.Tags {
		s.tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return &secretsmanager.TagResourceOutput{}, nil
}

// UntagResource implements the SDK operation.
func (f *Fake) UntagResource(ctx context.Context, in *secretsmanager.UntagResourceInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.UntagResourceOutput, error) {
	if err := f.begin("UntagResource", in); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s, err := f.find(in.SecretId)
	if err != nil {
		return nil, err
	}
	for _, k := range in.TagKeys {
		delete(s.tags, k)
	}
	return &secretsmanager.UntagResourceOutput{}, nil
}

// ListSecrets implements the SDK operation with the name, tag-key and
// tag-value filters (values match by prefix, as in the service). It pages
// by MaxResults.
func (f *Fake) ListSecrets(ctx context.Context, in *secretsmanager.ListSecretsInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.ListSecretsOutput, error) {
	if err := f.begin("ListSecrets", in); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var list []types.SecretListEntry
	for _, s := range f.secrets {
		if matches(s, in.Filters) {
			list = append(list, types.SecretListEntry{
				ARN: aws.String(s.arn), Name: aws.String(s.name), RotationEnabled: aws.Bool(s.rotationEnabled),
				Tags: toTags(s.tags),
			})
		}
	}
	start := 0
	if in.NextToken != nil {
		fmt.Sscan(*in.NextToken, &start)
	}
	size := int(aws.ToInt32(in.MaxResults))
	if size <= 0 {
		size = 100
	}
	out := &secretsmanager.ListSecretsOutput{}
	if start < len(list) {
		end := min(start+size, len(list))
		out.SecretList = list[start:end]
		if end < len(list) {
			out.NextToken = aws.String(fmt.Sprint(end))
		}
	}
	return out, nil
}

func matches(s *secret, filters []types.Filter) bool {
	for _, fl := range filters {
		ok := false
		for _, want := range fl.Values {
			switch fl.Key {
			case types.FilterNameStringTypeName:
				ok = ok || strings.HasPrefix(s.name, want)
			case types.FilterNameStringTypeTagKey:
				for k := range s.tags {
					ok = ok || strings.HasPrefix(k, want)
				}
			case types.FilterNameStringTypeTagValue:
				for _, v := range s.tags {
					ok = ok || strings.HasPrefix(v, want)
				}
			default:
				ok = true
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// RotateSecret implements the SDK operation: it creates an empty AWSPENDING
// version under the token and hands it to OnRotate. While another version
// than AWSCURRENT holds AWSPENDING, it answers InvalidRequestException and
// hands that rotation to OnRotate again, as the service reattempts it.
func (f *Fake) RotateSecret(ctx context.Context, in *secretsmanager.RotateSecretInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.RotateSecretOutput, error) {
	if err := f.begin("RotateSecret", in); err != nil {
		return nil, err
	}
	f.mu.Lock()
	s, err := f.find(in.SecretId)
	if err != nil {
		f.mu.Unlock()
		return nil, err
	}
	if in.RotationLambdaARN != nil {
		s.lambdaARN, s.rotationEnabled = *in.RotationLambdaARN, true
	}
	if !s.rotationEnabled || s.lambdaARN == "" {
		f.mu.Unlock()
		return nil, invalidRequest("No Lambda rotation function ARN is associated with this secret.")
	}
	onRotate := f.OnRotate
	if p := s.staged(stagePending); p != nil && !slices.Contains(p.stages, stageCurrent) {
		arn, token := s.arn, p.id
		f.mu.Unlock()
		if onRotate != nil {
			onRotate(arn, token, true)
		}
		return nil, invalidRequest("A previous rotation isn't complete. That rotation will be reattempted.")
	}
	token := aws.ToString(in.ClientRequestToken)
	if token == "" {
		token = newToken()
	}
	if s.version(token) != nil {
		f.mu.Unlock()
		return nil, &types.ResourceExistsException{Message: aws.String("A version with this ClientRequestToken already exists.")}
	}
	v := &version{id: token, created: f.now()}
	s.versions = append(s.versions, v)
	s.moveStage(stagePending, v)
	arn := s.arn
	f.mu.Unlock()
	if onRotate != nil {
		onRotate(arn, token, false)
	}
	return &secretsmanager.RotateSecretOutput{ARN: aws.String(arn), Name: aws.String(s.name), VersionId: aws.String(token)}, nil
}

// FinishRotation does what the service does after the four steps of a
// rotation succeeded: it removes AWSPENDING from the token's version and
// records the rotation date.
func (f *Fake) FinishRotation(id, token string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, err := f.find(&id)
	if err != nil {
		panic(err)
	}
	if v := s.version(token); v != nil {
		v.stages = slices.DeleteFunc(v.stages, func(x string) bool { return x == stagePending })
		if !v.hasValue && len(v.stages) == 0 {
			s.versions = slices.DeleteFunc(s.versions, func(x *version) bool { return x == v })
		}
	}
	t := f.now()
	s.lastRotated = &t
}

// Calls returns how many times op was called.
func (f *Fake) Calls(op string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[op]
}

// TotalCalls returns how many operations were called.
func (f *Fake) TotalCalls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		n += c
	}
	return n
}

// CallCounts returns a copy of the count of every operation.
func (f *Fake) CallCounts() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := make(map[string]int, len(f.calls))
	for k, v := range f.calls {
		m[k] = v
	}
	return m
}

// ResetCalls sets every count to zero.
func (f *Fake) ResetCalls() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = map[string]int{}
}

// StageVersion returns the id of the version holding stage.
func (f *Fake) StageVersion(id, stage string) (string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, err := f.find(&id)
	if err != nil {
		return "", false
	}
	if v := s.staged(stage); v != nil {
		return v.id, true
	}
	return "", false
}

// Value returns the value of a version.
func (f *Fake) Value(id, versionID string) (string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, err := f.find(&id)
	if err != nil {
		return "", false
	}
	if v := s.version(versionID); v != nil && v.hasValue {
		return *v.value, true
	}
	return "", false
}

// Versions returns every version of the secret, labelled or not, oldest first.
func (f *Fake) Versions(id string) []Version {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, err := f.find(&id)
	if err != nil {
		return nil
	}
	out := make([]Version, len(s.versions))
	for i, v := range s.versions {
		out[i] = Version{ID: v.id, Stages: slices.Clone(v.stages), Created: v.created, HasValue: v.hasValue}
	}
	return out
}

// Tags returns a copy of the secret's tags.
func (f *Fake) Tags(id string) map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, err := f.find(&id)
	if err != nil {
		return nil
	}
	m := make(map[string]string, len(s.tags))
	for k, v := range s.tags {
		m[k] = v
	}
	return m
}
