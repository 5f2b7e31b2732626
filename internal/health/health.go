// Package health judges whether a managed secret is at risk (docs/design.md "The
// watchdog"): the watchdog and the operator CLI read a secret into a Secret and pass it
// to Judge, a pure function, so both say the same about the same secret. Reasons, each
// judged on its own (a secret can have several):
//
//  1. ROTATION_DISABLED: rotation is off. CRITICAL at 30 days left or fewer, else WARNING.
//  2. FOREIGN_ROTATION_FUNCTION: another Lambda rotates it (qualifier ignored). WARNING.
//  3. CREDENTIALS_REJECTED: LWA answered invalid_client for AWSCURRENT. CRITICAL.
//  4. INVALID_SECRET_DOCUMENT: AWSCURRENT does not parse or names another client. CRITICAL.
//  5. AMBIGUOUS_CLIENT_ID: the client id is tagged on several secrets. CRITICAL.
//  6. ROTATION_STUCK: AWSPENDING off AWSCURRENT, created over StuckAfter ago. CRITICAL.
//  7. RECEIVED_NOT_ADOPTED: LWA_RECEIVED on a version newer than AWSCURRENT's, created
//     over StuckAfter ago. CRITICAL.
//  8. EXPIRING_SOON: 30 days left or fewer. Severity by days left.
//
// A version of unknown creation date is never stuck. No text names a secret value.
package health

import (
	"cmp"
	"fmt"
	"strings"
	"time"

	"github.com/spapi-lwa/secret-rotation/internal/alert"
	"github.com/spapi-lwa/secret-rotation/internal/managed"
)

// Reasons a secret is at risk, as alerts and the CLI name them.
const (
	ReasonRotationDisabled        = "ROTATION_DISABLED"
	ReasonForeignRotationFunction = "FOREIGN_ROTATION_FUNCTION"
	ReasonCredentialsRejected     = "CREDENTIALS_REJECTED"
	ReasonRotationStuck           = "ROTATION_STUCK"
	ReasonReceivedNotAdopted      = "RECEIVED_NOT_ADOPTED"
	ReasonExpiringSoon            = "EXPIRING_SOON"
	ReasonInvalidSecretDocument   = "INVALID_SECRET_DOCUMENT"
	ReasonAmbiguousClientID       = "AMBIGUOUS_CLIENT_ID"
)

// DefaultStuckAfter is STUCK_ROTATION_AFTER's default.
const DefaultStuckAfter = 6 * time.Hour

const (
	soonDays      = 30
	placeholderFn = "<RotateSecretFunctionArn>" // the rotation function in a command, when unknown
)

// Secret is what was read about one managed secret. It holds no secret value.
type Secret struct {
	ARN, Name           string
	ClientID            string // the value of the tag sp-api-lwa:client-id
	RotationEnabled     bool
	RotationFunctionARN string
	LastRotated         *time.Time
	Stages              map[string][]string  // DescribeSecret's VersionIdsToStages
	Created             map[string]time.Time // version id to creation date (ListSecretVersionIds)
	DocErr              error                // why AWSCURRENT is unusable (names keys, not values)
	ExpiresAt           *time.Time           // AWSCURRENT's expiry (tag, else document); nil: unknown
	TaggedSecrets       int                  // how many secrets carry this client id
	Credentials         *bool                // LWA's verdict: nil if not asked or unsure, false if rejected
}

// Finding is one reason a secret is at risk: a sentence (Message) and its runbook line (Fix).
type Finding struct {
	Reason       string
	Severity     alert.Severity
	Message, Fix string
}

// Config is what the judgement needs besides the secret.
type Config struct {
	RotateFunctionARN string        // ROTATE_SECRET_FUNCTION_ARN; empty: Case 2 is not judged
	StuckAfter        time.Duration // STUCK_ROTATION_AFTER; zero means DefaultStuckAfter
}

// DaysLeft is alert.DaysLeft until the expiry, and false when the expiry is unknown.
func DaysLeft(now time.Time, expiresAt *time.Time) (int, bool) {
	if expiresAt == nil {
		return 0, false
	}
	return alert.DaysLeft(now, *expiresAt), true
}

