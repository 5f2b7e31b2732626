package e2e

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/spapi-lwa/secret-rotation/internal/managed"
	"github.com/spapi-lwa/secret-rotation/test/harness"
)

// forgedSecret is a client secret Amazon never issued: LWA refuses it.
const forgedSecret = "amzn1.oa2-cs.v1.f0rgedf0rgedf0rgedf0rgedf0rgedf0rgedf0rgedf0rgedf0rgedf0rgedf0rg"

// Scenario: a NEW_SECRET message that Amazon did not send, whose secret LWA
// refuses and whose expiry is later than anything Amazon issues, arrives on
// the new-secret queue. It is stored and tried once, rejected by testSecret,
// and never blocks the genuine secret: the next scheduled rotation asks
// Amazon and promotes what Amazon issues.
func TestForgedDeliveryNeverBlocks(t *testing.T) {
	s := newStack(t, harness.Options{Env: map[string]string{"SECRET_REJECT_AFTER": "1s"}}) // read by rotate-secret
	arn := seedRotating(t, s)

	example, err := os.ReadFile("../../internal/notification/testdata/APPLICATION_OAUTH_CLIENT_NEW_SECRET.example.json")
	if err != nil {
		t.Fatal(err)
	}
	var n map[string]any
	if err := json.Unmarshal(example, &n); err != nil {
		t.Fatal(err)
	}
	p := n["payload"].(map[string]any)["applicationOAuthClientNewSecret"].(map[string]any)
	p["clientId"] = s.ClientID
	p["newClientSecret"] = forgedSecret
	p["newClientSecretExpiryTime"] = time.Now().Add(10 * 365 * 24 * time.Hour).UTC().Format(time.RFC3339)
	n["notificationMetadata"].(map[string]any)["notificationId"] = "f0f0f0f0-0000-4000-8000-000000000001"
	forged, _ := json.Marshal(n)
	in := &sqs.SendMessageInput{QueueUrl: &s.NewSecretQueueURL, MessageBody: aws.String(string(forged))}
	if _, err := s.SQS.SendMessage(t.Context(), in); err != nil {
		t.Fatal(err)
	}

	// Stored, adopted once, refused by LWA, rejected.
	waitFor(t, s, 90*time.Second, "the forged secret to be rejected", func(ctx context.Context) (bool, error) {
		tags, err := s.Tags(ctx, arn)
		return managed.Rejected(tags[managed.TagRejectedSecrets], forgedSecret), err
	})
	waitAlert(t, s, "ROTATION_FAILED", "MANUAL_ACTION_REQUIRED")
	if ok, err := s.CurrentIsNewest(t.Context(), arn); err != nil || !ok {
		t.Fatalf("AWSCURRENT changed by the forged delivery (newest %v, %v)", ok, err)
	}

	// The next scheduled rotation asks Amazon and promotes the genuine secret.
	waitFor(t, s, 60*time.Second, "the failed rotation to end", func(ctx context.Context) (bool, error) {
		_, pending, err := s.Stage(ctx, arn, managed.StagePending)
		return !pending, err
	})
	if _, err := s.StartRotation(t.Context(), arn); err != nil {
		t.Fatal(err)
	}
	waitFor(t, s, 60*time.Second, "AWSCURRENT to hold the genuine new secret", func(ctx context.Context) (bool, error) {
		cur, ok, err := s.Stage(ctx, arn, managed.StageCurrent)
		return ok && cur.Value != "" && !strings.Contains(cur.Value, s.InitialSecret) && !strings.Contains(cur.Value, forgedSecret), err
	})
	waitFor(t, s, 30*time.Second, "the newest issued secret in AWSCURRENT", currentIsNewest(s, arn))
	settle(t, s)
	if st := s.Sim.Stats(); st.RotateCalls != 1 {
		t.Errorf("SP-API rotate calls = %d, want 1 (the forged delivery asks nothing)", st.RotateCalls)
	}
	stored := false
	for _, v := range versions(t, s, arn) {
		stored = stored || strings.Contains(v.Value, forgedSecret)
	}
	if !stored {
		t.Error("the forged delivery's value is gone; it must stay stored")
	}
	waitAlert(t, s, "CLIENT_SECRET_ROTATED", "")
	as := alerts(t, s)
	checkAlertShape(t, s, as)
	named := false
	for _, a := range as {
		named = named || a.Field("event") == "ROTATION_FAILED" && strings.Contains(a.Default, managed.TagRejectedSecrets)
	}
	if !named {
		t.Errorf("no ROTATION_FAILED alert tells the reader that the secret is now listed in %s (alerts %v)", managed.TagRejectedSecrets, events(as))
	}
	for _, fn := range harness.Functions {
		if strings.Contains(s.Logs(fn), forgedSecret) {
			t.Errorf("%s log contains the forged secret", fn)
		}
	}
	for _, a := range as {
		if strings.Contains(a.Default+a.Subject, forgedSecret) {
			t.Errorf("alert %q contains the forged secret", a.Subject)
		}
	}
	checkNoLeak(t, s)
}
