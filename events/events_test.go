// Package events_test checks the sample events in this folder, the inputs of
// `sam local invoke -e`. The folder holds no Go package, only this test.
//
// Every sample must decode strictly (no unknown field) into the
// aws-lambda-go type of the trigger it stands for, chosen by its name:
// rotate-<step>.json is a Secrets Manager rotation event
// (events.SecretsManagerSecretRotationEvent) for that step,
// sqs-new-secret*.json and sqs-secret-expiry*.json are SQS batches
// (events.SQSEvent) whose message bodies are SP-API notifications
// APPLICATION_OAUTH_CLIENT_NEW_SECRET and APPLICATION_OAUTH_CLIENT_SECRET_EXPIRY
// that the project's own parser accepts, and watchdog-*.json are the
// watchdog's triggers. A sample whose name matches no trigger fails the
// test, so a new sample cannot go unchecked.
package events_test

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	lambdaevents "github.com/aws/aws-lambda-go/events"

	"github.com/spapi-lwa/secret-rotation/internal/notification"
)

// samplesDir is the folder of the sample events: this test sits beside them.
const samplesDir = "."

var (
	secretARN = regexp.MustCompile(`^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:.+-[A-Za-z0-9]{6}$`)
	queueARN  = regexp.MustCompile(`^arn:aws[a-z-]*:sqs:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]+$`)
)

// rotationSteps are the steps Secrets Manager invokes a rotation function with.
var rotationSteps = map[string]bool{
	"createSecret": true,
	"setSecret":    true,
	"testSecret":   true,
	"finishSecret": true,
}

// checker validates one sample file; name is its base name.
type checker func(t *testing.T, name string, data []byte)

// checkerFor picks the check of a sample by its file name, or returns nil.
func checkerFor(name string) checker {
	switch {
	case strings.HasPrefix(name, "rotate-"):
		return checkRotation
	case strings.HasPrefix(name, "sqs-new-secret"):
		return checkSQS(notification.TypeNewSecret, func(body []byte) (string, string, error) {
			n, err := notification.ParseNewSecret(body)
			if err != nil {
				return "", "", err
			}
			if n.NewClientSecret.Reveal() == "" {
				return "", "", errors.New("empty newClientSecret")
			}
			return n.NotificationType, n.ClientID, nil
		})
	case strings.HasPrefix(name, "sqs-secret-expiry"):
		return checkSQS(notification.TypeSecretExpiry, func(body []byte) (string, string, error) {
			n, err := notification.ParseSecretExpiry(body)
			if err != nil {
				return "", "", err
			}
			return n.NotificationType, n.ClientID, nil
		})
	case strings.HasPrefix(name, "watchdog-"):
		return checkWatchdog
	}
	return nil
}

// decodeStrict decodes data into v, refusing unknown fields and trailing data.
func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}

func TestSamples(t *testing.T) {
	entries, err := os.ReadDir(samplesDir)
	if err != nil {
		t.Fatalf("ReadDir(%s) = %v", samplesDir, err)
	}
	for _, e := range entries {
		name := e.Name()
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		t.Run(name, func(t *testing.T) {
			if e.IsDir() || filepath.Ext(name) != ".json" {
				t.Fatalf("%s: every entry of events/ but its test must be a .json sample", name)
			}
			check := checkerFor(name)
			if check == nil {
				t.Fatalf("%s: no trigger type for this name; name it rotate-<step>.json, sqs-new-secret*.json sqs-secret-expiry*.json or watchdog-*.json, or teach checkerFor its type", name)
			}
			data, err := os.ReadFile(filepath.Join(samplesDir, name))
			if err != nil {
				t.Fatalf("ReadFile(%s) = %v", name, err)
			}
			check(t, name, data)
		})
	}
	// The samples the README promises: every rotation step and both queues.
	for step := range rotationSteps {
		if _, err := os.Stat(filepath.Join(samplesDir, "rotate-"+step+".json")); err != nil {
			t.Errorf("sample for rotation step %s: %v", step, err)
		}
	}
	for _, name := range []string{"sqs-new-secret.json", "sqs-secret-expiry.json", "watchdog-schedule.json", "watchdog-rotation-failed.json"} {
		if _, err := os.Stat(filepath.Join(samplesDir, name)); err != nil {
			t.Errorf("sample %s: %v", name, err)
		}
	}
}

func checkRotation(t *testing.T, name string, data []byte) {
	var ev lambdaevents.SecretsManagerSecretRotationEvent
	if err := decodeStrict(data, &ev); err != nil {
		t.Fatalf("%s: strict decode into SecretsManagerSecretRotationEvent: %v", name, err)
	}
	wantStep := strings.TrimSuffix(strings.TrimPrefix(name, "rotate-"), ".json")
	if !rotationSteps[wantStep] {
		t.Errorf("%s: %q is not a rotation step (createSecret, setSecret, testSecret, finishSecret)", name, wantStep)
	}
	if ev.Step != wantStep {
		t.Errorf("%s: Step = %q, want %q (from the file name)", name, ev.Step, wantStep)
	}
	if !secretARN.MatchString(ev.SecretID) {
		t.Errorf("%s: SecretId = %q, want a complete secret ARN", name, ev.SecretID)
	}
	if ev.ClientRequestToken == "" {
		t.Errorf("%s: ClientRequestToken is empty", name)
	}
}

