package health

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spapi-lwa/secret-rotation/internal/alert"
	"github.com/spapi-lwa/secret-rotation/internal/secretdoc"
)

const (
	testARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:app-a-AbCdEf"
	ourFn   = "arn:aws:lambda:us-east-1:123456789012:function:stack-RotateSecretFunction-1"
	otherFn = "arn:aws:lambda:us-east-1:123456789012:function:someone-elses-rotation"
	client  = "amzn1.application-oa2-client.aaaa"
)

var now = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func at(d time.Duration) *time.Time { t := now.Add(d); return &t }
func boolp(b bool) *bool            { return &b }

const day = 24 * time.Hour

// healthy is a secret with nothing wrong: rotation with our function, 120
// days left, no rotation in progress, the last delivery adopted.
func healthy() Secret {
	return Secret{
		ARN: testARN, Name: "app-a", ClientID: client,
		RotationEnabled: true, RotationFunctionARN: ourFn,
		Stages: map[string][]string{
			"v2": {"AWSCURRENT"},
			"v1": {"AWSPREVIOUS", "LWA_RECEIVED"},
		},
		Created: map[string]time.Time{
			"v1": now.Add(-40 * day),
			"v2": now.Add(-40*day + time.Minute),
		},
		ExpiresAt:     at(120 * day),
		TaggedSecrets: 1,
		Credentials:   boolp(true),
	}
}

