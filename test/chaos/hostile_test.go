package chaos

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/spapi-lwa/secret-rotation/internal/alert"
	"github.com/spapi-lwa/secret-rotation/internal/managed"
	"github.com/spapi-lwa/secret-rotation/internal/notification"
	"github.com/spapi-lwa/secret-rotation/test/spapisim"
)

// versionState is what "nothing overwritten" compares.
type versionState struct {
	id, value string
	stages    []string
}

func snapshot(w *World, i int) map[string]versionState {
	a := w.Apps[i]
	m := map[string]versionState{}
	for _, v := range w.SM.Versions(a.ARN) {
		val, _ := w.SM.Value(a.ARN, v.ID)
		m[v.ID] = versionState{id: v.ID, value: val, stages: v.Stages}
	}
	return m
}

func currentID(w *World, i int) string {
	id, _ := w.SM.StageVersion(w.Apps[i].ARN, managed.StageCurrent)
	return id
}

// hostileSecret is the client secret carried by hostile messages; it must
// never be logged or published.
const hostileSecret = spapisim.SecretPrefix + hostileTail

// hostileTail is hostileSecret without its prefix, for documents that hold
// a secret of unknown shape.
const hostileTail = "h0st1le5ecret0000000000000000000000000000000000000000000000000000"

// TestHostileInput feeds each kind of hostile input and asserts a clear
// error, a dead-lettered message or a failed step, an alert that says why,
// no secret value anywhere, and nothing overwritten.
func TestHostileInput(t *testing.T) {
	valid := func(w *World, clientID string) string {
		return NewSecretBody(clientID, w.Apps[0].AppID, hostileSecret, "hostile-1", w.Now())
	}
	tests := []struct {
		name    string
		apps    int
		prepare func(w *World) // what an operator got wrong, before the snapshot
		setup   func(w *World) // the input
		// want
		dlq        string // queue whose dead-letter queue must hold the message ("" none)
		stepFails  bool   // a rotation step must fail
		alertEvent alert.Event
		reason     string // in the alert's email text and in the logs: the clear error
		changed    int    // the app whose secret may change (-1 none)
	}{
		{
			name: "oversize new-secret body",
			setup: func(w *World) {
				b := valid(w, w.Apps[0].ClientID)
				b = b[:len(b)-1] + `,"padding":"` + strings.Repeat("x", notification.MaxBodySize) + `"}`
				w.NewSecretQ.Send(b, w.Now())
			},
			dlq: "new-secret", alertEvent: alert.EventRejected, reason: "too large", changed: -1,
		},
		{
			name: "new secret of the wrong JSON type",
			setup: func(w *World) {
				b := strings.Replace(valid(w, w.Apps[0].ClientID), `"newClientSecret":"`+hostileSecret+`"`, `"newClientSecret":{"value":"`+hostileSecret+`"}`, 1)
				w.NewSecretQ.Send(b, w.Now())
			},
			dlq: "new-secret", alertEvent: alert.EventRejected, reason: "newClientSecret", changed: -1,
		},
		{
			name: "client id of the wrong JSON type",
			setup: func(w *World) {
				b := strings.Replace(valid(w, w.Apps[0].ClientID), `"clientId":"`+w.Apps[0].ClientID+`"`, `"clientId":12345`, 1)
				w.NewSecretQ.Send(b, w.Now())
			},
			dlq: "new-secret", alertEvent: alert.EventRejected, reason: "clientId", changed: -1,
		},
		{
			name: "new secret for an unknown client id",
			setup: func(w *World) {
				w.NewSecretQ.Send(valid(w, "amzn1.application-oa2-client.nobody"), w.Now())
			},
			dlq: "new-secret", alertEvent: alert.EventRejected, reason: managed.ErrUnknownClient.Error(), changed: -1,
		},
		{
			name: "expiry time of the wrong JSON type",
			setup: func(w *World) {
				b := fmt.Sprintf(`{"notificationVersion":"1.0","notificationType":"APPLICATION_OAUTH_CLIENT_SECRET_EXPIRY","payloadVersion":"2023-11-30","eventTime":"2026-05-01T09:00:00.000Z","payload":{"applicationOAuthClientSecretExpiry":{"clientId":%q,"clientSecretExpiryTime":1780000000}},"notificationMetadata":{"applicationId":%q,"subscriptionId":"s","publishTime":"2026-05-01T09:00:00.000Z","notificationId":"hostile-2"}}`, w.Apps[0].ClientID, w.Apps[0].AppID)
				w.ExpiryQ.Send(b, w.Now())
			},
			dlq: "secret-expiry", alertEvent: alert.EventRejected, reason: "clientSecretExpiryTime", changed: -1,
		},
		{
			name: "notification for another managed application lands only in its secret",
			apps: 2,
			setup: func(w *World) {
				w.Apps[1].Sim.PortalRotate()
			},
			alertEvent: alert.EventReceived, reason: "", changed: 1,
		},
		{
			name: "secret document that is not JSON",
			prepare: func(w *World) {
				w.SM.PutSecretValue(t.Context(), putCurrent(w.Apps[0].ARN, "clientId="+w.Apps[0].ClientID+";clientSecret="+hostileSecret))
			},
			setup:     func(w *World) { w.RotateNow(0) },
			stepFails: true, alertEvent: alert.EventRotationFailed, reason: "not a valid secret document", changed: -1,
		},
		{
			name: "tag that disagrees with the document's client id",
			prepare: func(w *World) {
				w.SM.TagResource(t.Context(), tagClient(w.Apps[0].ARN, "amzn1.application-oa2-client.other"))
			},
			setup:     func(w *World) { w.RotateNow(0) },
			stepFails: true, alertEvent: alert.EventRotationFailed, reason: "is not the client id that the tag", changed: -1,
		},
		// Ids that are not ids (redact.ValidID) never reach an alert, a
		// log field or a tag: the message is malformed.
		{
			name: "new-secret notificationId with a line break and text after it",
			setup: func(w *World) {
				w.NewSecretQ.Send(NewSecretBody(w.Apps[0].ClientID, w.Apps[0].AppID, hostileSecret, "n-1\nINJECTED alert line", w.Now()), w.Now())
			},
			dlq: "new-secret", alertEvent: alert.EventRejected, reason: "notificationMetadata.notificationId: bad value", changed: -1,
		},
		{
			name: "new-secret applicationId that is HTML",
			setup: func(w *World) {
				w.NewSecretQ.Send(NewSecretBody(w.Apps[0].ClientID, `<a href="https://example.com">fix</a>`, hostileSecret, "hostile-3", w.Now()), w.Now())
			},
			dlq: "new-secret", alertEvent: alert.EventRejected, reason: "notificationMetadata.applicationId: bad value", changed: -1,
		},
		{
			name: "new-secret clientId that is the new secret",
			setup: func(w *World) {
				w.NewSecretQ.Send(NewSecretBody(hostileSecret, w.Apps[0].AppID, hostileSecret, "hostile-4", w.Now()), w.Now())
			},
			dlq: "new-secret", alertEvent: alert.EventRejected, reason: "applicationOAuthClientNewSecret.clientId: bad value", changed: -1,
		},
		{
			name: "expiry notice clientId of 200 characters",
			setup: func(w *World) {
				b := fmt.Sprintf(`{"notificationVersion":"1.0","notificationType":"APPLICATION_OAUTH_CLIENT_SECRET_EXPIRY","payloadVersion":"2023-11-30","eventTime":"2026-05-01T09:00:00.000Z","payload":{"applicationOAuthClientSecretExpiry":{"clientId":%q,"clientSecretExpiryTime":"2026-06-01T09:00:00.000Z"}},"notificationMetadata":{"applicationId":%q,"subscriptionId":"s","publishTime":"2026-05-01T09:00:00.000Z","notificationId":"hostile-5"}}`, w.Apps[0].ClientID+strings.Repeat("x", 200), w.Apps[0].AppID)
				w.ExpiryQ.Send(b, w.Now())
			},
			dlq: "secret-expiry", alertEvent: alert.EventRejected, reason: "applicationOAuthClientSecretExpiry.clientId: bad value", changed: -1,
		},
		// Broken documents (internal/secretdoc/testdata/broken has the
		// whole set): the rotation fails with ROTATION_FAILED naming the
		// key to fix, and the secret appears nowhere (I4, w.Secrets).
		{
			name: "secret document with client id and secret swapped",
			prepare: func(w *World) {
				w.SM.PutSecretValue(t.Context(), putCurrent(w.Apps[0].ARN, `{"clientId":"`+hostileSecret+`","clientSecret":"`+w.Apps[0].ClientID+`"}`))
			},
			setup:     func(w *World) { w.RotateNow(0) },
			stepFails: true, alertEvent: alert.EventRotationFailed, reason: "holds a value shaped like a client secret or token, not a client id", changed: -1,
		},
		{
			name: "secret document with the same unprefixed secret under both keys",
			prepare: func(w *World) {
				w.SM.PutSecretValue(t.Context(), putCurrent(w.Apps[0].ARN, `{"clientId":"`+hostileTail+`","clientSecret":"`+hostileTail+`"}`))
			},
			setup:     func(w *World) { w.RotateNow(0) },
			stepFails: true, alertEvent: alert.EventRotationFailed, reason: "hold the same value; put the client id under", changed: -1,
		},
		{
			name: "secret document with the secret inside a non-string client id",
			prepare: func(w *World) {
				w.SM.PutSecretValue(t.Context(), putCurrent(w.Apps[0].ARN, `{"clientId":{"value":"`+hostileSecret+`"},"clientSecret":"`+hostileSecret+`"}`))
			},
			setup:     func(w *World) { w.RotateNow(0) },
			stepFails: true, alertEvent: alert.EventRotationFailed, reason: "holds a JSON object, want a string", changed: -1,
		},
		{
			name: "secret document with a huge client secret",
			prepare: func(w *World) {
				w.SM.PutSecretValue(t.Context(), putCurrent(w.Apps[0].ARN, `{"clientId":"`+w.Apps[0].ClientID+`","clientSecret":"`+strings.Repeat(hostileTail, 20)+`"}`))
			},
			setup:     func(w *World) { w.RotateNow(0) },
			stepFails: true, alertEvent: alert.EventRotationFailed, reason: "holds more than 1024 bytes, too long for a client secret", changed: -1,
		},
		{
			name: "client id tagged on two managed secrets",
			apps: 2,
			setup: func(w *World) {
				// App 1's secret is tagged with app 0's client id too: the
				// lookup is ambiguous, nothing may be written to either.
				w.SM.TagResource(t.Context(), tagClient(w.Apps[1].ARN, w.Apps[0].ClientID))
				w.NewSecretQ.Send(valid(w, w.Apps[0].ClientID), w.Now())
			},
			dlq: "new-secret", alertEvent: alert.EventRejected, reason: managed.ErrAmbiguous.Error(), changed: -1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := baseSchedule(SeedOf(tt.name))
			s.Apps = max(tt.apps, 1)
			w := NewWorld(s)
			w.Redrive = false
			w.Secrets = []string{hostileSecret, hostileTail}
			var before []map[string]versionState
			var currents []string
			w.Hooks = []Hook{{30 * time.Second, func(w *World) {
				if tt.prepare != nil {
					tt.prepare(w)
				}
				for i := range w.Apps {
					before = append(before, snapshot(w, i))
					currents = append(currents, currentID(w, i))
				}
				tt.setup(w)
			}}}
			r := w.Run()

			if r.Leaks > 0 {
				t.Errorf("secret values leaked: %v", r.Violations)
			}
			for _, q := range []*Queue{w.NewSecretQ, w.ExpiryQ} {
				want := 0
				if q.Name == tt.dlq {
					want = 1
				}
				if _, dead, _ := q.Len(); dead != want {
					t.Errorf("%s dead-letter queue holds %d messages, want %d", q.Name, dead, want)
				}
			}
			if got := r.StepFailures > 0; got != tt.stepFails {
				t.Errorf("rotation step failures = %d, want failures: %v", r.StepFailures, tt.stepFails)
			}
			if tt.stepFails && r.RotateCalls > 0 {
				t.Errorf("rotate calls = %d, want 0 for a misconfigured secret", r.RotateCalls)
			}
			var found bool
			for _, in := range w.SNS.Published() {
				if aws.ToString(in.MessageAttributes["event"].StringValue) != string(tt.alertEvent) {
					continue
				}
				var msg map[string]string
				if err := json.Unmarshal([]byte(aws.ToString(in.Message)), &msg); err != nil {
					t.Fatalf("alert message is not JSON: %v", err)
				}
				if strings.Contains(msg["email"], tt.reason) {
					found = true
				}
			}
			if !found {
				t.Errorf("no %s alert whose email says %q; alerts: %d", tt.alertEvent, tt.reason, len(w.SNS.Published()))
			}
			if tt.reason != "" && !strings.Contains(w.logs.String(), tt.reason) {
				t.Errorf("no log line says %q", tt.reason)
			}
			for i := range w.Apps {
				after := snapshot(w, i)
				for id, v := range before[i] {
					if after[id].value != v.value {
						t.Errorf("app %d version %s was overwritten", i, id)
					}
				}
				if i == tt.changed {
					if got, want := w.CurrentSecret(i), newest(w, i); got != want {
						t.Errorf("app %d AWSCURRENT does not hold the new secret", i)
					}
					continue
				}
				if got := currentID(w, i); got != currents[i] {
					t.Errorf("app %d AWSCURRENT moved from %s to %s", i, currents[i], got)
				}
				for id, v := range after {
					if _, ok := before[i][id]; !ok && v.value != "" {
						t.Errorf("app %d got a new version %s with a value (stages %v)", i, id, v.stages)
					}
				}
				if slices.Contains(w.Apps[i].Sim.Issued(), hostileSecret) {
					t.Fatal("test bug: the hostile secret was issued")
				}
			}
		})
	}
}