// parseFunc parses a notification body and returns its type and client id.
type parseFunc func(body []byte) (notificationType, clientID string, err error)

func checkSQS(wantType string, parse parseFunc) checker {
	return func(t *testing.T, name string, data []byte) {
		var ev lambdaevents.SQSEvent
		if err := decodeStrict(data, &ev); err != nil {
			t.Fatalf("%s: strict decode into SQSEvent: %v", name, err)
		}
		if len(ev.Records) == 0 {
			t.Fatalf("%s: no Records", name)
		}
		ids := map[string]bool{}
		for i, r := range ev.Records {
			// Messages are named by index and id only: a new-secret body
			// holds a client secret, so no body is ever printed.
			if r.MessageId == "" || ids[r.MessageId] {
				t.Errorf("%s: record %d: messageId %q is empty or repeated", name, i, r.MessageId)
			}
			ids[r.MessageId] = true
			if r.EventSource != "aws:sqs" {
				t.Errorf("%s: record %d: eventSource = %q, want aws:sqs", name, i, r.EventSource)
			}
			if !queueARN.MatchString(r.EventSourceARN) {
				t.Errorf("%s: record %d: eventSourceARN = %q, want an SQS queue ARN", name, i, r.EventSourceARN)
			}
			if r.ReceiptHandle == "" || r.AWSRegion == "" {
				t.Errorf("%s: record %d: receiptHandle or awsRegion is empty", name, i)
			}
			sum := md5.Sum([]byte(r.Body))
			if got := hex.EncodeToString(sum[:]); r.Md5OfBody != got {
				t.Errorf("%s: record %d: md5OfBody = %s, want %s (MD5 of body)", name, i, r.Md5OfBody, got)
			}
			if !json.Valid([]byte(r.Body)) {
				t.Errorf("%s: record %d: body is not valid JSON", name, i)
				continue
			}
			gotType, clientID, err := parse([]byte(r.Body))
			if err != nil {
				t.Errorf("%s: record %d: parse body: %v", name, i, err)
				continue
			}
			if gotType != wantType {
				t.Errorf("%s: record %d: notificationType = %q, want %q", name, i, gotType, wantType)
			}
			if clientID == "" {
				t.Errorf("%s: record %d: empty clientId", name, i)
			}
		}
	}
}

// cloudTrailDetail is the detail of a Secrets Manager service event as
// CloudTrail records it; a strict decode catches a misspelt member.
type cloudTrailDetail struct {
	EventVersion string `json:"eventVersion"`
	UserIdentity struct {
		AccountID string `json:"accountId"`
		InvokedBy string `json:"invokedBy"`
	} `json:"userIdentity"`
	EventTime           string          `json:"eventTime"`
	EventSource         string          `json:"eventSource"`
	EventName           string          `json:"eventName"`
	AWSRegion           string          `json:"awsRegion"`
	SourceIPAddress     string          `json:"sourceIPAddress"`
	UserAgent           string          `json:"userAgent"`
	RequestParameters   json.RawMessage `json:"requestParameters"`
	ResponseElements    json.RawMessage `json:"responseElements"`
	AdditionalEventData struct {
		SecretID string `json:"SecretId"`
	} `json:"additionalEventData"`
	ErrorCode          string `json:"errorCode"`
	ErrorMessage       string `json:"errorMessage"`
	RequestID          string `json:"requestID"`
	EventID            string `json:"eventID"`
	ReadOnly           bool   `json:"readOnly"`
	EventType          string `json:"eventType"`
	ManagementEvent    bool   `json:"managementEvent"`
	RecipientAccountID string `json:"recipientAccountId"`
	EventCategory      string `json:"eventCategory"`
}

// checkWatchdog checks the watchdog's samples: a schedule that starts a
// sweep, or a rotation-failure event of a secret.
func checkWatchdog(t *testing.T, name string, data []byte) {
	var ev lambdaevents.EventBridgeEvent
	if err := decodeStrict(data, &ev); err != nil {
		t.Fatalf("%s: strict decode into EventBridgeEvent: %v", name, err)
	}
	switch name {
	case "watchdog-schedule.json":
		if (ev.Source != "aws.events" && ev.Source != "aws.scheduler") || ev.DetailType != "Scheduled Event" {
			t.Errorf("%s: source %q, detail-type %q; want a scheduled event", name, ev.Source, ev.DetailType)
		}
	case "watchdog-rotation-failed.json":
		if ev.Source != "aws.secretsmanager" || ev.DetailType != "AWS Service Event via CloudTrail" {
			t.Errorf("%s: source %q, detail-type %q; want a Secrets Manager service event", name, ev.Source, ev.DetailType)
		}
		var d cloudTrailDetail
		if err := decodeStrict(ev.Detail, &d); err != nil {
			t.Fatalf("%s: strict decode of detail: %v", name, err)
		}
		if d.EventName != "RotationFailed" && d.EventName != "RotationAbandoned" && d.EventName != "TestRotationFailed" {
			t.Errorf("%s: eventName = %q, want a rotation failure", name, d.EventName)
		}
		if !secretARN.MatchString(d.AdditionalEventData.SecretID) {
			t.Errorf("%s: additionalEventData.SecretId = %q, want a complete secret ARN", name, d.AdditionalEventData.SecretID)
		}
	default:
		t.Errorf("%s: unknown watchdog sample", name)
	}
}
