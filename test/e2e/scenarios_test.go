package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/spapi-lwa/secret-rotation/internal/managed"
	"github.com/spapi-lwa/secret-rotation/test/harness"
	"github.com/spapi-lwa/secret-rotation/test/spapisim"
)

// Scenario 1: a scheduled rotation, happy path: request, delivery, receive,
// adopt, test, promote, with one SP-API call.
func TestScheduledRotation(t *testing.T) {
	s := newStack(t, harness.Options{})
	arn := seedRotating(t, s)
	start := time.Now()
	if _, err := s.StartRotation(t.Context(), arn); err != nil {
		t.Fatal(err)
	}
	waitFor(t, s, 60*time.Second, "AWSCURRENT to hold the new secret", currentIsNewest(s, arn))
	settle(t, s)
	t.Logf("rotation completed in %s", time.Since(start).Round(time.Millisecond))

	checkRotated(t, s, arn, s.InitialSecret)
	if st := s.Sim.Stats(); st.Rotations != 1 || st.RotateCalls != 1 {
		t.Errorf("SP-API rotate calls, rotations = %d, %d; want 1, 1", st.RotateCalls, st.Rotations)
	}
	waitAlert(t, s, "CLIENT_SECRET_ROTATED", "")
	waitAlert(t, s, "NEW_CLIENT_SECRET_RECEIVED", "")
	as := alerts(t, s)
	checkAlertShape(t, s, as)
	for _, a := range as {
		if a.Field("severity") == "CRITICAL" || a.Field("event") == "ROTATION_FAILED" {
			t.Errorf("alert %s on the happy path: %q", events([]harness.Alert{a}), a.Subject)
		}
	}
	checkNoLeak(t, s)
}

// Scenario 2: a secret rotated by hand in the portal (a notification with no
// request) is adopted, with no SP-API call.
func TestPortalRotationAdopted(t *testing.T) {
	s := newStack(t, harness.Options{})
	arn := seedRotating(t, s)
	s.Sim.PortalRotate()
	waitFor(t, s, 60*time.Second, "AWSCURRENT to hold the portal secret", currentIsNewest(s, arn))
	settle(t, s)

	checkRotated(t, s, arn, s.InitialSecret)
	if st := s.Sim.Stats(); st.RotateCalls != 0 || st.PortalRotations != 1 {
		t.Errorf("SP-API rotate calls, portal rotations = %d, %d; want 0, 1", st.RotateCalls, st.PortalRotations)
	}
	got := waitAlert(t, s, "NEW_CLIENT_SECRET_RECEIVED", "")
	if a := got.Field("action"); a != "ROTATION_STARTED" && a != "ROTATION_RESUMED" {
		t.Errorf("NEW_CLIENT_SECRET_RECEIVED action = %q, want ROTATION_STARTED or ROTATION_RESUMED", a)
	}
	waitAlert(t, s, "CLIENT_SECRET_ROTATED", "")
	checkAlertShape(t, s, alerts(t, s))
	checkNoLeak(t, s)
}

// Scenario 3: the new secret arrives after the rotation function's deadline.
// The rotation fails, then completes as soon as the secret is received, with
// exactly one SP-API rotate call.
func TestSecretAfterDeadline(t *testing.T) {
	s := newStack(t, harness.Options{
		RotationTimeout:    15 * time.Second, // createSecret waits about 5 s
		DeliveryDelay:      12 * time.Second,
		RotationRetryDelay: 20 * time.Second, // the receiver resumes it first
	})
	arn := seedRotating(t, s)
	if _, err := s.StartRotation(t.Context(), arn); err != nil {
		t.Fatal(err)
	}
	waitFor(t, s, 60*time.Second, "AWSCURRENT to hold the new secret", currentIsNewest(s, arn))
	settle(t, s)

	checkRotated(t, s, arn, s.InitialSecret)
	if st := s.Sim.Stats(); st.RotateCalls != 1 || st.Rotations != 1 {
		t.Errorf("SP-API rotate calls, rotations = %d, %d; want 1, 1", st.RotateCalls, st.Rotations)
	}
	failedCreate := false
	for _, r := range s.Steps() {
		failedCreate = failedCreate || (r.Step == "createSecret" && r.Err != "" && r.Attempt == 1)
	}
	if !failedCreate {
		t.Errorf("the first createSecret did not fail at its deadline; steps:%s", stepSummary(s))
	}
	got := waitAlert(t, s, "NEW_CLIENT_SECRET_RECEIVED", "")
	if a := got.Field("action"); a != "ROTATION_RESUMED" && a != "ROTATION_STARTED" {
		t.Errorf("NEW_CLIENT_SECRET_RECEIVED action = %q, want ROTATION_RESUMED", a)
	}
	waitAlert(t, s, "CLIENT_SECRET_ROTATED", "")
	checkAlertShape(t, s, alerts(t, s))
	checkNoLeak(t, s)
}

