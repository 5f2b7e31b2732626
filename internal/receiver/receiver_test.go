package receiver

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
	"github.com/spapi-lwa/secret-rotation/internal/secretdoc"
	"github.com/spapi-lwa/secret-rotation/test/secretsmanagertest"
	"github.com/spapi-lwa/secret-rotation/test/snstest"
)

const (
	topicARN     = "arn:aws:sns:us-east-1:123456789012:lwa-alerts"
	lambdaARN    = "arn:aws:lambda:us-east-1:123456789012:function:rotate-secret"
	clientID     = "amzn1.application-oa2-client.0123456789abcdef0123456789abcdef"
	appID        = "amzn1.sp.solution.11111111-2222-3333-4444-555555555555"
	oldSecret    = "amzn1.oa2-cs.v1.old0000000000000000000000000000000000000000000000000000000000"
	newSecret    = "amzn1.oa2-cs.v1.new1111111111111111111111111111111111111111111111111111111111"
	newerSecret  = "amzn1.oa2-cs.v1.new2222222222222222222222222222222222222222222222222222222222"
	refreshToken = "Atzr|IwEBIrefreshtoken0000000000000000000000000000"
)

var (
	now       = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	oldExpiry = now.Add(5 * 24 * time.Hour)
	newExpiry = now.Add(180 * 24 * time.Hour)
	allSecret = []string{oldSecret, newSecret, newerSecret, refreshToken}
)

// env is one receiver over fresh fakes.
type env struct {
	sm   *secretsmanagertest.Fake
	sns  *snstest.Fake
	arn  string
	logs *bytes.Buffer
	h    *Handler
}

func currentDoc(clientID, secret string) string {
	return currentDocExpiring(clientID, secret, oldExpiry)
}

func currentDocExpiring(clientID, secret string, expires time.Time) string {
	return fmt.Sprintf(`{"clientId":%q,"clientSecret":%q,"clientSecretExpiresAt":%q,"refreshToken":%q,"note":{"kept":[1,2]}}`,
		clientID, secret, expires.Format(time.RFC3339), refreshToken)
}

// newEnv seeds one managed secret for clientID holding oldSecret, with
// rotation enabled when rotation is true.
func newEnv(t *testing.T, rotation bool) *env {
	t.Helper()
	e := &env{sm: secretsmanagertest.New(), sns: &snstest.Fake{}, logs: &bytes.Buffer{}}
	e.sm.Now = func() time.Time { return now }
	e.arn = e.sm.Seed("sp-api/app", currentDoc(clientID, oldSecret), map[string]string{managed.TagClientID: clientID})
	e.sm.SetRotation(e.arn, rotation, lambdaARN)
	logger := slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e.h = New(e.sm, e.sm, alert.NewPublisher(e.sns, topicARN), logger, Config{Keys: secretdoc.DefaultKeys, Now: func() time.Time { return now },
		AdoptWait: 20 * time.Millisecond, AdoptPoll: time.Millisecond})
	e.playCreateSecret(t)
	return e
}

