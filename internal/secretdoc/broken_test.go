package secretdoc

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spapi-lwa/secret-rotation/internal/lwa"
)

// brokenDir holds the broken-document shapes (see its README.md).
const brokenDir = "testdata/broken"

// brokenDocs returns every broken document by file name, the key each
// error must name, and the secret they hold.
func brokenDocs(t *testing.T) (docs map[string][]byte, want map[string]string, secret string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(brokenDir, "want.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatalf("decode want.json: %v", err)
	}
	s, err := os.ReadFile(filepath.Join(brokenDir, "secret.txt"))
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(brokenDir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	docs = map[string][]byte{}
	for _, f := range files {
		name := filepath.Base(f)
		if name == "want.json" {
			continue
		}
		if docs[name], err = os.ReadFile(f); err != nil {
			t.Fatal(err)
		}
		if _, ok := want[name]; !ok {
			t.Errorf("%s has no entry in want.json", name)
		}
	}
	if len(docs) != len(want) {
		t.Errorf("%d documents, want.json lists %d", len(docs), len(want))
	}
	return docs, want, strings.TrimSpace(string(s))
}

// secretPieces returns the 8-byte pieces of the part of secret after its
// well-known prefix: finding any of them in a text is a leak.
func secretPieces(secret string) []string {
	tail := secret[strings.LastIndexAny(secret, ".|")+1:]
	var p []string
	for i := 0; i+8 <= len(tail); i++ {
		p = append(p, tail[i:i+8])
	}
	return p
}

// TestBrokenDocuments: every broken shape is refused with an error that
// wraps ErrInvalid, names the key to fix, fits the fixed grammar of Parse's
// errors, and holds no piece of the secret in any format.
func TestBrokenDocuments(t *testing.T) {
	docs, want, secret := brokenDocs(t)
	pieces := secretPieces(secret)
	if len(docs) < 30 {
		t.Fatalf("%d broken documents, want the whole set", len(docs))
	}
	for name, data := range docs {
		t.Run(name, func(t *testing.T) {
			d, err := Parse(data, DefaultKeys)
			if err == nil {
				t.Fatalf("Parse() = %v, nil; want an error", d)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("Parse() error = %v, want ErrInvalid", err)
			}
			if !parseErrorGrammar.MatchString(err.Error()) {
				t.Errorf("Parse() error = %q, not made of fixed text", err)
			}
			if key := want[name]; key != "" && !strings.Contains(err.Error(), fmt.Sprintf("key %q", key)) && !strings.Contains(err.Error(), fmt.Sprintf("keys %q", key)) {
				t.Errorf("Parse() error = %q, want it to name the key %q", err, key)
			}
			for _, out := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err), fmt.Sprint(d)} {
				for _, p := range pieces {
					if strings.Contains(out, p) {
						t.Fatalf("Parse() error output %q holds a piece of the secret (%q)", out, p)
					}
				}
			}
		})
	}
	// The check can fail: the documents do hold the secret.
	if !strings.Contains(string(docs["swapped.json"]), pieces[0]) {
		t.Fatal("swapped.json does not hold the secret; the test proves nothing")
	}
}

// TestClientIDRules covers rule 4 one case at a time, with custom key
// names, so that the error names the configured keys.
func TestClientIDRules(t *testing.T) {
	keys := Keys{ClientID: "lwaId", ClientSecret: "lwaSecret"}
	const id = "amzn1.application-oa2-client.6XXXXXXXXXXXXXXXXXXXXXXXXX"
	const secret = "amzn1.oa2-cs.v1.RULESECRET0123456789"
	tests := []struct {
		name    string
		id, sec string
		mention string // "" for a valid document
	}{
		{"valid", id, secret, ""},
		{"short ids are ids", "id", "s", ""},
		{"id of every allowed character", "Az09._:-", secret, ""},
		{"id of 128 characters", strings.Repeat("a", 128), secret, ""},
		{"secret of MaxSecretSize bytes", id, strings.Repeat("s", MaxSecretSize), ""},
		{"swapped", secret, id, `key "lwaId" holds a value shaped like a client secret`},
		{"id is a refresh token", "Atzr|RULESECRET0123456789", secret, `key "lwaId" holds a value shaped like a client secret or token`},
		{"same value", "RULESECRET0123456789", "RULESECRET0123456789", `keys "lwaId" and "lwaSecret" hold the same value`},
		{"id with white space", "amzn1.application-oa2-client.x RULESECRET0123456789", secret, `key "lwaId" does not hold a client id`},
		{"id with a slash", "a/RULESECRET0123456789", secret, `key "lwaId" does not hold a client id`},
		{"id of 129 characters", strings.Repeat("a", 129), secret, `key "lwaId" does not hold a client id`},
		{"id not ASCII", "amzn1.application-oa2-client.é", secret, `key "lwaId" does not hold a client id`},
		{"secret too long", id, "RULESECRET0123456789" + strings.Repeat("s", MaxSecretSize), `key "lwaSecret" holds more than 1024 bytes`},
		{"secret shaped like a client id", "RULESECRET0123456789", id, `key "lwaSecret" holds a value shaped like a client id`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, _ := json.Marshal(map[string]string{keys.ClientID: tt.id, keys.ClientSecret: tt.sec})
			d, err := Parse(data, keys)
			if tt.mention == "" {
				if err != nil {
					t.Fatalf("Parse() error = %v, want nil", err)
				}
				if d.ClientID() != tt.id {
					t.Errorf("ClientID() = %q, want %q", d.ClientID(), tt.id)
				}
				return
			}
			if err == nil {
				t.Fatalf("Parse() = %v, nil; want an error", d)
			}
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.mention) {
				t.Errorf("Parse() error = %q, want ErrInvalid mentioning %q", err, tt.mention)
			}
			if strings.Contains(err.Error(), "RULESECRET") {
				t.Errorf("Parse() error = %q, quotes the secret", err)
			}
		})
	}
}

// TestWithClientSecretKeepsRules: a new secret that Parse would refuse in
// the document is refused, so that what is written parses again.
func TestWithClientSecretKeepsRules(t *testing.T) {
	d, err := Parse([]byte(`{"clientId":"`+clientID+`","clientSecret":"`+oldSecret+`"}`), DefaultKeys)
	if err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]string{
		"same as the client id":   clientID,
		"shaped like a client id": "amzn1.application-oa2-client.NEWSECRET",
		"too long":                "NEWSECRET" + strings.Repeat("x", MaxSecretSize),
	} {
		out, err := d.WithClientSecret(lwa.ClientSecret(s), time.Time{})
		if err == nil {
			t.Errorf("WithClientSecret(%s) = %s, want an error", name, out)
			continue
		}
		if !errors.Is(err, ErrInvalid) || strings.Contains(err.Error(), "NEWSECRET") || strings.Contains(err.Error(), clientID) {
			t.Errorf("WithClientSecret(%s) error = %q, want ErrInvalid naming no value", name, err)
		}
	}
	if _, err := d.WithClientSecret(lwa.ClientSecret(strings.Repeat("s", MaxSecretSize)), time.Time{}); err != nil {
		t.Errorf("WithClientSecret(MaxSecretSize bytes) error = %v, want nil", err)
	}
}
