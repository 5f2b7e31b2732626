package operator

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go"

	"github.com/spapi-lwa/secret-rotation/internal/managed"
)

// seedFleet creates one secret per situation status must show.
func seedFleet(e *env) []string {
	day := 24 * time.Hour
	tag := func(id string) map[string]string { return map[string]string{managed.TagClientID: id} }
	var values []string
	add := func(name, id, secret string, expires time.Time, tags map[string]string) string {
		values = append(values, secret)
		return e.sm.Seed(name, document(id, secret, expires), tags)
	}
	// Healthy: rotation with the project's function, 120 days left, rotated before.
	healthy := add("sp-api-lwa/healthy", clientID("healthy"), secretValue("healthy"), testNow.Add(120*day+time.Hour), tag(clientID("healthy")))
	e.sm.SetRotation(healthy, true, fnARN)
	e.now = testNow.Add(-60 * day)
	e.sm.FinishRotation(healthy, "none")
	e.now = testNow
	// Rotation off, 20 days left: ROTATION_DISABLED (CRITICAL) and EXPIRING_SOON.
	add("sp-api-lwa/disabled", clientID("disabled"), secretValue("disabled"), testNow.Add(20*day+time.Hour), tag(clientID("disabled")))
	// Rotated by another function, expiry unknown.
	foreign := add("sp-api-lwa/foreign", clientID("foreign"), secretValue("foreign"), time.Time{}, tag(clientID("foreign")))
	e.sm.SetRotation(foreign, true, otherFnARN)
	// A document without its client secret.
	broken := e.sm.Seed("sp-api-lwa/broken", fmt.Sprintf(`{"clientId":%q,"refreshToken":"Atzr|r"}`, clientID("broken")), tag(clientID("broken")))
	e.sm.SetRotation(broken, true, fnARN)
	// Two secrets with one client id; the tag's expiry says 3 days.
	for _, n := range []string{"sp-api-lwa/twin-a", "sp-api-lwa/twin-b"} {
		arn := add(n, clientID("twin"), secretValue("twin"), time.Time{}, map[string]string{
			managed.TagClientID: clientID("twin"), managed.TagClientSecretExpiresAt: testNow.Add(3*day + time.Hour).Format(time.RFC3339)})
		e.sm.SetRotation(arn, true, fnARN)
	}
	// Not managed: never listed.
	add("other/untagged", clientID("untagged"), secretValue("untagged"), time.Time{}, nil)
	return values
}

func TestStatusTable(t *testing.T) {
	e := newEnv()
	values := seedFleet(e)
	e.vars["ROTATE_SECRET_FUNCTION_ARN"] = fnARN
	out, stderr, code := e.run(t, "status")
	if code != ExitAttention {
		t.Errorf("status exit = %d, want %d (secrets need a person); stderr %q", code, ExitAttention, stderr)
	}
	if stderr != "" {
		t.Errorf("status stderr = %q, want none", stderr)
	}
	golden(t, "status-table", out)
	checkNoSecret(t, out, values...)
}

func TestStatusJSON(t *testing.T) {
	e := newEnv()
	values := seedFleet(e)
	out, _, code := e.run(t, "status", "--output", "json", "--function", fnARN)
	if code != ExitAttention {
		t.Errorf("status exit = %d, want %d", code, ExitAttention)
	}
	golden(t, "status-json", out)
	checkNoSecret(t, out, values...)

	// The contract: exactly these keys, null for an unknown expiry.
	var rows []map[string]any
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("status --output json is not a JSON array: %v", err)
	}
	if len(rows) != 6 {
		t.Fatalf("status --output json has %d rows, want 6", len(rows))
	}
	want := []string{"clientId", "daysLeft", "expiresAt", "name", "reasons", "rotationEnabled", "rotationFunctionArn", "secretArn"}
	for _, r := range rows {
		var keys []string
		for k := range r {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		if !slices.Equal(keys, want) {
			t.Errorf("row %v keys = %v, want %v", r["name"], keys, want)
		}
		if _, ok := r["reasons"].([]any); !ok {
			t.Errorf("row %v reasons = %#v, want an array", r["name"], r["reasons"])
		}
		if r["name"] == "sp-api-lwa/foreign" && (r["expiresAt"] != nil || r["daysLeft"] != nil) {
			t.Errorf("foreign: expiresAt, daysLeft = %v, %v; want null, null", r["expiresAt"], r["daysLeft"])
		}
		if r["name"] == "sp-api-lwa/healthy" && (len(r["reasons"].([]any)) != 0 || r["daysLeft"] != float64(120)) {
			t.Errorf("healthy: reasons, daysLeft = %v, %v; want [], 120", r["reasons"], r["daysLeft"])
		}
	}
}

// TestStatusBrokenDocumentsLeakNothing: documents with the secret in the
// wrong place are reported without quoting any value.
func TestStatusBrokenDocumentsLeakNothing(t *testing.T) {
	e := newEnv()
	id, secret := clientID("swap"), secretValue("swap")
	for name, value := range map[string]string{
		"swapped":          fmt.Sprintf(`{"clientId":%q,"clientSecret":%q}`, secret, id),
		"secret-as-id":     fmt.Sprintf(`{"clientId":%q,"clientSecret":%q}`, secret, secret),
		"not-json":         "clientSecret=" + secret,
		"secret-in-number": fmt.Sprintf(`{"clientId":%q,"clientSecret":1%q}`, id, secret),
	} {
		e.sm.Seed(name, value, map[string]string{managed.TagClientID: id})
	}
	for _, args := range [][]string{{"status"}, {"status", "--output", "json"}, {"doctor"}} {
		out, stderr, code := e.run(t, args...)
		if code != ExitAttention || strings.Count(out, "INVALID_SECRET_DOCUMENT") < 4 {
			t.Errorf("%v = %d, want 1 with four INVALID_SECRET_DOCUMENT:\n%s", args, code, out)
		}
		checkNoSecret(t, out+stderr, secret, "secret-swap")
	}
	if e.lwa.calls != 0 {
		t.Errorf("doctor asked LWA %d times about broken documents", e.lwa.calls)
	}
}

