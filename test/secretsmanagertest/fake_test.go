package secretsmanagertest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
)

var ctx = context.Background()

func get(t *testing.T, f *Fake, id, versionID, stage string) (*secretsmanager.GetSecretValueOutput, error) {
	t.Helper()
	in := &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)}
	if versionID != "" {
		in.VersionId = aws.String(versionID)
	}
	if stage != "" {
		in.VersionStage = aws.String(stage)
	}
	return f.GetSecretValue(ctx, in)
}

func TestRotateSecretCreatesEmptyPending(t *testing.T) {
	f := New()
	arn := f.Seed("s", "v1", nil)
	if _, err := f.RotateSecret(ctx, &secretsmanager.RotateSecretInput{SecretId: aws.String("s")}); err == nil {
		t.Fatal("RotateSecret() without rotation configured succeeded")
	}
	f.SetRotation("s", true, "arn:aws:lambda:us-east-1:1:function:rotate")
	var calls []string
	f.OnRotate = func(_ context.Context, a, token string, retry bool) {
		if a != arn {
			t.Errorf("OnRotate arn = %s, want %s", a, arn)
		}
		calls = append(calls, token+map[bool]string{true: "/retry", false: ""}[retry])
	}
	out, err := f.RotateSecret(ctx, &secretsmanager.RotateSecretInput{SecretId: aws.String(arn), ClientRequestToken: aws.String("tok-1")})
	if err != nil || aws.ToString(out.VersionId) != "tok-1" {
		t.Fatalf("RotateSecret() = %v, %v", out, err)
	}
	var nf *types.ResourceNotFoundException
	if _, err := get(t, f, "s", "tok-1", "AWSPENDING"); !errors.As(err, &nf) {
		t.Errorf("GetSecretValue(empty pending) error = %v, want ResourceNotFoundException", err)
	}
	var ir *types.InvalidRequestException
	if _, err := f.RotateSecret(ctx, &secretsmanager.RotateSecretInput{SecretId: aws.String("s")}); !errors.As(err, &ir) {
		t.Errorf("RotateSecret() during a rotation error = %v, want InvalidRequestException", err)
	}
	if want := []string{"tok-1", "tok-1/retry"}; !slices.Equal(calls, want) {
		t.Errorf("OnRotate calls = %v, want %v", calls, want)
	}
}

func TestPutSecretValueIdempotency(t *testing.T) {
	f := New()
	f.Seed("s", "v1", nil)
	put := func(token, value string, stages ...string) error {
		_, err := f.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
			SecretId: aws.String("s"), ClientRequestToken: aws.String(token), SecretString: aws.String(value), VersionStages: stages,
		})
		return err
	}
	if err := put("t1", "v2", "LWA_RECEIVED"); err != nil {
		t.Fatal(err)
	}
	if err := put("t1", "v2", "LWA_RECEIVED"); err != nil {
		t.Errorf("same token, same value: %v", err)
	}
	var exists *types.ResourceExistsException
	if err := put("t1", "other", "LWA_RECEIVED"); !errors.As(err, &exists) {
		t.Errorf("same token, other value: %v, want ResourceExistsException", err)
	}
	if err := put("t2", "v3", "LWA_RECEIVED"); err != nil {
		t.Fatal(err)
	}
	if id, _ := f.StageVersion("s", "LWA_RECEIVED"); id != "t2" {
		t.Errorf("LWA_RECEIVED on %s, want t2 (PutSecretValue moves labels)", id)
	}
	cur, _ := get(t, f, "s", "", "AWSCURRENT")
	if aws.ToString(cur.SecretString) != "v1" {
		t.Errorf("AWSCURRENT = %s, want v1 untouched", aws.ToString(cur.SecretString))
	}
	if err := put("t3", "v4"); err != nil {
		t.Fatal(err)
	}
	if id, _ := f.StageVersion("s", "AWSCURRENT"); id != "t3" {
		t.Errorf("PutSecretValue without stages: AWSCURRENT on %s, want t3", id)
	}
	if id, _ := f.StageVersion("s", "AWSPREVIOUS"); id != aws.ToString(cur.VersionId) {
		t.Errorf("AWSPREVIOUS on %s, want the old current %s", id, aws.ToString(cur.VersionId))
	}
}

