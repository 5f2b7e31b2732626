// Package snstest is an in-memory Amazon SNS topic for tests that records every Publish and
// decodes the project's alerts (MessageStructure=json).
package snstest

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/spapi-lwa/secret-rotation/internal/alert"
)

// Fake records published messages.
type Fake struct {
	// Fail, if set, is called before every Publish; an error is returned and nothing recorded.
	Fail func(ctx context.Context, in *sns.PublishInput) error
	// After, if set, is called after every Publish Fail let through; an error replaces its answer.
	After func(ctx context.Context, in *sns.PublishInput) error

	mu        sync.Mutex
	published []*sns.PublishInput
	calls     int
}

// Publish implements the SDK operation.
func (f *Fake) Publish(ctx context.Context, in *sns.PublishInput, _ ...func(*sns.Options)) (
	*sns.PublishOutput, error) {
	f.mu.Lock()
	f.calls++
	f.mu.Unlock()
	if f.Fail != nil {
		if err := f.Fail(ctx, in); err != nil {
			return nil, err
		}
	}
	f.mu.Lock()
	f.published = append(f.published, in)
	id := fmt.Sprintf("msg-%d", len(f.published))
	f.mu.Unlock()
	if f.After != nil {
		if err := f.After(ctx, in); err != nil {
			return nil, err
		}
	}
	return &sns.PublishOutput{MessageId: aws.String(id)}, nil
}

// Calls returns how many times Publish was called, failed calls included.
func (f *Fake) Calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// Published returns the inputs of every successful Publish.
func (f *Fake) Published() []*sns.PublishInput {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.published)
}

// Alerts returns the decoded "default" document of every message, or one holding "error".
func (f *Fake) Alerts() []map[string]any {
	var out []map[string]any
	for _, in := range f.Published() {
		var msg map[string]string
		doc := map[string]any{}
		err := json.Unmarshal([]byte(aws.ToString(in.Message)), &msg)
		if err == nil {
			err = json.Unmarshal([]byte(msg["default"]), &doc)
		}
		if err != nil {
			doc = map[string]any{"error": err.Error()}
		}
		out = append(out, doc)
	}
	return out
}

// Summaries returns "EVENT SEVERITY ACTION" for every published alert, in order.
func (f *Fake) Summaries() (out []string) {
	for _, a := range f.Alerts() {
		out = append(out, fmt.Sprintf("%v %v %v", a["event"], a["severity"], a["action"]))
	}
	return out
}

// Attributes returns the String message attributes of a published message.
func Attributes(in *sns.PublishInput) map[string]string {
	out := map[string]string{}
	for k, v := range in.MessageAttributes {
		if aws.ToString(v.DataType) == "String" {
			out[k] = aws.ToString(v.StringValue)
		}
	}
	return out
}

// Structure decodes a MessageStructure=json message into its texts per protocol, or fails t.
func Structure(t testing.TB, in *sns.PublishInput) map[string]string {
	t.Helper()
	var m map[string]string
	if err := json.Unmarshal([]byte(aws.ToString(in.Message)), &m); err != nil {
		t.Fatalf("message is not a MessageStructure=json document: %v", err)
	}
	return m
}

// Check fails t for every message over SNS's limits, not MessageStructure=json on topicARN, not
// JSON, or holding one of secrets or anything shaped like an LWA client secret.
func (f *Fake) Check(t testing.TB, topicARN string, secrets ...string) {
	t.Helper()
	secrets = append(slices.Clone(secrets), "amzn1.oa2-cs.")
	for i, in := range f.Published() {
		subject, message := aws.ToString(in.Subject), aws.ToString(in.Message)
		if len(subject) > alert.MaxSubject {
			t.Errorf("alert %d: subject is %d bytes, want at most %d", i, len(subject), alert.MaxSubject)
		}
		if len(message) > alert.MaxMessage {
			t.Errorf("alert %d: message is %d bytes, want at most %d", i, len(message), alert.MaxMessage)
		}
		got := aws.ToString(in.MessageStructure) + " on " + aws.ToString(in.TopicArn)
		if got != "json on "+topicARN {
			t.Errorf("alert %d: MessageStructure %s, want json on %s", i, got, topicARN)
		}
		var m map[string]string
		if err := json.Unmarshal([]byte(message), &m); err != nil {
			t.Errorf("alert %d: message is not JSON: %v", i, err)
		}
		texts := strings.Join([]string{subject, message, m["default"], m["email"]}, "\n")
		for _, s := range secrets {
			if strings.Contains(texts, s) {
				t.Errorf("alert %d contains a secret value", i)
			}
		}
	}
}
