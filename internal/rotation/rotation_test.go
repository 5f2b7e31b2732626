package rotation

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/spapi-lwa/secret-rotation/internal/alert"
	"github.com/spapi-lwa/secret-rotation/internal/lwa"
	"github.com/spapi-lwa/secret-rotation/internal/managed"
	"github.com/spapi-lwa/secret-rotation/internal/secretdoc"
	"github.com/spapi-lwa/secret-rotation/internal/spapi"
)

// TestFullRotationCallCounts runs the four steps as the engine does and
// asserts the calls written in the package doc.
func TestFullRotationCallCounts(t *testing.T) {
	w := newWorld(t)
	token := w.start()
	want := map[string]map[string]int{
		StepCreate: {"DescribeSecret": 2, "GetSecretValue": 3, "ListSecretVersionIds": 2, "ListSecrets": 1, "TagResource": 1, "PutSecretValue": 1},
		StepSet:    {"DescribeSecret": 1, "GetSecretValue": 2},
		StepTest:   {"DescribeSecret": 1, "GetSecretValue": 1},
		StepFinish: {"DescribeSecret": 1, "GetSecretValue": 1, "UpdateSecretVersionStage": 1, "TagResource": 1, "UntagResource": 1},
	}
	wantLWA := map[string]int{StepCreate: 1, StepTest: 1, StepFinish: 1}
	wantAPI := map[string]int{StepCreate: 1}
	wantSNS := map[string]int{StepFinish: 1}
	total := map[string]int{}
	for _, s := range allSteps {
		w.resetOps(nil)
		lwa0, api0, sns0 := w.lwa.Calls(), w.api.Calls(), len(w.alerts.Alerts())
		w.mustStep(s, token)
		got := w.opCounts()
		if !maps.Equal(got, want[s]) {
			t.Errorf("%s: Secrets Manager calls = %v, want %v", s, got, want[s])
		}
		for op, n := range got {
			total[op] += n
		}
		if got := w.lwa.Calls() - lwa0; got != wantLWA[s] {
			t.Errorf("%s: LWA calls = %d, want %d", s, got, wantLWA[s])
		}
		if got := w.api.Calls() - api0; got != wantAPI[s] {
			t.Errorf("%s: SP-API calls = %d, want %d", s, got, wantAPI[s])
		}
		if got := len(w.alerts.Alerts()) - sns0; got != wantSNS[s] {
			t.Errorf("%s: alerts = %d, want %d", s, got, wantSNS[s])
		}
	}
	w.sm.FinishRotation(w.arn, token)
	wantTotal := map[string]int{"DescribeSecret": 5, "GetSecretValue": 7, "ListSecretVersionIds": 2, "ListSecrets": 1, "PutSecretValue": 1, "TagResource": 2, "UntagResource": 1, "UpdateSecretVersionStage": 1}
	if !maps.Equal(total, wantTotal) {
		t.Errorf("Secrets Manager calls for one rotation = %v, want %v", total, wantTotal)
	}
	n := 0
	for _, v := range total {
		n += v
	}
	if n != 20 {
		t.Errorf("Secrets Manager calls for one rotation = %d, want 20", n)
	}
	if w.lwa.Calls() != 3 || w.api.Calls() != 1 || len(w.alerts.Alerts()) != 1 {
		t.Errorf("LWA, SP-API, SNS calls = %d, %d, %d; want 3, 1, 1", w.lwa.Calls(), w.api.Calls(), len(w.alerts.Alerts()))
	}
	w.assertRotated(token, 1)
}

