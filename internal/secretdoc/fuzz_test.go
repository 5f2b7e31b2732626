package secretdoc

import (
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/spapi-lwa/secret-rotation/internal/lwa"
)

// parseErrorGrammar matches every error Parse returns for DefaultKeys: fixed
// text, the configured key names and decimal numbers only, so no message can
// carry a value of the document.
var parseErrorGrammar = regexp.MustCompile(`^secretdoc: invalid secret document: (` +
	`larger than \d+ bytes|not valid UTF-8|not JSON \(syntax error( at offset \d+)?\)|` +
	`not a JSON object( but a JSON (array|string|number|boolean|null|nothing))?|` +
	`key "(clientId|clientSecret|clientSecretExpiresAt)" (is missing|is empty|holds a bad JSON string|` +
	`holds a JSON (object|array|number|boolean|null|nothing), want a string|appears more than once)|` +
	`a key appears more than once \(value at offset \d+\)|syntax error|` +
	`key "clientId" holds a value shaped like a client secret or token, not a client id; check that the values of "clientId" and "clientSecret" are not swapped|` +
	`keys "clientId" and "clientSecret" hold the same value; put the client id under "clientId"|` +
	`key "clientId" does not hold a client id \(want 1 to 128 of the characters A-Z a-z 0-9 \. _ : - and not shaped like a secret\)|` +
	`key "clientSecret" holds more than \d+ bytes, too long for a client secret|` +
	`key "clientSecret" holds a value shaped like a client id, not a client secret; check that the values of "clientId" and "clientSecret" are not swapped)$`)

func FuzzParse(f *testing.F) {
	f.Add([]byte(richDoc), newSecret)
	f.Add([]byte(`{"clientId":"id","clientSecret":"s"}`), "x")
	f.Add([]byte(`{"clientId":"id","clientSecret":"s","clientSecretExpiresAt":"2027-05-26T10:00:00Z","refreshToken":"Atzr|x"}`), `a"b\c`)
	f.Add([]byte(`{"client\u0049d":"i\u0064","clientSecret":"a\"b\\c\u2028","n":[1.0e3,{"x":null}]}`), "<&>")
	f.Add([]byte(`{"clientId":"id","clientSecret":"s","clientSecret":"t"}`), newSecret)
	f.Add([]byte(`["`+oldSecret+`"]`), newSecret)

	expires := time.Date(2026, time.July, 8, 22, 9, 17, 0, time.UTC)
	f.Fuzz(func(t *testing.T, data []byte, secret string) {
		d, err := Parse(data, DefaultKeys)
		if err != nil {
			if d != nil {
				t.Fatalf("Parse() = %v, %v: want a nil document with an error", d, err)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Parse() error = %v, does not wrap ErrInvalid", err)
			}
			if !parseErrorGrammar.MatchString(err.Error()) {
				t.Fatalf("Parse() error = %q, not made of fixed text", err)
			}
			var m map[string]any
			if json.Unmarshal(data, &m) == nil {
				if s, ok := m[DefaultKeys.ClientSecret].(string); ok && len(s) >= 8 && strings.Contains(err.Error(), s) {
					t.Fatalf("Parse() error = %q, contains the client secret", err)
				}
			}
			return
		}
		if d.ClientID() == "" || d.ClientSecret() == "" {
			t.Fatalf("Parse() accepted a document with an empty client id or secret")
		}
		// Differential check: encoding/json reads the same document.
		var m map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatalf("Parse() accepted a document encoding/json rejects: %v", err)
		}
		if m[DefaultKeys.ClientID] != d.ClientID() || m[DefaultKeys.ClientSecret] != d.ClientSecret().Reveal() || len(m) != len(d.order) {
			t.Fatalf("Parse() disagrees with encoding/json on %q", data)
		}
		out, err := d.WithClientSecret(lwa.ClientSecret(secret), expires)
		switch {
		case secret == "":
			if err == nil {
				t.Fatalf("WithClientSecret(\"\") error = nil, want one")
			}
			return
		case err != nil:
			// A valid new secret fails only for invalid UTF-8, size, or
			// rule 4 (the same as the client id, or shaped like one).
			if !strings.Contains(err.Error(), "UTF-8") && !strings.Contains(err.Error(), "larger than") &&
				!strings.Contains(err.Error(), "longer than") && !strings.Contains(err.Error(), "client id") {
				t.Fatalf("WithClientSecret() error = %v", err)
			}
			return
		}
		if !json.Valid(out) {
			t.Fatalf("WithClientSecret() = %q, not valid JSON", out)
		}
		d2, err := Parse(out, DefaultKeys)
		if err != nil {
			t.Fatalf("Parse(WithClientSecret()) error = %v; output %q", err, out)
		}
		if got := d2.ClientSecret().Reveal(); got != secret {
			t.Fatalf("round trip ClientSecret() = %q, want %q", got, secret)
		}
		if d2.ClientID() != d.ClientID() {
			t.Fatalf("round trip ClientID() = %q, want %q", d2.ClientID(), d.ClientID())
		}
		if at, ok := d2.ExpiresAt(); !ok || !at.Equal(expires) {
			t.Fatalf("round trip ExpiresAt() = %v, %v, want %v", at, ok, expires)
		}
		checkOtherKeys(t, d, d2, true)
		for i, k := range d.order {
			if d2.order[i] != k {
				t.Fatalf("key %d is %q after the rewrite, want %q", i, d2.order[i], k)
			}
		}
	})
}
