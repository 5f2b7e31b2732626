// Package alert is the project's alert model and its SNS rendering (docs/design.md "Alerts"): one
// Publish with MessageStructure=json, the event as JSON under "default" and plain text under "email".
package alert

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sns/types"

	"github.com/spapi-lwa/secret-rotation/internal/redact"
)

// Event is what happened.
type Event string

// Events.
const (
	EventExpiring       Event = "CLIENT_SECRET_EXPIRING"
	EventReceived       Event = "NEW_CLIENT_SECRET_RECEIVED"
	EventRotated        Event = "CLIENT_SECRET_ROTATED"
	EventRotationFailed Event = "ROTATION_FAILED"
	EventRejected       Event = "NOTIFICATION_REJECTED"
	EventSecretAtRisk   Event = "SECRET_AT_RISK" // the watchdog's: one alert per secret and reason
)

// Severity is how urgent it is.
type Severity string

// Severities.
const (
	SeverityInfo     Severity = "INFO"
	SeverityWarning  Severity = "WARNING"
	SeverityCritical Severity = "CRITICAL"
)

// Action is what the system did, or that a person must act.
type Action string

// Actions.
const (
	ActionRotationStarted Action = "ROTATION_STARTED"
	ActionRotationResumed Action = "ROTATION_RESUMED"
	ActionNone            Action = "NONE"
	ActionManual          Action = "MANUAL_ACTION_REQUIRED"
)

// SeverityForDaysLeft is CRITICAL at 7 days left or fewer, WARNING at 30 or fewer, INFO otherwise.
func SeverityForDaysLeft(daysLeft int) Severity {
	switch {
	case daysLeft <= 7:
		return SeverityCritical
	case daysLeft <= 30:
		return SeverityWarning
	}
	return SeverityInfo
}

// DaysLeft is the number of whole days from now until expiresAt, rounded down; negative once expired.
func DaysLeft(now, expiresAt time.Time) int {
	d := expiresAt.Sub(now)
	days := int(d / (24 * time.Hour))
	if d < 0 && d%(24*time.Hour) != 0 {
		days--
	}
	return days
}

// Alert is one alert. The JSON form is the "default" document.
type Alert struct {
	Event          Event      `json:"event"`
	Severity       Severity   `json:"severity"`
	ClientID       string     `json:"clientId"`
	ApplicationID  string     `json:"applicationId,omitempty"`
	SecretARN      string     `json:"secretArn,omitempty"`
	ExpiresAt      *time.Time `json:"expiresAt,omitempty"`
	DaysLeft       *int       `json:"daysLeft,omitempty"`
	Action         Action     `json:"action"`
	NotificationID string     `json:"notificationId,omitempty"`
	MessageID      string     `json:"messageId,omitempty"`
	VersionID      string     `json:"versionId,omitempty"`
	Reason         string     `json:"reason,omitempty"` // why a SECRET_AT_RISK alert was raised
	Message        string     `json:"message"`          // one sentence for a person

	Did  string `json:"-"` // what the system did, for the email
	ToDo string `json:"-"` // what a person must do, commands included; "" when nothing
}

// Limits of SNS that Render keeps to: the subject, and a whole message (256 KiB).
const (
	MaxSubject = 100
	MaxMessage = 256 * 1024
)

// Errors of Render. ErrBadID matches ErrLooksSecret too: a malformed id may hold anything, a secret included.
var (
	ErrLooksSecret       = errors.New("alert: text looks like a secret value") // shaped like a client secret or token
	ErrBadID       error = badIDError{}                                        // an id field is not an id
)

type badIDError struct{}

func (badIDError) Error() string        { return "alert: an id field is not an id" }
func (badIDError) Is(target error) bool { return target == ErrLooksSecret }

// ExpiresIn is "expires today", "expires in 1 day" or "expires in N days".
func ExpiresIn(days int) string {
	switch days {
	case 0:
		return "expires today"
	case 1:
		return "expires in 1 day"
	}
	return fmt.Sprintf("expires in %d days", days)
}

// Subject is the email subject: severity, what happened, the application.
func (a Alert) Subject() string {
	what := map[Event]string{
		EventExpiring:       "LWA client secret expires",
		EventReceived:       "new LWA client secret received",
		EventRotated:        "LWA client secret rotated",
		EventRotationFailed: "LWA client secret rotation failed",
		EventRejected:       "notification rejected",
		EventSecretAtRisk:   "LWA client secret at risk",
	}[a.Event]
	if a.Reason != "" {
		what += " (" + a.Reason + ")"
	}
	if what == "" {
		what = string(a.Event)
	}
	if a.Event == EventExpiring && a.DaysLeft != nil {
		what = "LWA client secret has expired"
		if *a.DaysLeft >= 0 {
			what = "LWA client secret " + ExpiresIn(*a.DaysLeft)
		}
	}
	s := fmt.Sprintf("[%s] SP-API %s", a.Severity, what)
	if app := cmp.Or(a.ApplicationID, a.ClientID); app != "" {
		s += ": " + app
	}
	// SNS wants printable ASCII on one line.
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return ' '
		}
		return r
	}, s)
	if len(s) > MaxSubject {
		s = s[:MaxSubject-3] + "..."
	}
	return s
}