// handle runs one invocation and fails the test on a batch error.
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
func body(t *testing.T, notificationID, client, secret string, expires time.Time) string {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(readTestdata(t, "APPLICATION_OAUTH_CLIENT_NEW_SECRET.example.json"), &doc); err != nil {
		t.Fatal(err)
	}
	p := doc["payload"].(map[string]any)["applicationOAuthClientNewSecret"].(map[string]any)
	p["clientId"] = client
	p["newClientSecret"] = secret
	p["newClientSecretExpiryTime"] = expires.Format(time.RFC3339Nano)
	p["oldClientSecretExpiryTime"] = oldExpiry.Format(time.RFC3339Nano)
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

// versionsWithValue counts the versions that hold a value.
func (e *env) versionsWithValue() int {
	n := 0
	for _, v := range e.sm.Versions(e.arn) {
		if v.HasValue {
			n++
		}
	}
	return n
}

// stages returns the labels of version id.
func (e *env) stages(id string) []string {
	for _, v := range e.sm.Versions(e.arn) {
		if v.ID == id {
			return v.Stages
		}
	}
	return nil
}

func (e *env) storedSecret(t *testing.T, stage string) (string, string) {
	t.Helper()
	id, ok := e.sm.StageVersion(e.arn, stage)
	if !ok {
		t.Fatalf("no version holds %s", stage)
	}
	v, _ := e.sm.Value(e.arn, id)
	doc, err := secretdoc.Parse([]byte(v), secretdoc.DefaultKeys)
	if err != nil {
		t.Fatalf("version %s (%s) is not a secret document: %v", id, stage, err)
	}
	return id, doc.ClientSecret().Reveal()
}

func TestOfficialExample(t *testing.T) {
	e := newEnv(t, true)
	raw := readTestdata(t, "APPLICATION_OAUTH_CLIENT_NEW_SECRET.example.json")
	var ex struct {
		Payload struct {
			P struct {
				ClientID string `json:"clientId"`
				Secret   string `json:"newClientSecret"`
			} `json:"applicationOAuthClientNewSecret"`
		} `json:"payload"`
		Metadata struct {
			NotificationID string `json:"notificationId"`
		} `json:"notificationMetadata"`
	}
	if err := json.Unmarshal(raw, &ex); err != nil {
		t.Fatal(err)
	}
	// The example's own client id, on its own secret.
	oldExp := time.Date(2024, 1, 17, 22, 9, 17, 0, time.UTC)
	arn := e.sm.Seed("sp-api/example", currentDocExpiring(ex.Payload.P.ClientID, oldSecret, oldExp), map[string]string{managed.TagClientID: ex.Payload.P.ClientID})
	e.sm.SetRotation(arn, true, lambdaARN)
	e.h.cfg.Now = func() time.Time { return time.Date(2024, 1, 10, 22, 9, 20, 0, time.UTC) }

	if failed := e.handle(t, msg("m-example", string(raw))); len(failed) != 0 {
		t.Fatalf("Handle() failures = %v, want none", failed)
	}
	token := managed.ReceivedToken(ex.Metadata.NotificationID)
	id, ok := e.sm.StageVersion(arn, managed.StageReceived)
	if !ok || id != token {
		t.Fatalf("LWA_RECEIVED on version %q (%v), want %q", id, ok, token)
	}
	got, _ := e.sm.Value(arn, token)
	// The AWSCURRENT document, key order and other keys' JSON kept, with the
	// new secret and its expiry (whole seconds).
	want := `{"clientId":"amzn1.application-oa2-client.6XXXXXXXXXXXXXXXXXXXXXXXXX","clientSecret":"amzn1.oa2-cs.v1.8b6XXXXXXXXXXXXXXXXXXXXXXXXX","clientSecretExpiresAt":"2024-07-08T22:09:17.198Z","refreshToken":"Atzr|IwEBIrefreshtoken0000000000000000000000000000","note":{"kept":[1,2]}}`
	if got != want {
		t.Errorf("stored document = %s, want %s", got, want)
	}
	if n := e.sm.Calls("RotateSecret"); n != 1 {
		t.Errorf("RotateSecret calls = %d, want 1", n)
	}
	pub := e.sns.Published()
	if len(pub) != 1 {
		t.Fatalf("published %d alerts, want 1", len(pub))
	}
	wantDoc := `{"event":"NEW_CLIENT_SECRET_RECEIVED","severity":"INFO","clientId":"amzn1.application-oa2-client.6XXXXXXXXXXXXXXXXXXXXXXXXX",` +
		`"applicationId":"amzn1.sp.solution.6XXXXXXXXXXXXXXXXXXXXXXXXX","secretArn":"` + arn + `","expiresAt":"2024-07-08T22:09:17.198Z","daysLeft":179,` +
		`"action":"ROTATION_STARTED","notificationId":"b0805eb9-78f7-49bb-ac0e-XXXXXXXXXXX","messageId":"m-example","versionId":"` + token + `",` +
		`"message":"A new LWA client secret for amzn1.sp.solution.6XXXXXXXXXXXXXXXXXXXXXXXXX was received and stored; a rotation was started to adopt it."}`
	if got := snstest.Structure(t, pub[0])["default"]; got != wantDoc {
		t.Errorf("default document =\n%s\nwant\n%s", got, wantDoc)
	}
	wantAttrs := map[string]string{"event": "NEW_CLIENT_SECRET_RECEIVED", "severity": "INFO", "clientId": "amzn1.application-oa2-client.6XXXXXXXXXXXXXXXXXXXXXXXXX"}
	if got := snstest.Attributes(pub[0]); fmt.Sprint(got) != fmt.Sprint(wantAttrs) {
		t.Errorf("message attributes = %v, want %v", got, wantAttrs)
	}
	if strings.Contains(aws.ToString(pub[0].Message), ex.Payload.P.Secret) || strings.Contains(aws.ToString(pub[0].Subject), ex.Payload.P.Secret) {
		t.Errorf("alert contains the new client secret")
	}
	e.sns.Check(t, topicARN, allSecret...)
}

func TestHandle(t *testing.T) {
	body1 := func(t *testing.T) string { return body(t, "n-1", clientID, newSecret, newExpiry) }
	tests := []struct {
		name       string
		rotation   bool
		setup      func(t *testing.T, e *env)
		msgs       func(t *testing.T) []events.SQSMessage
		wantFailed []string
		wantPuts   int // PutSecretValue calls, the pending versions written by the played createSecret included
		wantRotate int
		wantAlerts []string // "EVENT SEVERITY ACTION"
		check      func(t *testing.T, e *env)
	}{
		{
			name:       "4c stored, a rotation started and took it",
			rotation:   true,
			msgs:       func(t *testing.T) []events.SQSMessage { return []events.SQSMessage{msg("m1", body1(t))} },
			wantPuts:   2,
			wantRotate: 1,
			wantAlerts: []string{"NEW_CLIENT_SECRET_RECEIVED INFO ROTATION_STARTED"},
			check: func(t *testing.T, e *env) {
				id, s := e.storedSecret(t, managed.StageReceived)
				if id != managed.ReceivedToken("n-1") || s != newSecret {
					t.Errorf("LWA_RECEIVED = version %s, want %s holding the new secret", id, managed.ReceivedToken("n-1"))
				}
				if _, s := e.storedSecret(t, managed.StageCurrent); s != oldSecret {
					t.Errorf("AWSCURRENT changed; the receiver must not promote")
				}
				if got := e.stages(managed.ReceivedToken("n-1")); !slices.Equal(got, []string{managed.StageReceived}) {
					t.Errorf("labels of the stored version = %q, want only %s", got, managed.StageReceived)
				}
			},
		},
		{
			name:     "4d rotation in progress took it",
			rotation: true,
			setup: func(t *testing.T, e *env) {
				if _, err := e.sm.RotateSecret(context.Background(), &secretsmanager.RotateSecretInput{SecretId: aws.String(e.arn)}); err != nil {
					t.Fatal(err)
				}
				e.playCreateSecret(t)
				e.sm.ResetCalls()
			},
			msgs:       func(t *testing.T) []events.SQSMessage { return []events.SQSMessage{msg("m1", body1(t))} },
			wantPuts:   2, // the stored version, and createSecret's pending one (played)
			wantRotate: 1,
			wantAlerts: []string{"NEW_CLIENT_SECRET_RECEIVED INFO ROTATION_RESUMED"},
		},
		{
			name:       "4b rotation not enabled",
			rotation:   false,
			msgs:       func(t *testing.T) []events.SQSMessage { return []events.SQSMessage{msg("m1", body1(t))} },
			wantPuts:   1,
			wantAlerts: []string{"NEW_CLIENT_SECRET_RECEIVED CRITICAL MANUAL_ACTION_REQUIRED"},
			check: func(t *testing.T, e *env) {
				cur, _ := e.sm.StageVersion(e.arn, managed.StageCurrent)
				want := fmt.Sprintf("aws secretsmanager update-secret-version-stage --secret-id %s --version-stage AWSCURRENT --move-to-version-id %s --remove-from-version-id %s",
					e.arn, managed.ReceivedToken("n-1"), cur)
				got := snstest.Structure(t, e.sns.Published()[0])["email"]
				for _, s := range []string{want, "aws secretsmanager rotate-secret --secret-id " + e.arn + " --rotation-lambda-arn " + lambdaARN} {
					if !strings.Contains(got, s) {
						t.Errorf("email does not contain %q:\n%s", s, got)
					}
				}
			},
		},
		{
			name:     "2a already current",
			rotation: true,
			setup: func(t *testing.T, e *env) {
				put(t, e, "adopted", currentDoc(clientID, newSecret), managed.StageCurrent)
			},
			msgs:       func(t *testing.T) []events.SQSMessage { return []events.SQSMessage{msg("m1", body1(t))} },
			wantAlerts: []string{"NEW_CLIENT_SECRET_RECEIVED INFO NONE"},
		},
		{
			name:     "2a redelivery after adoption starts no rotation",
			rotation: true,
			setup: func(t *testing.T, e *env) {
				e.handle(t, msg("m0", body1(t)))
				v, _ := e.sm.Value(e.arn, managed.ReceivedToken("n-1"))
				put(t, e, "adopted", v, managed.StageCurrent)
				e.sm.ResetCalls()
			},
			msgs:       func(t *testing.T) []events.SQSMessage { return []events.SQSMessage{msg("m1", body1(t))} },
			wantAlerts: []string{"NEW_CLIENT_SECRET_RECEIVED INFO ROTATION_STARTED", "NEW_CLIENT_SECRET_RECEIVED INFO NONE"},
		},
		{
			name:     "1b unknown client id",
			rotation: true,
			msgs: func(t *testing.T) []events.SQSMessage {
				return []events.SQSMessage{msg("m1", body(t, "n-1", "amzn1.application-oa2-client.unknown", newSecret, newExpiry))}
			},
			wantFailed: []string{"m1"},
			wantAlerts: []string{"NOTIFICATION_REJECTED CRITICAL MANUAL_ACTION_REQUIRED"},
			check: func(t *testing.T, e *env) {
				in := e.sns.Published()[0]
				if got := snstest.Attributes(in)["clientId"]; got != "amzn1.application-oa2-client.unknown" {
					t.Errorf("clientId attribute = %q, want the unknown client id", got)
				}
				if got := snstest.Structure(t, in)["email"]; !strings.Contains(got, "aws secretsmanager tag-resource --secret-id <secret name> --tags Key=sp-api-lwa:client-id,Value=amzn1.application-oa2-client.unknown") {
					t.Errorf("email does not say how to tag the secret:\n%s", got)
				}
			},
		},
		{
			name:     "1b ambiguous client id",
			rotation: true,
			setup: func(t *testing.T, e *env) {
				e.sm.Seed("sp-api/copy", currentDoc(clientID, oldSecret), map[string]string{managed.TagClientID: clientID})
			},
			msgs:       func(t *testing.T) []events.SQSMessage { return []events.SQSMessage{msg("m1", body1(t))} },
			wantFailed: []string{"m1"},
			wantAlerts: []string{"NOTIFICATION_REJECTED CRITICAL MANUAL_ACTION_REQUIRED"},
		},
		{
			name:     "1c AWSCURRENT holds another client id",
			rotation: true,
			setup: func(t *testing.T, e *env) {
				put(t, e, "other", currentDoc("amzn1.application-oa2-client.other", oldSecret), managed.StageCurrent)
			},
			msgs:       func(t *testing.T) []events.SQSMessage { return []events.SQSMessage{msg("m1", body1(t))} },
			wantFailed: []string{"m1"},
			wantAlerts: []string{"NOTIFICATION_REJECTED CRITICAL MANUAL_ACTION_REQUIRED"},
		},
		{
			name:     "1a one good and one malformed message",
			rotation: true,
			msgs: func(t *testing.T) []events.SQSMessage {
				bad := strings.Replace(body(t, "n-2", clientID, newerSecret, newExpiry), `"newClientSecretExpiryTime"`, `"newClientSecretExpiry"`, 1)
				return []events.SQSMessage{msg("m-good", body1(t)), msg("m-bad", bad)}
			},
			wantFailed: []string{"m-bad"},
			wantPuts:   2,
			wantRotate: 1,
			wantAlerts: []string{"NEW_CLIENT_SECRET_RECEIVED INFO ROTATION_STARTED", "NOTIFICATION_REJECTED CRITICAL MANUAL_ACTION_REQUIRED"},
			check: func(t *testing.T, e *env) {
				in := e.sns.Published()[1]
				want := `{"event":"NOTIFICATION_REJECTED","severity":"CRITICAL","clientId":"","action":"MANUAL_ACTION_REQUIRED","messageId":"m-bad",` +
					`"message":"A new LWA client secret notification was rejected and not stored; it may hold a secret that exists nowhere else."}`
				if got := snstest.Structure(t, in)["default"]; got != want {
					t.Errorf("default document =\n%s\nwant\n%s", got, want)
				}
				wantAttrs := map[string]string{"event": "NOTIFICATION_REJECTED", "severity": "CRITICAL"}
				if got := snstest.Attributes(in); fmt.Sprint(got) != fmt.Sprint(wantAttrs) {
					t.Errorf("message attributes = %v, want %v", got, wantAttrs)
				}
			},
		},
		{
			name:     "1a wrong type and a duplicate message id in one batch",
			rotation: true,
			msgs: func(t *testing.T) []events.SQSMessage {
				expiry := string(readTestdata(t, "APPLICATION_OAUTH_CLIENT_SECRET_EXPIRY.example.json"))
				return []events.SQSMessage{msg("m-x", expiry), msg("m-x", expiry), msg("m-y", "not json "+newSecret)}
			},
			wantFailed: []string{"m-x", "m-x", "m-y"},
			wantAlerts: []string{"NOTIFICATION_REJECTED CRITICAL MANUAL_ACTION_REQUIRED", "NOTIFICATION_REJECTED CRITICAL MANUAL_ACTION_REQUIRED"},
		},
		{
			name:     "3 write fails: nothing acknowledged",
			rotation: true,
			setup: func(t *testing.T, e *env) {
				e.sm.Fail = func(_ context.Context, op string, _ any) error {
					if op == "PutSecretValue" {
						return &types.InternalServiceError{Message: aws.String("boom")}
					}
					return nil
				}
			},
			msgs:       func(t *testing.T) []events.SQSMessage { return []events.SQSMessage{msg("m1", body1(t))} },
			wantFailed: []string{"m1"},
			wantPuts:   1,
			check: func(t *testing.T, e *env) {
				if _, ok := e.sm.StageVersion(e.arn, managed.StageReceived); ok {
					t.Errorf("LWA_RECEIVED exists after a failed write")
				}
			},
		},
		{
			name:     "4c RotateSecret fails: message retried, secret stays stored",
			rotation: true,
			setup: func(t *testing.T, e *env) {
				e.sm.Fail = func(_ context.Context, op string, _ any) error {
					if op == "RotateSecret" {
						return &types.InternalServiceError{Message: aws.String("boom")}
					}
					return nil
				}
			},
			msgs:       func(t *testing.T) []events.SQSMessage { return []events.SQSMessage{msg("m1", body1(t))} },
			wantFailed: []string{"m1"},
			wantPuts:   1,
			wantRotate: 1,
			check: func(t *testing.T, e *env) {
				if _, s := e.storedSecret(t, managed.StageReceived); s != newSecret {
					t.Errorf("LWA_RECEIVED does not hold the new secret")
				}
			},
		},
		{
			name:       "4d InvalidRequestException without a rotation in progress",
			rotation:   true,
			setup:      func(t *testing.T, e *env) { e.sm.SetRotation(e.arn, true, "") },
			msgs:       func(t *testing.T) []events.SQSMessage { return []events.SQSMessage{msg("m1", body1(t))} },
			wantFailed: []string{"m1"},
			wantPuts:   1,
			wantRotate: 1,
			check: func(t *testing.T, e *env) {
				if _, s := e.storedSecret(t, managed.StageReceived); s != newSecret {
					t.Errorf("LWA_RECEIVED does not hold the new secret")
				}
			},
		},
		{
			name:     "4c second message's RotateSecret fails",
			rotation: true,
			msgs: func(t *testing.T) []events.SQSMessage {
				return []events.SQSMessage{msg("m1", body1(t)), msg("m2", body(t, "n-2", clientID, newerSecret, newExpiry.Add(time.Hour)))}
			},
			setup: func(t *testing.T, e *env) {
				e.sm.Fail = func(_ context.Context, op string, _ any) error {
					if op == "RotateSecret" && e.sm.Calls("RotateSecret") > 1 {
						return &types.InternalServiceError{Message: aws.String("boom")}
					}
					return nil
				}
			},
			wantFailed: []string{"m2"},
			wantPuts:   3,
			wantRotate: 2,
			wantAlerts: []string{"NEW_CLIENT_SECRET_RECEIVED INFO ROTATION_STARTED"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, tt.rotation)
			if tt.setup != nil {
				tt.setup(t, e)
			}
			failed := e.handle(t, tt.msgs(t)...)
			if !slices.Equal(failed, tt.wantFailed) {
				t.Errorf("BatchItemFailures = %v, want %v", failed, tt.wantFailed)
			}
			if got := e.sm.Calls("PutSecretValue"); got != tt.wantPuts {
				t.Errorf("PutSecretValue calls = %d, want %d", got, tt.wantPuts)
			}
			if got := e.sm.Calls("UpdateSecretVersionStage"); got != 0 {
				t.Errorf("UpdateSecretVersionStage calls = %d, want 0: the receiver only appends", got)
			}
			if got := e.sm.Calls("RotateSecret"); got != tt.wantRotate {
				t.Errorf("RotateSecret calls = %d, want %d", got, tt.wantRotate)
			}
			if got := e.sns.Summaries(); !slices.Equal(got, tt.wantAlerts) {
				t.Errorf("alerts (setup's included) = %q, want %q", got, tt.wantAlerts)
			}
			if tt.check != nil {
				tt.check(t, e)
			}
			e.sns.Check(t, topicARN, allSecret...)
		})
	}
}

