package operator

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/spapi-lwa/secret-rotation/internal/managed"
)

func TestEnable(t *testing.T) {
	e := newEnv()
	id, secret := clientID("app"), secretValue("app")
	arn := e.sm.Seed("sp-api-lwa/app", document(id, secret, testNow.Add(90*24*time.Hour)), nil)
	versionsBefore := len(e.sm.Versions(arn))

	out, stderr, code := e.run(t, "enable", "sp-api-lwa/app", "--function", fnARN)
	if code != ExitOK {
		t.Fatalf("enable exit = %d, want 0; stderr %q", code, stderr)
	}
	golden(t, "enable", out)
	checkNoSecret(t, out+stderr, secret)
	if got := e.sm.Tags(arn)[managed.TagClientID]; got != id {
		t.Errorf("tag %s = %q, want %q", managed.TagClientID, got, id)
	}
	r := e.sm.rules[arn]
	if r == nil || aws.ToString(r.ScheduleExpression) != DefaultSchedule {
		t.Errorf("rotation rules = %+v, want ScheduleExpression %q", r, DefaultSchedule)
	}
	if n := len(e.sm.Versions(arn)); n != versionsBefore {
		t.Errorf("enable created %d versions: it must not rotate", n-versionsBefore)
	}
	if e.sm.Calls("RotateSecret") != 0 || e.sm.configure != 1 {
		t.Errorf("RotateSecret immediate, configure = %d, %d; want 0, 1", e.sm.Calls("RotateSecret"), e.sm.configure)
	}

	// Idempotent: the second run changes nothing.
	writes := e.sm.writes()
	out, _, code = e.run(t, "enable", arn, "--function", fnARN)
	if code != ExitOK || !strings.Contains(out, "already enabled") {
		t.Errorf("second enable = %d, %q; want 0, already enabled", code, out)
	}
	if w := e.sm.writes(); w != writes {
		t.Errorf("second enable made %d writes, want none", w-writes)
	}

	// Another schedule reconfigures, without tagging again.
	out, _, code = e.run(t, "enable", arn, "--function", fnARN, "--schedule", "rate(10 days)")
	if code != ExitOK || strings.Contains(out, "Tagged") || aws.ToString(e.sm.rules[arn].ScheduleExpression) != "rate(10 days)" {
		t.Errorf("enable --schedule rate(10 days) = %d, %q, rules %+v", code, out, e.sm.rules[arn])
	}
}

func TestEnableFromStack(t *testing.T) {
	e := newEnv()
	e.cf.stacks["lwa"] = map[string]string{OutputRotateFunction: fnARN}
	arn := e.sm.Seed("app", document(clientID("app"), secretValue("app"), time.Time{}), nil)
	if _, stderr, code := e.run(t, "enable", "--stack", "lwa", "app"); code != ExitOK {
		t.Fatalf("enable --stack exit = %d; stderr %q", code, stderr)
	}
	d, _ := e.sm.Fake.DescribeSecret(t.Context(), describeIn(arn))
	if aws.ToString(d.RotationLambdaARN) != fnARN || !aws.ToBool(d.RotationEnabled) {
		t.Errorf("rotation = %v %s, want enabled with %s", aws.ToBool(d.RotationEnabled), aws.ToString(d.RotationLambdaARN), fnARN)
	}
}

func TestEnableCustomKeys(t *testing.T) {
	e := newEnv()
	e.vars["SECRET_CLIENT_ID_KEY"], e.vars["SECRET_CLIENT_SECRET_KEY"] = "lwaClientId", "secret"
	arn := e.sm.Seed("app", `{"lwaClientId":"`+clientID("k")+`","secret":"`+secretValue("k")+`"}`, nil)
	_, stderr, code := e.run(t, "enable", "app", "--function", fnARN)
	if code != ExitOK {
		t.Fatalf("enable with custom keys exit = %d; stderr %q", code, stderr)
	}
	if got := e.sm.Tags(arn)[managed.TagClientID]; got != clientID("k") {
		t.Errorf("tag = %q, want %q", got, clientID("k"))
	}
}

