package e2e

import (
	"context"

	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spapi-lwa/secret-rotation/internal/managed"
	"github.com/spapi-lwa/secret-rotation/test/harness"
)

var (
	binOnce sync.Once
	binDir  string
	binErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// bootstraps builds the three functions once per test binary.
func bootstraps(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		root, err := harness.RepoRoot()
		if err != nil {
			binErr = err
			return
		}
		if binDir, binErr = os.MkdirTemp("", "sp-api-lwa-e2e-"); binErr != nil {
			return
		}
		binErr = harness.Build(context.Background(), root, binDir)
	})
	if binErr != nil {
		t.Fatalf("build bootstraps: %v", binErr)
	}
	return binDir
}

// prerequisites skips (or, with E2E=1, fails) when rie or moto is missing.
func prerequisites(t *testing.T) {
	t.Helper()
	root, err := harness.RepoRoot()
	if err == nil {
		_, err = harness.RIEPath(root)
	}
	if err == nil {
		err = harness.CheckMoto(t.Context())
	}
	if err == nil {
		return
	}
	if os.Getenv("E2E") == "1" {
		t.Fatalf("end-to-end prerequisites: %v", err)
	}
	t.Skipf("end-to-end prerequisites missing (set E2E=1 to make this a failure): %v", err)
}

