package receiver

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/spapi-lwa/secret-rotation/internal/managed"
)

// TestBrokenDocumentsLeakNothing puts every broken document of the shared
// set (internal/secretdoc/testdata/broken) into AWSCURRENT of the secret a
// valid notification names: each message is rejected, and no 8-byte piece
// of the secret appears in any log line, alert or batch response.
func TestBrokenDocumentsLeakNothing(t *testing.T) {
	dir := filepath.Join("..", "secretdoc", "testdata", "broken")
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(b))
	}
	secret, brokenClient := read("secret.txt"), read("client-id.txt")
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(files) < 20 {
		t.Fatalf("broken-document set: %d files, %v", len(files), err)
	}
	for _, f := range files {
		name := filepath.Base(f)
		if name == "want.json" {
			continue
		}
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, true)
			arn := e.sm.Seed("sp-api/broken", read(name), map[string]string{managed.TagClientID: brokenClient})
			e.sm.SetRotation(arn, true, lambdaARN)
			resp, err := e.h.Handle(context.Background(), events.SQSEvent{Records: []events.SQSMessage{msg("m1", body(t, "n-1", brokenClient, newSecret, newExpiry))}})
			if err != nil {
				t.Fatal(err)
			}
			if len(resp.BatchItemFailures) != 1 {
				t.Errorf("BatchItemFailures = %v, want the message rejected", resp.BatchItemFailures)
			}
			if n := e.sm.Calls("GetSecretValue"); n == 0 {
				t.Errorf("AWSCURRENT was never read: the message was rejected before the document mattered")
			}
			if n := e.sm.Calls("PutSecretValue"); n != 0 {
				t.Errorf("PutSecretValue calls = %d, want none for a broken AWSCURRENT", n)
			}
			var alerts []string
			for _, in := range e.sns.Published() {
				alerts = append(alerts, aws.ToString(in.Subject)+aws.ToString(in.Message))
			}
			all := e.logs.String() + strings.Join(alerts, "\n") + fmt.Sprint(resp)
			for i := 0; i+8 <= len(secret); i++ {
				if strings.Contains(all, secret[i:i+8]) {
					t.Fatalf("a piece %q of the secret appears in a log line, alert or response", secret[i:i+8])
				}
			}
			if !slices.ContainsFunc(e.sns.Summaries(), func(s string) bool { return strings.HasPrefix(s, "NOTIFICATION_REJECTED") }) {
				t.Errorf("alerts = %q, want a NOTIFICATION_REJECTED", e.sns.Summaries())
			}
		})
	}
}
