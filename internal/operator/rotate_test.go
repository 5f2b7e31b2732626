package operator

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/spapi-lwa/secret-rotation/internal/managed"
)

const deliveredVersion = "d0000000-0000-4000-8000-000000000001"

// rotation plays the project's rotation on the fake, one stage at a time,
// as the rotation function and the receiver would.
type rotation struct {
	t        *testing.T
	e        *env
	arn      string
	id       string
	current  string // AWSCURRENT before
	newValue string
}

func newRotation(t *testing.T, e *env) *rotation {
	id := clientID("rot")
	arn := e.sm.Seed("sp-api-lwa/rot", document(id, secretValue("old"), testNow.Add(10*24*time.Hour)), map[string]string{managed.TagClientID: id})
	e.sm.SetRotation(arn, true, fnARN)
	cur, _ := e.sm.StageVersion(arn, managed.StageCurrent)
	return &rotation{t: t, e: e, arn: arn, id: id, current: cur, newValue: document(id, secretValue("new"), testNow.Add(190*24*time.Hour))}
}

func (r *rotation) token() string {
	v, _ := r.e.sm.StageVersion(r.arn, managed.StagePending)
	return v
}

func (r *rotation) must(_ any, err error) {
	r.t.Helper()
	if err != nil {
		r.t.Fatal(err)
	}
}

func (r *rotation) request() {
	r.must(r.e.sm.TagResource(r.t.Context(), &secretsmanager.TagResourceInput{SecretId: aws.String(r.arn),
		Tags: tags(managed.TagRotationRequestedAt, r.e.now.Format(time.RFC3339))}))
}

func (r *rotation) deliver() {
	r.must(r.e.sm.PutSecretValue(r.t.Context(), &secretsmanager.PutSecretValueInput{SecretId: aws.String(r.arn),
		ClientRequestToken: aws.String(deliveredVersion), SecretString: aws.String(r.newValue), VersionStages: []string{managed.StageReceived}}))
}

func (r *rotation) adopt() {
	r.must(r.e.sm.PutSecretValue(r.t.Context(), &secretsmanager.PutSecretValueInput{SecretId: aws.String(r.arn),
		ClientRequestToken: aws.String(r.token()), SecretString: aws.String(r.newValue), VersionStages: []string{managed.StagePending}}))
}

func (r *rotation) promote() {
	tok := r.token()
	r.must(r.e.sm.UpdateSecretVersionStage(r.t.Context(), &secretsmanager.UpdateSecretVersionStageInput{SecretId: aws.String(r.arn),
		VersionStage: aws.String(managed.StageCurrent), MoveToVersionId: aws.String(tok), RemoveFromVersionId: aws.String(r.current)}))
	r.must(r.e.sm.UntagResource(r.t.Context(), &secretsmanager.UntagResourceInput{SecretId: aws.String(r.arn), TagKeys: []string{managed.TagRotationRequestedAt}}))
	r.e.sm.FinishRotation(r.arn, tok)
}

// reject is testSecret giving up: AWSPENDING leaves the token's version.
func (r *rotation) reject() {
	r.must(r.e.sm.UpdateSecretVersionStage(r.t.Context(), &secretsmanager.UpdateSecretVersionStageInput{SecretId: aws.String(r.arn),
		VersionStage: aws.String(managed.StagePending), RemoveFromVersionId: aws.String(r.token())}))
}

// stable replaces random version ids in out.
func (r *rotation) stable(out, token string) string {
	return strings.NewReplacer(token, "<token>", r.current, "<old-current>").Replace(out)
}

func TestRotateWait(t *testing.T) {
	e := newEnv()
	r := newRotation(t, e)
	var token string
	script := map[int]func(){
		1: r.request,
		7: r.deliver,
		8: func() { token = r.token(); r.adopt() },
		9: r.promote,
	}
	e.onSleep = func(n int) {
		if f := script[n]; f != nil {
			f()
		}
	}
	out, stderr, code := e.run(t, "rotate", "sp-api-lwa/rot", "--wait")
	if code != ExitOK {
		t.Fatalf("rotate --wait exit = %d; stdout %s stderr %s", code, out, stderr)
	}
	golden(t, "rotate-wait", r.stable(out, token))
	checkNoSecret(t, out+stderr, secretValue("old"), secretValue("new"))
	if cur, _ := e.sm.StageVersion(r.arn, managed.StageCurrent); cur != token {
		t.Errorf("AWSCURRENT = %s, want the followed version %s", cur, token)
	}
}

func TestRotateWaitFailed(t *testing.T) {
	e := newEnv()
	r := newRotation(t, e)
	var token string
	e.onSleep = func(n int) {
		switch n {
		case 1:
			token = r.token()
			r.request()
		case 2:
			r.deliver()
		case 3:
			r.adopt()
		case 4:
			r.reject()
		}
	}
	out, stderr, code := e.run(t, "rotate", "sp-api-lwa/rot", "--wait")
	if code != ExitAttention {
		t.Fatalf("rotate --wait of a rejected secret exit = %d, want 1; stdout %s stderr %s", code, out, stderr)
	}
	golden(t, "rotate-wait-failed", r.stable(out, token))
	checkNoSecret(t, out+stderr, secretValue("old"), secretValue("new"))
	if !strings.Contains(out, "aws lambda get-function-configuration --function-name arn:aws:lambda:us-east-1:123456789012:function:lwa-RotateSecretFunction-abc ") {
		t.Errorf("rotate --wait of a rejected secret does not give the command to read the rotation function's log:\n%s", out)
	}
}