// put writes value as a new version with stage, as another actor would.
func put(t *testing.T, e *env, token, value, stage string) {
	t.Helper()
	_, err := e.sm.PutSecretValue(context.Background(), &secretsmanager.PutSecretValueInput{
		SecretId: aws.String(e.arn), ClientRequestToken: aws.String(token + "-0000000000000000000000000000"),
		SecretString: aws.String(value), VersionStages: []string{stage},
	})
	if err != nil {
		t.Fatal(err)
	}
	e.sm.ResetCalls()
}

// playCreateSecret makes every rotation's pending version take the secret
// on LWA_RECEIVED as soon as the rotation starts or is reattempted, as
// createSecret does.
func (e *env) playCreateSecret(t *testing.T) {
	e.sm.OnRotate = func(_ context.Context, arn, token string, retry bool) {
		ctx := context.Background()
		if _, ok := e.sm.Value(arn, token); ok {
			return
		}
		id, ok := e.sm.StageVersion(arn, managed.StageReceived)
		if !ok {
			return
		}
		v, _ := e.sm.Value(arn, id)
		if _, err := e.sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
			SecretId: aws.String(arn), ClientRequestToken: aws.String(token), SecretString: aws.String(v), VersionStages: []string{managed.StagePending},
		}); err != nil {
			t.Errorf("play createSecret: %v", err)
		}
	}
	// A rotation already in progress takes it too.
	if p, ok := e.sm.StageVersion(e.arn, managed.StagePending); ok {
		e.sm.OnRotate(context.Background(), e.arn, p, true)
	}
}