// Scenario 4: duplicate and out-of-order new-secret notifications. Two
// secrets are issued in the portal; each notification is delivered twice and
// the pair arrives swapped. The newest ends in AWSCURRENT, the other is
// stored, nothing is written twice.
func TestDuplicateAndOutOfOrder(t *testing.T) {
	s := newStack(t, harness.Options{Faults: spapisim.Faults{DuplicateRate: 1, Reorder: true}})
	arn := seedRotating(t, s)
	s.Sim.PortalRotate()
	time.Sleep(1100 * time.Millisecond) // distinct expiry times
	s.Sim.PortalRotate()
	waitFor(t, s, 60*time.Second, "AWSCURRENT to hold the newest secret", currentIsNewest(s, arn))
	settle(t, s)

	st := s.Sim.Stats()
	if st.Duplicates < 2 || st.Deliveries < 4 {
		t.Errorf("simulator delivered %d notifications, %d duplicates; want 4, 2", st.Deliveries, st.Duplicates)
	}
	vs := versions(t, s, arn)
	issued := s.Sim.Issued()
	cur, _ := stage(t, vs, managed.StageCurrent)
	if doc(t, cur).ClientSecret != issued[2] {
		t.Errorf("AWSCURRENT does not hold the newest secret: %s", describe(vs))
	}
	// Every issued secret is stored, each new one exactly once as received.
	for i, sec := range issued {
		n := 0
		for _, v := range vs {
			if d, err := v.Document(); err == nil && d.ClientSecret == sec && !v.Has(managed.StagePending) {
				n++
			}
		}
		if n == 0 {
			t.Errorf("issued secret #%d is stored in no version: %s", i, describe(vs))
		}
	}
	if r, ok := stage(t, vs, managed.StageReceived); !ok || doc(t, r).ClientSecret != issued[2] {
		t.Errorf("LWA_RECEIVED does not hold the newest secret: %s", describe(vs))
	}
	if p, ok := stage(t, vs, managed.StagePending); ok {
		t.Errorf("AWSPENDING left on %s", p.ID)
	}
	if st.RotateCalls != 0 {
		t.Errorf("SP-API rotate calls = %d, want 0", st.RotateCalls)
	}
	waitAlert(t, s, "CLIENT_SECRET_ROTATED", "")
	as := alerts(t, s)
	checkAlertShape(t, s, as)
	for _, a := range as {
		if a.Field("event") == "ROTATION_FAILED" || a.Field("event") == "NOTIFICATION_REJECTED" {
			t.Errorf("unexpected alert %s: %q", events([]harness.Alert{a}), a.Subject)
		}
	}
	checkNoLeak(t, s)
}

// Scenario 5: SP-API answers 429 once, LWA answers 5xx twice; the rotation
// still completes in one attempt with one issued secret.
func TestThrottledAndUnavailable(t *testing.T) {
	s := newStack(t, harness.Options{Faults: spapisim.Faults{ThrottleNextRotateCalls: 1, FailNextTokenCalls: 2}})
	arn := seedRotating(t, s)
	if _, err := s.StartRotation(t.Context(), arn); err != nil {
		t.Fatal(err)
	}
	waitFor(t, s, 60*time.Second, "AWSCURRENT to hold the new secret", currentIsNewest(s, arn))
	settle(t, s)

	checkRotated(t, s, arn, s.InitialSecret)
	st := s.Sim.Stats()
	if st.RotateThrottled != 1 || st.Rotations != 1 || st.RotateCalls != 2 {
		t.Errorf("rotate calls %d, throttled %d, rotations %d; want 2, 1, 1", st.RotateCalls, st.RotateThrottled, st.Rotations)
	}
	if st.TokenServerErrors != 2 {
		t.Errorf("LWA 5xx answers = %d, want 2", st.TokenServerErrors)
	}
	for _, r := range s.Steps() {
		if r.Err != "" {
			t.Errorf("step %s failed (attempt %d): the retries should have absorbed the faults", r.Step, r.Attempt)
		}
	}
	waitAlert(t, s, "CLIENT_SECRET_ROTATED", "")
	checkAlertShape(t, s, alerts(t, s))
	checkNoLeak(t, s)
}

