package rotation

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/spapi-lwa/secret-rotation/internal/alert"
	"github.com/spapi-lwa/secret-rotation/internal/endpoint"
	"github.com/spapi-lwa/secret-rotation/internal/lwa"
	"github.com/spapi-lwa/secret-rotation/internal/managed"
	"github.com/spapi-lwa/secret-rotation/internal/secretdoc"
)

// doc builds a version for choose.
func doc(t *testing.T, id, clientID, secret string, expires string, created time.Time) *version {
	t.Helper()
	v := `{"clientId":"` + clientID + `","clientSecret":"` + secret + `"`
	if expires != "" {
		v += `,"clientSecretExpiresAt":"` + expires + `"`
	}
	d, err := secretdoc.Parse([]byte(v+"}"), secretdoc.DefaultKeys)
	if err != nil {
		t.Fatal(err)
	}
	return &version{id: id, created: created, doc: d}
}

func TestChoose(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	const (
		s1 = "amzn1.oa2-cs.v1.1111111111111111111111111111111111111111111111111111111111111111"
		s2 = "amzn1.oa2-cs.v1.2222222222222222222222222222222222222222222222222222222222222222"
		s3 = "amzn1.oa2-cs.v1.3333333333333333333333333333333333333333333333333333333333333333"
	)
	cur := doc(t, "cur", testClientID, oldSecret, "2027-01-01T00:00:00Z", t0)
	curNoExp := doc(t, "cur", testClientID, oldSecret, "", t0)
	tests := []struct {
		name     string
		cur      *version
		stored   []*version
		rejected string
		want     string // version id, "" for none
		tied     bool
	}{
		{"nothing stored", cur, nil, "", "", false},
		{"a later secret", cur, []*version{doc(t, "a", testClientID, s1, "2027-06-01T00:00:00Z", t0)}, "", "a", false},
		{"an earlier secret", cur, []*version{doc(t, "a", testClientID, s1, "2026-12-20T00:00:00Z", t0)}, "", "", false},
		{"the current secret again", cur, []*version{doc(t, "a", testClientID, oldSecret, "2027-06-01T00:00:00Z", t0)}, "", "", false},
		{"another client", cur, []*version{doc(t, "a", otherClientID, s1, "2027-06-01T00:00:00Z", t0)}, "", "", false},
		{"the same expiry as AWSCURRENT", cur, []*version{doc(t, "a", testClientID, s1, "2027-01-01T00:00:00Z", t0)}, "", "", false},
		{"the latest of three", cur, []*version{
			doc(t, "a", testClientID, s1, "2027-06-01T00:00:00Z", t0),
			doc(t, "b", testClientID, s2, "2027-06-03T00:00:00Z", t0),
			doc(t, "c", testClientID, s3, "2027-06-02T00:00:00Z", t0),
		}, "", "b", false},
		{"a rejected secret never wins, whatever it claims", cur, []*version{
			doc(t, "a", testClientID, s1, "2027-06-01T00:00:00Z", t0),
			doc(t, "f", testClientID, s2, "2099-01-01T00:00:00Z", t0),
		}, managed.WithRejected("", s2), "a", false},
		{"two rejected, one genuine", cur, []*version{
			doc(t, "f1", testClientID, s1, "2098-01-01T00:00:00Z", t0),
			doc(t, "a", testClientID, s2, "2027-06-01T00:00:00Z", t0),
			doc(t, "f2", testClientID, s3, "2099-01-01T00:00:00Z", t0),
		}, managed.WithRejected(managed.WithRejected("", s1), s3), "a", false},
		{"two secrets tied at the newest expiry", cur, []*version{
			doc(t, "a", testClientID, s1, "2027-06-01T00:00:00Z", t0),
			doc(t, "b", testClientID, s2, "2027-06-01T00:00:00Z", t0),
		}, "", "", true},
		{"the same secret twice is no tie", cur, []*version{
			doc(t, "a", testClientID, s1, "2027-06-01T00:00:00Z", t0),
			doc(t, "b", testClientID, s1, "2027-06-01T00:00:00Z", t0),
		}, "", "a", false},
		{"a tie below a later secret does not matter", cur, []*version{
			doc(t, "a", testClientID, s1, "2027-06-01T00:00:00Z", t0),
			doc(t, "b", testClientID, s2, "2027-06-01T00:00:00Z", t0),
			doc(t, "c", testClientID, s3, "2027-07-01T00:00:00Z", t0),
		}, "", "c", false},
		{"no expiries: created after AWSCURRENT", curNoExp, []*version{doc(t, "a", testClientID, s1, "", t0.Add(time.Second))}, "", "a", false},
		{"no expiries: created before AWSCURRENT", curNoExp, []*version{doc(t, "a", testClientID, s1, "", t0.Add(-time.Second))}, "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			best, tied := choose(tt.cur, tt.stored, tt.rejected)
			got := ""
			if best != nil {
				got = best.id
			}
			if got != tt.want || tied != tt.tied {
				t.Errorf("choose() = %q, tied %v; want %q, tied %v", got, tied, tt.want, tt.tied)
			}
		})
	}
}