func mustParse(t *testing.T, v string) *secretdoc.Document {
	t.Helper()
	d, err := secretdoc.Parse([]byte(v), secretdoc.DefaultKeys)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestDecide is the receiver's decision, case by case.
func TestDecide(t *testing.T) {
	cur := mustParse(t, currentDoc(clientID, oldSecret))
	curNoExpiry := mustParse(t, fmt.Sprintf(`{"clientId":%q,"clientSecret":%q}`, clientID, oldSecret))
	held := mustParse(t, currentDocExpiring(clientID, newerSecret, newExpiry.Add(time.Hour)))
	tests := []struct {
		name string
		f    facts
		want plan
	}{
		{"2a already AWSCURRENT", facts{secret: oldSecret, expires: newExpiry, current: cur}, plan{outcome: alert.OutcomeCurrent}},
		{"2b redelivery writes nothing", facts{secret: newSecret, expires: newExpiry, current: cur, stored: true}, plan{adopt: true}},
		{"2c newest: LWA_RECEIVED", facts{secret: newSecret, expires: newExpiry, current: cur}, plan{label: managed.StageReceived, adopt: true}},
		{"2c AWSCURRENT without expiry", facts{secret: newSecret, expires: newExpiry, current: curNoExpiry}, plan{label: managed.StageReceived, adopt: true}},
		{"2c older than LWA_RECEIVED: LWA_SUPERSEDED, still adopted by a rotation's choice", facts{secret: newSecret, expires: newExpiry, current: cur, received: held}, plan{label: managed.StageSuperseded, adopt: true}},
		{"2c later than LWA_RECEIVED", facts{secret: newSecret, expires: newExpiry.Add(2 * time.Hour), current: cur, received: held}, plan{label: managed.StageReceived, adopt: true}},
		{"2c tied with LWA_RECEIVED", facts{secret: newSecret, expires: newExpiry.Add(time.Hour), current: cur, received: held}, plan{label: managed.StageSuperseded, adopt: true}},
		{"4a older than AWSCURRENT", facts{secret: newSecret, expires: oldExpiry.Add(-time.Hour), current: cur}, plan{label: managed.StageSuperseded, outcome: alert.OutcomeOlder}},
		{"4a tied with AWSCURRENT: a rotation asks Amazon", facts{secret: newSecret, expires: oldExpiry, current: cur}, plan{label: managed.StageSuperseded, adopt: true}},
		{"4a rejected before, whatever it claims", facts{secret: newSecret, expires: newExpiry.Add(9999 * time.Hour), current: cur, rejected: true}, plan{label: managed.StageSuperseded, outcome: alert.OutcomeRejectedBefore}},
		{"4a rejected before, redelivered", facts{secret: newSecret, expires: newExpiry, current: cur, rejected: true, stored: true}, plan{outcome: alert.OutcomeRejectedBefore}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := decide(tt.f); got != tt.want {
				t.Errorf("decide() = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestCase2bRedelivery: the same notification twice writes one version.
func TestCase2bRedelivery(t *testing.T) {
	e := newEnv(t, false)
	b := body(t, "n-1", clientID, newSecret, newExpiry)
	for i := 0; i < 2; i++ {
		if failed := e.handle(t, msg("m1", b)); len(failed) != 0 {
			t.Fatalf("delivery %d failed: %v", i, failed)
		}
	}
	if got := e.sm.Calls("PutSecretValue"); got != 1 {
		t.Errorf("PutSecretValue calls = %d, want 1", got)
	}
	if id, s := e.storedSecret(t, managed.StageReceived); id != managed.ReceivedToken("n-1") || s != newSecret {
		t.Errorf("LWA_RECEIVED = version %s, want %s with the new secret", id, managed.ReceivedToken("n-1"))
	}
	e.sns.Check(t, topicARN, allSecret...)
}

// TestCase2cOutOfOrder: an older secret delivered after a newer one is
// stored under LWA_SUPERSEDED; LWA_RECEIVED stays on the newer one.
func TestCase2cOutOfOrder(t *testing.T) {
	older := body(t, "n-old", clientID, newSecret, newExpiry)
	newer := body(t, "n-new", clientID, newerSecret, newExpiry.Add(24*time.Hour))
	for _, tt := range []struct {
		name  string
		order []events.SQSMessage
		label map[string]string // notification id -> label of its version
	}{
		{"newer first", []events.SQSMessage{msg("m-new", newer), msg("m-old", older)}, map[string]string{"n-new": managed.StageReceived, "n-old": managed.StageSuperseded}},
		{"older first", []events.SQSMessage{msg("m-old", older), msg("m-new", newer)}, map[string]string{"n-new": managed.StageReceived}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, false)
			for _, m := range tt.order {
				if failed := e.handle(t, m); len(failed) != 0 {
					t.Fatalf("delivery of %s failed: %v", m.MessageId, failed)
				}
			}
			for nid, label := range tt.label {
				if got := e.stages(managed.ReceivedToken(nid)); !slices.Equal(got, []string{label}) {
					t.Errorf("labels of %s's version = %q, want [%s]", nid, got, label)
				}
			}
			for nid, secret := range map[string]string{"n-old": newSecret, "n-new": newerSecret} {
				v, ok := e.sm.Value(e.arn, managed.ReceivedToken(nid))
				if !ok || mustParse(t, v).ClientSecret().Reveal() != secret {
					t.Errorf("the secret of %s is not stored under its version", nid)
				}
			}
			e.sns.Check(t, topicARN, allSecret...)
		})
	}
}

// TestCase4aNothingToAdopt: a secret older than AWSCURRENT's, or one LWA
// rejected before, is stored and starts no rotation.
func TestCase4aNothingToAdopt(t *testing.T) {
	for _, tt := range []struct {
		name      string
		expires   time.Time
		rejected  bool
		wantAlert string
	}{
		{"older than AWSCURRENT", oldExpiry.Add(-time.Hour), false, "NEW_CLIENT_SECRET_RECEIVED INFO NONE"},
		{"rejected before", newExpiry.Add(9999 * time.Hour), true, "NEW_CLIENT_SECRET_RECEIVED WARNING NONE"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, true)
			if tt.rejected {
				if _, err := e.sm.TagResource(context.Background(), &secretsmanager.TagResourceInput{SecretId: aws.String(e.arn),
					Tags: []types.Tag{{Key: aws.String(managed.TagRejectedSecrets), Value: aws.String(managed.WithRejected("", newSecret))}}}); err != nil {
					t.Fatal(err)
				}
			}
			if failed := e.handle(t, msg("m1", body(t, "n-1", clientID, newSecret, tt.expires))); len(failed) != 0 {
				t.Fatalf("BatchItemFailures = %v, want none", failed)
			}
			if n := e.sm.Calls("RotateSecret"); n != 0 {
				t.Errorf("RotateSecret calls = %d, want 0", n)
			}
			if got := e.stages(managed.ReceivedToken("n-1")); !slices.Equal(got, []string{managed.StageSuperseded}) {
				t.Errorf("labels = %q, want [%s]: stored, never LWA_RECEIVED", got, managed.StageSuperseded)
			}
			if got := e.sns.Summaries(); !slices.Equal(got, []string{tt.wantAlert}) {
				t.Errorf("alerts = %q, want [%s]", got, tt.wantAlert)
			}
			e.sns.Check(t, topicARN, allSecret...)
		})
	}
}

// TestCase4dRotationInProgress: RotateSecret is refused because a rotation
// is in progress; the message is acknowledged only once that rotation's
// pending version holds this secret.
func TestCase4dRotationInProgress(t *testing.T) {
	for _, tt := range []struct {
		name       string
		pending    string // the pending version's value; "" = none yet, "play" = createSecret takes LWA_RECEIVED
		wantFailed bool
		wantAlerts []string
	}{
		{"pending takes this secret", "play", false, []string{"NEW_CLIENT_SECRET_RECEIVED INFO ROTATION_RESUMED"}},
		{"pending holds another secret", currentDocExpiring(clientID, newerSecret, newExpiry.Add(-time.Hour)), true, nil},
		{"pending stays empty", "", true, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, true)
			out, err := e.sm.RotateSecret(context.Background(), &secretsmanager.RotateSecretInput{SecretId: aws.String(e.arn)})
			if err != nil {
				t.Fatal(err)
			}
			switch tt.pending {
			case "play":
				e.playCreateSecret(t)
			case "":
				e.sm.OnRotate = nil
			default:
				e.sm.OnRotate = nil
				if _, err := e.sm.PutSecretValue(context.Background(), &secretsmanager.PutSecretValueInput{SecretId: aws.String(e.arn),
					ClientRequestToken: out.VersionId, SecretString: aws.String(tt.pending), VersionStages: []string{managed.StagePending}}); err != nil {
					t.Fatal(err)
				}
			}
			failed := e.handle(t, msg("m1", body(t, "n-1", clientID, newSecret, newExpiry)))
			if (len(failed) != 0) != tt.wantFailed {
				t.Fatalf("BatchItemFailures = %v, want failed %v", failed, tt.wantFailed)
			}
			if tt.wantFailed && !strings.Contains(e.logs.String(), ErrRotationBusy.Error()) {
				t.Errorf("log does not say why the message failed:\n%s", e.logs.String())
			}
			if _, s := e.storedSecret(t, managed.StageReceived); s != newSecret {
				t.Error("the secret is not stored")
			}
			if got := e.sns.Summaries(); !slices.Equal(got, tt.wantAlerts) {
				t.Errorf("alerts = %q, want %q", got, tt.wantAlerts)
			}
		})
	}
}

