package expiry

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/spapi-lwa/secret-rotation/internal/alert"
	"github.com/spapi-lwa/secret-rotation/internal/managed"
	"github.com/spapi-lwa/secret-rotation/test/secretsmanagertest"
	"github.com/spapi-lwa/secret-rotation/test/snstest"
)

// brokenDir holds the broken-document shapes (see its README.md).
const brokenDir = "../secretdoc/testdata/broken"

// TestBrokenDocumentsExpiry puts every broken-document shape into the
// managed secret's AWSCURRENT and delivers an expiry notice for its client
// id, with rotation on and off: whatever the handler does, no piece of the
// secret in the document reaches a log line, an alert, the handler's error
// or its response (the handler never reads a value; env.handle asserts
// that GetSecretValue is never called).
func TestBrokenDocumentsExpiry(t *testing.T) {
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(brokenDir, name))
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(b))
	}
	secret, client := read("secret.txt"), read("client-id.txt")
	tail := secret[strings.LastIndex(secret, ".")+1:]
	var pieces []string
	for i := 0; i+8 <= len(tail); i++ {
		pieces = append(pieces, tail[i:i+8])
	}
	files, err := filepath.Glob(filepath.Join(brokenDir, "*.json"))
	if err != nil || len(files) < 30 {
		t.Fatalf("broken documents: %d files, %v; want the whole set", len(files), err)
	}
	for _, f := range files {
		name := filepath.Base(f)
		if name == "want.json" {
			continue
		}
		doc := read(name)
		for _, rotation := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s rotation %v", name, rotation), func(t *testing.T) {
				e := &env{sm: secretsmanagertest.New(), sns: &snstest.Fake{}, logs: &bytes.Buffer{}}
				e.sm.Now = func() time.Time { return now }
				e.arn = e.sm.Seed("sp-api/broken", doc, map[string]string{managed.TagClientID: client})
				e.sm.SetRotation(e.arn, rotation, lambdaARN)
				logger := slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
				e.h = New(e.sm, e.sm, alert.NewPublisher(e.sns, topicARN), logger, Config{AutoRotate: true, Now: func() time.Time { return now }})

				resp, herr := e.h.Handle(context.Background(), events.SQSEvent{Records: []events.SQSMessage{
					msg("m1", body(t, "n-1", client, now.Add(5*24*time.Hour))),
				}})
				if n := e.sm.Calls("GetSecretValue"); n != 0 {
					t.Errorf("GetSecretValue called %d times; the expiry alert must not read values", n)
				}
				if e.sns.Calls() == 0 {
					t.Errorf("no alert published for the expiry notice")
				}
				out, _ := json.Marshal(resp)
				texts := []string{e.logs.String(), string(out), fmt.Sprintf("%v %+v", herr, herr)}
				for _, in := range e.sns.Published() {
					texts = append(texts, aws.ToString(in.Subject), aws.ToString(in.Message), fmt.Sprint(snstest.Attributes(in)))
				}
				for _, s := range texts {
					for _, p := range pieces {
						if strings.Contains(s, p) {
							t.Fatalf("a piece of the secret (%q) appears in %s", p, s)
						}
					}
				}
			})
		}
	}
	// The check can fail: the documents do hold the secret.
	if !strings.Contains(read("swapped.json"), pieces[0]) {
		t.Fatal("swapped.json does not hold the secret; the test proves nothing")
	}
}
