package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/spapi-lwa/secret-rotation/test/harness"
)

// otherClient is a client id the simulator does not know: LWA answers
// invalid_client for it, whatever the secret.
func otherClient(name string) string { return "amzn1.application-oa2-client.e2e" + name }

// otherSecret is the (made-up) client secret of another application.
func otherSecret(name string) string { return "amzn1.oa2-cs.v1.e2e-watchdog-secret-" + name }

// Scenario 9: the watchdog's sweep over a fleet with one secret per reason
// that can be staged on moto, a healthy secret, and an untagged one; then a
// rotation-failure event for a managed and for an untagged secret.
//
// The simulator plays one application: only the healthy secret holds
// credentials LWA accepts. Every other secret names another client id, so
// the watchdog also (rightly) finds CREDENTIALS_REJECTED on it, and the
// test expects that pair. ROTATION_STUCK and RECEIVED_NOT_ADOPTED need
// versions of different ages, which moto cannot give (ListSecretVersionIds
// dates every version now); internal/watchdog's tests cover them.
func TestWatchdog(t *testing.T) {
	far := time.Now().Add(120 * 24 * time.Hour).UTC().Truncate(time.Second)
	s := newStack(t, harness.Options{InitialExpiry: far})
	ctx := t.Context()
	seed := func(o harness.SeedOptions) string {
		t.Helper()
		arn, err := s.Seed(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		return arn
	}
	other := func(name string, expires time.Time) *harness.SecretDocument {
		return &harness.SecretDocument{ClientID: otherClient(name), ClientSecret: otherSecret(name),
			ClientSecretExpiresAt: expires.Format(time.RFC3339), RefreshToken: "Atzr|e2e-refresh-" + name}
	}
	healthy := seed(harness.SeedOptions{Name: "healthy", Rotation: true})
	seed(harness.SeedOptions{Name: "disabled", Document: other("disabled", far)})
	seed(harness.SeedOptions{Name: "foreign", Document: other("foreign", far), Rotation: true,
		RotationFunction: "arn:aws:lambda:" + harness.Region + ":" + harness.AccountID + ":function:another-teams-rotation"})
	seed(harness.SeedOptions{Name: "rejected", Document: other("rejected", far), Rotation: true})
	broken := other("broken", far)
	broken.ClientSecret = ""
	seed(harness.SeedOptions{Name: "broken", Document: broken, Rotation: true})
	seed(harness.SeedOptions{Name: "dup-a", Document: other("dup", far), Rotation: true})
	seed(harness.SeedOptions{Name: "dup-b", Document: other("dup", far), Rotation: true})
	seed(harness.SeedOptions{Name: "soon", Document: other("soon", time.Now().Add(10*24*time.Hour+time.Hour)), Rotation: true})
	untagged := seed(harness.SeedOptions{Name: "untagged", Document: other("untagged", far), NoTag: true})

	out, err := s.Invoke(ctx, harness.FunctionWatchdog, map[string]any{})
	if err != nil {
		t.Fatalf("sweep: %v (%s)", err, out)
	}
	var res struct {
		Kind            string
		Secrets, Alerts int
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("sweep result %s: %v", out, err)
	}
	want := []string{
		"broken INVALID_SECRET_DOCUMENT CRITICAL",
		"disabled CREDENTIALS_REJECTED CRITICAL",
		"disabled ROTATION_DISABLED WARNING",
		"dup-a AMBIGUOUS_CLIENT_ID CRITICAL",
		"dup-a CREDENTIALS_REJECTED CRITICAL",
		"dup-b AMBIGUOUS_CLIENT_ID CRITICAL",
		"dup-b CREDENTIALS_REJECTED CRITICAL",
		"foreign CREDENTIALS_REJECTED CRITICAL",
		"foreign FOREIGN_ROTATION_FUNCTION WARNING",
		"rejected CREDENTIALS_REJECTED CRITICAL",
		"soon CREDENTIALS_REJECTED CRITICAL",
		"soon EXPIRING_SOON WARNING",
	}
	if res.Kind != "sweep" || res.Secrets != 8 || res.Alerts != len(want) {
		t.Errorf("sweep result = %s, want 8 secrets and %d alerts", out, len(want))
	}
	var as []harness.Alert
	waitFor(t, s, 30*time.Second, fmt.Sprintf("%d SECRET_AT_RISK alerts", len(want)), func(ctx context.Context) (bool, error) {
		var err error
		as, err = s.Alerts(ctx)
		return len(atRisk(as)) >= len(want), err
	})
	if got := atRisk(as); !slices.Equal(got, want) {
		t.Errorf("SECRET_AT_RISK alerts =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, a := range as {
		if a.Field("event") != "SECRET_AT_RISK" {
			continue
		}
		if a.Attributes["event"] != "SECRET_AT_RISK" || a.Attributes["severity"] != a.Field("severity") ||
			a.Attributes["clientId"] != a.Field("clientId") || a.Field("action") != "MANUAL_ACTION_REQUIRED" {
			t.Errorf("alert %q: attributes %v, document %s", a.Subject, a.Attributes, a.Default)
		}
		if a.Field("secretArn") == healthy || a.Field("secretArn") == untagged {
			t.Errorf("alert %q about a secret that must get none", a.Subject)
		}
	}
	// One metric record per secret with a known expiry: all but "broken",
	// whose expiry is in its unusable document and in no tag.
	logs := s.Logs(harness.FunctionWatchdog)
	if n := strings.Count(logs, `"Namespace":"SpApiLwaRotation"`); n != 7 {
		t.Errorf("watchdog log holds %d EMF records, want 7:\n%s", n, tail(logs, 4000))
	}
	if !strings.Contains(logs, fmt.Sprintf(`"ClientId":%q,"DaysUntilExpiry":119`, s.ClientID)) &&
		!strings.Contains(logs, fmt.Sprintf(`"ClientId":%q,"DaysUntilExpiry":120`, s.ClientID)) {
		t.Errorf("no DaysUntilExpiry record of about 120 days for the healthy secret:\n%s", tail(logs, 4000))
	}
	if n := s.Sim.Stats().TokenClientCredentials; n != 1 {
		t.Errorf("LWA tokens granted = %d, want 1 (the healthy secret's check)", n)
	}

	// Rotation-failure events: an alert for the managed secret, nothing for
	// the untagged one.
	failure := func(arn string) map[string]any {
		return map[string]any{
			"version": "0", "id": "e2e-" + arn[len(arn)-6:], "source": "aws.secretsmanager",
			"detail-type": "AWS Service Event via CloudTrail", "account": harness.AccountID, "region": harness.Region,
			"time": time.Now().UTC().Format(time.RFC3339), "resources": []string{},
			"detail": map[string]any{
				"eventSource": "secretsmanager.amazonaws.com", "eventName": "RotationFailed",
				"additionalEventData": map[string]any{"SecretId": arn},
				"errorMessage":        "createSecret: the new client secret has not arrived yet",
			},
		}
	}
	if out, err := s.Invoke(ctx, harness.FunctionWatchdog, failure(untagged)); err != nil || !strings.Contains(string(out), `"ignored":true`) {
		t.Errorf("failure event of the untagged secret = %s, %v; want ignored", out, err)
	}
	if out, err := s.Invoke(ctx, harness.FunctionWatchdog, failure(healthy)); err != nil || !strings.Contains(string(out), `"alerts":1`) {
		t.Errorf("failure event of the managed secret = %s, %v; want one alert", out, err)
	}
	a := waitAlert(t, s, "ROTATION_FAILED", "MANUAL_ACTION_REQUIRED")
	if a.Field("severity") != "CRITICAL" || a.Field("secretArn") != healthy || a.Field("clientId") != s.ClientID ||
		!strings.Contains(a.Field("message"), "has not arrived yet") {
		t.Errorf("ROTATION_FAILED alert = %s", a.Default)
	}
	for _, a := range alerts(t, s) {
		if a.Field("event") == "ROTATION_FAILED" && a.Field("secretArn") == untagged {
			t.Errorf("alert about the untagged secret: %q", a.Subject)
		}
	}

	// An event the watchdog does not know fails the invocation.
	var fe *harness.FunctionError
	if _, err := s.Invoke(ctx, harness.FunctionWatchdog, map[string]any{"source": "aws.s3", "detail-type": "Object Created"}); !errors.As(err, &fe) {
		t.Errorf("unknown event: error = %v, want a function error", err)
	}

	// No secret value anywhere: the simulator's, and the made-up ones.
	checkNoLeak(t, s)
	var secrets []string
	for _, n := range []string{"disabled", "foreign", "rejected", "dup", "soon", "untagged"} {
		secrets = append(secrets, otherSecret(n), "Atzr|e2e-refresh-"+n)
	}
	for _, fn := range harness.Functions {
		for _, sec := range secrets {
			if strings.Contains(s.Logs(fn), sec) {
				t.Errorf("%s log contains a secret value", fn)
			}
		}
	}
	for _, a := range alerts(t, s) {
		for _, sec := range secrets {
			if strings.Contains(a.Subject+a.Default+fmt.Sprint(a.Attributes), sec) {
				t.Errorf("alert %q contains a secret value", a.Subject)
			}
		}
	}
}

// atRisk returns "name REASON SEVERITY" of every SECRET_AT_RISK alert, sorted.
func atRisk(as []harness.Alert) []string {
	var out []string
	for _, a := range as {
		if a.Field("event") != "SECRET_AT_RISK" {
			continue
		}
		arn := a.Field("secretArn")
		name := arn[strings.LastIndex(arn, ":")+1:]
		if i := strings.LastIndex(name, "-"); i > 0 {
			name = name[:i]
		}
		out = append(out, name+" "+a.Field("reason")+" "+a.Field("severity"))
	}
	sort.Strings(out)
	return out
}
