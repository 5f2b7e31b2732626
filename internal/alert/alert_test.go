package alert

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
)

func intp(i int) *int { return &i }

func TestSeverityForDaysLeft(t *testing.T) {
	for _, tc := range []struct {
		days int
		want Severity
	}{
		{90, SeverityInfo}, {60, SeverityInfo}, {31, SeverityInfo}, {30, SeverityWarning},
		{15, SeverityWarning}, {8, SeverityWarning}, {7, SeverityCritical}, {1, SeverityCritical},
		{0, SeverityCritical}, {-3, SeverityCritical},
	} {
		if got := SeverityForDaysLeft(tc.days); got != tc.want {
			t.Errorf("SeverityForDaysLeft(%d) = %s, want %s", tc.days, got, tc.want)
		}
	}
}

func TestDaysLeft(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		exp  time.Time
		want int
	}{
		{now.Add(30 * 24 * time.Hour), 30},
		{now.Add(30*24*time.Hour - time.Second), 29},
		{now.Add(time.Hour), 0},
		{now, 0},
		{now.Add(-time.Hour), -1},
		{now.Add(-48 * time.Hour), -2},
	} {
		if got := DaysLeft(now, tc.exp); got != tc.want {
			t.Errorf("DaysLeft(%v) = %d, want %d", tc.exp.Sub(now), got, tc.want)
		}
	}
}

func sample() Alert {
	exp := time.Date(2027, 5, 26, 10, 0, 0, 0, time.UTC)
	return Alert{
		Event: EventExpiring, Severity: SeverityWarning, ClientID: "amzn1.application-oa2-client.abc",
		ApplicationID: "amzn1.sp.solution.def", SecretARN: "arn:aws:secretsmanager:us-east-1:1:secret:app-1",
		ExpiresAt: &exp, DaysLeft: intp(30), Action: ActionRotationStarted, NotificationID: "n-1",
		Message: "The client secret expires in 30 days; a rotation was started.",
		Did:     "Started a rotation.",
	}
}

func TestRenderDefaultDocument(t *testing.T) {
	in, err := Render("arn:aws:sns:us-east-1:1:alerts", sample())
	if err != nil {
		t.Fatalf("Render() error = %v", err)
	}
	var msg map[string]string
	if err := json.Unmarshal([]byte(aws.ToString(in.Message)), &msg); err != nil {
		t.Fatalf("message is not JSON: %v", err)
	}
	want := `{"event":"CLIENT_SECRET_EXPIRING","severity":"WARNING","clientId":"amzn1.application-oa2-client.abc","applicationId":"amzn1.sp.solution.def","secretArn":"arn:aws:secretsmanager:us-east-1:1:secret:app-1","expiresAt":"2027-05-26T10:00:00Z","daysLeft":30,"action":"ROTATION_STARTED","notificationId":"n-1","message":"The client secret expires in 30 days; a rotation was started."}`
	if msg["default"] != want {
		t.Errorf("default = %s\nwant %s", msg["default"], want)
	}
	if !strings.Contains(msg["email"], "What you must do:\nNothing.") || !strings.Contains(msg["email"], "Days left:") {
		t.Errorf("email = %q, want the days left and nothing to do", msg["email"])
	}
	if aws.ToString(in.MessageStructure) != "json" || aws.ToString(in.TopicArn) != "arn:aws:sns:us-east-1:1:alerts" {
		t.Errorf("structure/topic = %v/%v", aws.ToString(in.MessageStructure), aws.ToString(in.TopicArn))
	}
	for k, v := range map[string]string{"event": "CLIENT_SECRET_EXPIRING", "severity": "WARNING", "clientId": "amzn1.application-oa2-client.abc"} {
		a := in.MessageAttributes[k]
		if aws.ToString(a.DataType) != "String" || aws.ToString(a.StringValue) != v {
			t.Errorf("attribute %s = %s/%s, want String/%s", k, aws.ToString(a.DataType), aws.ToString(a.StringValue), v)
		}
	}
	if got, want := aws.ToString(in.Subject), "[WARNING] SP-API LWA client secret expires in 30 days: amzn1.sp.solution.def"; got != want {
		t.Errorf("subject = %q, want %q", got, want)
	}
}