// TestCase4cStartedRotationTakesAnother: the rotation this delivery
// started takes another stored secret (one that claims a later expiry, and
// that LWA may reject): the message is not acknowledged, so its redelivery
// starts the rotation that adopts this secret after that one has ended.
func TestCase4cStartedRotationTakesAnother(t *testing.T) {
	e := newEnv(t, true)
	other := currentDocExpiring(clientID, newerSecret, newExpiry.Add(24*time.Hour))
	e.sm.OnRotate = func(_ context.Context, arn, token string, retry bool) {
		if _, err := e.sm.PutSecretValue(context.Background(), &secretsmanager.PutSecretValueInput{SecretId: aws.String(arn),
			ClientRequestToken: aws.String(token), SecretString: aws.String(other), VersionStages: []string{managed.StagePending}}); err != nil {
			t.Errorf("play createSecret: %v", err)
		}
	}
	if failed := e.handle(t, msg("m1", body(t, "n-1", clientID, newSecret, newExpiry))); !slices.Equal(failed, []string{"m1"}) {
		t.Fatalf("BatchItemFailures = %v, want [m1]", failed)
	}
	if !strings.Contains(e.logs.String(), ErrRotationBusy.Error()) {
		t.Errorf("log does not say why the message failed:\n%s", e.logs.String())
	}
	if _, s := e.storedSecret(t, managed.StageReceived); s != newSecret {
		t.Error("the secret is not stored")
	}
}

