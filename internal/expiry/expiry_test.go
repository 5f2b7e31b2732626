package expiry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/spapi-lwa/secret-rotation/internal/alert"
	"github.com/spapi-lwa/secret-rotation/internal/managed"
	"github.com/spapi-lwa/secret-rotation/test/secretsmanagertest"
	"github.com/spapi-lwa/secret-rotation/test/snstest"
)

const (
	topicARN  = "arn:aws:sns:us-east-1:123456789012:lwa-alerts"
	lambdaARN = "arn:aws:lambda:us-east-1:123456789012:function:rotate-secret"
	clientID  = "amzn1.application-oa2-client.0123456789abcdef0123456789abcdef"
	appID     = "amzn1.sp.solution.11111111-2222-3333-4444-555555555555"
	// The managed secret's value; this function must never see it.
	value = `{"clientId":"` + clientID + `","clientSecret":"amzn1.oa2-cs.v1.current000000000000000000000000000000000000"}`
)

var now = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

type env struct {
	sm   *secretsmanagertest.Fake
	sns  *snstest.Fake
	arn  string
	logs *bytes.Buffer
	h    *Handler
}

// newEnv seeds one managed secret for clientID with the given tags added.
func newEnv(t *testing.T, rotation, autoRotate bool, tags map[string]string) *env {
	t.Helper()
	e := &env{sm: secretsmanagertest.New(), sns: &snstest.Fake{}, logs: &bytes.Buffer{}}
	e.sm.Now = func() time.Time { return now }
	all := map[string]string{managed.TagClientID: clientID}
	for k, v := range tags {
		all[k] = v
	}
	e.arn = e.sm.Seed("sp-api/app", value, all)
	e.sm.SetRotation(e.arn, rotation, lambdaARN)
	logger := slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e.h = New(e.sm, e.sm, alert.NewPublisher(e.sns, topicARN), logger, Config{AutoRotate: autoRotate, Now: func() time.Time { return now }})
	return e
}

