package watchdog

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/spapi-lwa/secret-rotation/internal/alert"
	"github.com/spapi-lwa/secret-rotation/internal/lwa"
	"github.com/spapi-lwa/secret-rotation/internal/managed"
	"github.com/spapi-lwa/secret-rotation/internal/secretdoc"
	"github.com/spapi-lwa/secret-rotation/test/secretsmanagertest"
	"github.com/spapi-lwa/secret-rotation/test/snstest"
)

const (
	topic   = "arn:aws:sns:us-east-1:123456789012:alerts"
	ourFn   = "arn:aws:lambda:us-east-1:123456789012:function:rotate"
	otherFn = "arn:aws:lambda:us-east-1:123456789012:function:other"
)

var now = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

// fakeLWA answers client-credentials requests: invalid_client for the
// client ids in rejected, a server error for all when down. It counts
// requests per client id.
type fakeLWA struct {
	mu       sync.Mutex
	rejected map[string]bool
	down     bool
	calls    map[string]int
	scopes   []string
}

func (f *fakeLWA) ClientCredentials(ctx context.Context, clientID string, secret lwa.ClientSecret, scope string) (lwa.Token, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.calls == nil {
		f.calls = map[string]int{}
	}
	f.calls[clientID]++
	f.scopes = append(f.scopes, scope)
	switch {
	case f.down:
		return lwa.Token{}, fmt.Errorf("lwa: token request: %w", lwa.ErrServer)
	case f.rejected[clientID]:
		return lwa.Token{}, &lwa.Error{StatusCode: 401, Code: "invalid_client", Description: "Client authentication failed"}
	}
	return lwa.Token{AccessToken: "Atza|token", TokenType: "bearer", ExpiresIn: time.Hour}, nil
}

func secretOf(name string) string { return "amzn1.oa2-cs.v1.secretvalueof" + name }
func clientOf(name string) string { return "amzn1.application-oa2-client." + name }

func docOf(name, expires string) string {
	extra := ""
	if expires != "" {
		extra = fmt.Sprintf(`,"clientSecretExpiresAt":%q`, expires)
	}
	return fmt.Sprintf(`{"clientId":%q,"clientSecret":%q,"refreshToken":"Atzr|refresh%s"%s}`, clientOf(name), secretOf(name), name, extra)
}

type world struct {
	sm      *secretsmanagertest.Fake
	sns     *snstest.Fake
	lwa     *fakeLWA
	logs    *bytes.Buffer
	metrics *bytes.Buffer
	h       *Handler
	clock   time.Time
}

