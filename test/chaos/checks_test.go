package chaos

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/spapi-lwa/secret-rotation/internal/managed"
)

// TestInvariantChecksCanFail breaks each invariant on purpose and checks
// that the run reports it, so a clean table means something.
func TestInvariantChecksCanFail(t *testing.T) {
	tests := []struct {
		name    string
		breakIt func(w *World)
		want    string
		count   func(r *Result) int
	}{
		{
			name:    "a client secret in a log line",
			breakIt: func(w *World) { w.Logger.Info("oops", "value", w.Apps[0].Initial) },
			want:    "I4:",
			count:   func(r *Result) int { return r.Leaks },
		},
		{
			name: "an access token in a returned error",
			breakIt: func(w *World) {
				w.RotateNow(0) // grants access tokens
			},
			want:  "I4:",
			count: func(r *Result) int { return r.Leaks },
		},
		{
			name: "a secret issued with no queue registered",
			breakIt: func(w *World) {
				w.Apps[0].Sim.Enroll(nil)
				w.Apps[0].Sim.PortalRotate()
			},
			want:  "I1:",
			count: func(r *Result) int { return r.Lost },
		},
		{
			name: "AWSCURRENT holding a secret LWA does not accept",
			breakIt: func(w *World) {
				doc, _ := json.Marshal(map[string]string{"clientId": w.Apps[0].ClientID, "clientSecret": "amzn1.oa2-cs.v1.unknown"})
				w.SM.PutSecretValue(t.Context(), putCurrent(w.Apps[0].ARN, string(doc)))
			},
			want:  "I2:",
			count: func(r *Result) int { return r.NotWorking },
		},
		{
			name: "a forged secret in AWSCURRENT",
			breakIt: func(w *World) {
				f := w.SendForged(0)
				doc, _ := json.Marshal(map[string]string{"clientId": w.Apps[0].ClientID, "clientSecret": f.Secret})
				w.SM.PutSecretValue(t.Context(), putCurrent(w.Apps[0].ARN, string(doc)))
			},
			want:  "I6:",
			count: func(r *Result) int { return r.ForgedCurrent },
		},
		{
			name: "a genuine secret listed as rejected",
			breakIt: func(w *World) {
				w.SM.TagResource(t.Context(), &secretsmanager.TagResourceInput{SecretId: aws.String(w.Apps[0].ARN), Tags: []smtypes.Tag{{
					Key: aws.String(managed.TagRejectedSecrets), Value: aws.String(managed.WithRejected("", w.Apps[0].Initial))}}})
			},
			want:  "I6:",
			count: func(r *Result) int { return r.GenuineRejected },
		},
		{
			name: "a rotation that never completes",
			breakIt: func(w *World) {
				w.SM.TagResource(t.Context(), tagClient(w.Apps[0].ARN, "amzn1.application-oa2-client.other"))
				w.RotateNow(0)
			},
			want:  "I5:",
			count: func(r *Result) int { return len(r.Violations) },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := NewWorld(baseSchedule(SeedOf(tt.name)))
			w.Hooks = []Hook{{30 * time.Second, tt.breakIt}}
			if tt.name == "an access token in a returned error" {
				w.Hooks = append(w.Hooks, Hook{time.Hour, func(w *World) {
					for _, tok := range w.AccessTokens() {
						w.recordError(&leakyError{tok})
					}
				}})
			}
			r := w.Run()
			if tt.count(r) == 0 || !strings.Contains(strings.Join(r.Violations, "\n"), tt.want) {
				t.Errorf("Run() violations = %q, want one starting %q", r.Violations, tt.want)
			}
		})
	}
}

type leakyError struct{ token string }

func (e *leakyError) Error() string { return "token " + e.token }

// TestAdoptable checks I3's judgement of an issuing call row by row: the
// stored secret createSecret would have adopted instead, or a tie that
// explains the call.
func TestAdoptable(t *testing.T) {
	start := Epoch.Add(time.Hour)
	before, after := start.Add(-time.Minute), start.Add(time.Minute)
	exp := func(d time.Duration) time.Time { return Epoch.Add(180*24*time.Hour + d) }
	issued := []string{"s0", "s1", "s2", "s3"}
	// The current secret's time is never read; only stored secrets have an expiry.
	st := func(t time.Time, expirySeconds int) stored {
		return stored{t, exp(time.Duration(expirySeconds) * time.Second)}
	}
	tests := []struct {
		name    string
		current int
		stored  map[string]stored
		want    int
		wantTie bool
	}{
		{"nothing stored", 0, map[string]stored{}, -1, false},
		{"a newer secret stored before the step", 0,
			map[string]stored{"s0": st(before, 0), "s1": st(before, 1)}, 1, false},
		{"a newer secret stored after the step started", 0,
			map[string]stored{"s0": st(before, 0), "s1": st(after, 1)}, -1, false},
		{"the newest of two stored secrets", 0,
			map[string]stored{"s0": st(before, 0), "s1": st(before, 1), "s2": st(before, 2)}, 2, false},
		{"two stored secrets tied", 0,
			map[string]stored{"s0": st(before, 0), "s1": st(before, 1), "s2": st(before, 1)}, -1, true},
		{"tied with one seen stored later", 0,
			map[string]stored{"s0": st(before, 0), "s1": st(before, 1), "s2": st(after, 1)}, -1, true},
		{"tied with AWSCURRENT", 1,
			map[string]stored{"s1": st(before, 1), "s2": st(before, 1)}, -1, true},
		{"tied with AWSCURRENT, and a newer one", 1,
			map[string]stored{"s1": st(before, 1), "s2": st(before, 1), "s3": st(before, 2)}, 3, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := RotateCall{Current: tt.current, Secret: len(issued)}
			got, tie := adoptable(c, issued, start, tt.stored)
			if got != tt.want || tie != tt.wantTie {
				t.Errorf("adoptable() = %d, %v; want %d, %v", got, tie, tt.want, tt.wantTie)
			}
		})
	}
}
