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

// Delivery is what the receiver knows about one new-secret notification; every field is safe to publish.
type Delivery struct {
	ClientID, ApplicationID, NotificationID, MessageID string

	SecretARN         string
	VersionID         string // the version that holds the delivered secret
	CurrentVersionID  string // the AWSCURRENT version
	Label             string // the label the version was written with, "" when nothing was written
	RotationLambdaARN string
	ExpiresAt         time.Time
	OldExpiresAt      time.Time // zero when the notification has none
	Outcome           Outcome
}

// Outcome is what the receiver did about a delivery, as logged (key "outcome").
type Outcome string

// Outcomes of the receiver, one sentence each in Received.
const (
	OutcomeRotationStarted Outcome = "rotationStarted" // stored; a rotation was started to adopt it
	OutcomeRotationResumed Outcome = "rotationResumed" // stored; the rotation in progress adopts it
	OutcomeRotationOff     Outcome = "rotationOff"     // stored; rotation is not enabled: a person must act
	OutcomeCurrent         Outcome = "alreadyCurrent"  // AWSCURRENT already holds it
	OutcomeOlder           Outcome = "older"           // stored; AWSCURRENT holds a later secret
	OutcomeRejectedBefore  Outcome = "rejectedBefore"  // stored; LWA rejected this secret before
)

// Received is the NEW_CLIENT_SECRET_RECEIVED alert for d, by its Outcome.
func Received(d Delivery, now time.Time) Alert {
	a := Alert{
		Event: EventReceived, Severity: SeverityInfo, Action: ActionNone,
		ClientID: d.ClientID, ApplicationID: d.ApplicationID, SecretARN: d.SecretARN,
		ExpiresAt: new(d.ExpiresAt.UTC()), DaysLeft: new(DaysLeft(now, d.ExpiresAt)),
		NotificationID: d.NotificationID, MessageID: d.MessageID, VersionID: d.VersionID,
	}
	stored := "The delivery was already stored as version " + d.VersionID + "; nothing was written. "
	if d.Label != "" {
		stored = "The new client secret was stored in Secrets Manager as version " + d.VersionID + " (label " + d.Label + "). "
	}
	received := "A new LWA client secret for " + d.ApplicationID + " was "
	needless := "A new LWA client secret notification for " + d.ApplicationID
	switch d.Outcome {
	case OutcomeRotationStarted:
		a.Action = ActionRotationStarted
		a.Message = received + "received and stored; a rotation was started to adopt it."
		a.Did = stored + "A rotation was started; it adopts the newest stored secret that LWA accepts."
	case OutcomeRotationResumed:
		a.Action = ActionRotationResumed
		a.Message = received + "received and stored; the rotation in progress adopts it."
		a.Did = stored + "The rotation in progress has taken it as its pending version."
	case OutcomeRotationOff:
		a.Severity, a.Action = SeverityCritical, ActionManual
		a.Message = received + "stored but will not be adopted because rotation is not enabled: act before the previous secret stops working."
		a.Did = stored + "Rotation is not enabled for the secret, so it was not adopted."
		deadline := "before the previous client secret stops working"
		if !d.OldExpiresAt.IsZero() {
			deadline += " (" + d.OldExpiresAt.UTC().Format(time.RFC3339) + ")"
		}
		a.ToDo = "Rotation is not enabled for this secret, so nothing will adopt the new client secret. Do one of these " + deadline + ":\n" +
			"1. Enable rotation; its first run adopts the stored secret without asking Amazon for another one:\n" +
			EnableCommands(d.SecretARN, d.RotationLambdaARN) +
			"2. Or make it current by hand, and record its expiry:\n" +
			"  aws secretsmanager update-secret-version-stage --secret-id " + d.SecretARN + " --version-stage AWSCURRENT --move-to-version-id " +
			d.VersionID + " --remove-from-version-id " + d.CurrentVersionID + "\n" +
			"  aws secretsmanager tag-resource --secret-id " + d.SecretARN +
			" --tags Key=sp-api-lwa:client-secret-expires-at,Value=" + a.ExpiresAt.Format(time.RFC3339) + "\n"
	case OutcomeCurrent:
		a.Message = needless + " needed no action: the secret is already the current one."
		a.Did = "AWSCURRENT already holds this client secret (the notification was delivered again after it was adopted). Nothing was written."
	case OutcomeOlder:
		a.Message = needless + " needed no action: AWSCURRENT already holds a later secret."
		a.Did = stored + "AWSCURRENT holds a secret that expires later (this one was delivered out of order, or again), so it is kept and not adopted."
	case OutcomeRejectedBefore:
		a.Severity = SeverityWarning
		a.Message = needless + " carried a secret that Login with Amazon already rejected; it will not be adopted."
		a.Did = stored + "Its secret is listed as rejected (tag sp-api-lwa:rejected-secrets), so no rotation was started."
		a.ToDo = "Find out who sends this notification to the new-secret queue: Amazon's notifications carry secrets that LWA accepts. The queue policy names who may send."
	}
	return a
}

// EnableCommands configure the rotation of secret arn with the rotation function, then rotate it.
func EnableCommands(arn, lambdaARN string) string {
	return "  aws secretsmanager rotate-secret --secret-id " + arn + " --rotation-lambda-arn " +
		cmp.Or(lambdaARN, "<RotateSecretFunctionArn output of the stack>") +
		" --rotation-rules '{\"ScheduleExpression\":\"rate(30 days)\"}' --no-rotate-immediately\n" +
		"  aws secretsmanager rotate-secret --secret-id " + arn + "\n"
}

// RejectedDelivery is the NOTIFICATION_REJECTED alert for a new-secret message that failed Case 1 of the
// receiver: cause is the short reason and fix what a person must do, neither holding a body value but ids.
func RejectedDelivery(d Delivery, cause, fix string) Alert {
	if cause != "" {
		cause = " (reason: " + cause + ")"
	}
	return Alert{
		Event: EventRejected, Severity: SeverityCritical, Action: ActionManual,
		ClientID: d.ClientID, ApplicationID: d.ApplicationID, SecretARN: d.SecretARN,
		NotificationID: d.NotificationID, MessageID: d.MessageID,
		Message: "A new LWA client secret notification was rejected and not stored; it may hold a secret that exists nowhere else.",
		Did:     "The message was not stored and failed" + cause + ". SQS delivers it again and, after the queue's maximum receives, moves it to the dead-letter queue.",
		ToDo: fix + "The message's SQS message id is " + d.MessageID +
			". Its body contains the new client secret: handle it as a secret.\n" +
			"To move it back for another attempt once the cause is fixed:\n" +
			"  aws sqs start-message-move-task --source-arn <ARN of the new-secret dead-letter queue>\n" +
			"To inspect it:\n" +
			"  aws sqs receive-message --queue-url <URL of the new-secret dead-letter queue> --max-number-of-messages 10 --visibility-timeout 30\n" +
			"If it cannot be processed, store the secret by hand before the previous one stops working: write the AWSCURRENT document with the new client secret and clientSecretExpiresAt = newClientSecretExpiryTime to a file, then\n" +
			"  aws secretsmanager put-secret-value --secret-id <secret> --secret-string file://new-secret.json --version-stages LWA_RECEIVED\n" +
			"  aws secretsmanager rotate-secret --secret-id <secret>\n" +
			"and delete the file.\n",
	}
}