// TestTestSecretCase9RejectsForged: a delivered secret that LWA never
// accepts, claiming a later expiry than anything Amazon issues, is adopted
// once, rejected by testSecret, and never blocks the genuine secret of the
// next rotation.
func TestTestSecretCase9RejectsForged(t *testing.T) {
	w := newWorld(t)
	_, cur := w.current()
	forged := w.portalSecret(9)
	forged.expiresAt = forged.expiresAt.Add(365 * 24 * time.Hour)
	w.forget(forged)
	w.putReceived(cur, forged)
	receivedID, _ := w.sm.StageVersion(w.arn, managed.StageReceived)

	token := w.start()
	w.mustStep(StepCreate, token)
	w.mustStep(StepSet, token)
	// A young pending secret may still be activating: failed, not rejected.
	if err := w.step(context.Background(), StepTest, token); !errors.Is(err, lwa.ErrInvalidClient) {
		t.Fatalf("Handle(testSecret) = %v, want invalid_client", err)
	}
	if _, ok := w.sm.Tags(w.arn)[managed.TagRejectedSecrets]; ok {
		t.Fatalf("a secret refused for less than RejectAfter was marked rejected")
	}
	if _, ok := w.sm.StageVersion(w.arn, managed.StagePending); !ok {
		t.Fatalf("AWSPENDING was taken off a secret refused for less than RejectAfter")
	}
	// Still refused an hour later: rejected.
	w.clock.Advance(DefaultRejectAfter)
	err := w.step(context.Background(), StepTest, token)
	if !errors.Is(err, lwa.ErrInvalidClient) {
		t.Fatalf("Handle(testSecret) = %v, want invalid_client", err)
	}
	if !managed.Rejected(w.sm.Tags(w.arn)[managed.TagRejectedSecrets], forged.secret) {
		t.Errorf("tag %s = %q does not list the rejected secret", managed.TagRejectedSecrets, w.sm.Tags(w.arn)[managed.TagRejectedSecrets])
	}
	if id, ok := w.sm.StageVersion(w.arn, managed.StagePending); ok {
		t.Errorf("AWSPENDING is still on version %s, want it removed", id)
	}
	if id, ok := w.sm.StageVersion(w.arn, managed.StageReceived); ok {
		t.Errorf("LWA_RECEIVED is still on version %s, want it taken off the rejected secret", id)
	}
	if _, ok := w.sm.Value(w.arn, receivedID); !ok {
		t.Error("the rejected delivery's value is gone, want it kept")
	}
	if got := w.alerts.Alerts(); len(got) != 1 || got[0].Event != alert.EventRotationFailed || got[0].Severity != alert.SeverityCritical {
		t.Errorf("alerts = %v, want one CRITICAL ROTATION_FAILED", got)
	} else if !strings.Contains(w.alerts.texts[0], managed.TagRejectedSecrets) {
		t.Errorf("alert does not name the tag %s:\n%s", managed.TagRejectedSecrets, w.alerts.texts[0])
	}

	// The next rotation asks Amazon and adopts the genuine secret.
	next := w.rotate()
	w.assertRotated(next, 1)
	w.assertNoLeak()
	for _, text := range w.alerts.texts {
		if strings.Contains(text, forged.secret) {
			t.Error("an alert quotes the rejected secret")
		}
	}
}