func TestEnableRefuses(t *testing.T) {
	e := newEnv()
	id := clientID("dup")
	e.sm.Seed("first", document(id, secretValue("1"), time.Time{}), map[string]string{managed.TagClientID: id})
	second := e.sm.Seed("second", document(id, secretValue("2"), time.Time{}), nil)
	mismatch := e.sm.Seed("mismatch", document(clientID("real"), secretValue("3"), time.Time{}), map[string]string{managed.TagClientID: clientID("typo")})
	writes := e.sm.writes()

	out, stderr, code := e.run(t, "enable", "second", "--function", fnARN)
	if code != ExitAttention || !strings.Contains(stderr, "already tagged on secret first") {
		t.Errorf("enable of a second secret for one client = %d, %q; want 1 naming the other secret", code, stderr)
	}
	oneLineErr(t, stderr)
	checkNoSecret(t, out+stderr, secretValue("1"), secretValue("2"))
	if _, ok := e.sm.Tags(second)[managed.TagClientID]; ok {
		t.Errorf("refused enable tagged the secret")
	}
	_, stderr, code = e.run(t, "enable", "mismatch", "--function", fnARN)
	if code != ExitAttention || !strings.Contains(stderr, "fix the tag or the document") {
		t.Errorf("enable with a tag for another client = %d, %q", code, stderr)
	}
	if e.sm.Tags(mismatch)[managed.TagClientID] != clientID("typo") || e.sm.writes() != writes {
		t.Errorf("refused enables wrote %d times", e.sm.writes()-writes)
	}

	// A rotation in progress: configuring now would race it.
	e2 := newEnv()
	arn := e2.sm.Seed("busy", document(clientID("b"), secretValue("b"), time.Time{}), map[string]string{managed.TagClientID: clientID("b")})
	e2.sm.SetRotation(arn, true, otherFnARN)
	if _, err := e2.sm.Fake.RotateSecret(t.Context(), rotateIn(arn)); err != nil {
		t.Fatal(err)
	}
	_, stderr, code = e2.run(t, "enable", "busy", "--function", fnARN)
	if code != ExitAttention || !strings.Contains(stderr, "rotation of busy is in progress") {
		t.Errorf("enable during a rotation = %d, %q", code, stderr)
	}
}

func TestEnableBadInput(t *testing.T) {
	e := newEnv()
	e.sm.Seed("broken", `{"clientId":"`+secretValue("x")+`"`, nil)
	e.sm.Seed("nosecret", `{"clientId":"`+clientID("n")+`","refreshToken":"Atzr|r"}`, nil)
	e.sm.Seed("good", document(clientID("g"), secretValue("g"), time.Time{}), nil)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"enable", "missing", "--function", fnARN}, "secret missing not found"},
		{[]string{"enable", "broken", "--function", fnARN}, "not a usable secret document"},
		{[]string{"enable", "nosecret", "--function", fnARN}, `"clientSecret"`},
		{[]string{"enable", "good"}, "--function ARN or --stack NAME"},
		{[]string{"enable", "good", "--function", fnARN, "--stack", "s"}, "not both"},
		{[]string{"enable", "good", "--stack", "nostack"}, "stack nostack not found"},
		{[]string{"enable", "good", "--function", fnARN, "--schedule", "every day"}, "--schedule"},
		{[]string{"enable", "good", "other", "--function", fnARN}, "expected one secret"},
		{[]string{"enable", "--function", fnARN}, "expected one secret"},
	} {
		out, stderr, code := e.run(t, tc.args...)
		if code != ExitBadInput || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v = %d, stderr %q; want 2 and %q", tc.args, code, stderr, tc.want)
		}
		oneLineErr(t, stderr)
		checkNoSecret(t, out+stderr, secretValue("x"), secretValue("g"))
	}
	e.vars["SECRET_CLIENT_ID_KEY"] = "clientSecret"
	if _, stderr, code := e.run(t, "enable", "good", "--function", fnARN); code != ExitBadInput || !strings.Contains(stderr, "both") {
		t.Errorf("enable with SECRET_CLIENT_ID_KEY=clientSecret = %d, stderr %q; want 2 and %q", code, stderr, "both")
	}
	if w := e.sm.writes(); w != 0 {
		t.Errorf("bad input made %d writes", w)
	}
}