// newStack starts a fresh stack for one scenario.
func newStack(t *testing.T, opts harness.Options) *harness.Stack {
	t.Helper()
	prerequisites(t)
	opts.BinDir = bootstraps(t)
	start := time.Now()
	s, err := harness.Start(t.Context(), opts)
	if err != nil {
		t.Fatalf("harness.Start: %v", err)
	}
	t.Logf("stack started in %s", time.Since(start).Round(time.Millisecond))
	t.Cleanup(func() {
		if t.Failed() {
			for _, ev := range s.Timeline() {
				t.Logf("%s %s", ev.Time.Format("15:04:05.000"), ev.What)
			}
			for _, fn := range harness.Functions {
				t.Logf("---- %s log ----\n%s", fn, tail(s.Logs(fn), 6000))
			}
		}
		s.Close()
	})
	return s
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// seedRotating creates the managed secret with rotation on.
func seedRotating(t *testing.T, s *harness.Stack) string {
	t.Helper()
	arn, err := s.Seed(t.Context(), harness.SeedOptions{Rotation: true})
	if err != nil {
		t.Fatalf("Seed: %v", err)
	}
	return arn
}

func waitFor(t *testing.T, s *harness.Stack, timeout time.Duration, what string, cond func(context.Context) (bool, error)) {
	t.Helper()
	if err := s.WaitFor(t.Context(), timeout, what, cond); err != nil {
		t.Fatal(err)
	}
}

func settle(t *testing.T, s *harness.Stack) {
	t.Helper()
	if err := s.Settle(t.Context(), 45*time.Second); err != nil {
		t.Fatal(err)
	}
}

func versions(t *testing.T, s *harness.Stack, arn string) []harness.Version {
	t.Helper()
	vs, err := s.Versions(t.Context(), arn)
	if err != nil {
		t.Fatal(err)
	}
	return vs
}

func stage(t *testing.T, vs []harness.Version, label string) (harness.Version, bool) {
	t.Helper()
	for _, v := range vs {
		if v.Has(label) {
			return v, true
		}
	}
	return harness.Version{}, false
}

func doc(t *testing.T, v harness.Version) harness.SecretDocument {
	t.Helper()
	d, err := v.Document()
	if err != nil {
		t.Fatalf("version %s: value is not a secret document: %v", v.ID, err)
	}
	return d
}

func describe(vs []harness.Version) string {
	var b strings.Builder
	for _, v := range vs {
		fmt.Fprintf(&b, "[%s %v %s] ", v.ID[:8], v.Stages, harness.Fingerprint(v.Value))
	}
	return b.String()
}

// currentIsNewest waits for AWSCURRENT to hold the simulator's newest secret.
func currentIsNewest(s *harness.Stack, arn string) func(context.Context) (bool, error) {
	return func(ctx context.Context) (bool, error) { return s.CurrentIsNewest(ctx, arn) }
}

// alerts reads every alert so far.
func alerts(t *testing.T, s *harness.Stack) []harness.Alert {
	t.Helper()
	as, err := s.Alerts(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return as
}

// waitAlert waits until an alert matching the event (and action, if not
// empty) has arrived and returns it.
func waitAlert(t *testing.T, s *harness.Stack, event, action string) harness.Alert {
	t.Helper()
	var got harness.Alert
	waitFor(t, s, 30*time.Second, "alert "+event+" "+action, func(ctx context.Context) (bool, error) {
		as, err := s.Alerts(ctx)
		for _, a := range as {
			if a.Field("event") == event && (action == "" || a.Field("action") == action) {
				got = a
				return true, nil
			}
		}
		return false, err
	})
	return got
}

func events(as []harness.Alert) []string {
	var out []string
	for _, a := range as {
		out = append(out, a.Field("event")+"/"+a.Field("severity")+"/"+a.Field("action"))
	}
	return out
}

// checkAlertShape checks the SNS form of every alert: attributes match the
// document, the subject fits SNS.
func checkAlertShape(t *testing.T, s *harness.Stack, as []harness.Alert) {
	t.Helper()
	for _, a := range as {
		if a.Doc == nil {
			t.Errorf("alert %q: default document is not JSON", a.Subject)
			continue
		}
		for _, k := range []string{"event", "severity"} {
			if a.Attributes[k] != a.Field(k) {
				t.Errorf("alert %q: attribute %s = %q, document %q", a.Subject, k, a.Attributes[k], a.Field(k))
			}
		}
		if a.Field("event") != "NOTIFICATION_REJECTED" && a.Field("clientId") != s.ClientID {
			t.Errorf("alert %q: clientId = %q, want %q", a.Subject, a.Field("clientId"), s.ClientID)
		}
		if len(a.Subject) == 0 || len(a.Subject) > 100 {
			t.Errorf("alert subject %q: length %d, want 1..100", a.Subject, len(a.Subject))
		}
	}
}

// checkNoLeak asserts that no client secret the simulator issued (the
// initial one included), no access or refresh token, appears in any function
// log or alert.
func checkNoLeak(t *testing.T, s *harness.Stack) {
	t.Helper()
	as := alerts(t, s)
	var places []struct{ name, text string }
	for _, fn := range harness.Functions {
		places = append(places, struct{ name, text string }{fn + " log", s.Logs(fn)})
	}
	for i, a := range as {
		places = append(places, struct{ name, text string }{fmt.Sprintf("alert %d", i), a.Subject + a.Default + fmt.Sprint(a.Attributes)})
	}
	secrets := s.Sim.Issued()
	if !slices.Contains(secrets, s.InitialSecret) {
		secrets = append(secrets, s.InitialSecret)
	}
	for _, p := range places {
		for i, sec := range secrets {
			if strings.Contains(p.text, sec) {
				t.Errorf("%s contains issued client secret #%d", p.name, i)
			}
		}
		// Every client secret, access token and refresh token has one of these shapes.
		for _, shape := range []string{"amzn1.oa2-cs.", "Atza|", "Atzr|"} {
			if strings.Contains(p.text, shape) {
				t.Errorf("%s contains a value shaped %q", p.name, shape)
			}
		}
	}
	if len(s.Logs("")) == 0 {
		t.Errorf("function logs are empty: the leak check saw nothing")
	}
}

// checkTags checks the metadata tags after a finished rotation.
func checkTags(t *testing.T, s *harness.Stack, arn string) {
	t.Helper()
	tags, err := s.Tags(t.Context(), arn)
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := tags[managed.TagRotationRequestedAt]; ok {
		t.Errorf("tag %s = %q after the rotation finished, want none", managed.TagRotationRequestedAt, v)
	}
	_, exp := s.Sim.Current()
	if got := tags[managed.TagClientSecretExpiresAt]; !sameTime(got, exp) {
		t.Errorf("tag %s = %q, want %s", managed.TagClientSecretExpiresAt, got, exp.UTC().Format(time.RFC3339))
	}
	if tags[managed.TagClientID] != s.ClientID {
		t.Errorf("tag %s = %q, want %q", managed.TagClientID, tags[managed.TagClientID], s.ClientID)
	}
}

func sameTime(s string, want time.Time) bool {
	got, err := time.Parse(time.RFC3339Nano, s)
	return err == nil && got.Truncate(time.Second).Equal(want.Truncate(time.Second))
}

// checkRotated checks the state after one or more completed rotations:
// AWSCURRENT holds the newest issued secret with its expiry and the other keys
// kept, AWSPREVIOUS the secret before, no AWSPENDING left.
func checkRotated(t *testing.T, s *harness.Stack, arn string, previous string) {
	t.Helper()
	vs := versions(t, s, arn)
	cur, ok := stage(t, vs, managed.StageCurrent)
	if !ok {
		t.Fatalf("no AWSCURRENT: %s", describe(vs))
	}
	d := doc(t, cur)
	newest, exp := s.Sim.Current()
	if d.ClientSecret != newest {
		t.Errorf("AWSCURRENT %s does not hold the newest issued secret: %s", cur.ID, describe(vs))
	}
	if !s.Sim.Accepts(d.ClientSecret) {
		t.Errorf("LWA does not accept the AWSCURRENT secret")
	}
	if d.ClientID != s.ClientID || d.RefreshToken != "Atzr|local-refresh-token" {
		t.Errorf("AWSCURRENT document: client id %q, refresh token kept %v; want %q, true", d.ClientID, d.RefreshToken == "Atzr|local-refresh-token", s.ClientID)
	}
	if !sameTime(d.ClientSecretExpiresAt, exp) {
		t.Errorf("AWSCURRENT clientSecretExpiresAt = %q, want %s", d.ClientSecretExpiresAt, exp.UTC().Format(time.RFC3339))
	}
	if prev, ok := stage(t, vs, managed.StagePrevious); !ok || doc(t, prev).ClientSecret != previous {
		t.Errorf("AWSPREVIOUS does not hold the replaced secret: %s", describe(vs))
	}
	if p, ok := stage(t, vs, managed.StagePending); ok {
		t.Errorf("AWSPENDING still on version %s after the rotation: %s", p.ID, describe(vs))
	}
	checkTags(t, s, arn)
}

// lastStepErrors returns the failed steps, for messages.
func stepSummary(s *harness.Stack) string {
	var b strings.Builder
	for _, r := range s.Steps() {
		res := "ok"
		if r.Err != "" {
			res = r.Err
		}
		fmt.Fprintf(&b, "\n  attempt %d %s: %s", r.Attempt, r.Step, res)
	}
	return b.String()
}