func TestStatusHealthyFleetExitsZero(t *testing.T) {
	e := newEnv()
	arn := e.sm.Seed("sp-api-lwa/one", document(clientID("one"), secretValue("one"), testNow.Add(100*24*time.Hour)),
		map[string]string{managed.TagClientID: clientID("one")})
	e.sm.SetRotation(arn, true, fnARN)
	out, stderr, code := e.run(t, "status", "--function", fnARN)
	if code != ExitOK {
		t.Errorf("status exit = %d, want 0; stdout %s stderr %s", code, out, stderr)
	}
	if !strings.Contains(out, "Managed secrets: 1, OK: 1, needing attention: 0.") {
		t.Errorf("status summary missing:\n%s", out)
	}
}

func TestStatusEmpty(t *testing.T) {
	e := newEnv()
	out, _, code := e.run(t, "status")
	if code != ExitOK || !strings.Contains(out, "No managed secrets") {
		t.Errorf("status on no secrets = %d, %q; want 0 and a note", code, out)
	}
	out, _, _ = e.run(t, "status", "--output", "json")
	if strings.TrimSpace(out) != "[]" {
		t.Errorf("status --output json on no secrets = %q, want []", out)
	}
}

// TestStatusCallsPerSecret: reading the fleet costs the same calls per
// secret whatever its size: one DescribeSecret, one ListSecretVersionIds
// and one GetSecretValue, plus one ListSecrets per 100 secrets.
func TestStatusCallsPerSecret(t *testing.T) {
	for _, n := range []int{1, 10, 100, 250} {
		e := newEnv()
		for i := range n {
			arn := e.sm.Seed(fmt.Sprintf("app-%03d", i), document(clientID(fmt.Sprint(i)), secretValue(fmt.Sprint(i)), testNow.Add(90*24*time.Hour)),
				map[string]string{managed.TagClientID: clientID(fmt.Sprint(i))})
			e.sm.SetRotation(arn, true, fnARN)
		}
		e.sm.ResetCalls()
		if _, stderr, code := e.run(t, "status", "--output", "json"); code != ExitOK {
			t.Fatalf("status over %d secrets exit = %d; stderr %s", n, code, stderr)
		}
		calls := e.sm.CallCounts()
		pages := (n + 99) / 100
		want := map[string]int{"ListSecrets": pages, "DescribeSecret": n, "ListSecretVersionIds": n, "GetSecretValue": n}
		for op, w := range want {
			if calls[op] != w {
				t.Errorf("%d secrets: %s calls = %d, want %d", n, op, calls[op], w)
			}
		}
		if got := e.sm.TotalCalls(); got != 3*n+pages {
			t.Errorf("%d secrets: %d calls in all (%v), want %d", n, got, calls, 3*n+pages)
		}
	}
}

func TestStatusBadInput(t *testing.T) {
	e := newEnv()
	for _, args := range [][]string{
		{"status", "--output", "yaml"},
		{"status", "extra"},
		{"status", "--nope"},
		{"status", "--function", fnARN, "--stack", "s"},
		{"status", "--stack", "missing"},
	} {
		_, stderr, code := e.run(t, args...)
		if code != ExitBadInput {
			t.Errorf("%v exit = %d, want 2", args, code)
		}
		oneLineErr(t, stderr)
	}
	e.vars["STUCK_ROTATION_AFTER"] = "soon"
	if _, stderr, code := e.run(t, "status"); code != ExitBadInput || !strings.Contains(stderr, "STUCK_ROTATION_AFTER") {
		t.Errorf("bad STUCK_ROTATION_AFTER: exit %d, stderr %q; want 2 naming it", code, stderr)
	}
}

// TestStatusUnreadable: a secret the caller may not read is reported, not fatal.
func TestStatusUnreadable(t *testing.T) {
	e := newEnv()
	for _, n := range []string{"ok", "denied"} {
		arn := e.sm.Seed("sp-api-lwa/"+n, document(clientID(n), secretValue(n), testNow.Add(90*24*time.Hour)),
			map[string]string{managed.TagClientID: clientID(n)})
		e.sm.SetRotation(arn, true, fnARN)
	}
	e.sm.Fail = func(_ context.Context, op string, in any) error {
		if v, ok := in.(*secretsmanager.GetSecretValueInput); ok && strings.Contains(aws.ToString(v.SecretId), "denied") {
			return &smithy.GenericAPIError{Code: "AccessDeniedException", Message: "not allowed"}
		}
		return nil
	}
	out, _, code := e.run(t, "status", "--function", fnARN)
	if code != ExitAttention || !strings.Contains(out, "sp-api-lwa/denied: UNREADABLE") || !strings.Contains(out, "OK: 1, needing attention: 1") {
		t.Errorf("status with an unreadable secret = %d:\n%s\nwant 1, UNREADABLE for denied, ok OK", code, out)
	}
	checkNoSecret(t, out, secretValue("ok"), secretValue("denied"))
}