func TestRotateWaitTimeout(t *testing.T) {
	e := newEnv()
	r := newRotation(t, e)
	var token string
	e.onSleep = func(n int) {
		if n == 1 {
			token = r.token()
			r.request()
		}
	}
	out, stderr, code := e.run(t, "rotate", "sp-api-lwa/rot", "--wait", "--timeout", "25s")
	if code != ExitAttention {
		t.Fatalf("rotate --wait that times out exit = %d, want 1; stderr %s", code, stderr)
	}
	golden(t, "rotate-wait-timeout", strings.ReplaceAll(r.stable(out, token), testNow.Add(2*time.Second).Format(time.RFC3339), "<requested-at>"))
}

func TestRotateJoinsRotationInProgress(t *testing.T) {
	e := newEnv()
	r := newRotation(t, e)
	if _, err := e.sm.Fake.RotateSecret(t.Context(), rotateIn(r.arn)); err != nil {
		t.Fatal(err)
	}
	token := r.token()
	r.request()
	r.deliver()
	e.onSleep = func(n int) {
		switch n {
		case 1:
			r.adopt()
		case 2:
			r.promote()
		}
	}
	out, stderr, code := e.run(t, "rotate", r.arn, "--wait")
	if code != ExitOK {
		t.Fatalf("rotate --wait joining a rotation exit = %d; stdout %s stderr %s", code, out, stderr)
	}
	for _, want := range []string{"already in progress: following version " + token, "requested:", "adopted:", "tested and promoted"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "delivered:") {
		t.Errorf("a delivery made before following is reported as new:\n%s", out)
	}
}

func TestRotateWithoutWait(t *testing.T) {
	e := newEnv()
	r := newRotation(t, e)
	out, _, code := e.run(t, "rotate", "sp-api-lwa/rot")
	if code != ExitOK || !strings.Contains(out, "started: version "+r.token()) || e.sleeps != 0 {
		t.Errorf("rotate without --wait = %d, %q after %d polls", code, out, e.sleeps)
	}
}

func TestRotateBadInput(t *testing.T) {
	e := newEnv()
	e.sm.Seed("untagged", document(clientID("u"), secretValue("u"), time.Time{}), nil)
	e.sm.Seed("off", document(clientID("o"), secretValue("o"), time.Time{}), map[string]string{managed.TagClientID: clientID("o")})
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"rotate", "missing", "--wait"}, "not found"},
		{[]string{"rotate", "untagged", "--wait"}, "not a managed secret"},
		{[]string{"rotate", "off", "--wait"}, "rotation is not enabled"},
		{[]string{"rotate", "off", "--wait", "--timeout", "-1s"}, "--timeout"},
		{[]string{"rotate", "--wait"}, "expected one secret"},
		{[]string{"rotate", "off", "--wait", "--timeout", "soon"}, "invalid value"},
	} {
		_, stderr, code := e.run(t, tc.args...)
		if code != ExitBadInput || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v = %d, %q; want 2 and %q", tc.args, code, stderr, tc.want)
		}
		oneLineErr(t, stderr)
	}
	if w := e.sm.writes(); w != 0 {
		t.Errorf("bad input made %d writes", w)
	}
}

// TestFollower checks the stage decisions snapshot by snapshot.
func TestFollower(t *testing.T) {
	before := snapshot{current: "v1", delivered: map[string]string{"old": managed.StageReceived}}
	tests := []struct {
		name   string
		snaps  []snapshot
		want   []stage
		failed bool
	}{
		{"nothing yet", []snapshot{{current: "v1", pending: "tok"}}, nil, false},
		{"requested", []snapshot{{current: "v1", pending: "tok", requestedAt: "t"}}, []stage{stageRequested}, false},
		{"an old delivery is not new", []snapshot{{current: "v1", pending: "tok", delivered: map[string]string{"old": managed.StageReceived}}}, nil, false},
		{"delivered, superseded label counts", []snapshot{{current: "v1", pending: "tok", delivered: map[string]string{"new": managed.StageSuperseded}}}, []stage{stageDelivered}, false},
		{"adopted", []snapshot{{current: "v1", pending: "tok", pendingFilled: true}}, []stage{stageAdopted}, false},
		{"promoted in one poll", []snapshot{{current: "tok"}}, []stage{stageAdopted, stagePromoted}, false},
		{"each stage once", []snapshot{
			{current: "v1", pending: "tok", requestedAt: "t"},
			{current: "v1", pending: "tok", requestedAt: "t", delivered: map[string]string{"new": managed.StageReceived}},
			{current: "v1", pending: "tok", requestedAt: "t", delivered: map[string]string{"new": managed.StageReceived}},
		}, []stage{stageRequested, stageDelivered}, false},
		{"pending lost", []snapshot{{current: "v1", pending: "tok"}, {current: "v1"}}, nil, true},
		{"pending never seen is not a failure", []snapshot{{current: "v1"}}, nil, false},
		{"current moved elsewhere", []snapshot{{current: "v1", pending: "tok"}, {current: "other"}}, []stage{stagePromoted}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &follower{token: "tok", before: before, seen: map[stage]bool{}}
			var got []stage
			var failed bool
			for _, s := range tt.snaps {
				var st []stage
				st, failed = f.observe(s)
				got = append(got, st...)
			}
			if !slices.Equal(got, tt.want) || failed != tt.failed {
				t.Errorf("observe() = %v, %v; want %v, %v", got, failed, tt.want, tt.failed)
			}
		})
	}
}
