// Package snstest is an in-memory Amazon SNS topic for tests: it records
// every Publish and decodes the "default" documents of the project's alerts
// (MessageStructure=json).
package snstest

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
)

// Fake records published messages.
type Fake struct {
	// Fail, when set, is called before every Publish; a non-nil result is
	// returned and nothing is recorded.
	Fail func(in *sns.PublishInput) error

	mu        sync.Mutex
	published []*sns.PublishInput
	calls     int
}

// Publish implements the SDK operation.
func (f *Fake) Publish(ctx context.Context, in *sns.PublishInput, _ ...func(*sns.Options)) (*sns.PublishOutput, error) {
	f.mu.Lock()
	f.calls++
	fail := f.Fail
	f.mu.Unlock()
	if fail != nil {
		if err := fail(in); err != nil {
			return nil, err
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.published = append(f.published, in)
	return &sns.PublishOutput{MessageId: aws.String(fmt.Sprintf("msg-%d", len(f.published)))}, nil
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
	return append([]*sns.PublishInput(nil), f.published...)
}

// Alerts returns the decoded "default" document of every published message.
// A message that is not of that shape yields a document holding "error".
func (f *Fake) Alerts() []map[string]any {
	var out []map[string]any
	for _, in := range f.Published() {
		var msg map[string]string
		doc := map[string]any{}
		if err := json.Unmarshal([]byte(aws.ToString(in.Message)), &msg); err != nil {
			doc["error"] = err.Error()
		} else if err := json.Unmarshal([]byte(msg["default"]), &doc); err != nil {
			doc = map[string]any{"error": err.Error()}
		}
		out = append(out, doc)
	}
	return out
}
