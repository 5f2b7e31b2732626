package alert

import (
	"cmp"
	"time"
)

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