func (e *env) handle(t *testing.T, msgs ...events.SQSMessage) []string {
	t.Helper()
	resp, err := e.h.Handle(context.Background(), events.SQSEvent{Records: msgs})
	if err != nil {
		t.Fatalf("Handle() error = %v", err)
	}
	var failed []string
	for _, f := range resp.BatchItemFailures {
		failed = append(failed, f.ItemIdentifier)
	}
	if n := e.sm.Calls("GetSecretValue"); n != 0 {
		t.Errorf("GetSecretValue called %d times; the expiry alert must not read values", n)
	}
	return failed
}

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// body is the official example with the given values.
func body(t *testing.T, notificationID, client string, expires time.Time) string {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(readTestdata(t, "APPLICATION_OAUTH_CLIENT_SECRET_EXPIRY.example.json"), &doc); err != nil {
		t.Fatal(err)
	}
	p := doc["payload"].(map[string]any)["applicationOAuthClientSecretExpiry"].(map[string]any)
	p["clientId"] = client
	p["clientSecretExpiryTime"] = expires.Format(time.RFC3339Nano)
	md := doc["notificationMetadata"].(map[string]any)
	md["notificationId"] = notificationID
	md["applicationId"] = appID
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func msg(id, body string) events.SQSMessage {
	return events.SQSMessage{MessageId: id, Body: body, EventSource: "aws:sqs"}
}

func TestOfficialExample(t *testing.T) {
	const exClient = "amzn1.application-oa2-client.xxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	e := newEnv(t, true, true, nil)
	arn := e.sm.Seed("sp-api/example", value, map[string]string{managed.TagClientID: exClient})
	e.sm.SetRotation(arn, true, lambdaARN)
	e.h.cfg.Now = func() time.Time { return time.Date(2024, 1, 10, 2, 15, 14, 0, time.UTC) }

	if failed := e.handle(t, msg("m-example", string(readTestdata(t, "APPLICATION_OAUTH_CLIENT_SECRET_EXPIRY.example.json")))); len(failed) != 0 {
		t.Fatalf("Handle() failures = %v, want none", failed)
	}
	if n := e.sm.Calls("RotateSecret"); n != 1 {
		t.Errorf("RotateSecret calls = %d, want 1", n)
	}
	pub := e.sns.Published()
	if len(pub) != 1 {
		t.Fatalf("published %d alerts, want 1", len(pub))
	}
	want := `{"event":"CLIENT_SECRET_EXPIRING","severity":"INFO","clientId":"` + exClient + `",` +
		`"applicationId":"amzn1.sp.solution.xxxxxxxxxxxxxxxxxxxxxxxxxxxx","secretArn":"` + arn + `","expiresAt":"2024-03-03T22:06:39.224Z","daysLeft":53,` +
		`"action":"ROTATION_STARTED","notificationId":"e7e27216-4970-477a-882c-e4xxxxxxxxxxxxxdc","messageId":"m-example",` +
		`"message":"The LWA client secret of amzn1.sp.solution.xxxxxxxxxxxxxxxxxxxxxxxxxxxx expires in 53 days (2024-03-03T22:06:39Z); a rotation was started to replace it."}`
	m := snstest.Structure(t, pub[0])
	if m["default"] != want {
		t.Errorf("default document =\n%s\nwant\n%s", m["default"], want)
	}
	wantAttrs := map[string]string{"event": "CLIENT_SECRET_EXPIRING", "severity": "INFO", "clientId": exClient}
	if got := snstest.Attributes(pub[0]); fmt.Sprint(got) != fmt.Sprint(wantAttrs) {
		t.Errorf("message attributes = %v, want %v", got, wantAttrs)
	}
	for _, s := range []string{"amzn1.sp.solution.xxxxxxxxxxxxxxxxxxxxxxxxxxxx", exClient, "2024-03-03 22:06 UTC", "Days left:       53", "ROTATION_STARTED", "A rotation of " + arn + " was started"} {
		if !strings.Contains(m["email"], s) {
			t.Errorf("email does not contain %q:\n%s", s, m["email"])
		}
	}
	if got := aws.ToString(pub[0].Subject); got != "[INFO] SP-API LWA client secret expires in 53 days: amzn1.sp.solution.xxxxxxxxxxxxxxxxxxxxxxxxxxxx" {
		t.Errorf("subject = %q", got)
	}
	e.sns.Check(t, topicARN)
}

func TestDaysLeft(t *testing.T) {
	tests := []struct {
		days       int
		expires    time.Time
		severity   string
		action     string
		wantRotate int
	}{
		{90, now.Add(90*24*time.Hour + time.Hour), "INFO", "ROTATION_STARTED", 1},
		{60, now.Add(60*24*time.Hour + time.Hour), "INFO", "ROTATION_STARTED", 1},
		{30, now.Add(30*24*time.Hour + time.Hour), "WARNING", "ROTATION_STARTED", 1},
		{15, now.Add(15*24*time.Hour + time.Hour), "WARNING", "ROTATION_STARTED", 1},
		{7, now.Add(7*24*time.Hour + time.Hour), "CRITICAL", "ROTATION_STARTED", 1},
		{1, now.Add(1*24*time.Hour + time.Hour), "CRITICAL", "ROTATION_STARTED", 1},
		{0, now.Add(time.Hour), "CRITICAL", "ROTATION_STARTED", 1},
		{-1, now.Add(-time.Hour), "CRITICAL", "MANUAL_ACTION_REQUIRED", 0},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.days), func(t *testing.T) {
			e := newEnv(t, true, true, nil)
			if failed := e.handle(t, msg("m1", body(t, "n-1", clientID, tt.expires))); len(failed) != 0 {
				t.Fatalf("Handle() failures = %v, want none", failed)
			}
			alerts := e.sns.Alerts()
			if len(alerts) != 1 {
				t.Fatalf("published %d alerts, want 1", len(alerts))
			}
			a := alerts[0]
			if a["severity"] != tt.severity || a["action"] != tt.action || a["daysLeft"] != float64(tt.days) {
				t.Errorf("alert severity %v action %v daysLeft %v, want %s %s %d", a["severity"], a["action"], a["daysLeft"], tt.severity, tt.action, tt.days)
			}
			if got := snstest.Attributes(e.sns.Published()[0])["severity"]; got != tt.severity {
				t.Errorf("severity attribute = %q, want %q", got, tt.severity)
			}
			if n := e.sm.Calls("RotateSecret"); n != tt.wantRotate {
				t.Errorf("RotateSecret calls = %d, want %d", n, tt.wantRotate)
			}
			e.sns.Check(t, topicARN)
		})
	}
}