// Scenario 6: the new-secret queue is not registered (400). The rotation
// fails with the fix in the error, an alert is published, AWSCURRENT is
// unchanged.
func TestQueueNotRegistered(t *testing.T) {
	s := newStack(t, harness.Options{NotEnrolled: true, RotationAttempts: 1})
	arn := seedRotating(t, s)
	before, _, err := s.Stage(t.Context(), arn, managed.StageCurrent)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.StartRotation(t.Context(), arn); err != nil {
		t.Fatal(err)
	}
	waitFor(t, s, 40*time.Second, "createSecret to fail", func(context.Context) (bool, error) {
		for _, r := range s.Steps() {
			if r.Step == "createSecret" && r.Err != "" {
				return true, nil
			}
		}
		return false, nil
	})
	settle(t, s)

	var msg string
	for _, r := range s.Steps() {
		if r.Step != "createSecret" {
			t.Errorf("step %s ran after createSecret failed", r.Step)
		}
		msg = r.Err
	}
	for _, want := range []string{"Application Client New Secret", "Notification Preferences"} {
		if !strings.Contains(msg, want) {
			t.Errorf("createSecret error does not name the fix %q: %s", want, msg)
		}
	}
	after, _, err := s.Stage(t.Context(), arn, managed.StageCurrent)
	if err != nil {
		t.Fatal(err)
	}
	if after.ID != before.ID || doc(t, after).ClientSecret != s.InitialSecret {
		t.Errorf("AWSCURRENT moved from %s to %s", before.ID, after.ID)
	}
	if st := s.Sim.Stats(); st.RotateNotEnrolled != 1 || st.Rotations != 0 {
		t.Errorf("rotate 400s, rotations = %d, %d; want 1, 0", st.RotateNotEnrolled, st.Rotations)
	}
	tags, err := s.Tags(t.Context(), arn)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := tags[managed.TagRotationRequestedAt]; ok {
		t.Errorf("tag %s kept after a 400, want cleared", managed.TagRotationRequestedAt)
	}
	a := waitAlert(t, s, "ROTATION_FAILED", "")
	if a.Field("severity") != "CRITICAL" || a.Field("action") != "MANUAL_ACTION_REQUIRED" {
		t.Errorf("ROTATION_FAILED severity, action = %s, %s; want CRITICAL, MANUAL_ACTION_REQUIRED", a.Field("severity"), a.Field("action"))
	}
	checkAlertShape(t, s, alerts(t, s))
	checkNoLeak(t, s)
}

// Scenario 7: a malformed notification and one for an unknown client id land
// in the dead-letter queue, each with a NOTIFICATION_REJECTED alert.
func TestRejectedNotificationsToDLQ(t *testing.T) {
	s := newStack(t, harness.Options{})
	arn := seedRotating(t, s)
	before := describe(versions(t, s, arn))
	example, err := os.ReadFile("../../internal/notification/testdata/APPLICATION_OAUTH_CLIENT_NEW_SECRET.example.json")
	if err != nil {
		t.Fatal(err)
	}
	var n map[string]any
	if err := json.Unmarshal(example, &n); err != nil {
		t.Fatal(err)
	}
	payload := n["payload"].(map[string]any)["applicationOAuthClientNewSecret"].(map[string]any)
	exampleSecret := payload["newClientSecret"].(string)
	payload["clientId"] = "amzn1.application-oa2-client.unknown"
	unknown, _ := json.Marshal(n)
	malformed := `{"notificationVersion":"1.0","notificationType":"APPLICATION_OAUTH_CLIENT_NEW_SECRET","payload":{"applicationOAuthClientNewSecret":{"clientId":"` +
		s.ClientID + `","newClientSecret":"` + exampleSecret + `"}}`
	for _, body := range []string{malformed, string(unknown)} {
		if _, err := s.SQS.SendMessage(t.Context(), &sqs.SendMessageInput{QueueUrl: &s.NewSecretQueueURL, MessageBody: &body}); err != nil {
			t.Fatal(err)
		}
	}
	dlq := 0 // the messages left in the dead-letter queue
	waitFor(t, s, 45*time.Second, "both messages in the dead-letter queue", func(ctx context.Context) (bool, error) {
		out, err := s.SQS.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &s.NewSecretDLQURL, MaxNumberOfMessages: 10})
		if err == nil {
			dlq = len(out.Messages)
		}
		return dlq >= 2, err
	})
	settle(t, s)
	if dlq != 2 {
		t.Errorf("dead-letter queue holds %d messages, want 2", dlq)
	}
	as := alerts(t, s)
	rejected := map[string]int{}
	for _, a := range as {
		if a.Field("event") == "NOTIFICATION_REJECTED" {
			rejected[a.Field("messageId")]++
		}
	}
	if len(rejected) != 2 {
		t.Errorf("NOTIFICATION_REJECTED alerts name %d messages, want 2 (alerts %v)", len(rejected), events(as))
	}
	if after := describe(versions(t, s, arn)); after != before {
		t.Errorf("secret changed by rejected notifications: before %s, after %s", before, after)
	}
	checkAlertShape(t, s, as)
	checkNoLeak(t, s)
	for _, fn := range harness.Functions {
		if strings.Contains(s.Logs(fn), exampleSecret) {
			t.Errorf("%s log contains the rejected notification's secret", fn)
		}
	}
	for _, a := range as {
		if strings.Contains(a.Default, exampleSecret) {
			t.Errorf("alert %q contains the rejected notification's secret", a.Subject)
		}
	}
}