// TestFinishSecretChecksPendingWithLWA: a finishSecret invoked for a pending
// version that never passed testSecret does not promote credentials LWA
// rejects.
func TestFinishSecretChecksPendingWithLWA(t *testing.T) {
	w := newWorld(t)
	_, cur := w.current()
	forged := w.portalSecret(9)
	w.forget(forged)
	w.putReceived(cur, forged)
	token := w.start()
	w.mustStep(StepCreate, token)
	before, _ := w.current()
	err := w.step(context.Background(), StepFinish, token)
	if !errors.Is(err, lwa.ErrInvalidClient) {
		t.Fatalf("Handle(finishSecret) = %v, want invalid_client", err)
	}
	if after, _ := w.current(); after != before {
		t.Errorf("AWSCURRENT moved to %s, want it unchanged (%s)", after, before)
	}
}

// TestCreateSecretCase5AmbiguousClientID: a client id tagged on two secrets
// gets no rotate call (the receiver would reject the delivery) and an alert.
func TestCreateSecretCase5AmbiguousClientID(t *testing.T) {
	w := newWorld(t)
	w.sm.Seed("sp-api/lwa/copy", initialDoc, map[string]string{managed.TagClientID: testClientID})
	token := w.start()
	err := w.step(context.Background(), StepCreate, token)
	if !errors.Is(err, managed.ErrAmbiguous) {
		t.Fatalf("Handle(createSecret) = %v, want ErrAmbiguous", err)
	}
	if w.api.Calls() != 0 || w.lwa.Calls() != 0 {
		t.Errorf("SP-API, LWA calls = %d, %d; want 0, 0", w.api.Calls(), w.lwa.Calls())
	}
	got := w.alerts.Alerts()
	if len(got) != 1 || got[0].Event != alert.EventRotationFailed || got[0].Action != alert.ActionManual {
		t.Errorf("alerts = %v, want one ROTATION_FAILED with MANUAL_ACTION_REQUIRED", got)
	}
	if _, ok := w.sm.Tags(w.arn)[managed.TagRotationRequestedAt]; ok {
		t.Errorf("tag %s set, want nothing requested", managed.TagRotationRequestedAt)
	}
}

// TestCreateSecretCase5EndpointRedirect: a redirect from LWA or SP-API is
// never followed; the step fails with an alert that names the endpoints to
// fix, and the request tag is removed (nothing was requested).
func TestCreateSecretCase5EndpointRedirect(t *testing.T) {
	redirect := fmt.Errorf("lwa: POST api.amazon.com/auth/o2/token: 307: %w", endpoint.ErrRedirect)
	for name, setup := range map[string]func(w *world){
		"LWA":    func(w *world) { w.lwa.err = redirect },
		"SP-API": func(w *world) { w.api.fail = func(int) (error, bool) { return redirect, false } },
	} {
		t.Run(name, func(t *testing.T) {
			w := newWorld(t)
			setup(w)
			token := w.start()
			if err := w.step(context.Background(), StepCreate, token); !errors.Is(err, endpoint.ErrRedirect) {
				t.Fatalf("Handle(createSecret) = %v, want ErrRedirect", err)
			}
			got := w.alerts.Alerts()
			if len(got) != 1 || got[0].Event != alert.EventRotationFailed || !strings.Contains(w.alerts.texts[0], "SpApiEndpoint") {
				t.Errorf("alerts = %v, want one ROTATION_FAILED naming the endpoint parameters", got)
			}
			if _, ok := w.sm.Tags(w.arn)[managed.TagRotationRequestedAt]; ok {
				t.Errorf("tag %s kept after a redirect", managed.TagRotationRequestedAt)
			}
		})
	}
}