// rotateSecretFails makes every RotateSecret fail with an error the handler
// does not expect.
func rotateSecretFails(t *testing.T, e *env) {
	e.sm.Fail = func(_ context.Context, op string, _ any) error {
		if op == "RotateSecret" {
			return &types.InternalServiceError{Message: aws.String("boom")}
		}
		return nil
	}
}

func TestHandle(t *testing.T) {
	in30 := now.Add(30*24*time.Hour + time.Hour)
	in5 := now.Add(5*24*time.Hour + time.Hour)
	tests := []struct {
		name       string
		rotation   bool
		autoRotate bool
		tags       map[string]string
		setup      func(t *testing.T, e *env)
		msgs       func(t *testing.T) []events.SQSMessage
		wantFailed []string
		wantRotate int
		wantAlerts []string // "EVENT SEVERITY ACTION"
		wantEmail  []string
		check      func(t *testing.T, e *env)
	}{
		{
			name: "unknown client id", rotation: true, autoRotate: true,
			msgs: func(t *testing.T) []events.SQSMessage {
				return []events.SQSMessage{msg("m1", body(t, "n-1", "amzn1.application-oa2-client.unknown", in30))}
			},
			wantAlerts: []string{"CLIENT_SECRET_EXPIRING WARNING MANUAL_ACTION_REQUIRED"},
			wantEmail:  []string{"aws secretsmanager tag-resource --secret-id <secret name> --tags Key=sp-api-lwa:client-id,Value=amzn1.application-oa2-client.unknown", "Solution Provider Portal"},
			check: func(t *testing.T, e *env) {
				in := e.sns.Published()[0]
				want := `{"event":"CLIENT_SECRET_EXPIRING","severity":"WARNING","clientId":"amzn1.application-oa2-client.unknown","applicationId":"` + appID + `",` +
					`"expiresAt":"2026-12-27T13:00:00Z","daysLeft":30,"action":"MANUAL_ACTION_REQUIRED","notificationId":"n-1","messageId":"m1",` +
					`"message":"The LWA client secret of ` + appID + ` expires in 30 days (2026-12-27T13:00:00Z), and no secret in Secrets Manager is tagged with its client id, so nothing rotates it."}`
				if got := snstest.Structure(t, in)["default"]; got != want {
					t.Errorf("default document =\n%s\nwant\n%s", got, want)
				}
				wantAttrs := map[string]string{"event": "CLIENT_SECRET_EXPIRING", "severity": "WARNING", "clientId": "amzn1.application-oa2-client.unknown"}
				if got := snstest.Attributes(in); fmt.Sprint(got) != fmt.Sprint(wantAttrs) {
					t.Errorf("message attributes = %v, want %v", got, wantAttrs)
				}
			},
		},
		{
			name: "notice about an already replaced secret", rotation: true, autoRotate: true,
			tags: map[string]string{managed.TagClientSecretExpiresAt: in5.Add(180 * 24 * time.Hour).Format(time.RFC3339)},
			msgs: func(t *testing.T) []events.SQSMessage {
				return []events.SQSMessage{msg("m1", body(t, "n-1", clientID, in5))}
			},
			wantAlerts: []string{"CLIENT_SECRET_EXPIRING INFO NONE"},
			wantEmail:  []string{"already been replaced", "the current one expires 2027-05-31T13:00:00Z"},
		},
		{
			name: "tag within a minute is the same secret", rotation: true, autoRotate: true,
			tags: map[string]string{managed.TagClientSecretExpiresAt: in5.Add(30 * time.Second).Format(time.RFC3339)},
			msgs: func(t *testing.T) []events.SQSMessage {
				return []events.SQSMessage{msg("m1", body(t, "n-1", clientID, in5))}
			},
			wantRotate: 1,
			wantAlerts: []string{"CLIENT_SECRET_EXPIRING CRITICAL ROTATION_STARTED"},
		},
		{
			name: "rotation in progress is resumed", rotation: true, autoRotate: true,
			setup: func(t *testing.T, e *env) {
				if _, err := e.sm.RotateSecret(context.Background(), &secretsmanager.RotateSecretInput{SecretId: aws.String(e.arn)}); err != nil {
					t.Fatal(err)
				}
				e.sm.ResetCalls()
			},
			msgs: func(t *testing.T) []events.SQSMessage {
				return []events.SQSMessage{msg("m1", body(t, "n-1", clientID, in30))}
			},
			wantRotate: 1,
			wantAlerts: []string{"CLIENT_SECRET_EXPIRING WARNING ROTATION_RESUMED"},
		},
		{
			name: "rotation not enabled", rotation: false, autoRotate: true,
			msgs: func(t *testing.T) []events.SQSMessage {
				return []events.SQSMessage{msg("m1", body(t, "n-1", clientID, in30))}
			},
			wantAlerts: []string{"CLIENT_SECRET_EXPIRING WARNING MANUAL_ACTION_REQUIRED"},
			wantEmail:  []string{"--rotation-lambda-arn " + lambdaARN, "--no-rotate-immediately"},
		},
		{
			name: "auto rotate off, 30 days left", rotation: true, autoRotate: false,
			msgs: func(t *testing.T) []events.SQSMessage {
				return []events.SQSMessage{msg("m1", body(t, "n-1", clientID, in30))}
			},
			wantAlerts: []string{"CLIENT_SECRET_EXPIRING WARNING NONE"},
			wantEmail:  []string{"aws secretsmanager rotate-secret --secret-id arn:aws:secretsmanager:"},
		},
		{
			name: "auto rotate off, 5 days left", rotation: true, autoRotate: false,
			msgs: func(t *testing.T) []events.SQSMessage {
				return []events.SQSMessage{msg("m1", body(t, "n-1", clientID, in5))}
			},
			wantAlerts: []string{"CLIENT_SECRET_EXPIRING CRITICAL MANUAL_ACTION_REQUIRED"},
			wantEmail:  []string{"Rotate it now:\n  aws secretsmanager rotate-secret --secret-id arn:aws:secretsmanager:"},
		},
		{
			name: "one good and one malformed message", rotation: true, autoRotate: true,
			msgs: func(t *testing.T) []events.SQSMessage {
				bad := strings.Replace(body(t, "n-2", clientID, in30), `"clientSecretExpiryTime":"`, `"clientSecretExpiryTime":"soon `, 1)
				return []events.SQSMessage{msg("m-bad", bad), msg("m-good", body(t, "n-1", clientID, in30))}
			},
			wantFailed: []string{"m-bad"},
			wantRotate: 1,
			wantAlerts: []string{"NOTIFICATION_REJECTED WARNING MANUAL_ACTION_REQUIRED", "CLIENT_SECRET_EXPIRING WARNING ROTATION_STARTED"},
			check: func(t *testing.T, e *env) {
				in := e.sns.Published()[0]
				want := `{"event":"NOTIFICATION_REJECTED","severity":"WARNING","clientId":"","action":"MANUAL_ACTION_REQUIRED","messageId":"m-bad",` +
					`"message":"An LWA client secret expiry notification was rejected; the expiry it announces is not tracked."}`
				if got := snstest.Structure(t, in)["default"]; got != want {
					t.Errorf("default document =\n%s\nwant\n%s", got, want)
				}
				wantAttrs := map[string]string{"event": "NOTIFICATION_REJECTED", "severity": "WARNING"}
				if got := snstest.Attributes(in); fmt.Sprint(got) != fmt.Sprint(wantAttrs) {
					t.Errorf("message attributes = %v, want %v", got, wantAttrs)
				}
			},
		},
		{
			name: "new-secret notification on the expiry queue", rotation: true, autoRotate: true,
			msgs: func(t *testing.T) []events.SQSMessage {
				b := string(readTestdata(t, "APPLICATION_OAUTH_CLIENT_NEW_SECRET.example.json"))
				return []events.SQSMessage{msg("m-x", b), msg("m-x", b)}
			},
			wantFailed: []string{"m-x", "m-x"},
			wantAlerts: []string{"NOTIFICATION_REJECTED WARNING MANUAL_ACTION_REQUIRED"},
		},
		{
			name: "RotateSecret fails", rotation: true, autoRotate: true,
			setup: rotateSecretFails,
			msgs: func(t *testing.T) []events.SQSMessage {
				m := msg("m1", body(t, "n-1", clientID, in30))
				m.Attributes = map[string]string{"ApproximateReceiveCount": "3"}
				return []events.SQSMessage{m}
			},
			wantFailed: []string{"m1"},
			wantRotate: 1,
			wantAlerts: []string{"CLIENT_SECRET_EXPIRING CRITICAL MANUAL_ACTION_REQUIRED"},
			wantEmail:  []string{"could not be started"},
			check: func(t *testing.T, e *env) {
				em := snstest.Structure(t, e.sns.Published()[0])["email"]
				for _, s := range []string{"RotateSecret on " + e.arn + " failed (InternalServiceError), attempt 3.", "aws secretsmanager rotate-secret --secret-id " + e.arn + "\n"} {
					if !strings.Contains(em, s) {
						t.Errorf("email does not contain %q:\n%s", s, em)
					}
				}
				if strings.Contains(em, "boom") {
					t.Errorf("email carries the AWS error's message text:\n%s", em)
				}
			},
		},
		{
			name: "RotateSecret and then the alert fail", rotation: true, autoRotate: true,
			setup: func(t *testing.T, e *env) {
				rotateSecretFails(t, e)
				e.sns.Fail = func(context.Context, *sns.PublishInput) error { return errors.New("sns unavailable") }
			},
			msgs: func(t *testing.T) []events.SQSMessage {
				return []events.SQSMessage{msg("m1", body(t, "n-1", clientID, in30))}
			},
			wantFailed: []string{"m1"},
			wantRotate: 1,
		},
		{
			name: "publish fails", rotation: true, autoRotate: true,
			setup: func(t *testing.T, e *env) {
				e.sns.Fail = func(context.Context, *sns.PublishInput) error { return errors.New("sns unavailable") }
			},
			msgs: func(t *testing.T) []events.SQSMessage {
				return []events.SQSMessage{msg("m1", body(t, "n-1", clientID, in30))}
			},
			wantFailed: []string{"m1"},
			wantRotate: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, tt.rotation, tt.autoRotate, tt.tags)
			if tt.setup != nil {
				tt.setup(t, e)
			}
			failed := e.handle(t, tt.msgs(t)...)
			if !slices.Equal(failed, tt.wantFailed) {
				t.Errorf("BatchItemFailures = %v, want %v", failed, tt.wantFailed)
			}
			if got := e.sm.Calls("RotateSecret"); got != tt.wantRotate {
				t.Errorf("RotateSecret calls = %d, want %d", got, tt.wantRotate)
			}
			if got := e.sns.Summaries(); !slices.Equal(got, tt.wantAlerts) {
				t.Errorf("alerts = %q, want %q", got, tt.wantAlerts)
			}
			for _, s := range tt.wantEmail {
				if em := snstest.Structure(t, e.sns.Published()[0])["email"]; !strings.Contains(em, s) {
					t.Errorf("email does not contain %q:\n%s", s, em)
				}
			}
			if tt.check != nil {
				tt.check(t, e)
			}
			e.sns.Check(t, topicARN)
		})
	}
}