func TestZeroDaysLeftIsKept(t *testing.T) {
	a := sample()
	a.DaysLeft = intp(0)
	in, err := Render("t", a)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(aws.ToString(in.Message), `\"daysLeft\":0`) {
		t.Errorf("message %s lacks daysLeft 0", aws.ToString(in.Message))
	}
	if s := aws.ToString(in.Subject); !strings.Contains(s, "expires today") {
		t.Errorf("subject = %q, want 'expires today'", s)
	}
}

func TestSubjectLimits(t *testing.T) {
	a := sample()
	a.ApplicationID = strings.Repeat("é", 200) + "\nnext"
	s := a.Subject()
	if len(s) > MaxSubject {
		t.Errorf("len(Subject()) = %d, want <= %d", len(s), MaxSubject)
	}
	for _, r := range s {
		if r < 0x20 || r > 0x7e {
			t.Fatalf("Subject() = %q has non-printable or non-ASCII %q", s, r)
		}
	}
}

func TestRenderRefusesSecretShapes(t *testing.T) {
	for _, leak := range []string{"amzn1.oa2-cs.v1.0123456789abcdef", "Atza|IwEBIabc", "Atzr|IwEBIdef"} {
		for name, mod := range map[string]func(*Alert){
			"message": func(a *Alert) { a.Message = "value " + leak },
			"did":     func(a *Alert) { a.Did = leak },
			"todo":    func(a *Alert) { a.ToDo = leak },
			"app":     func(a *Alert) { a.ApplicationID = leak },
		} {
			a := sample()
			mod(&a)
			in, err := Render("t", a)
			if !errors.Is(err, ErrLooksSecret) {
				t.Errorf("Render(%s with %s) error = %v, want ErrLooksSecret", name, leak[:6], err)
			}
			if err != nil && strings.Contains(err.Error(), leak) {
				t.Errorf("error %q quotes the secret", err)
			}
			if in != nil {
				t.Errorf("Render(%s) returned input despite secret", name)
			}
		}
	}
}

func TestRenderRequiresFields(t *testing.T) {
	a := sample()
	a.Message = ""
	if _, err := Render("t", a); err == nil {
		t.Error("Render() with no message succeeded")
	}
}

func TestRenderOversize(t *testing.T) {
	a := sample()
	a.ToDo = strings.Repeat("x", MaxMessage)
	if _, err := Render("t", a); err == nil {
		t.Error("Render() of an oversize alert succeeded")
	}
}

type recorder struct {
	got []*sns.PublishInput
	err error
}

func (r *recorder) Publish(ctx context.Context, in *sns.PublishInput, _ ...func(*sns.Options)) (*sns.PublishOutput, error) {
	if r.err != nil {
		return nil, r.err
	}
	r.got = append(r.got, in)
	return &sns.PublishOutput{}, nil
}

func TestPublisher(t *testing.T) {
	r := &recorder{}
	p := NewPublisher(r, "arn:topic")
	if err := p.Publish(context.Background(), sample()); err != nil {
		t.Fatalf("Publish() = %v", err)
	}
	if len(r.got) != 1 || aws.ToString(r.got[0].TopicArn) != "arn:topic" {
		t.Fatalf("published %d messages", len(r.got))
	}
	r.err = errors.New("boom")
	if err := p.Publish(context.Background(), sample()); !errors.Is(err, r.err) {
		t.Errorf("Publish() = %v, want wrapped boom", err)
	}
}

func BenchmarkRender(b *testing.B) {
	a := sample()
	for b.Loop() {
		if _, err := Render("arn:aws:sns:us-east-1:1:alerts", a); err != nil {
			b.Fatal(err)
		}
	}
}

func TestCheckTopicARN(t *testing.T) {
	for arn, ok := range map[string]bool{
		"arn:aws:sns:us-east-1:123456789012:alerts": true,
		"":       false,
		"alerts": false,
		"arn:aws:sqs:us-east-1:123456789012:alerts": false,
	} {
		if err := CheckTopicARN(arn); (err == nil) != ok {
			t.Errorf("CheckTopicARN(%q) = %v, want ok %v", arn, err, ok)
		}
	}
}