// Email is the plain-text message for people.
func (a Alert) Email() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n\n", a.Message)
	var expires, days string
	if a.ExpiresAt != nil {
		expires = a.ExpiresAt.UTC().Format("2006-01-02 15:04 MST")
	}
	if a.DaysLeft != nil {
		days = fmt.Sprint(*a.DaysLeft)
	}
	for _, row := range [][2]string{
		{"Event", string(a.Event)}, {"Severity", string(a.Severity)}, {"Application", a.ApplicationID},
		{"Client id", a.ClientID}, {"Secret", a.SecretARN}, {"Expires at", expires}, {"Days left", days},
		{"Action", string(a.Action)}, {"Notification id", a.NotificationID}, {"SQS message id", a.MessageID},
		{"Version id", a.VersionID}, {"Reason", a.Reason},
	} {
		if row[1] != "" {
			fmt.Fprintf(&b, "%-16s %s\n", row[0]+":", row[1])
		}
	}
	if a.Did != "" {
		fmt.Fprintf(&b, "\nWhat the system did:\n%s\n", a.Did)
	}
	fmt.Fprintf(&b, "\nWhat you must do:\n%s\n", cmp.Or(a.ToDo, "Nothing."))
	return b.String()
}

// Render returns the SNS Publish input for a on topicARN.
func Render(topicARN string, a Alert) (*sns.PublishInput, error) {
	if a.Event == "" || a.Severity == "" || a.Action == "" || a.Message == "" {
		return nil, fmt.Errorf("alert: render %s: event, severity, action and message are required", a.Event)
	}
	if a.ExpiresAt != nil {
		a.ExpiresAt = new(a.ExpiresAt.UTC())
	}
	for _, f := range [][2]string{
		{"clientId", a.ClientID}, {"applicationId", a.ApplicationID}, {"notificationId", a.NotificationID},
	} {
		if f[1] != "" && !redact.ValidID(f[1]) {
			return nil, fmt.Errorf("alert: render %s: field %s (want %s): %w", a.Event, f[0], redact.IDRule, ErrBadID)
		}
	}
	doc, err := json.Marshal(a)
	if err != nil {
		return nil, fmt.Errorf("alert: render %s: %w", a.Event, err)
	}
	subject, email := a.Subject(), a.Email()
	if redact.LooksSecret(string(doc)) || redact.LooksSecret(subject) || redact.LooksSecret(email) {
		return nil, fmt.Errorf("alert: render %s: %w", a.Event, ErrLooksSecret)
	}
	msg, _ := json.Marshal(map[string]string{"default": string(doc), "email": email}) // strings always marshal
	if len(msg) > MaxMessage {
		return nil, fmt.Errorf("alert: render %s: message is %d bytes, over the SNS limit", a.Event, len(msg))
	}
	attrs := map[string]types.MessageAttributeValue{}
	values := map[string]string{"event": string(a.Event), "severity": string(a.Severity), "clientId": a.ClientID}
	for k, v := range values {
		if v != "" { // SNS rejects empty attribute values
			attrs[k] = types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
		}
	}
	return &sns.PublishInput{
		TopicArn:          aws.String(topicARN),
		Subject:           aws.String(subject),
		Message:           aws.String(string(msg)),
		MessageStructure:  aws.String("json"),
		MessageAttributes: attrs,
	}, nil
}

type publisher interface {
	Publish(ctx context.Context, in *sns.PublishInput, optFns ...func(*sns.Options)) (*sns.PublishOutput, error)
}

var _ publisher = (*sns.Client)(nil)

// Publisher publishes alerts to one topic.
type Publisher struct {
	client   publisher
	topicARN string
}

// CheckTopicARN reports whether topicARN (ALERT_TOPIC_ARN) can be an SNS topic ARN.
func CheckTopicARN(topicARN string) error {
	switch {
	case topicARN == "":
		return errors.New("ALERT_TOPIC_ARN is required")
	case !strings.HasPrefix(topicARN, "arn:") || !strings.Contains(topicARN, ":sns:"):
		return fmt.Errorf("ALERT_TOPIC_ARN must be an SNS topic ARN, got %q", topicARN)
	}
	return nil
}

// NewPublisher returns a Publisher for topicARN (ALERT_TOPIC_ARN).
func NewPublisher(client publisher, topicARN string) *Publisher {
	return &Publisher{client: client, topicARN: topicARN}
}

// Publish renders and publishes a.
func (p *Publisher) Publish(ctx context.Context, a Alert) error {
	in, err := Render(p.topicARN, a)
	if err != nil {
		return err
	}
	if _, err := p.client.Publish(ctx, in); err != nil { // names the event only: ids are the caller's to log
		return fmt.Errorf("alert: publish %s: %w", a.Event, err)
	}
	return nil
}