func newWorld(t *testing.T) *world {
	w := &world{
		sm: secretsmanagertest.New(), sns: &snstest.Fake{}, lwa: &fakeLWA{rejected: map[string]bool{}},
		logs: &bytes.Buffer{}, metrics: &bytes.Buffer{}, clock: now.Add(-30 * 24 * time.Hour),
	}
	w.sm.Now = func() time.Time { return w.clock }
	logger := slog.New(slog.NewJSONHandler(w.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	w.h = New(w.sm, w.sm, w.lwa, alert.NewPublisher(w.sns, topic), logger, Config{
		Keys: secretdoc.DefaultKeys, RotateFunctionARN: ourFn, StuckAfter: 6 * time.Hour,
		Metrics: w.metrics, Now: func() time.Time { return now },
	})
	return w
}

// seed creates a managed secret with rotation by our function.
func (w *world) seed(name, value string, tags map[string]string) string {
	all := map[string]string{managed.TagClientID: clientOf(name)}
	for k, v := range tags {
		all[k] = v
	}
	arn := w.sm.Seed(name, value, all)
	w.sm.SetRotation(arn, true, ourFn)
	return arn
}

// put writes a version with stages at the world's clock.
func (w *world) put(t *testing.T, arn, token, value string, stages ...string) {
	t.Helper()
	if _, err := w.sm.PutSecretValue(context.Background(), &secretsmanager.PutSecretValueInput{
		SecretId: aws.String(arn), ClientRequestToken: aws.String(token), SecretString: aws.String(value), VersionStages: stages,
	}); err != nil {
		t.Fatal(err)
	}
}

// reasons returns "name REASON SEVERITY" for every SECRET_AT_RISK alert, sorted.
func (w *world) reasons() []string {
	var out []string
	for _, a := range w.sns.Alerts() {
		if a["event"] != string(alert.EventSecretAtRisk) {
			continue
		}
		arn, _ := a["secretArn"].(string)
		name := arn[strings.LastIndex(arn, ":")+1:]
		name = name[:strings.LastIndex(name, "-")]
		out = append(out, fmt.Sprintf("%s %v %v", name, a["reason"], a["severity"]))
	}
	sort.Strings(out)
	return out
}

// checkNoSecrets fails t if a secret value of any seeded secret is in the
// logs, the metrics or the alerts.
func (w *world) checkNoSecrets(t *testing.T, names ...string) {
	t.Helper()
	var secrets []string
	for _, n := range names {
		secrets = append(secrets, secretOf(n), "Atzr|refresh"+n)
	}
	secrets = append(secrets, "Atza|token")
	w.sns.Check(t, topic, secrets...)
	for _, s := range secrets {
		if strings.Contains(w.logs.String(), s) {
			t.Errorf("logs contain a secret value: %s", w.logs)
		}
		if strings.Contains(w.metrics.String(), s) {
			t.Errorf("metrics contain a secret value: %s", w.metrics)
		}
	}
}

func TestSweepEveryReason(t *testing.T) {
	w := newWorld(t)
	far := now.Add(120 * 24 * time.Hour).Format(time.RFC3339)
	w.seed("healthy", docOf("healthy", far), nil)
	w.seed("healthy-tag-expiry", docOf("healthy-tag-expiry", ""), map[string]string{managed.TagClientSecretExpiresAt: far})
	w.seed("unknown-expiry", docOf("unknown-expiry", ""), nil)
	arn := w.seed("disabled", docOf("disabled", far), nil)
	w.sm.SetRotation(arn, false, "")
	arn = w.seed("disabled-soon", docOf("disabled-soon", now.Add(20*24*time.Hour).Format(time.RFC3339)), nil)
	w.sm.SetRotation(arn, false, "")
	arn = w.seed("foreign", docOf("foreign", far), nil)
	w.sm.SetRotation(arn, true, otherFn)
	w.seed("rejected", docOf("rejected", far), nil)
	w.lwa.rejected[clientOf("rejected")] = true
	w.seed("broken", `{"clientId":"`+clientOf("broken")+`","clientSecret":`, nil)
	w.seed("swapped", fmt.Sprintf(`{"clientId":%q,"clientSecret":%q}`, secretOf("swapped"), clientOf("swapped")), nil)
	w.seed("dup-a", docOf("dup", far), map[string]string{managed.TagClientID: clientOf("dup")})
	w.seed("dup-b", docOf("dup", far), map[string]string{managed.TagClientID: clientOf("dup")})
	w.seed("soon", docOf("soon", now.Add(10*24*time.Hour+time.Hour).Format(time.RFC3339)), nil)
	w.seed("critical", docOf("critical", now.Add(3*24*time.Hour).Format(time.RFC3339)), nil)
	// A rotation whose AWSPENDING version is a day old.
	arn = w.seed("stuck", docOf("stuck", far), nil)
	w.clock = now.Add(-24 * time.Hour)
	w.put(t, arn, "pending-1", docOf("stuck", far), managed.StagePending)
	// A delivered secret waiting for a day.
	w.clock = now.Add(-30 * 24 * time.Hour)
	arn = w.seed("waiting", docOf("waiting", far), nil)
	w.clock = now.Add(-24 * time.Hour)
	w.put(t, arn, "received-1", docOf("waiting", now.Add(179*24*time.Hour).Format(time.RFC3339)), managed.StageReceived)
	// A delivered secret that arrived an hour ago: not yet at risk.
	w.clock = now.Add(-30 * 24 * time.Hour)
	arn = w.seed("fresh-delivery", docOf("fresh-delivery", far), nil)
	w.clock = now.Add(-time.Hour)
	w.put(t, arn, "received-2", docOf("fresh-delivery", now.Add(179*24*time.Hour).Format(time.RFC3339)), managed.StageReceived)
	// Not managed: never read.
	w.sm.Seed("untagged", docOf("untagged", ""), nil)
	w.sm.ResetCalls()

	res, err := w.h.Handle(context.Background(), json.RawMessage(`{}`))
	if err != nil {
		t.Fatalf("Handle({}) error = %v", err)
	}
	want := []string{
		"broken INVALID_SECRET_DOCUMENT CRITICAL",
		"critical EXPIRING_SOON CRITICAL",
		"disabled ROTATION_DISABLED WARNING",
		"disabled-soon EXPIRING_SOON WARNING",
		"disabled-soon ROTATION_DISABLED CRITICAL",
		"dup-a AMBIGUOUS_CLIENT_ID CRITICAL",
		"dup-b AMBIGUOUS_CLIENT_ID CRITICAL",
		"foreign FOREIGN_ROTATION_FUNCTION WARNING",
		"rejected CREDENTIALS_REJECTED CRITICAL",
		"soon EXPIRING_SOON WARNING",
		"stuck ROTATION_STUCK CRITICAL",
		"swapped INVALID_SECRET_DOCUMENT CRITICAL",
		"waiting RECEIVED_NOT_ADOPTED CRITICAL",
	}
	if got := w.reasons(); !slices.Equal(got, want) {
		t.Errorf("alerts =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if res.Kind != "sweep" || res.Secrets != 16 || res.Alerts != len(want) {
		t.Errorf("Handle({}) = %+v, want a sweep of 16 secrets with %d alerts", res, len(want))
	}
	// Every alert: MANUAL_ACTION_REQUIRED, the attributes, a fix.
	for i, in := range w.sns.Published() {
		attrs := snstest.Attributes(in)
		doc := w.sns.Alerts()[i]
		if attrs["event"] != "SECRET_AT_RISK" || attrs["severity"] != doc["severity"] || attrs["clientId"] != doc["clientId"] || attrs["clientId"] == "" {
			t.Errorf("alert %d attributes = %v, document %v", i, attrs, doc)
		}
		if doc["action"] != "MANUAL_ACTION_REQUIRED" {
			t.Errorf("alert %d action = %v", i, doc["action"])
		}
		if email := snstest.Structure(t, in)["email"]; !strings.Contains(email, "aws ") && !strings.Contains(email, "Solution Provider Portal") {
			t.Errorf("alert %d email has no runbook step:\n%s", i, email)
		}
	}
	// Cost: one listing page, then per managed secret one of each read and
	// at most one LWA request; nothing written.
	calls := w.sm.CallCounts()
	for op, n := range calls {
		switch op {
		case "ListSecrets":
			if n != 1 {
				t.Errorf("ListSecrets calls = %d, want 1", n)
			}
		case "DescribeSecret", "ListSecretVersionIds", "GetSecretValue":
			if n != 16 {
				t.Errorf("%s calls = %d, want 16 (one per managed secret)", op, n)
			}
		default:
			if n > 0 {
				t.Errorf("%s called %d times; the watchdog only reads", op, n)
			}
		}
	}
	total := 0
	for id, n := range w.lwa.calls {
		total += n
		if n > 1 && id != clientOf("dup") {
			t.Errorf("LWA requests for %s = %d, want at most 1", id, n)
		}
	}
	// Two secrets share "dup"; "broken" and "swapped" have no usable document.
	if total != 14 {
		t.Errorf("LWA requests = %d, want 14 (one per usable document)", total)
	}
	for _, s := range w.lwa.scopes {
		if s != lwa.ScopeRotation {
			t.Errorf("LWA scope = %q, want %q", s, lwa.ScopeRotation)
		}
	}
	w.checkNoSecrets(t, "healthy", "healthy-tag-expiry", "unknown-expiry", "disabled", "disabled-soon", "foreign", "rejected",
		"broken", "swapped", "dup", "soon", "critical", "stuck", "waiting", "fresh-delivery", "untagged")
	// One metric record per secret whose expiry is known: all but
	// unknown-expiry, broken and swapped.
	if n := strings.Count(w.metrics.String(), "\n"); n != 13 {
		t.Errorf("metric records = %d, want 13:\n%s", n, w.metrics)
	}
}

func TestSweepMetricShape(t *testing.T) {
	w := newWorld(t)
	w.seed("app", docOf("app", now.Add(42*24*time.Hour+time.Hour).Format(time.RFC3339)), nil)
	if _, err := w.h.Handle(context.Background(), json.RawMessage(`{"source":"aws.scheduler","detail-type":"Scheduled Event","detail":{}}`)); err != nil {
		t.Fatalf("Handle(schedule) error = %v", err)
	}
	want := fmt.Sprintf(`{"_aws":{"Timestamp":%d,"CloudWatchMetrics":[{"Namespace":"SpApiLwaRotation","Dimensions":[["ClientId"],[]],"Metrics":[{"Name":"DaysUntilExpiry","Unit":"None"}]}]},"ClientId":%q,"DaysUntilExpiry":42}`+"\n",
		now.UnixMilli(), clientOf("app"))
	if got := w.metrics.String(); got != want {
		t.Errorf("metrics =\n%s\nwant\n%s", got, want)
	}
	if n := w.sns.Calls(); n != 0 {
		t.Errorf("a healthy secret got %d alerts", n)
	}
}

func TestSweepGoesOnAfterAFailure(t *testing.T) {
	w := newWorld(t)
	w.seed("a", docOf("a", ""), nil)
	bad := w.seed("b", docOf("b", ""), nil)
	arn := w.seed("c", docOf("c", ""), nil)
	w.sm.SetRotation(arn, false, "")
	w.sm.Fail = func(_ context.Context, op string, in any) error {
		if g, ok := in.(*secretsmanager.GetSecretValueInput); ok && aws.ToString(g.SecretId) == bad {
			return errors.New("AccessDeniedException: not allowed")
		}
		return nil
	}
	res, err := w.h.Handle(context.Background(), json.RawMessage(`{"source":"aws.events","detail-type":"Scheduled Event"}`))
	if err == nil || !strings.Contains(err.Error(), "1 of 3 secrets could not be checked") {
		t.Errorf("Handle() error = %v, want one of three secrets unreadable", err)
	}
	if got, want := w.reasons(), []string{"c ROTATION_DISABLED WARNING"}; !slices.Equal(got, want) {
		t.Errorf("alerts = %q, want %q (published before the error)", got, want)
	}
	if res.Alerts != 1 || res.Secrets != 3 {
		t.Errorf("Handle() = %+v", res)
	}
	if !strings.Contains(w.logs.String(), bad) {
		t.Errorf("logs do not name the unreadable secret: %s", w.logs)
	}
}

func TestSweepPublishFailure(t *testing.T) {
	w := newWorld(t)
	arn := w.seed("a", docOf("a", ""), nil)
	w.sm.SetRotation(arn, false, "")
	w.seed("b", docOf("b", ""), nil)
	w.sns.Fail = func(context.Context, *sns.PublishInput) error { return errors.New("throttled") }
	res, err := w.h.Handle(context.Background(), json.RawMessage(`{}`))
	if err == nil || !strings.Contains(err.Error(), "1 alerts could not be published") {
		t.Errorf("Handle() error = %v, want one alert unpublished", err)
	}
	if res.Alerts != 0 || res.Secrets != 2 || w.sns.Calls() != 1 {
		t.Errorf("Handle() = %+v after %d publish calls", res, w.sns.Calls())
	}
	_ = arn
}

func TestSweepLWAUnavailable(t *testing.T) {
	w := newWorld(t)
	w.seed("a", docOf("a", ""), nil)
	w.lwa.down = true
	if _, err := w.h.Handle(context.Background(), json.RawMessage(`{}`)); err != nil {
		t.Fatalf("Handle() error = %v; LWA being down is not the secret's fault", err)
	}
	if n := w.sns.Calls(); n != 0 {
		t.Errorf("alerts = %v, want none", w.sns.Summaries())
	}
	if !strings.Contains(w.logs.String(), "LWA did not judge") {
		t.Errorf("logs do not say LWA was not asked: %s", w.logs)
	}
}

func TestSweepEmptyFleet(t *testing.T) {
	w := newWorld(t)
	res, err := w.h.Handle(context.Background(), json.RawMessage(`{}`))
	if err != nil || res.Secrets != 0 || res.Alerts != 0 {
		t.Errorf("Handle() = %+v, %v; want an empty sweep", res, err)
	}
	w.sm.Fail = func(context.Context, string, any) error { return errors.New("throttled") }
	if _, err := w.h.Handle(context.Background(), json.RawMessage(`{}`)); err == nil {
		t.Errorf("Handle() with ListSecrets failing: error = nil")
	}
}

func failureEvent(name, secretID, errorMessage string) json.RawMessage {
	ev := map[string]any{
		"version": "0", "id": "e-1", "source": "aws.secretsmanager", "account": "123456789012",
		"detail-type": "AWS Service Event via CloudTrail", "time": "2026-11-27T12:00:00Z", "region": "us-east-1",
		"detail": map[string]any{
			"eventVersion": "1.08", "eventSource": "secretsmanager.amazonaws.com", "eventName": name,
			"additionalEventData": map[string]any{"SecretId": secretID},
			"errorMessage":        errorMessage,
		},
	}
	b, _ := json.Marshal(ev)
	return b
}

func TestRotationFailed(t *testing.T) {
	w := newWorld(t)
	arn := w.seed("app", docOf("app", ""), nil)
	untagged := w.sm.Seed("untagged", docOf("untagged", ""), nil)
	w.sm.ResetCalls()
	tests := []struct {
		name      string
		ev        json.RawMessage
		wantAlert bool
		wantText  string
	}{
		{"RotationFailed", failureEvent("RotationFailed", arn, "createSecret: the new secret has not arrived yet"), true, "createSecret: the new secret has not arrived yet"},
		{"RotationAbandoned", failureEvent("RotationAbandoned", arn, ""), true, "RotationAbandoned"},
		{"TestRotationFailed", failureEvent("TestRotationFailed", arn, "testSecret: LWA rejects the pending secret"), true, "testSecret"},
		{"secret-shaped text", failureEvent("RotationFailed", arn, "got "+secretOf("app")), true, "withheld"},
		{"untagged secret", failureEvent("RotationFailed", untagged, "boom"), false, ""},
		{"deleted secret", failureEvent("RotationFailed", "arn:aws:secretsmanager:us-east-1:123456789012:secret:gone-AbCdEf", "boom"), false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(w.sns.Published())
			res, err := w.h.Handle(context.Background(), tt.ev)
			if err != nil {
				t.Fatalf("Handle() error = %v", err)
			}
			alerts := w.sns.Alerts()[before:]
			if !tt.wantAlert {
				if len(alerts) != 0 || !res.Ignored {
					t.Errorf("Handle() = %+v, alerts %v; want the secret left alone", res, alerts)
				}
				return
			}
			if len(alerts) != 1 || res.Alerts != 1 {
				t.Fatalf("alerts = %v, want one", alerts)
			}
			a := alerts[0]
			if a["event"] != "ROTATION_FAILED" || a["severity"] != "CRITICAL" || a["action"] != "MANUAL_ACTION_REQUIRED" ||
				a["secretArn"] != arn || a["clientId"] != clientOf("app") {
				t.Errorf("alert = %v", a)
			}
			if msg, _ := a["message"].(string); !strings.Contains(msg, tt.wantText) {
				t.Errorf("message = %q, want it to contain %q", msg, tt.wantText)
			}
		})
	}
	w.checkNoSecrets(t, "app", "untagged")
	for op, n := range w.sm.CallCounts() {
		if op != "DescribeSecret" && n > 0 {
			t.Errorf("a failure event called %s; it needs DescribeSecret only", op)
		}
	}
}

func TestUnknownEvents(t *testing.T) {
	w := newWorld(t)
	for _, ev := range []string{
		`null`, `[]`, `"x"`, `{"source":"aws.s3","detail-type":"Object Created"}`,
		`{"source":"aws.events","detail-type":"Something Else"}`,
		`{"detail-type":"AWS Service Event via CloudTrail","detail":{"eventName":"RotationSucceeded","additionalEventData":{"SecretId":"x"}}}`,
		`{"detail-type":"AWS Service Event via CloudTrail","detail":{"eventName":"RotationFailed"}}`,
		`{"Records":[]}`,
	} {
		if _, err := w.h.Handle(context.Background(), json.RawMessage(ev)); !errors.Is(err, ErrUnknownEvent) {
			t.Errorf("Handle(%s) error = %v, want ErrUnknownEvent", ev, err)
		}
	}
	if w.sm.TotalCalls() != 0 || w.sns.Calls() != 0 {
		t.Errorf("unknown events made calls: %v, %d alerts", w.sm.CallCounts(), w.sns.Calls())
	}
}

// TestSampleEvents runs the samples of events/ (those `sam local invoke`
// uses) through Handle.
func TestSampleEvents(t *testing.T) {
	w := newWorld(t)
	data, err := os.ReadFile("../../events/watchdog-schedule.json")
	if err != nil {
		t.Fatal(err)
	}
	if res, err := w.h.Handle(context.Background(), data); err != nil || res.Kind != "sweep" {
		t.Errorf("Handle(watchdog-schedule.json) = %+v, %v; want a sweep", res, err)
	}
	data, err = os.ReadFile("../../events/watchdog-rotation-failed.json")
	if err != nil {
		t.Fatal(err)
	}
	var ev struct {
		Detail struct {
			AdditionalEventData struct{ SecretId string } `json:"additionalEventData"`
		} `json:"detail"`
	}
	if err := json.Unmarshal(data, &ev); err != nil {
		t.Fatal(err)
	}
	w.sm.ResetCalls()
	res, err := w.h.Handle(context.Background(), data)
	if err != nil || res.Kind != "rotationFailure" || !res.Ignored || w.sm.Calls("DescribeSecret") != 1 {
		t.Errorf("Handle(watchdog-rotation-failed.json) = %+v, %v after %v; want the unknown secret %s looked up and ignored",
			res, err, w.sm.CallCounts(), ev.Detail.AdditionalEventData.SecretId)
	}
}