// TestRenderRefusesBadIDs: an id that is not an id (redact.ValidID) is
// refused before anything is rendered, and the error names the field, never
// the value.
func TestRenderRefusesBadIDs(t *testing.T) {
	bad := map[string]string{
		"space":     "amzn1.application-oa2-client.x BADVALUE",
		"newline":   "x\nBADVALUE",
		"markup":    "<b>BADVALUE</b>",
		"too long":  "BADVALUE" + strings.Repeat("a", 121),
		"secret":    "amzn1.oa2-cs.v1.BADVALUE",
		"not ASCII": "BADVALUE\u00e9",
	}
	fields := map[string]func(*Alert, string){
		"clientId":       func(a *Alert, v string) { a.ClientID = v },
		"applicationId":  func(a *Alert, v string) { a.ApplicationID = v },
		"notificationId": func(a *Alert, v string) { a.NotificationID = v },
	}
	for field, set := range fields {
		for kind, v := range bad {
			a := sample()
			set(&a, v)
			in, err := Render("arn:aws:sns:us-east-1:1:alerts", a)
			if !errors.Is(err, ErrBadID) || !errors.Is(err, ErrLooksSecret) {
				t.Errorf("Render(%s %s) error = %v, want ErrBadID and ErrLooksSecret", field, kind, err)
			}
			if in != nil {
				t.Errorf("Render(%s %s) returned a publish input", field, kind)
			}
			if err != nil && (strings.Contains(err.Error(), "BADVALUE") || !strings.Contains(err.Error(), field)) {
				t.Errorf("Render(%s %s) error = %q, want the field named and the value not", field, kind, err)
			}
		}
		a := sample()
		set(&a, "amzn1.application-oa2-client.6XXXXXXXXXXXXXXXXXXXXXXXXX")
		if _, err := Render("arn:aws:sns:us-east-1:1:alerts", a); err != nil {
			t.Errorf("Render(%s valid) error = %v", field, err)
		}
	}
}

// TestPublishErrorNamesNoID: the publish error names the event, not the
// client id (the caller logs ids it has checked).
func TestPublishErrorNamesNoID(t *testing.T) {
	a := sample()
	p := NewPublisher(&recorder{err: errors.New("boom")}, "arn:topic")
	err := p.Publish(context.Background(), a)
	if err == nil || strings.Contains(err.Error(), a.ClientID) {
		t.Errorf("Publish() error = %v, want an error without the client id %q", err, a.ClientID)
	}
	a.ClientID = "amzn1.oa2-cs.v1.leaked"
	err = p.Publish(context.Background(), a)
	if err == nil || strings.Contains(err.Error(), "leaked") {
		t.Errorf("Publish() error = %v, want an error without the value", err)
	}
}

func TestRenderSecretAtRisk(t *testing.T) {
	a := Alert{
		Event: EventSecretAtRisk, Severity: SeverityCritical, ClientID: "amzn1.application-oa2-client.abc",
		SecretARN: "arn:aws:secretsmanager:us-east-1:1:secret:app-1", Action: ActionManual,
		Reason: "ROTATION_DISABLED", Message: "Rotation is not enabled.", ToDo: "Enable it.",
	}
	in, err := Render("arn:aws:sns:us-east-1:1:alerts", a)
	if err != nil {
		t.Fatalf("Render() error = %v", err)
	}
	var msg map[string]string
	if err := json.Unmarshal([]byte(aws.ToString(in.Message)), &msg); err != nil {
		t.Fatalf("message is not JSON: %v", err)
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(msg["default"]), &doc); err != nil {
		t.Fatalf("default is not JSON: %v", err)
	}
	if doc["event"] != "SECRET_AT_RISK" || doc["reason"] != "ROTATION_DISABLED" {
		t.Errorf("default = %s, want event SECRET_AT_RISK and reason ROTATION_DISABLED", msg["default"])
	}
	if want := "[CRITICAL] SP-API LWA client secret at risk (ROTATION_DISABLED): amzn1.application-oa2-client.abc"; a.Subject() != want {
		t.Errorf("Subject() = %q, want %q", a.Subject(), want)
	}
	if !strings.Contains(msg["email"], "Reason:          ROTATION_DISABLED") {
		t.Errorf("email = %q, want a Reason row", msg["email"])
	}
	// Other alerts carry no reason key.
	in, err = Render("arn:aws:sns:us-east-1:1:alerts", sample())
	if err != nil {
		t.Fatalf("Render(sample) error = %v", err)
	}
	if strings.Contains(aws.ToString(in.Message), "reason") {
		t.Errorf("an alert without a reason renders one: %s", aws.ToString(in.Message))
	}
}