// TestPublishFailure: a failed publish fails the message; the secret stays
// stored and the retry writes nothing new.
func TestPublishFailure(t *testing.T) {
	e := newEnv(t, true)
	e.playCreateSecret(t)
	e.sns.Fail = func(context.Context, *sns.PublishInput) error { return errors.New("sns unavailable") }
	m := msg("m1", body(t, "n-1", clientID, newSecret, newExpiry))
	if failed := e.handle(t, m); !slices.Equal(failed, []string{"m1"}) {
		t.Fatalf("BatchItemFailures = %v, want [m1]", failed)
	}
	if _, s := e.storedSecret(t, managed.StageReceived); s != newSecret {
		t.Fatalf("secret not stored after a failed publish")
	}
	versions := e.versionsWithValue()
	e.sns.Fail = nil
	e.sm.ResetCalls()
	if failed := e.handle(t, m); len(failed) != 0 {
		t.Fatalf("retry failed: %v", failed)
	}
	if got := e.sm.Calls("PutSecretValue"); got != 0 {
		t.Errorf("retry PutSecretValue calls = %d, want 0", got)
	}
	if got := e.versionsWithValue(); got != versions {
		t.Errorf("retry changed the number of versions: %d, want %d", got, versions)
	}
	if got := e.sns.Summaries(); !slices.Equal(got, []string{"NEW_CLIENT_SECRET_RECEIVED INFO ROTATION_RESUMED"}) {
		t.Errorf("alerts after retry = %q, want one ROTATION_RESUMED", got)
	}
	e.sns.Check(t, topicARN, allSecret...)
}