// TestFullRotationLogsNoSecret runs a rotation, a rotation that waits in
// vain and one refused by SP-API, with every log line at Debug level written
// by the JSON handler, and checks that no client secret, access token or
// refresh token appears in the logs, the errors or the alerts.
func TestFullRotationLogsNoSecret(t *testing.T) {
	w := newWorld(t)
	w.rotate()
	w.assertRotated(w.currentID(), 1)

	// A rotation whose secret arrives too late for the first attempt.
	w.clock.Advance(31 * 24 * time.Hour)
	w.api.mu.Lock()
	w.api.deliver = nil
	w.api.mu.Unlock()
	token := w.start()
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	if err := w.step(ctx, StepCreate, token); !errors.Is(err, ErrSecretNotReceived) {
		t.Fatalf("Handle(createSecret) = %v, want ErrSecretNotReceived", err)
	}
	w.deliverQueued()
	for _, s := range allSteps {
		w.mustStep(s, token)
	}
	w.sm.FinishRotation(w.arn, token)
	w.assertRotated(token, 2)

	// A rotation SP-API refuses.
	w.clock.Advance(31 * 24 * time.Hour)
	w.api.fail = func(int) (error, bool) { return fmt.Errorf("spapi: 400: %w", spapi.ErrNotEnrolled), false }
	token = w.start()
	if err := w.step(context.Background(), StepCreate, token); !errors.Is(err, spapi.ErrNotEnrolled) {
		t.Fatalf("Handle(createSecret) = %v, want ErrNotEnrolled", err)
	}

	logs := w.logs.String()
	for _, want := range []string{`"level":"DEBUG"`, `"level":"WARN"`, `"level":"ERROR"`, `"step":"createSecret"`, `"clientId":"` + testClientID + `"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs do not contain %s; the test would not see every kind of line", want)
		}
	}
	w.assertNoLeak()
}

// currentID returns the id of the AWSCURRENT version.
func (w *world) currentID() string {
	id, _ := w.current()
	return id
}

func TestEntryChecks(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(w *world) (step, token string)
		wantErr string // "" = success doing nothing
	}{
		{"unknown step", func(w *world) (string, string) { return "rotateSecret", w.start() }, "unknown step"},
		{"rotation disabled", func(w *world) (string, string) {
			tok := w.start()
			w.sm.SetRotation(w.arn, false, rotationLambda)
			return StepCreate, tok
		}, "rotation is not enabled"},
		{"unknown version", func(w *world) (string, string) { w.start(); return StepCreate, "no-such-version" }, "no such version"},
		{"version not pending", func(w *world) (string, string) {
			w.rotate()
			prev, _ := w.sm.StageVersion(w.arn, managed.StagePrevious)
			return StepSet, prev
		}, "not AWSPENDING"},
		{"createSecret of current version", func(w *world) (string, string) { id, _ := w.current(); return StepCreate, id }, ""},
		{"setSecret of current version", func(w *world) (string, string) { id, _ := w.current(); return StepSet, id }, ""},
		{"testSecret of current version", func(w *world) (string, string) { id, _ := w.current(); return StepTest, id }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			step, token := tt.setup(w)
			before := w.value(mustStage(t, w, managed.StageCurrent))
			w.resetOps(nil)
			api0 := w.api.Calls()
			err := w.step(context.Background(), step, token)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Handle(%s) = %v, want nil", step, err)
				}
			} else if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Handle(%s) = %v, want an error containing %q", step, err, tt.wantErr)
			}
			for _, op := range []string{"PutSecretValue", "UpdateSecretVersionStage", "TagResource", "UntagResource"} {
				if n := w.opCounts()[op]; n != 0 {
					t.Errorf("%s calls = %d, want 0", op, n)
				}
			}
			if w.api.Calls() != api0 {
				t.Errorf("SP-API calls = %d, want %d", w.api.Calls(), api0)
			}
			if after := w.value(mustStage(t, w, managed.StageCurrent)); after != before {
				t.Error("AWSCURRENT changed")
			}
		})
	}
}

func mustStage(t *testing.T, w *world, stage string) string {
	t.Helper()
	id, ok := w.sm.StageVersion(w.arn, stage)
	if !ok {
		t.Fatalf("no version holds %s", stage)
	}
	return id
}

func TestCreateSecretCase1ValueAlreadyPresent(t *testing.T) {
	w := newWorld(t)
	token := w.start()
	w.mustStep(StepCreate, token)
	first := w.value(token)
	w.resetOps(nil)
	w.mustStep(StepCreate, token)
	if got := w.value(token); got != first {
		t.Error("pending value changed on the second createSecret")
	}
	if got := w.opCounts(); got["PutSecretValue"] != 0 || got["TagResource"] != 0 || got["GetSecretValue"] != 1 {
		t.Errorf("second createSecret made calls %v, want only the entry check and one read", got)
	}
	if w.api.Calls() != 1 || w.lwa.Calls() != 1 {
		t.Errorf("SP-API, LWA calls = %d, %d; want 1, 1", w.api.Calls(), w.lwa.Calls())
	}
}

func TestCreateSecretCase2InvalidCurrent(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(w *world)
		wantErr []string
	}{
		{"not JSON", func(w *world) { w.putCurrent("clientId=x;clientSecret=y") }, []string{"not a valid secret document", `"clientId"`, `"clientSecret"`}},
		{"no client secret", func(w *world) { w.putCurrent(`{"clientId":"` + testClientID + `"}`) }, []string{"not a valid secret document", `"clientSecret"`}},
		{"tag missing", func(w *world) { w.untag(managed.TagClientID) }, []string{"has no tag " + managed.TagClientID, `under the key "clientId"`}},
		{"tag for another client", func(w *world) { w.tag(managed.TagClientID, otherClientID) }, []string{`the value under the key "clientId"`, "the tag " + managed.TagClientID, "correct the tag"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			tt.setup(w)
			token := w.start()
			err := w.step(context.Background(), StepCreate, token)
			if !errors.Is(err, ErrMisconfigured) {
				t.Fatalf("Handle(createSecret) = %v, want ErrMisconfigured", err)
			}
			for _, s := range tt.wantErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not say %q", err, s)
				}
			}
			if w.hasValue(token) || w.lwa.Calls() != 0 || w.api.Calls() != 0 {
				t.Errorf("pending has value %v, LWA calls %d, SP-API calls %d; want false, 0, 0", w.hasValue(token), w.lwa.Calls(), w.api.Calls())
			}
			alerts := w.alerts.Alerts()
			if len(alerts) != 1 || alerts[0].Event != alert.EventRotationFailed || alerts[0].Action != alert.ActionManual || alerts[0].Severity != alert.SeverityCritical {
				t.Errorf("alerts = %+v, want one CRITICAL ROTATION_FAILED asking for manual action", alerts)
			}
			w.assertNoLeak()
		})
	}
}

// putCurrent writes a new AWSCURRENT value, as an operator would.
func (w *world) putCurrent(value string) string {
	w.t.Helper()
	w.external.Store(true)
	defer w.external.Store(false)
	out, err := w.sm.PutSecretValue(context.Background(), &secretsmanager.PutSecretValueInput{SecretId: aws.String(w.arn), SecretString: aws.String(value)})
	if err != nil {
		w.t.Fatal(err)
	}
	return aws.ToString(out.VersionId)
}

func (w *world) tag(k, v string) {
	w.t.Helper()
	w.external.Store(true)
	defer w.external.Store(false)
	if _, err := w.sm.TagResource(context.Background(), &secretsmanager.TagResourceInput{SecretId: aws.String(w.arn), Tags: []types.Tag{{Key: aws.String(k), Value: aws.String(v)}}}); err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) untag(k string) {
	w.t.Helper()
	w.external.Store(true)
	defer w.external.Store(false)
	if _, err := w.sm.UntagResource(context.Background(), &secretsmanager.UntagResourceInput{SecretId: aws.String(w.arn), TagKeys: []string{k}}); err != nil {
		w.t.Fatal(err)
	}
}

// newSecret makes LWA accept a secret issued outside the rotation (the portal).
func (w *world) portalSecret(n int) issued {
	s := issued{
		secret:    fmt.Sprintf("amzn1.oa2-cs.v1.p0rtal%02dPORTALp0rtalPORTALp0rtalPORTALp0rtalPORTALp0rtalPORTAL", n),
		expiresAt: w.clock.Now().Add(180 * 24 * time.Hour).UTC().Truncate(time.Second),
	}
	w.lwa.accept(testClientID, s.secret)
	w.api.mu.Lock()
	w.api.issued = append(w.api.issued, s)
	w.api.mu.Unlock()
	return s
}

// portalSecretLast moves the n-th portal secret to the end of the issued
// list: the one a test expects in AWSCURRENT.
func (w *world) portalSecretLast(n int) {
	w.api.mu.Lock()
	defer w.api.mu.Unlock()
	want := fmt.Sprintf("p0rtal%02d", n)
	i := slices.IndexFunc(w.api.issued, func(s issued) bool { return strings.Contains(s.secret, want) })
	s := w.api.issued[i]
	w.api.issued = append(slices.Delete(w.api.issued, i, i+1), s)
}

// forget makes s a secret Amazon never issued and LWA never accepts.
func (w *world) forget(s issued) {
	w.api.mu.Lock()
	w.api.issued = slices.DeleteFunc(w.api.issued, func(x issued) bool { return x.secret == s.secret })
	w.api.mu.Unlock()
	w.lwa.mu.Lock()
	delete(w.lwa.accepted, testClientID+" "+s.secret)
	w.lwa.mu.Unlock()
}

func TestCreateSecretCase3AdoptsReceived(t *testing.T) {
	w := newWorld(t)
	s := w.portalSecret(1)
	w.receive(s) // rotated by hand in the portal, delivered and stored
	_, cur := w.current()
	wantPending, err := cur.WithClientSecret(lwa.ClientSecret(s.secret), s.expiresAt)
	if err != nil {
		t.Fatal(err)
	}
	token := w.start()
	w.mustStep(StepCreate, token)
	if got := w.value(token); got != string(wantPending) {
		t.Error("pending value is not the AWSCURRENT document with the received secret and expiry")
	}
	if w.api.Calls() != 0 || w.lwa.Calls() != 0 {
		t.Errorf("SP-API, LWA calls = %d, %d; want 0, 0", w.api.Calls(), w.lwa.Calls())
	}
	if _, ok := w.sm.Tags(w.arn)[managed.TagRotationRequestedAt]; ok {
		t.Errorf("tag %s set; want no request", managed.TagRotationRequestedAt)
	}
	for _, st := range allSteps[1:] {
		w.mustStep(st, token)
	}
	w.sm.FinishRotation(w.arn, token)
	w.assertRotated(token, 0)
}

// noExpiryDoc is initialDoc without clientSecretExpiresAt.
var noExpiryDoc = strings.Replace(initialDoc, `"clientSecretExpiresAt":"`+initialExpiresAt+`",`, "", 1)

// TestCreateSecretCase3NewerByExpiry: a received secret that expires after
// AWSCURRENT's is adopted even when its version was created before the
// AWSCURRENT version (stored, then promoted after a rotation wrote an older
// secret in between).
func TestCreateSecretCase3NewerByExpiry(t *testing.T) {
	w := newWorld(t)
	s := w.portalSecret(1)
	_, cur := w.current()
	w.putReceived(cur, s)
	w.putCurrent(initialDoc) // a later AWSCURRENT version, same (older) secret
	token := w.rotate()
	w.assertRotated(token, 0) // AWSCURRENT holds s, the last issued secret
}

// TestCreateSecretCase3Superseded: the receiver stores every new secret
// under LWA_SUPERSEDED before it moves LWA_RECEIVED to it, and the move can
// fail until the message is delivered again. createSecret adopts such a
// secret rather than ask Amazon for another, but never an older one, one
// without an expiry, or one that does not expire later than LWA_RECEIVED's.
func TestCreateSecretCase3ChoosesAmongStored(t *testing.T) {
	tests := []struct {
		name      string
		setup     func(w *world)
		wantCalls int // SP-API calls: 0 = a stored secret was adopted
	}{
		{"newer secret waiting under LWA_SUPERSEDED", func(w *world) {
			_, cur := w.current()
			w.putStored(cur, w.portalSecret(1), managed.StageSuperseded)
		}, 0},
		{"the later of two stored secrets wins, whatever its label", func(w *world) {
			_, cur := w.current()
			older := w.portalSecret(1)
			older.expiresAt = older.expiresAt.Add(-time.Hour)
			w.putReceived(cur, older)
			w.putStored(cur, w.portalSecret(2), managed.StageSuperseded)
		}, 0},
		{"a secret that lost its label is still found", func(w *world) {
			_, cur := w.current()
			w.putStored(cur, w.portalSecret(1), managed.StageSuperseded)
			older := w.portalSecret(2)
			older.expiresAt = older.expiresAt.Add(-time.Hour)
			w.putStored(cur, older, managed.StageSuperseded) // takes the label
			w.portalSecretLast(1)
		}, 0},
		{"two stored secrets with the same expiry: neither, ask Amazon", func(w *world) {
			_, cur := w.current()
			w.putStored(cur, w.portalSecret(1), managed.StageSuperseded)
			w.putReceived(cur, w.portalSecret(2)) // the same expiry
			w.clock.Advance(time.Minute)          // what Amazon issues next is later
		}, 1},
		{"stored secret older than AWSCURRENT", func(w *world) {
			old := w.portalSecret(1)
			old.expiresAt = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
			_, cur := w.current()
			w.putStored(cur, old, managed.StageSuperseded)
		}, 1},
		{"stored secret listed as rejected, with a later expiry", func(w *world) {
			_, cur := w.current()
			forged := w.portalSecret(9)
			forged.expiresAt = forged.expiresAt.Add(365 * 24 * time.Hour)
			w.forget(forged)
			w.putReceived(cur, forged)
			w.tag(managed.TagRejectedSecrets, managed.WithRejected("", forged.secret))
		}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			tt.setup(w)
			token := w.rotate()
			w.assertRotated(token, tt.wantCalls)
		})
	}
}

// TestCreateSecretCase6SupersededWhileWaiting: the requested secret arrives
// under LWA_SUPERSEDED only (its move to LWA_RECEIVED failed): the poll
// adopts it.
func TestCreateSecretCase6SupersededWhileWaiting(t *testing.T) {
	w := newWorld(t)
	w.api.deliver = func(s issued) {
		_, cur := w.current()
		w.putStored(cur, s, managed.StageSuperseded)
	}
	token := w.rotate()
	w.assertRotated(token, 1)
	if _, ok := w.sm.StageVersion(w.arn, managed.StageReceived); ok {
		t.Errorf("a version holds %s; want the secret adopted from %s alone", managed.StageReceived, managed.StageSuperseded)
	}
}

func TestCreateSecretCase3StaleReceivedNotAdopted(t *testing.T) {
	tests := []struct {
		name  string
		setup func(w *world)
	}{
		{"received holds the current secret", func(w *world) {
			_, cur := w.current()
			w.putReceived(cur, issued{secret: oldSecret, expiresAt: time.Date(2027, 1, 10, 10, 0, 0, 0, time.UTC)})
		}},
		{"received expires before AWSCURRENT", func(w *world) {
			old := w.portalSecret(1)
			old.expiresAt = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
			_, cur := w.current()
			w.putReceived(cur, old)
		}},
		{"no expiries, received created before AWSCURRENT", func(w *world) {
			w.putCurrent(noExpiryDoc)
			old := w.portalSecret(1)
			old.expiresAt = time.Time{}
			_, cur := w.current()
			w.putReceived(cur, old)
			// Then the operator put a newer document in AWSCURRENT by hand,
			// still with the old secret.
			w.putCurrent(noExpiryDoc)
		}},
		{"received for another client", func(w *world) {
			doc, err := secretdoc.Parse([]byte(strings.ReplaceAll(initialDoc, testClientID, otherClientID)), secretdoc.DefaultKeys)
			if err != nil {
				w.t.Fatal(err)
			}
			w.putReceived(doc, issued{secret: "amzn1.oa2-cs.v1.0therCLIENT0therCLIENT0therCLIENT0therCLIENT0therCLIENT", expiresAt: time.Date(2027, 5, 1, 0, 0, 0, 0, time.UTC)})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			tt.setup(w)
			mustStage(t, w, managed.StageReceived)
			token := w.rotate()
			// Rotated with a newly issued secret, not the stale one.
			w.assertRotated(token, 1)
		})
	}
}

func TestCreateSecretCase4OutstandingRequest(t *testing.T) {
	w := newWorld(t)
	w.api.deliver = nil
	token := w.start()
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	if err := w.step(ctx, StepCreate, token); !errors.Is(err, ErrSecretNotReceived) {
		t.Fatalf("first createSecret = %v, want ErrSecretNotReceived", err)
	}
	// Retried within the cooldown: the request is outstanding, no new call.
	w.clock.Advance(10 * time.Minute)
	ctx2, cancel2 := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel2()
	if err := w.step(ctx2, StepCreate, token); !errors.Is(err, ErrSecretNotReceived) {
		t.Fatalf("second createSecret = %v, want ErrSecretNotReceived", err)
	}
	if w.api.Calls() != 1 {
		t.Fatalf("SP-API calls = %d, want 1", w.api.Calls())
	}
	// The secret arrives while a third attempt polls: it is adopted.
	w.resetOps(func(op string, n int, in any) error {
		if op == "ListSecretVersionIds" && n == 2 {
			w.deliverQueued()
		}
		return nil
	})
	w.mustStep(StepCreate, token)
	for _, st := range allSteps[1:] {
		w.mustStep(st, token)
	}
	w.sm.FinishRotation(w.arn, token)
	w.assertRotated(token, 1)
}

func TestCreateSecretCase4CooldownElapsed(t *testing.T) {
	tests := []struct {
		name    string
		advance time.Duration
		before  func(w *world)
	}{
		{"cooldown elapsed", 31 * time.Minute, nil},
		{"request older than AWSCURRENT", time.Minute, func(w *world) { w.putCurrent(initialDoc) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			w.api.deliver = nil
			token := w.start()
			ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
			defer cancel()
			if err := w.step(ctx, StepCreate, token); !errors.Is(err, ErrSecretNotReceived) {
				t.Fatalf("createSecret = %v, want ErrSecretNotReceived", err)
			}
			if _, ok := w.sm.Tags(w.arn)[managed.TagRotationRequestedAt]; !ok {
				t.Fatalf("tag %s removed while waiting, want it kept", managed.TagRotationRequestedAt)
			}
			w.api.takeQueued() // this secret is lost in the mail
			w.clock.Advance(tt.advance)
			if tt.before != nil {
				tt.before(w)
			}
			w.api.mu.Lock()
			w.api.deliver = w.receive
			w.api.mu.Unlock()
			w.mustStep(StepCreate, token)
			if w.api.Calls() != 2 {
				t.Fatalf("SP-API calls = %d, want 2 (the request was no longer outstanding)", w.api.Calls())
			}
			for _, st := range allSteps[1:] {
				w.mustStep(st, token)
			}
			w.sm.FinishRotation(w.arn, token)
			w.assertRotated(token, 2)
		})
	}
}

func TestCreateSecretCase5Failures(t *testing.T) {
	tests := []struct {
		name      string
		lwaErr    error
		apiErr    error
		wantIs    error
		wantAlert bool
		wantToDo  string
		keepTag   bool
	}{
		{name: "400 not enrolled", apiErr: fmt.Errorf("spapi: rotateApplicationClientSecret: 400 InvalidInput: %w", spapi.ErrNotEnrolled), wantIs: spapi.ErrNotEnrolled, wantAlert: true, wantToDo: `"Application Client New Secret"`},
		{name: "403 forbidden", apiErr: fmt.Errorf("spapi: rotateApplicationClientSecret: 403: %w", spapi.ErrForbidden), wantIs: spapi.ErrForbidden, wantAlert: true, wantToDo: lwa.ScopeRotation},
		{name: "other 4xx", apiErr: &spapi.Error{StatusCode: 404, RequestID: "req-1"}, wantAlert: true, wantToDo: "rotate-secret --secret-id"},
		{name: "429 after retries", apiErr: fmt.Errorf("spapi: 429: %w", spapi.ErrThrottled), wantIs: spapi.ErrThrottled},
		{name: "5xx after retries", apiErr: fmt.Errorf("spapi: 503: %w", spapi.ErrUnavailable), wantIs: spapi.ErrUnavailable, keepTag: true},
		{name: "timeout", apiErr: fmt.Errorf("spapi: post: %w", context.DeadlineExceeded), wantIs: context.DeadlineExceeded, keepTag: true},
		{name: "LWA invalid_client", lwaErr: &lwa.Error{StatusCode: 401, Code: "invalid_client", Description: "Client authentication failed"}, wantIs: lwa.ErrInvalidClient, wantAlert: true, wantToDo: "AWSCURRENT"},
		{name: "LWA unavailable", lwaErr: &lwa.Error{StatusCode: 503, Code: "server_error"}, wantIs: lwa.ErrServer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			w.lwa.err = tt.lwaErr
			if tt.apiErr != nil {
				w.api.fail = func(n int) (error, bool) {
					if n == 1 {
						return tt.apiErr, false
					}
					return nil, true
				}
			}
			before := w.value(mustStage(t, w, managed.StageCurrent))
			token := w.start()
			err := w.step(context.Background(), StepCreate, token)
			if err == nil || (tt.wantIs != nil && !errors.Is(err, tt.wantIs)) {
				t.Fatalf("Handle(createSecret) = %v, want %v", err, tt.wantIs)
			}
			if _, ok := w.sm.Tags(w.arn)[managed.TagRotationRequestedAt]; ok != tt.keepTag {
				t.Errorf("tag %s present = %v, want %v", managed.TagRotationRequestedAt, ok, tt.keepTag)
			}
			if w.hasValue(token) {
				t.Error("pending version has a value")
			}
			if after := w.value(mustStage(t, w, managed.StageCurrent)); after != before {
				t.Error("AWSCURRENT changed")
			}
			alerts := w.alerts.Alerts()
			if !tt.wantAlert {
				if len(alerts) != 0 {
					t.Errorf("alerts = %v, want none", w.alerts.events())
				}
			} else {
				if len(alerts) != 1 {
					t.Fatalf("alerts = %v, want one", w.alerts.events())
				}
				a := alerts[0]
				if a.Event != alert.EventRotationFailed || a.Severity != alert.SeverityCritical || a.Action != alert.ActionManual || a.ClientID != testClientID || a.SecretARN != w.arn {
					t.Errorf("alert = %+v, want a CRITICAL ROTATION_FAILED, MANUAL_ACTION_REQUIRED for the secret", a)
				}
				if !strings.Contains(a.ToDo, tt.wantToDo) {
					t.Errorf("alert ToDo = %q, want it to contain %q", a.ToDo, tt.wantToDo)
				}
			}

			// Once the cause is gone, a retry (after the cooldown when the
			// outcome was ambiguous) rotates with one more call.
			w.lwa.mu.Lock()
			w.lwa.err = nil
			w.lwa.mu.Unlock()
			if tt.keepTag {
				w.clock.Advance(31 * time.Minute)
			}
			calls := w.api.Calls()
			for _, st := range allSteps {
				w.mustStep(st, token)
			}
			w.sm.FinishRotation(w.arn, token)
			w.assertRotated(token, calls+1)
		})
	}
}

// TestCreateSecretCase5AmbiguousFailureIssued: SP-API answered 5xx but
// Amazon issued a secret. The retry adopts it without asking again.
func TestCreateSecretCase5AmbiguousFailureIssued(t *testing.T) {
	w := newWorld(t)
	w.api.fail = func(n int) (error, bool) { return fmt.Errorf("spapi: 500: %w", spapi.ErrUnavailable), true }
	w.api.deliver = nil
	token := w.start()
	if err := w.step(context.Background(), StepCreate, token); !errors.Is(err, spapi.ErrUnavailable) {
		t.Fatalf("Handle(createSecret) = %v, want ErrUnavailable", err)
	}
	// Retried before the secret arrived: waits (Case 4), no second call.
	w.resetOps(func(op string, n int, in any) error {
		if op == "ListSecretVersionIds" && n == 2 {
			w.deliverQueued()
		}
		return nil
	})
	for _, st := range allSteps {
		w.mustStep(st, token)
	}
	w.sm.FinishRotation(w.arn, token)
	w.assertRotated(token, 1)
}

func TestCreateSecretCase5Concurrent(t *testing.T) {
	w := newWorld(t, func(c *Config) { c.Settle = 100 * time.Millisecond })
	token := w.start()
	var arrived sync.WaitGroup
	arrived.Add(2)
	w.resetOps(func(op string, n int, in any) error {
		if ti, ok := in.(*secretsmanager.TagResourceInput); ok && aws.ToString(ti.Tags[0].Key) == managed.TagRotationRequestedAt && n <= 2 {
			// Both runs reach the tag before either writes it.
			arrived.Done()
			done := make(chan struct{})
			go func() { arrived.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				return errors.New("the other run never arrived")
			}
		}
		return nil
	})
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		wg.Go(func() { errs[i] = w.step(context.Background(), StepCreate, token) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("run %d: Handle(createSecret) = %v", i, err)
		}
	}
	if w.api.Calls() != 1 {
		t.Fatalf("SP-API calls = %d, want exactly 1", w.api.Calls())
	}
	_, cur := w.current()
	s := w.api.Issued()[0]
	want, _ := cur.WithClientSecret(lwa.ClientSecret(s.secret), s.expiresAt)
	if got := w.value(token); got != string(want) {
		t.Error("pending value is not the issued secret in the AWSCURRENT document")
	}
	for _, st := range allSteps[1:] {
		w.mustStep(st, token)
	}
	w.sm.FinishRotation(w.arn, token)
	w.assertRotated(token, 1)
}

func TestCreateSecretCase6NotReceivedBeforeDeadline(t *testing.T) {
	// Waiting stops DeadlineMargin (400ms) before the 1s deadline; the
	// margin leaves room for a loaded machine.
	w := newWorld(t, func(c *Config) { c.DeadlineMargin = 400 * time.Millisecond })
	w.api.deliver = nil
	token := w.start()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	start := time.Now()
	err := w.step(ctx, StepCreate, token)
	if !errors.Is(err, ErrSecretNotReceived) {
		t.Fatalf("Handle(createSecret) = %v, want ErrSecretNotReceived", err)
	}
	if d := time.Since(start); d > 900*time.Millisecond {
		t.Errorf("createSecret returned after %v, want before the deadline margin", d)
	}
	if ctx.Err() != nil {
		t.Error("createSecret ran into its deadline")
	}
	for _, s := range []string{"has not arrived yet", "Secrets Manager will retry", "receiver resumes"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not say %q", err, s)
		}
	}
	if _, ok := w.sm.Tags(w.arn)[managed.TagRotationRequestedAt]; !ok {
		t.Errorf("tag %s removed, want it kept", managed.TagRotationRequestedAt)
	}
	if len(w.alerts.Alerts()) != 0 {
		t.Errorf("alerts = %v, want none", w.alerts.events())
	}
	if !strings.Contains(w.logs.String(), `"level":"WARN","msg":"rotation step waiting for the new client secret"`) {
		t.Error("the outcome was not logged as a warning")
	}
	if w.hasValue(token) {
		t.Error("pending version has a value")
	}
	// The receiver stores the secret; the retried rotation adopts it.
	if w.deliverQueued() != 1 {
		t.Fatal("nothing to deliver")
	}
	for _, st := range allSteps {
		w.mustStep(st, token)
	}
	w.sm.FinishRotation(w.arn, token)
	w.assertRotated(token, 1)
}

func TestSetSecretCase7(t *testing.T) {
	tests := []struct {
		name    string
		pending func(w *world, token string)
		wantErr string
	}{
		{"valid", func(w *world, token string) { w.mustStep(StepCreate, token) }, ""},
		{"another client id", func(w *world, token string) {
			w.putPending(token, strings.ReplaceAll(initialDoc, testClientID, otherClientID))
		}, `pending version: rotation: setSecret`},
		{"not a document", func(w *world, token string) { w.putPending(token, `{"clientId":1}`) }, "pending value"},
		{"no value", func(w *world, token string) {}, "createSecret has not completed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			token := w.start()
			tt.pending(w, token)
			w.resetOps(nil)
			err := w.step(context.Background(), StepSet, token)
			if tt.wantErr == "" && err != nil {
				t.Fatalf("Handle(setSecret) = %v, want nil", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("Handle(setSecret) = %v, want an error containing %q", err, tt.wantErr)
			}
			got := w.opCounts()
			if got["PutSecretValue"]+got["UpdateSecretVersionStage"]+got["TagResource"]+got["UntagResource"] != 0 {
				t.Errorf("setSecret made writes: %v", got)
			}
			if tt.wantErr != "" {
				// A pending version that failed setSecret is never promoted.
				if err := w.step(context.Background(), StepFinish, token); err == nil {
					t.Error("Handle(finishSecret) = nil for a pending version that failed setSecret")
				}
				if id, _ := w.current(); id == token {
					t.Error("the bad pending version was promoted")
				}
			}
		})
	}
}

// putPending writes the token's version directly.
func (w *world) putPending(token, value string) {
	w.t.Helper()
	w.external.Store(true)
	defer w.external.Store(false)
	if _, err := w.sm.PutSecretValue(context.Background(), &secretsmanager.PutSecretValueInput{
		SecretId: aws.String(w.arn), ClientRequestToken: aws.String(token), SecretString: aws.String(value), VersionStages: []string{managed.StagePending},
	}); err != nil {
		w.t.Fatal(err)
	}
}

func TestTestSecretCase8ConfigurationTest(t *testing.T) {
	for _, works := range []bool{true, false} {
		t.Run(fmt.Sprintf("current works %v", works), func(t *testing.T) {
			w := newWorld(t)
			if !works {
				w.lwa.accepted = map[string]bool{}
			}
			token := w.start() // the schedule's configuration test: empty pending version
			w.resetOps(nil)
			err := w.step(context.Background(), StepTest, token)
			if works != (err == nil) {
				t.Fatalf("Handle(testSecret) = %v, want error %v", err, !works)
			}
			if !works && !errors.Is(err, lwa.ErrInvalidClient) {
				t.Errorf("Handle(testSecret) = %v, want ErrInvalidClient", err)
			}
			if w.lwa.Calls() != 1 {
				t.Errorf("LWA calls = %d, want 1 (the AWSCURRENT credentials)", w.lwa.Calls())
			}
			got := w.opCounts()
			if got["PutSecretValue"]+got["UpdateSecretVersionStage"]+got["TagResource"]+got["UntagResource"] != 0 || w.hasValue(token) {
				t.Errorf("configuration test changed something: %v", got)
			}
		})
	}
}

func TestTestSecretCase9(t *testing.T) {
	tests := []struct {
		name      string
		reject    int   // invalid_client answers before the new secret works
		err       error // other LWA error
		wantCalls int   // LWA calls in testSecret; 0: at least 2 (retried until the bound)
		wantIs    error
	}{
		{name: "accepted", wantCalls: 1},
		{name: "accepted after 3 rejections", reject: 3, wantCalls: 4},
		{name: "never accepted", reject: 1 << 20, wantIs: lwa.ErrInvalidClient},
		{name: "invalid_scope not retried", err: &lwa.Error{StatusCode: 400, Code: "invalid_scope"}, wantCalls: 1, wantIs: lwa.ErrInvalidScope},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			token := w.start()
			w.mustStep(StepCreate, token)
			w.mustStep(StepSet, token)
			w.lwa.mu.Lock()
			w.lwa.rejectFirst[w.api.issued[0].secret] = tt.reject
			w.lwa.err = tt.err
			w.lwa.mu.Unlock()
			lwa0 := w.lwa.Calls()
			start := time.Now()
			err := w.step(context.Background(), StepTest, token)
			calls := w.lwa.Calls() - lwa0
			if tt.wantIs == nil && err != nil {
				t.Fatalf("Handle(testSecret) = %v, want nil", err)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Fatalf("Handle(testSecret) = %v, want %v", err, tt.wantIs)
			}
			if tt.wantCalls != 0 && calls != tt.wantCalls {
				t.Errorf("LWA calls = %d, want %d", calls, tt.wantCalls)
			}
			if tt.wantCalls == 0 {
				if calls < 2 {
					t.Errorf("LWA calls = %d, want retries", calls)
				}
				if d := time.Since(start); d > 2*time.Second {
					t.Errorf("testSecret retried for %v, want about TestRetryFor", d)
				}
			}
		})
	}
}

func TestTestSecretCase9RetryBoundedByDeadline(t *testing.T) {
	w := newWorld(t, func(c *Config) { c.TestRetryFor, c.DeadlineMargin = time.Minute, 400*time.Millisecond })
	token := w.start()
	w.mustStep(StepCreate, token)
	w.lwa.rejectFirst[w.api.issued[0].secret] = 1 << 20
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	err := w.step(ctx, StepTest, token)
	if !errors.Is(err, lwa.ErrInvalidClient) || ctx.Err() != nil {
		t.Fatalf("Handle(testSecret) = %v (context %v), want ErrInvalidClient before the deadline", err, ctx.Err())
	}
}

func TestFinishSecretCase10(t *testing.T) {
	w := newWorld(t)
	token := w.start()
	for _, st := range allSteps[:3] {
		w.mustStep(st, token)
	}
	old := mustStage(t, w, managed.StageCurrent)
	w.mustStep(StepFinish, token)
	var stages []string
	for _, v := range w.sm.Versions(w.arn) {
		if v.ID == token {
			stages = v.Stages
		}
	}
	if !slices.Contains(stages, managed.StageCurrent) || !slices.Contains(stages, managed.StagePending) {
		t.Errorf("token's stages = %v, want AWSCURRENT and AWSPENDING (left for Secrets Manager)", stages)
	}
	if prev := mustStage(t, w, managed.StagePrevious); prev != old {
		t.Errorf("AWSPREVIOUS = %s, want the old current %s", prev, old)
	}
	alerts := w.alerts.Alerts()
	if len(alerts) != 1 {
		t.Fatalf("alerts = %v, want one", w.alerts.events())
	}
	a, s := alerts[0], w.api.Issued()[0]
	if a.Event != alert.EventRotated || a.Severity != alert.SeverityInfo || a.Action != alert.ActionNone ||
		a.ClientID != testClientID || a.SecretARN != w.arn || a.VersionID != token || a.Message == "" {
		t.Errorf("alert = %+v, want CLIENT_SECRET_ROTATED INFO NONE for the secret and version", a)
	}
	if a.ExpiresAt == nil || !a.ExpiresAt.Equal(s.expiresAt) || a.DaysLeft == nil || *a.DaysLeft != 179 {
		t.Errorf("alert expiresAt, daysLeft = %v, %v; want %v, 179", a.ExpiresAt, a.DaysLeft, s.expiresAt)
	}
	w.sm.FinishRotation(w.arn, token)
	w.assertRotated(token, 1)
	// Run again after success: nothing is done.
	w.resetOps(nil)
	w.mustStep(StepFinish, token)
	if got := w.opCounts(); got["UpdateSecretVersionStage"]+got["TagResource"]+got["UntagResource"] != 0 || len(w.alerts.Alerts()) != 1 {
		t.Errorf("repeated finishSecret made calls %v and %d alerts, want none and 1", got, len(w.alerts.Alerts()))
	}
}

func TestFinishSecretCase11RetryAfterCrash(t *testing.T) {
	tests := []struct {
		name       string
		failOp     string // Secrets Manager op to fail, or "" for the alert
		moved      bool   // AWSCURRENT moved before the failure
		wantAlerts int    // alerts after the retry
	}{
		{"publish fails", "", true, 1},
		{"tag fails", "TagResource", true, 2},
		{"untag fails (before the move)", "UntagResource", false, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			token := w.start()
			for _, st := range allSteps[:3] {
				w.mustStep(st, token)
			}
			if tt.failOp == "" {
				w.alerts.fail = errors.New("sns: publish: service unavailable")
			} else {
				w.resetOps(func(op string, n int, in any) error {
					if op == tt.failOp {
						return injected(op)
					}
					return nil
				})
			}
			if err := w.step(context.Background(), StepFinish, token); err == nil {
				t.Fatal("Handle(finishSecret) = nil, want the injected failure")
			}
			if id, _ := w.current(); (id == token) != tt.moved {
				t.Fatalf("AWSCURRENT on the token's version after the failure = %v, want %v", id == token, tt.moved)
			}
			w.alerts.fail = nil
			w.resetOps(nil)
			w.mustStep(StepFinish, token)
			if got := len(w.alerts.Alerts()); got != tt.wantAlerts {
				t.Errorf("alerts = %d, want %d", got, tt.wantAlerts)
			}
			w.sm.FinishRotation(w.arn, token)
			w.assertRotated(token, 1)
			// The tail is done now: a further retry does nothing.
			w.resetOps(nil)
			w.mustStep(StepFinish, token)
			if got := len(w.alerts.Alerts()); got != tt.wantAlerts {
				t.Errorf("alerts after a further retry = %d, want %d", got, tt.wantAlerts)
			}
		})
	}
}

// TestFinishSecretKeepsNextRequest: once AWSCURRENT has moved, the next
// rotation can start and set rotation-requested-at before finishSecret's
// tail has run (chaos runs under CPU load: the tail removed it, and that
// rotation's next run asked Amazon again within the cooldown). The tail,
// and a retry of it, must leave that tag alone.
func TestFinishSecretKeepsNextRequest(t *testing.T) {
	w := newWorld(t)
	token := w.start()
	for _, st := range allSteps[:3] {
		w.mustStep(st, token)
	}
	next := time.Now().UTC().Format(time.RFC3339)
	var set atomic.Bool
	w.resetOps(func(op string, n int, in any) error {
		// The tail's first call after the move: the next rotation's
		// createSecret has just tagged.
		if op == "TagResource" && set.CompareAndSwap(false, true) {
			w.external.Store(true)
			defer w.external.Store(false)
			if _, err := w.sm.TagResource(context.Background(), &secretsmanager.TagResourceInput{
				SecretId: aws.String(w.arn),
				Tags:     []types.Tag{{Key: aws.String(managed.TagRotationRequestedAt), Value: aws.String(next)}},
			}); err != nil {
				t.Errorf("tag as the next rotation: %v", err)
			}
			return injected(op) // and make finishSecret retry its tail
		}
		return nil
	})
	if err := w.step(context.Background(), StepFinish, token); err == nil {
		t.Fatal("Handle(finishSecret) = nil, want the injected failure")
	}
	if !set.Load() {
		t.Fatal("the tail never tagged after the move")
	}
	w.resetOps(nil)
	w.mustStep(StepFinish, token)
	if got := w.sm.Tags(w.arn)[managed.TagRotationRequestedAt]; got != next {
		t.Errorf("tag %s = %q after finishSecret, want the next rotation's %q", managed.TagRotationRequestedAt, got, next)
	}
	if got := len(w.alerts.Alerts()); got != 2 {
		t.Errorf("alerts = %d, want 2 (the tail ran again once)", got)
	}
}

func TestFinishSecretConcurrent(t *testing.T) {
	w := newWorld(t)
	token := w.start()
	for _, st := range allSteps[:3] {
		w.mustStep(st, token)
	}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		wg.Go(func() { errs[i] = w.step(context.Background(), StepFinish, token) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("run %d: Handle(finishSecret) = %v", i, err)
		}
	}
	w.sm.FinishRotation(w.arn, token)
	w.assertRotated(token, 1)
}

// TestStepRetryAfterFailure fails each Secrets Manager call of each step in
// turn, then reruns the step and completes the rotation: it must end
// rotated, with one SP-API call and nothing lost.
func TestStepRetryAfterFailure(t *testing.T) {
	// Learn the calls of each step from one clean rotation.
	probe := newWorld(t)
	token := probe.start()
	perStep := map[string]map[string]int{}
	for _, s := range allSteps {
		probe.resetOps(nil)
		probe.mustStep(s, token)
		perStep[s] = probe.opCounts()
	}
	for si, s := range allSteps {
		for _, op := range slices.Sorted(maps.Keys(perStep[s])) {
			for k := 1; k <= perStep[s][op]; k++ {
				t.Run(fmt.Sprintf("%s/%s#%d", s, op, k), func(t *testing.T) {
					w := newWorld(t)
					token := w.start()
					for _, before := range allSteps[:si] {
						w.mustStep(before, token)
					}
					w.resetOps(func(o string, n int, in any) error {
						if o == op && n == k {
							return injected(op)
						}
						return nil
					})
					if err := w.step(context.Background(), s, token); err == nil {
						t.Fatalf("Handle(%s) with %s #%d failing = nil, want an error", s, op, k)
					}
					w.resetOps(nil)
					for _, rest := range allSteps[si:] {
						w.mustStep(rest, token)
					}
					w.sm.FinishRotation(w.arn, token)
					w.assertRotated(token, 1)
				})
			}
		}
	}
}

func TestHandleLogsOutcomeOnce(t *testing.T) {
	w := newWorld(t)
	w.lwa.err = &lwa.Error{StatusCode: 401, Code: "invalid_client"}
	token := w.start()
	if err := w.step(context.Background(), StepCreate, token); err == nil {
		t.Fatal("Handle(createSecret) = nil, want an error")
	}
	logs := w.logs.String()
	if n := strings.Count(logs, `"level":"ERROR"`); n != 1 {
		t.Errorf("logs have %d ERROR lines, want 1:\n%s", n, logs)
	}
	for _, key := range []string{`"step":"createSecret"`, `"secretId":"` + w.arn + `"`, `"versionId":"` + token + `"`} {
		if !strings.Contains(logs, key) {
			t.Errorf("logs lack %s", key)
		}
	}
}

func TestNilLoggerDiscards(t *testing.T) {
	w := newWorld(t)
	w.r = New(w.sm, w.sm, w.lwa, w.api, w.alerts, nil, Config{Settle: -1, Now: w.clock.Now})
	token := w.start()
	// A step that fails logs its error: with a nil logger, that must not panic.
	if err := w.step(context.Background(), StepSet, token); err == nil {
		t.Fatalf("Handle(%s) before createSecret = nil, want an error", StepSet)
	}
}

// TestCreateSecretCase1OutrunByFinish replays chaos seed 5013: a createSecret run reads the token's
// version before it has a value, then another run of the same token completes the whole rotation
// before this run reads AWSCURRENT (Case 2). AWSCURRENT is then the token's own version: the run
// must stop there, not judge the outstanding request stale against it and request a second secret.
func TestCreateSecretCase1OutrunByFinish(t *testing.T) {
	w := newWorld(t)
	token := w.start()
	var done atomic.Bool
	w.resetOps(func(op string, n int, _ any) error {
		if op == "GetSecretValue" && n == 2 && done.CompareAndSwap(false, true) {
			for _, st := range allSteps {
				w.mustStep(st, token)
			}
			w.sm.FinishRotation(w.arn, token)
		}
		return nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := w.step(ctx, StepCreate, token); err != nil {
		t.Errorf("Handle(createSecret) = %v, want nil: the rotation is done", err)
	}
	if !done.Load() {
		t.Fatal("the other run never ran")
	}
	if got := w.api.Calls(); got != 1 {
		t.Errorf("SP-API calls = %d, want 1: the outrun createSecret requested another secret", got)
	}
}