// Judge returns every reason s is at risk at now, in the package doc's order; none if healthy.
func Judge(s Secret, now time.Time, cfg Config) []Finding {
	if cfg.StuckAfter <= 0 {
		cfg.StuckAfter = DefaultStuckAfter
	}
	days, known := DaysLeft(now, s.ExpiresAt)
	soon := known && days <= soonDays
	fn := cmp.Or(cfg.RotateFunctionARN, placeholderFn)
	enable := fmt.Sprintf("aws secretsmanager rotate-secret --secret-id %s --rotation-lambda-arn %s --rotation-rules '{\"ScheduleExpression\":\"rate(30 days)\"}' --no-rotate-immediately", s.ARN, fn)
	rotate := "aws secretsmanager rotate-secret --secret-id " + s.ARN
	var out []Finding
	add := func(reason string, sev alert.Severity, msg, fix string) {
		out = append(out, Finding{Reason: reason, Severity: sev, Message: msg, Fix: fix})
	}

	// Case 1.
	if !s.RotationEnabled {
		sev, clause := alert.SeverityWarning, ""
		if soon {
			sev = alert.SeverityCritical
		}
		if known {
			clause = daysClause(days)
		}
		add(ReasonRotationDisabled, sev,
			fmt.Sprintf("Rotation is not enabled on secret %s, so nothing will replace its client secret before it expires%s.", s.Name, clause),
			"Configure rotation with the project's function without rotating now: "+enable)
	}
	// Case 2.
	if s.RotationEnabled && cfg.RotateFunctionARN != "" && unqualified(s.RotationFunctionARN) != unqualified(cfg.RotateFunctionARN) {
		other := cmp.Or(s.RotationFunctionARN, "no Lambda function")
		add(ReasonForeignRotationFunction, alert.SeverityWarning,
			fmt.Sprintf("Secret %s rotates with %s, not with the project's rotation function %s.", s.Name, other, cfg.RotateFunctionARN),
			"Point its rotation at the project's function: "+enable)
	}
	// Case 3.
	if s.Credentials != nil && !*s.Credentials {
		add(ReasonCredentialsRejected, alert.SeverityCritical,
			fmt.Sprintf("LWA rejects the current credentials of secret %s (invalid_client): SP-API calls with them fail.", s.Name),
			"In Solution Provider Portal, Develop Apps, rotate the application's LWA client secret (Edit App, LWA credentials, Rotate); the receiver stores the new secret and a rotation adopts it; check with aws secretsmanager describe-secret --secret-id "+s.ARN)
	}
	// Case 4.
	if s.DocErr != nil {
		add(ReasonInvalidSecretDocument, alert.SeverityCritical,
			fmt.Sprintf("The AWSCURRENT value of secret %s cannot be used: %v.", s.Name, s.DocErr),
			fmt.Sprintf("Write a JSON object holding the client id tagged %s=%s and its client secret under the configured keys: aws secretsmanager put-secret-value --secret-id %s --secret-string file://fixed.json", managed.TagClientID, s.ClientID, s.ARN))
	}
	// Case 5.
	if s.TaggedSecrets > 1 {
		add(ReasonAmbiguousClientID, alert.SeverityCritical,
			fmt.Sprintf("Client id %s is tagged on %d secrets, so no notification for it can be stored and no rotation request is made.", s.ClientID, s.TaggedSecrets),
			fmt.Sprintf("Keep the tag on one secret: aws secretsmanager list-secrets --filters Key=tag-key,Values=%s Key=tag-value,Values=%s, then aws secretsmanager untag-resource --secret-id <the other secret> --tag-keys %s", managed.TagClientID, s.ClientID, managed.TagClientID))
	}
	judgeVersions(s, now, cfg, rotate, add)
	// Case 8.
	if soon {
		fix := "Rotate now: " + rotate
		if !s.RotationEnabled {
			fix = "Configure rotation, then rotate now: " + enable + "; then " + rotate
		}
		add(ReasonExpiringSoon, alert.SeverityForDaysLeft(days),
			fmt.Sprintf("The client secret of secret %s expires %s%s.", s.Name, s.ExpiresAt.UTC().Format(time.RFC3339), daysClause(days)),
			fix)
	}
	return out
}

func judgeVersions(s Secret, now time.Time, cfg Config, rotate string,
	add func(reason string, sev alert.Severity, msg, fix string)) {
	// Case 6.
	if pending := managed.PendingVersion(s.Stages); pending != "" {
		if created, ok := s.Created[pending]; ok && now.Sub(created) > cfg.StuckAfter {
			add(ReasonRotationStuck, alert.SeverityCritical,
				fmt.Sprintf("A rotation of secret %s has been in progress since %s (version %s holds AWSPENDING).", s.Name, created.UTC().Format(time.RFC3339), pending),
				"Find the failing step in the rotation function's log ("+LogsCommand(cfg.RotateFunctionARN)+"), fix its cause, then retry: "+rotate)
		}
	}
	// Case 7.
	current := managed.Holder(s.Stages, managed.StageCurrent)
	if received := managed.Holder(s.Stages, managed.StageReceived); received != "" && received != current {
		rc, okR := s.Created[received]
		cc, okC := s.Created[current]
		if okR && okC && rc.After(cc) && now.Sub(rc) > cfg.StuckAfter {
			add(ReasonReceivedNotAdopted, alert.SeverityCritical,
				fmt.Sprintf("A client secret delivered for secret %s on %s (version %s holds LWA_RECEIVED) has not been adopted; Amazon keeps the old one working for 7 days only.", s.Name, rc.UTC().Format(time.RFC3339), received),
				"Start the rotation that adopts it: "+rotate)
		}
	}
}

// LogsCommand shows the last day of the rotation function fnARN's log group (from its LoggingConfig).
func LogsCommand(fnARN string) string {
	fn := cmp.Or(unqualified(fnARN), placeholderFn)
	return `aws logs tail "$(aws lambda get-function-configuration --function-name ` + fn + ` --query LoggingConfig.LogGroup --output text)" --since 1d`
}

// unqualified drops the qualifier of arn:aws:lambda:region:account:function:name[:qualifier].
func unqualified(arn string) string {
	parts := strings.Split(arn, ":")
	if len(parts) == 8 && parts[2] == "lambda" && parts[5] == "function" {
		return strings.Join(parts[:7], ":")
	}
	return arn
}

func daysClause(days int) string {
	switch {
	case days < 0:
		return " (already expired)"
	case days == 1:
		return " (1 day left)"
	}
	return fmt.Sprintf(" (%d days left)", days)
}