func TestHandleContextDone(t *testing.T) {
	e := newEnv(t, true, true, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := e.h.Handle(ctx, events.SQSEvent{Records: []events.SQSMessage{msg("m1", body(t, "n-1", clientID, now.Add(time.Hour)))}})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Handle() error = %v, want context.Canceled", err)
	}
	if n := e.sm.TotalCalls() + e.sns.Calls(); n != 0 {
		t.Errorf("%d calls after the context was done, want 0", n)
	}
}

// TestNoSecretInLogs sends a new-secret notification (which holds a secret)
// to the expiry handler and checks that the secret reaches no log line and no
// alert.
func TestNoSecretInLogs(t *testing.T) {
	e := newEnv(t, true, true, nil)
	raw := readTestdata(t, "APPLICATION_OAUTH_CLIENT_NEW_SECRET.example.json")
	const secret = "amzn1.oa2-cs.v1.8b6XXXXXXXXXXXXXXXXXXXXXXXXX"
	if !bytes.Contains(raw, []byte(secret)) {
		t.Fatal("example does not hold the expected secret")
	}
	failed := e.handle(t, msg("m1", string(raw)), msg("m2", body(t, "n-2", clientID, now.Add(40*24*time.Hour))))
	if !slices.Equal(failed, []string{"m1"}) {
		t.Errorf("BatchItemFailures = %v, want [m1]", failed)
	}
	if !strings.Contains(e.logs.String(), `"messageId":"m1"`) {
		t.Fatalf("no log line for m1:\n%s", e.logs.String())
	}
	if strings.Contains(e.logs.String(), secret) || strings.Contains(e.logs.String(), "amzn1.oa2-cs.") {
		t.Errorf("a secret appears in the logs:\n%s", e.logs.String())
	}
	e.sns.Check(t, topicARN, secret)
}