func TestJudge(t *testing.T) {
	cfg := Config{RotateFunctionARN: ourFn, StuckAfter: 6 * time.Hour}
	tests := []struct {
		name   string
		change func(*Secret)
		cfg    *Config
		want   []string // "REASON SEVERITY"
	}{
		{"healthy", func(*Secret) {}, nil, nil},
		{"healthy, expiry unknown, credentials not checked", func(s *Secret) { s.ExpiresAt = nil; s.Credentials = nil }, nil, nil},
		{"rotation disabled, expiry far", func(s *Secret) { s.RotationEnabled = false }, nil,
			[]string{"ROTATION_DISABLED WARNING"}},
		{"rotation disabled, expiry unknown", func(s *Secret) { s.RotationEnabled = false; s.ExpiresAt = nil }, nil,
			[]string{"ROTATION_DISABLED WARNING"}},
		{"rotation disabled, 30 days left", func(s *Secret) { s.RotationEnabled = false; s.ExpiresAt = at(30*day + time.Hour) }, nil,
			[]string{"ROTATION_DISABLED CRITICAL", "EXPIRING_SOON WARNING"}},
		{"rotation disabled, 31 days left", func(s *Secret) { s.RotationEnabled = false; s.ExpiresAt = at(31*day + time.Hour) }, nil,
			[]string{"ROTATION_DISABLED WARNING"}},
		{"rotation disabled with a function left configured", func(s *Secret) { s.RotationEnabled = false; s.RotationFunctionARN = otherFn }, nil,
			[]string{"ROTATION_DISABLED WARNING"}},
		{"foreign function", func(s *Secret) { s.RotationFunctionARN = otherFn }, nil,
			[]string{"FOREIGN_ROTATION_FUNCTION WARNING"}},
		{"enabled with no function", func(s *Secret) { s.RotationFunctionARN = "" }, nil,
			[]string{"FOREIGN_ROTATION_FUNCTION WARNING"}},
		{"our function with an alias", func(s *Secret) { s.RotationFunctionARN = ourFn + ":live" }, nil, nil},
		{"foreign function, ours unknown (CLI)", func(s *Secret) { s.RotationFunctionARN = otherFn }, &Config{}, nil},
		{"credentials rejected", func(s *Secret) { s.Credentials = boolp(false) }, nil,
			[]string{"CREDENTIALS_REJECTED CRITICAL"}},
		{"invalid document", func(s *Secret) { s.DocErr = fmt.Errorf("%w: key \"clientSecret\" is missing", secretdoc.ErrInvalid) }, nil,
			[]string{"INVALID_SECRET_DOCUMENT CRITICAL"}},
		{"ambiguous client id", func(s *Secret) { s.TaggedSecrets = 2 }, nil,
			[]string{"AMBIGUOUS_CLIENT_ID CRITICAL"}},
		{"rotation stuck", func(s *Secret) {
			s.Stages["v3"] = []string{"AWSPENDING"}
			s.Created["v3"] = now.Add(-7 * time.Hour)
		}, nil, []string{"ROTATION_STUCK CRITICAL"}},
		{"rotation in progress, young", func(s *Secret) {
			s.Stages["v3"] = []string{"AWSPENDING"}
			s.Created["v3"] = now.Add(-5 * time.Hour)
		}, nil, nil},
		{"rotation in progress, young under a shorter limit", func(s *Secret) {
			s.Stages["v3"] = []string{"AWSPENDING"}
			s.Created["v3"] = now.Add(-2 * time.Hour)
		}, &Config{RotateFunctionARN: ourFn, StuckAfter: time.Hour}, []string{"ROTATION_STUCK CRITICAL"}},
		{"pending on current (finished rotation)", func(s *Secret) {
			s.Stages["v2"] = []string{"AWSCURRENT", "AWSPENDING"}
		}, nil, nil},
		{"pending, creation date unknown", func(s *Secret) { s.Stages["v3"] = []string{"AWSPENDING"} }, nil, nil},
		{"received not adopted", func(s *Secret) {
			s.Stages["v1"] = []string{"AWSPREVIOUS"}
			s.Stages["v3"] = []string{"LWA_RECEIVED"}
			s.Created["v3"] = now.Add(-7 * time.Hour)
		}, nil, []string{"RECEIVED_NOT_ADOPTED CRITICAL"}},
		{"received recently", func(s *Secret) {
			s.Stages["v1"] = []string{"AWSPREVIOUS"}
			s.Stages["v3"] = []string{"LWA_RECEIVED"}
			s.Created["v3"] = now.Add(-time.Hour)
		}, nil, nil},
		{"received before the current version (adopted)", func(s *Secret) {
			s.Stages["v1"] = []string{"AWSPREVIOUS", "LWA_RECEIVED"}
		}, nil, nil},
		{"received on current", func(s *Secret) {
			s.Stages["v1"] = []string{"AWSPREVIOUS"}
			s.Stages["v2"] = []string{"AWSCURRENT", "LWA_RECEIVED"}
		}, nil, nil},
		{"received and pending, both old", func(s *Secret) {
			s.Stages["v1"] = []string{"AWSPREVIOUS"}
			s.Stages["v3"] = []string{"LWA_RECEIVED"}
			s.Stages["v4"] = []string{"AWSPENDING"}
			s.Created["v3"] = now.Add(-9 * time.Hour)
			s.Created["v4"] = now.Add(-8 * time.Hour)
		}, nil, []string{"ROTATION_STUCK CRITICAL", "RECEIVED_NOT_ADOPTED CRITICAL"}},
		{"expiring in 30 days", func(s *Secret) { s.ExpiresAt = at(30*day + time.Hour) }, nil,
			[]string{"EXPIRING_SOON WARNING"}},
		{"expiring in 8 days", func(s *Secret) { s.ExpiresAt = at(8*day + time.Hour) }, nil,
			[]string{"EXPIRING_SOON WARNING"}},
		{"expiring in 7 days", func(s *Secret) { s.ExpiresAt = at(7*day + time.Hour) }, nil,
			[]string{"EXPIRING_SOON CRITICAL"}},
		{"expired", func(s *Secret) { s.ExpiresAt = at(-time.Hour) }, nil,
			[]string{"EXPIRING_SOON CRITICAL"}},
		{"31 days left", func(s *Secret) { s.ExpiresAt = at(31*day + time.Hour) }, nil, nil},
		{"everything at once", func(s *Secret) {
			s.RotationEnabled = false
			s.Credentials = boolp(false)
			s.DocErr = errors.New("broken")
			s.TaggedSecrets = 3
			s.ExpiresAt = at(2 * day)
		}, nil, []string{
			"ROTATION_DISABLED CRITICAL", "CREDENTIALS_REJECTED CRITICAL", "INVALID_SECRET_DOCUMENT CRITICAL",
			"AMBIGUOUS_CLIENT_ID CRITICAL", "EXPIRING_SOON CRITICAL",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := healthy()
			tt.change(&s)
			c := cfg
			if tt.cfg != nil {
				c = *tt.cfg
			}
			var got []string
			for _, f := range Judge(s, now, c) {
				got = append(got, fmt.Sprintf("%s %s", f.Reason, f.Severity))
				if f.Message == "" || f.Fix == "" {
					t.Errorf("%s: message %q, fix %q; want both", f.Reason, f.Message, f.Fix)
				}
				if !strings.Contains(f.Message, s.Name) && !strings.Contains(f.Message, s.ClientID) {
					t.Errorf("%s: message %q names neither the secret nor the client id", f.Reason, f.Message)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("Judge() = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestJudgeFixes checks that each runbook line holds the command that fixes
// its reason, for this secret.
func TestJudgeFixes(t *testing.T) {
	s := healthy()
	s.RotationEnabled = false
	s.Credentials = boolp(false)
	s.DocErr = errors.New("broken")
	s.TaggedSecrets = 2
	s.ExpiresAt = at(3 * day)
	s.Stages["v3"] = []string{"AWSPENDING"}
	s.Created["v3"] = now.Add(-7 * time.Hour)
	s.Stages["v1"] = []string{"AWSPREVIOUS"}
	s.Stages["v4"] = []string{"LWA_RECEIVED"}
	s.Created["v4"] = now.Add(-7 * time.Hour)
	want := map[string][]string{
		ReasonRotationDisabled:      {"rotate-secret --secret-id " + testARN, "--rotation-lambda-arn " + ourFn, "--no-rotate-immediately"},
		ReasonCredentialsRejected:   {"Solution Provider Portal"},
		ReasonInvalidSecretDocument: {"put-secret-value --secret-id " + testARN},
		ReasonAmbiguousClientID:     {"Values=" + client, "untag-resource"},
		ReasonRotationStuck:         {"rotate-secret --secret-id " + testARN, "--function-name " + ourFn + " --query LoggingConfig.LogGroup"},
		ReasonReceivedNotAdopted:    {"rotate-secret --secret-id " + testARN},
		ReasonExpiringSoon:          {"--rotation-lambda-arn " + ourFn, "rotate-secret --secret-id " + testARN},
	}
	got := Judge(s, now, Config{RotateFunctionARN: ourFn})
	if len(got) != len(want) {
		t.Fatalf("Judge() gave %d findings, want %d", len(got), len(want))
	}
	for _, f := range got {
		for _, sub := range want[f.Reason] {
			if !strings.Contains(f.Fix, sub) {
				t.Errorf("%s: fix %q, want it to contain %q", f.Reason, f.Fix, sub)
			}
		}
	}
	s = healthy()
	s.RotationFunctionARN = otherFn
	f := Judge(s, now, Config{RotateFunctionARN: ourFn})
	if len(f) != 1 || !strings.Contains(f[0].Fix, "--rotation-lambda-arn "+ourFn) || !strings.Contains(f[0].Message, otherFn) {
		t.Errorf("Judge(foreign) = %+v, want a fix to our function and a message naming theirs", f)
	}
}

func TestDaysLeft(t *testing.T) {
	if d, ok := DaysLeft(now, nil); ok || d != 0 {
		t.Errorf("DaysLeft(nil) = %d, %v; want 0, false", d, ok)
	}
	if d, ok := DaysLeft(now, at(10*day+time.Hour)); !ok || d != 10 {
		t.Errorf("DaysLeft(10d1h) = %d, %v; want 10, true", d, ok)
	}
	if d, ok := DaysLeft(now, at(-time.Hour)); !ok || d != alert.DaysLeft(now, now.Add(-time.Hour)) {
		t.Errorf("DaysLeft(-1h) = %d, %v; want alert.DaysLeft's", d, ok)
	}
}

func TestLogsCommand(t *testing.T) {
	tail := func(fn string) string {
		return `aws logs tail "$(aws lambda get-function-configuration --function-name ` + fn + ` --query LoggingConfig.LogGroup --output text)" --since 1d`
	}
	for _, tc := range []struct{ arn, want string }{
		{ourFn, tail(ourFn)},
		{ourFn + ":live", tail(ourFn)},
		{"", tail("<RotateSecretFunctionArn>")},
	} {
		if got := LogsCommand(tc.arn); got != tc.want {
			t.Errorf("LogsCommand(%q) = %q, want %q", tc.arn, got, tc.want)
		}
	}
}