func TestHandleContextDone(t *testing.T) {
	e := newEnv(t, true)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := e.h.Handle(ctx, events.SQSEvent{Records: []events.SQSMessage{msg("m1", body(t, "n-1", clientID, newSecret, newExpiry))}})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Handle() error = %v, want context.Canceled", err)
	}
	if n := e.sm.TotalCalls(); n != 0 {
		t.Errorf("%d Secrets Manager calls after the context was done, want 0", n)
	}
}

// TestNoSecretInLogsOrAlerts processes good, duplicate, out-of-order and
// rejected new-secret notifications with debug logging and checks that no
// secret value reaches a log line or an alert.
func TestNoSecretInLogsOrAlerts(t *testing.T) {
	for _, rotation := range []bool{true, false} {
		t.Run(fmt.Sprint("rotation=", rotation), func(t *testing.T) {
			e := newEnv(t, rotation)
			e.playCreateSecret(t)
			good := body(t, "n-1", clientID, newerSecret, newExpiry.Add(time.Hour))
			bad := strings.Replace(body(t, "n-2", clientID, newSecret, newExpiry), `"2023-11-30"`, `"2099-01-01"`, 1)
			msgs := []events.SQSMessage{
				msg("m1", good), msg("m1", good),
				msg("m2", body(t, "n-3", clientID, newSecret, newExpiry)),
				msg("m3", bad),
				msg("m4", body(t, "n-4", "amzn1.application-oa2-client.unknown", newSecret, newExpiry)),
				msg("m5", body(t, "n-5", newSecret, newSecret, newExpiry)),
				msg("m6", `{"notificationType":"APPLICATION_OAUTH_CLIENT_NEW_SECRET","payload":{"applicationOAuthClientNewSecret":{"newClientSecret":"`+newSecret+`"}}}`),
			}
			e.sns.Fail = func(_ context.Context, in *sns.PublishInput) error {
				if strings.Contains(aws.ToString(in.Message), `\"messageId\":\"m2\"`) {
					return errors.New("sns unavailable")
				}
				return nil
			}
			resp, err := e.h.Handle(context.Background(), events.SQSEvent{Records: msgs})
			if err != nil {
				t.Fatalf("Handle() error = %v", err)
			}
			if len(resp.BatchItemFailures) != 5 {
				t.Errorf("BatchItemFailures = %v, want m2 to m6", resp.BatchItemFailures)
			}
			logs := e.logs.String()
			if !strings.Contains(logs, `"messageId":"m6"`) || !strings.Contains(logs, `"outcome":"rejected"`) {
				t.Fatalf("logs lack the expected records:\n%s", logs)
			}
			for _, s := range allSecret {
				if strings.Contains(logs, s) {
					t.Errorf("a secret value appears in the logs:\n%s", logs)
				}
			}
			e.sns.Check(t, topicARN, allSecret...)
		})
	}
}

