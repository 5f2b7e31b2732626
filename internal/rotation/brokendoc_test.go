package rotation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spapi-lwa/secret-rotation/internal/lwa"
	"github.com/spapi-lwa/secret-rotation/internal/managed"
	"github.com/spapi-lwa/secret-rotation/test/logsink"
)

// brokenSet is the shared set of broken documents (internal/secretdoc/
// testdata/broken): each file's bytes, the secret they hold and the client
// id their secret is tagged with.
func brokenSet(t *testing.T) (docs map[string]string, secret, clientID string) {
	t.Helper()
	dir := filepath.Join("..", "secretdoc", "testdata", "broken")
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(files) < 20 {
		t.Fatalf("broken-document set: %d files, %v", len(files), err)
	}
	docs = map[string]string{}
	for _, f := range files {
		if filepath.Base(f) != "want.json" {
			docs[filepath.Base(f)] = read(filepath.Base(f))
		}
	}
	return docs, strings.TrimSpace(read("secret.txt")), strings.TrimSpace(read("client-id.txt"))
}

// pieces returns every 8-byte piece of s: none may appear anywhere.
func pieces(s string) []string {
	var out []string
	for i := 0; i+8 <= len(s); i++ {
		out = append(out, s[i:i+8])
	}
	return out
}

// TestBrokenDocumentsLeakNothing puts every broken document of the shared
// set into AWSCURRENT and runs createSecret and the configuration test
// (testSecret without a pending value): each fails, and no 8-byte piece of
// the secret appears in any error, log line or alert.
func TestBrokenDocumentsLeakNothing(t *testing.T) {
	docs, secret, clientID := brokenSet(t)
	for name, doc := range docs {
		t.Run(name, func(t *testing.T) {
			w := newWorld(t)
			w.putCurrent(doc)
			w.tag(managed.TagClientID, clientID)
			token := w.start()
			for _, step := range []string{StepCreate, StepTest} {
				if err := w.step(context.Background(), step, token); err == nil {
					t.Errorf("Handle(%s) = nil, want an error for a broken AWSCURRENT", step)
				}
			}
			var texts []string
			for _, err := range w.errs {
				texts = append(texts, fmt.Sprintf("%v %+v %#v", err, err, err))
			}
			texts = append(texts, w.logs.String())
			for _, a := range w.alerts.Alerts() {
				b, _ := json.Marshal(a)
				texts = append(texts, string(b)+a.Subject()+a.Email())
			}
			all := strings.Join(texts, "\n")
			for _, p := range pieces(secret) {
				if strings.Contains(all, p) {
					t.Fatalf("a piece %q of the secret appears in an error, log line or alert", p)
				}
			}
		})
	}
}

// TestLWAUnavailableUntilRetriesEnd runs createSecret with the real LWA
// client against an endpoint that answers 503 to every token request,
// echoing the request's form (as a broken proxy might), until the client's
// retries run out: the step fails, nothing is requested, the request tag is
// removed, and no piece of the client secret appears in the error or logs.
func TestLWAUnavailableUntilRetriesEnd(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		body, _ := io.ReadAll(r.Body)
		rw.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(rw, `{"error":"server_error","error_description":"unavailable %s"}`, body)
	}))
	defer srv.Close()
	w := newWorld(t)
	client := lwa.NewClient(srv.URL+"/auth/o2/token", srv.Client())
	client.MinBackoff, client.MaxBackoff = time.Millisecond, 2*time.Millisecond
	logs := &logsink.Buffer{}
	w.r = New(w.sm, w.sm, client, w.api, w.alerts, slog.New(slog.NewJSONHandler(logs, nil)), Config{Settle: -1, Now: w.clock.Now})
	token := w.start()
	err := w.step(context.Background(), StepCreate, token)
	if !errors.Is(err, lwa.ErrServer) {
		t.Fatalf("Handle(createSecret) = %v, want lwa.ErrServer after the retries", err)
	}
	if n := calls.Load(); n != int32(client.MaxAttempts) {
		t.Errorf("token requests = %d, want %d (every attempt)", n, client.MaxAttempts)
	}
	if w.api.Calls() != 0 {
		t.Errorf("SP-API calls = %d, want 0", w.api.Calls())
	}
	if _, ok := w.sm.Tags(w.arn)[managed.TagRotationRequestedAt]; ok {
		t.Errorf("tag %s kept: nothing was requested", managed.TagRotationRequestedAt)
	}
	all := fmt.Sprintf("%v %+v %#v", err, err, err) + logs.String()
	for _, p := range pieces(oldSecret) {
		if strings.Contains(all, p) {
			t.Fatalf("a piece %q of the client secret appears in the error or the logs", p)
		}
	}
}
