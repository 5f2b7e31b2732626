package chaos

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
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