func TestUpdateSecretVersionStage(t *testing.T) {
	f := New()
	f.Seed("s", "v1", nil)
	old, _ := f.StageVersion("s", "AWSCURRENT")
	f.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("s"), ClientRequestToken: aws.String("new"), SecretString: aws.String("v2"), VersionStages: []string{"AWSPENDING"}})
	move := func(remove *string) error {
		_, err := f.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{
			SecretId: aws.String("s"), VersionStage: aws.String("AWSCURRENT"), MoveToVersionId: aws.String("new"), RemoveFromVersionId: remove,
		})
		return err
	}
	var ip *types.InvalidParameterException
	if err := move(nil); !errors.As(err, &ip) {
		t.Errorf("move without RemoveFromVersionId: %v, want InvalidParameterException", err)
	}
	if err := move(aws.String("new")); !errors.As(err, &ip) {
		t.Errorf("move with wrong RemoveFromVersionId: %v, want InvalidParameterException", err)
	}
	if err := move(aws.String(old)); err != nil {
		t.Fatal(err)
	}
	d, _ := f.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("s")})
	if got := d.VersionIdsToStages["new"]; !slices.Contains(got, "AWSCURRENT") || !slices.Contains(got, "AWSPENDING") {
		t.Errorf("new stages = %v, want AWSCURRENT and AWSPENDING", got)
	}
	if got := d.VersionIdsToStages[old]; !slices.Equal(got, []string{"AWSPREVIOUS"}) {
		t.Errorf("old stages = %v, want [AWSPREVIOUS]", got)
	}
	f.FinishRotation("s", "new")
	if _, ok := f.StageVersion("s", "AWSPENDING"); ok {
		t.Error("AWSPENDING still attached after FinishRotation")
	}
	// The same value read with the stage and with the version id.
	a, _ := get(t, f, "s", "", "AWSCURRENT")
	b, _ := get(t, f, "s", "new", "")
	if aws.ToString(a.SecretString) != "v2" || aws.ToString(b.SecretString) != "v2" {
		t.Errorf("current = %s / %s, want v2", aws.ToString(a.SecretString), aws.ToString(b.SecretString))
	}
}

func TestTagsAndCreatedDates(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f := New()
	f.Now = func() time.Time { return now }
	f.Seed("s", "v1", map[string]string{"a": "1"})
	now = now.Add(time.Hour)
	f.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("s"), ClientRequestToken: aws.String("t"), SecretString: aws.String("v2"), VersionStages: []string{"X"}})
	out, _ := get(t, f, "s", "t", "")
	if !out.CreatedDate.Equal(now) {
		t.Errorf("CreatedDate = %v, want %v", out.CreatedDate, now)
	}
	f.TagResource(ctx, &secretsmanager.TagResourceInput{SecretId: aws.String("s"), Tags: []types.Tag{{Key: aws.String("b"), Value: aws.String("2")}}})
	f.UntagResource(ctx, &secretsmanager.UntagResourceInput{SecretId: aws.String("s"), TagKeys: []string{"a"}})
	if got := f.Tags("s"); len(got) != 1 || got["b"] != "2" {
		t.Errorf("Tags() = %v, want map[b:2]", got)
	}
	if f.Calls("TagResource") != 1 || f.Calls("GetSecretValue") != 1 {
		t.Errorf("calls = %v", f.CallCounts())
	}
}

func TestFailInjection(t *testing.T) {
	f := New()
	f.Seed("s", "v1", nil)
	boom := errors.New("boom")
	f.Fail = func(_ context.Context, op string, in any) error {
		if op == "PutSecretValue" {
			return boom
		}
		return nil
	}
	_, err := f.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("s"), SecretString: aws.String("v2")})
	if !errors.Is(err, boom) {
		t.Errorf("PutSecretValue() = %v, want boom", err)
	}
	if len(f.Versions("s")) != 1 {
		t.Errorf("a failed PutSecretValue wrote a version")
	}
	f.Fail, f.After = nil, func(context.Context, string, any) error { return boom }
	_, err = f.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("s"), SecretString: aws.String("v2")})
	if !errors.Is(err, boom) || len(f.Versions("s")) != 2 {
		t.Errorf("PutSecretValue() with After = %v, %d versions; want boom after it took effect", err, len(f.Versions("s")))
	}
}

// TestPutSecretValueRepeatKeepsLabels: the service answers a repeated token
// and value with success and does nothing, so a label that moved on since
// stays where it is.
func TestPutSecretValueRepeatKeepsLabels(t *testing.T) {
	f := New()
	f.Seed("s", "v1", nil)
	put := func(token, value string) {
		t.Helper()
		if _, err := f.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
			SecretId: aws.String("s"), ClientRequestToken: aws.String(token), SecretString: aws.String(value), VersionStages: []string{"LWA_RECEIVED"},
		}); err != nil {
			t.Fatal(err)
		}
	}
	put("t1", "a")
	put("t2", "b")
	put("t1", "a")
	if id, _ := f.StageVersion("s", "LWA_RECEIVED"); id != "t2" {
		t.Errorf("LWA_RECEIVED on %s after repeating t1, want t2", id)
	}
}