// Scenario 8: expiry notices at 90, 30, 7 and 1 days: severity per the
// policy, and a rotation started (rotation enabled, AUTO_ROTATE_ON_EXPIRY_NOTICE
// true by default); without rotation a person must act; a notice about a
// replaced secret does nothing.
func TestExpiryNotices(t *testing.T) {
	tests := []struct {
		daysLeft     int
		rotation     bool
		wantSeverity string
		wantAction   string
	}{
		{90, true, "INFO", "ROTATION_STARTED"},
		{30, true, "WARNING", "ROTATION_STARTED"},
		{7, true, "CRITICAL", "ROTATION_STARTED"},
		{1, true, "CRITICAL", "ROTATION_STARTED"},
		{7, false, "CRITICAL", "MANUAL_ACTION_REQUIRED"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%dd rotation=%v", tt.daysLeft, tt.rotation), func(t *testing.T) {
			t.Parallel()
			expiry := time.Now().Add(time.Duration(tt.daysLeft)*24*time.Hour + time.Hour).UTC().Truncate(time.Second)
			s := newStack(t, harness.Options{InitialExpiry: expiry})
			arn, err := s.Seed(t.Context(), harness.SeedOptions{Rotation: tt.rotation})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Sim.EmitExpiryNotice(t.Context(), nil, time.Time{}); err != nil {
				t.Fatal(err)
			}
			a := waitAlert(t, s, "CLIENT_SECRET_EXPIRING", "")
			if a.Field("severity") != tt.wantSeverity || a.Field("action") != tt.wantAction {
				t.Errorf("CLIENT_SECRET_EXPIRING severity, action = %s, %s; want %s, %s", a.Field("severity"), a.Field("action"), tt.wantSeverity, tt.wantAction)
			}
			if d, _ := a.Doc["daysLeft"].(float64); int(d) != tt.daysLeft {
				t.Errorf("daysLeft = %v, want %d", a.Doc["daysLeft"], tt.daysLeft)
			}
			if !sameTime(a.Field("expiresAt"), expiry) {
				t.Errorf("expiresAt = %q, want %s", a.Field("expiresAt"), expiry.Format(time.RFC3339))
			}
			if tt.rotation {
				waitFor(t, s, 60*time.Second, "the started rotation to complete", currentIsNewest(s, arn))
				settle(t, s)
				checkRotated(t, s, arn, s.InitialSecret)
				// A second notice about the replaced secret: nothing to do.
				if err := s.Sim.EmitExpiryNotice(t.Context(), nil, expiry); err != nil {
					t.Fatal(err)
				}
				b := waitAlert(t, s, "CLIENT_SECRET_EXPIRING", "NONE")
				if b.Field("severity") != "INFO" {
					t.Errorf("notice about the replaced secret: severity %s, want INFO", b.Field("severity"))
				}
				settle(t, s)
				if n := len(s.Sim.Issued()); n != 2 {
					t.Errorf("simulator issued %d secrets, want 2 (one rotation)", n)
				}
			} else {
				settle(t, s)
				vs := versions(t, s, arn)
				if len(vs) != 1 || s.Sim.Stats().RotateCalls != 0 || len(s.Steps()) != 0 {
					t.Errorf("rotation without rotation enabled: %s, rotate calls %d, steps %d", describe(vs), s.Sim.Stats().RotateCalls, len(s.Steps()))
				}
			}
			checkAlertShape(t, s, alerts(t, s))
			checkNoLeak(t, s)
		})
	}
}