func newest(w *World, i int) string {
	s, _ := w.Apps[i].Sim.Current()
	return s
}

func putCurrent(arn, value string) *secretsmanager.PutSecretValueInput {
	return &secretsmanager.PutSecretValueInput{SecretId: aws.String(arn), SecretString: aws.String(value), VersionStages: []string{managed.StageCurrent}}
}

func tagClient(arn, clientID string) *secretsmanager.TagResourceInput {
	return &secretsmanager.TagResourceInput{SecretId: aws.String(arn), Tags: []smtypes.Tag{{Key: aws.String(managed.TagClientID), Value: aws.String(clientID)}}}
}

// hostileUnitInputs are hostile inputs whose handling is proved below the
// world, by a package test: the in-process world cannot send a redirect or
// start a function with a bad configuration. Each row names the input, the
// expected outcome, and the test (directory from the module root, and the
// test function), which TestHostileUnitInputs checks exists.
var hostileUnitInputs = []struct {
	input, outcome, dir, test string
}{
	{"LWA token endpoint answers 301/302/303/307/308 to another host", "error naming the status and the endpoint (host+path); the other host receives nothing (no form, no client secret); not retried; the caller's *http.Client unchanged", "internal/lwa", "TestRedirectNotFollowed"},
	{"SP-API answers 301/302/303/307/308 to another host", "error naming the status and the endpoint; the other host receives no x-amz-access-token; not retried", "internal/spapi", "TestRedirectNotFollowed"},
	{"LWA_TOKEN_URL or SP_API_ENDPOINT plain http off loopback, with user information or a query", "rotate-secret stops at start with one message naming every problem, never the credentials or query; http on 127.0.0.0/8, ::1, localhost accepted", "functions/rotate-secret", "TestLoadConfig"},
	{"an http (non-loopback) endpoint given to the LWA client directly", "every call fails with endpoint.ErrInsecure and nothing is sent", "internal/lwa", "TestEndpointRefused"},
	{"an http (non-loopback) endpoint given to the SP-API client directly", "every call fails with endpoint.ErrInsecure and nothing is sent", "internal/spapi", "TestEndpointRefused"},
	{"LWA 5xx/429 until the retries run out, timeouts, deadline, 3xx, malformed and oversized bodies, dropped connections, all echoing the form", "errors (%v, %+v, %#v, every wrapped error, slog) hold no piece of the client secret, refresh token, access token or form", "internal/lwa", "TestErrorPathsKeepSecrets"},
	{"SP-API 5xx/429 until the retries run out, timeouts, deadline, 3xx, malformed bodies, all echoing the access token", "errors hold no piece of the access token in any format", "internal/spapi", "TestErrorPathsKeepToken"},
	{"new-secret notification whose clientId, applicationId or notificationId is not an id (white space, markup, too long, secret-shaped, equal to the secret)", "ErrBadValue naming the field, never the value: malformed, dead-letter queue, NOTIFICATION_REJECTED", "internal/notification", "TestParseNewSecretErrors"},
	{"expiry notice whose clientId, applicationId or notificationId is not an id", "ErrBadValue naming the field: malformed, dead-letter queue, NOTIFICATION_REJECTED", "internal/notification", "TestParseSecretExpiryErrors"},
	{"an alert whose clientId, applicationId or notificationId is not an id", "Render refuses it with ErrBadID (also ErrLooksSecret), naming the field, never the value", "internal/alert", "TestRenderRefusesBadIDs"},
	{"every broken secret document shape (internal/secretdoc/testdata/broken)", "ErrInvalid naming the key to fix, or an offset; no piece of the secret in any format", "internal/secretdoc", "TestBrokenDocuments"},
	{"every broken secret document shape in AWSCURRENT, then an expiry notice", "no piece of the secret in any log line, alert, error or response; values never read", "internal/expiry", "TestBrokenDocumentsExpiry"},
	{"every broken secret document shape in AWSCURRENT, then a rotation (createSecret, configuration test)", "each step fails; no piece of the secret in any error, log line or alert; a ROTATION_FAILED names the key to fix", "internal/rotation", "TestBrokenDocumentsLeakNothing"},
	{"every broken secret document shape in AWSCURRENT, then a valid new-secret notification", "rejected (NOTIFICATION_REJECTED, dead-letter queue), nothing written; no piece of the secret in any log line, alert or response", "internal/receiver", "TestBrokenDocumentsLeakNothing"},
	{"LWA answers 503 (echoing the form) until the real client's retries end, during createSecret", "the step fails, nothing is requested, the request tag is removed; no piece of the client secret in the error or logs", "internal/rotation", "TestLWAUnavailableUntilRetriesEnd"},
	{"a forged finishSecret invocation for a pending version that never passed testSecret", "LWA is asked first; credentials it refuses are not promoted, AWSCURRENT unchanged", "internal/rotation", "TestFinishSecretChecksPendingWithLWA"},
	{"a client id tagged on two secrets when a rotation would ask Amazon", "no LWA or SP-API call, ROTATION_FAILED with the fix, no request tag", "internal/rotation", "TestCreateSecretCase5AmbiguousClientID"},
	{"a redirect from LWA or SP-API during createSecret", "the request fails with ROTATION_FAILED naming the endpoint settings; the request tag is removed", "internal/rotation", "TestCreateSecretCase5EndpointRedirect"},
	{"a NEW_SECRET whose secret LWA never accepts, claiming a later expiry than any real one", "stored, tried once, rejected after SECRET_REJECT_AFTER (fingerprint in sp-api-lwa:rejected-secrets), never adopted again; the next rotation adopts the genuine secret", "internal/rotation", "TestTestSecretCase9RejectsForged"},
	{"a newClientSecret that cannot be a client secret (shaped like a client id)", "rejected: NOTIFICATION_REJECTED, nothing written", "internal/receiver", "TestDeliveredSecretNotASecret"},
	{"the receiver's role asked to store a version labelled AWSCURRENT, AWSPENDING or AWSPREVIOUS", "denied by IAM (Deny statement on secretsmanager:VersionStage)", "deploy", "test_receiver_cannot_make_a_version_current"},
	{"a rotation starter's role asked to change the rotation function or schedule", "denied by IAM (Deny statements on RotationLambdaARN and ModifyRotationRules)", "deploy", "test_rotation_starters_cannot_change_rotation_configuration"},
	{"a notification larger than the real payloads", "refused by the queue (MaximumMessageSize)", "deploy", "test_notification_queues_take_only_notification_sized_messages"},
}

// TestHostileUnitInputs checks that every row of hostileUnitInputs names a
// test that exists, so the table cannot point at nothing.
func TestHostileUnitInputs(t *testing.T) {
	for _, r := range hostileUnitInputs {
		if r.input == "" || r.outcome == "" {
			t.Errorf("row %q: input and outcome are required", r.test)
		}
		pattern, decl := "*_test.go", "\nfunc "+r.test+"(t *testing.T) {"
		if r.dir == "deploy" { // the template's offline tests
			pattern, decl = "*_test.py", "def "+r.test+"(self"
		}
		files, err := filepath.Glob(filepath.Join("..", "..", r.dir, pattern))
		if err != nil || len(files) == 0 {
			t.Errorf("row %q: no test files in %s", r.input, r.dir)
			continue
		}
		found := false
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(b), decl) {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("row %q: %s has no func %s", r.input, r.dir, r.test)
		}
	}
}