// TestBrokenCurrentDocumentLeaksNothing: AWSCURRENT documents broken in
// ways that put the client secret where the client id belongs reject the
// message without quoting any value.
func TestBrokenCurrentDocumentLeaksNothing(t *testing.T) {
	for name, doc := range map[string]string{
		"values swapped":          fmt.Sprintf(`{"clientId":%q,"clientSecret":%q}`, oldSecret, clientID),
		"secret under the id key": fmt.Sprintf(`{"clientId":%q,"clientSecret":%q}`, oldSecret, oldSecret),
		"id key missing":          fmt.Sprintf(`{"clientSecret":%q}`, oldSecret),
		"non-string id":           fmt.Sprintf(`{"clientId":12,"clientSecret":%q}`, oldSecret),
		"not JSON":                "clientSecret=" + oldSecret,
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, true)
			put(t, e, "broken", doc, managed.StageCurrent)
			failed := e.handle(t, msg("m1", body(t, "n-1", clientID, newSecret, newExpiry)))
			if !slices.Equal(failed, []string{"m1"}) {
				t.Fatalf("BatchItemFailures = %v, want [m1]", failed)
			}
			if got := e.sns.Summaries(); !slices.Equal(got, []string{"NOTIFICATION_REJECTED CRITICAL MANUAL_ACTION_REQUIRED"}) {
				t.Errorf("alerts = %q, want one NOTIFICATION_REJECTED", got)
			}
			if strings.Contains(e.logs.String(), oldSecret) || strings.Contains(e.logs.String(), newSecret) {
				t.Errorf("a secret value appears in the logs:\n%s", e.logs.String())
			}
			e.sns.Check(t, topicARN, allSecret...)
		})
	}
}

// TestDeliveredSecretNotASecret: a newClientSecret that cannot be a client
// secret (shaped like a client id) is rejected: nothing is written, the
// message fails with NOTIFICATION_REJECTED.
func TestDeliveredSecretNotASecret(t *testing.T) {
	e := newEnv(t, true)
	failed := e.handle(t, msg("m1", body(t, "n-1", clientID, "amzn1.application-oa2-client.00000000000000000000000000000000", newExpiry)))
	if !slices.Equal(failed, []string{"m1"}) {
		t.Fatalf("BatchItemFailures = %v, want [m1]", failed)
	}
	if got := e.sns.Summaries(); !slices.Equal(got, []string{"NOTIFICATION_REJECTED CRITICAL MANUAL_ACTION_REQUIRED"}) {
		t.Errorf("alerts = %q, want one NOTIFICATION_REJECTED", got)
	}
	if n := e.sm.Calls("PutSecretValue"); n != 0 {
		t.Errorf("PutSecretValue calls = %d, want 0", n)
	}
}
