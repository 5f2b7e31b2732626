package secretdoc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/spapi-lwa/secret-rotation/internal/lwa"
)

const (
	oldSecret = "amzn1.oa2-cs.v1.OLDSECRET0123456789"
	newSecret = "amzn1.oa2-cs.v1.NEWSECRET9876543210"
	clientID  = "amzn1.application-oa2-client.0123456789abcdef"
)

// richDoc has every kind of value whose bytes must survive a rewrite.
const richDoc = `{
  "clientId": "` + clientID + `",
  "clientSecret": "` + oldSecret + `",
  "refreshToken": "Atzr|IwEB\u00e9\/x",
  "nested": {"a": [1, 2.50, {"b": null}],   "c": "\ud83d\ude00"},
  "big": 1.0e3,
  "neg": -0.0,
  "flag": true,
  "nothing": null,
  "empty": {},
  "list": [ ],
  "clientSecretExpiresAt": "2026-01-01T00:00:00+01:00"
}`

func TestParse(t *testing.T) {
	tests := []struct {
		name        string
		data        string
		keys        Keys
		wantID      string
		wantSecret  string
		wantExpires time.Time
		wantOK      bool
	}{
		{
			name: "minimal", keys: DefaultKeys,
			data:   `{"clientId":"id","clientSecret":"s"}`,
			wantID: "id", wantSecret: "s",
		},
		{
			name: "rich", keys: DefaultKeys, data: richDoc,
			wantID: clientID, wantSecret: oldSecret,
			wantExpires: time.Date(2025, time.December, 31, 23, 0, 0, 0, time.UTC), wantOK: true,
		},
		{
			name: "custom key names", keys: Keys{ClientID: "LWA_CLIENT_ID", ClientSecret: "LWA_CLIENT_SECRET"},
			data:   `{"clientId":"other","LWA_CLIENT_ID":"id2","LWA_CLIENT_SECRET":"s2","clientSecret":5}`,
			wantID: "id2", wantSecret: "s2",
		},
		{
			name: "escaped key and value", keys: DefaultKeys,
			data:   `{"client\u0049d":"i\u0064","clientSecret":"a\"b\\c\u2028"}`,
			wantID: "id", wantSecret: "a\"b\\c\u2028",
		},
		{
			name: "expiry with fraction", keys: DefaultKeys,
			data:   `{"clientId":"id","clientSecret":"s","clientSecretExpiresAt":"2027-05-26T10:00:00.5Z"}`,
			wantID: "id", wantSecret: "s",
			wantExpires: time.Date(2027, time.May, 26, 10, 0, 0, 5e8, time.UTC), wantOK: true,
		},
		{
			name: "expiry not RFC 3339", keys: DefaultKeys,
			data:   `{"clientId":"id","clientSecret":"s","clientSecretExpiresAt":"2027-05-26"}`,
			wantID: "id", wantSecret: "s",
		},
		{
			name: "expiry a number", keys: DefaultKeys,
			data:   `{"clientId":"id","clientSecret":"s","clientSecretExpiresAt":1800000000}`,
			wantID: "id", wantSecret: "s",
		},
		{
			name: "expiry null", keys: DefaultKeys,
			data:   `{"clientId":"id","clientSecret":"s","clientSecretExpiresAt":null}`,
			wantID: "id", wantSecret: "s",
		},
		{
			name: "exactly MaxSize", keys: DefaultKeys,
			data:   `{"clientId":"id","clientSecret":"s","pad":"` + strings.Repeat("x", MaxSize-45) + `"}`,
			wantID: "id", wantSecret: "s",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Parse([]byte(tt.data), tt.keys)
			if err != nil {
				t.Fatalf("Parse() error = %v", err)
			}
			if got := d.ClientID(); got != tt.wantID {
				t.Errorf("ClientID() = %q, want %q", got, tt.wantID)
			}
			if got := d.ClientSecret().Reveal(); got != tt.wantSecret {
				t.Errorf("ClientSecret() = %q, want %q", got, tt.wantSecret)
			}
			got, ok := d.ExpiresAt()
			if ok != tt.wantOK || !got.Equal(tt.wantExpires) {
				t.Errorf("ExpiresAt() = %v, %v, want %v, %v", got, ok, tt.wantExpires, tt.wantOK)
			}
			if ok && got.Location() != time.UTC {
				t.Errorf("ExpiresAt() location = %v, want UTC", got.Location())
			}
		})
	}
	if n := len(`{"clientId":"id","clientSecret":"s","pad":"` + strings.Repeat("x", MaxSize-45) + `"}`); n != MaxSize {
		t.Fatalf("exactly MaxSize test document has %d bytes, want %d", n, MaxSize)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name    string
		data    string
		keys    Keys
		invalid bool   // wraps ErrInvalid
		mention string // the message names this
	}{
		{name: "empty", data: ``, invalid: true, mention: "not JSON"},
		{name: "not JSON", data: `clientSecret=` + oldSecret, invalid: true, mention: "syntax error at offset 1"},
		{name: "truncated", data: `{"clientId":"id","clientSecret":"` + oldSecret, invalid: true, mention: "offset"},
		{name: "trailing data", data: `{"clientId":"id","clientSecret":"` + oldSecret + `"} ` + oldSecret, invalid: true, mention: "not JSON"},
		{name: "array", data: `["` + oldSecret + `"]`, invalid: true, mention: "not a JSON object but a JSON array"},
		{name: "string", data: `"` + oldSecret + `"`, invalid: true, mention: "JSON string"},
		{name: "number", data: `12345678901234567890`, invalid: true, mention: "JSON number"},
		{name: "null", data: `null`, invalid: true, mention: "JSON null"},
		{name: "invalid UTF-8", data: `{"clientId":"id","clientSecret":"` + oldSecret + "\xff" + `"}`, invalid: true, mention: "UTF-8"},
		{name: "too large", data: `{"clientId":"id","clientSecret":"` + oldSecret + `","pad":"` + strings.Repeat("x", MaxSize) + `"}`, invalid: true, mention: "larger than"},
		{name: "client id missing", data: `{"clientSecret":"` + oldSecret + `"}`, invalid: true, mention: `key "clientId" is missing`},
		{name: "client secret missing", data: `{"clientId":"id","secret":"` + oldSecret + `"}`, invalid: true, mention: `key "clientSecret" is missing`},
		{name: "client secret empty", data: `{"clientId":"id","clientSecret":""}`, invalid: true, mention: `key "clientSecret" is empty`},
		{name: "client secret null", data: `{"clientId":"id","clientSecret":null}`, invalid: true, mention: `key "clientSecret" holds a JSON null`},
		{name: "client secret number", data: `{"clientId":"id","clientSecret":1234567890123}`, invalid: true, mention: `key "clientSecret" holds a JSON number`},
		{name: "client secret array", data: `{"clientId":"id","clientSecret":["` + oldSecret + `"]}`, invalid: true, mention: `key "clientSecret" holds a JSON array`},
		{name: "client id object", data: `{"clientId":{"v":"id"},"clientSecret":"` + oldSecret + `"}`, invalid: true, mention: `key "clientId" holds a JSON object`},
		{name: "duplicate client secret", data: `{"clientId":"id","clientSecret":"` + oldSecret + `","clientSecret":"x"}`, invalid: true, mention: `key "clientSecret" appears more than once`},
		{name: "duplicate expiry", data: `{"clientId":"id","clientSecret":"s","clientSecretExpiresAt":"","clientSecretExpiresAt":""}`, invalid: true, mention: `key "clientSecretExpiresAt" appears more than once`},
		{name: "duplicate other key", data: `{"clientId":"id","clientSecret":"` + oldSecret + `","refreshToken":"a","refreshToken":"b"}`, invalid: true, mention: "a key appears more than once"},
		{name: "custom key missing", keys: Keys{ClientID: "id", ClientSecret: "LWA_SECRET"}, data: `{"id":"x","clientSecret":"` + oldSecret + `"}`, invalid: true, mention: `key "LWA_SECRET" is missing`},
		{name: "keys empty", keys: Keys{ClientID: "clientId"}, data: `{"clientId":"id","clientSecret":"s"}`, mention: "client secret key is empty"},
		{name: "keys equal", keys: Keys{ClientID: "k", ClientSecret: "k"}, data: `{"k":"id"}`, mention: "both"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys := tt.keys
			if keys == (Keys{}) {
				keys = DefaultKeys
			}
			d, err := Parse([]byte(tt.data), keys)
			if err == nil {
				t.Fatalf("Parse() = %v, nil, want an error", d)
			}
			if d != nil {
				t.Errorf("Parse() document = %v, want nil", d)
			}
			if got := errors.Is(err, ErrInvalid); got != tt.invalid {
				t.Errorf("errors.Is(%v, ErrInvalid) = %v, want %v", err, got, tt.invalid)
			}
			if !strings.Contains(err.Error(), tt.mention) {
				t.Errorf("Parse() error = %q, want it to mention %q", err, tt.mention)
			}
			for _, secret := range []string{"OLDSECRET", "1234567890123"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("Parse() error = %q, contains a value", err)
				}
			}
		})
	}
}

func TestKeysValidate(t *testing.T) {
	tests := []struct {
		keys Keys
		ok   bool
	}{
		{DefaultKeys, true},
		{Keys{ClientID: "SECRET_CLIENT_ID", ClientSecret: "SECRET_CLIENT_SECRET"}, true},
		{Keys{ClientID: "", ClientSecret: "clientSecret"}, false},
		{Keys{ClientID: "clientId", ClientSecret: ""}, false},
		{Keys{}, false},
		{Keys{ClientID: "x", ClientSecret: "x"}, false},
		{Keys{ClientID: ExpiresAtKey, ClientSecret: "clientSecret"}, false},
		{Keys{ClientID: "clientId", ClientSecret: ExpiresAtKey}, false},
		{Keys{ClientID: "clientId", ClientSecret: "bad\xff"}, false},
	}
	for _, tt := range tests {
		if err := tt.keys.Validate(); (err == nil) != tt.ok {
			t.Errorf("%+v.Validate() = %v, want ok %v", tt.keys, err, tt.ok)
		}
	}
}

func TestWithClientSecret(t *testing.T) {
	expiry := time.Date(2026, time.July, 8, 23, 9, 17, 198e6, time.FixedZone("CEST", 2*3600))
	tests := []struct {
		name    string
		data    string
		keys    Keys
		secret  lwa.ClientSecret
		expires time.Time
		want    string
	}{
		{
			name: "rich document", data: richDoc, keys: DefaultKeys, secret: newSecret, expires: expiry,
			want: `{"clientId":"` + clientID + `","clientSecret":"` + newSecret + `",` +
				`"refreshToken":"Atzr|IwEB\u00e9\/x",` +
				`"nested":{"a": [1, 2.50, {"b": null}],   "c": "\ud83d\ude00"},` +
				`"big":1.0e3,"neg":-0.0,"flag":true,"nothing":null,"empty":{},"list":[ ],` +
				`"clientSecretExpiresAt":"2026-07-08T21:09:17.198Z"}`,
		},
		{
			name: "expiry appended when absent", keys: DefaultKeys, secret: newSecret, expires: expiry,
			data: `{"refreshToken":"Atzr|x","clientSecret":"old","clientId":"id"}`,
			want: `{"refreshToken":"Atzr|x","clientSecret":"` + newSecret + `","clientId":"id","clientSecretExpiresAt":"2026-07-08T21:09:17.198Z"}`,
		},
		{
			name: "whole-second expiry has no fraction", keys: DefaultKeys, secret: newSecret, expires: expiry.Truncate(time.Second),
			data: `{"clientId":"id","clientSecret":"old","clientSecretExpiresAt":"2026-01-01T00:00:00Z"}`,
			want: `{"clientId":"id","clientSecret":"` + newSecret + `","clientSecretExpiresAt":"2026-07-08T21:09:17Z"}`,
		},
		{
			name: "zero expiry leaves a present key", keys: DefaultKeys, secret: newSecret,
			data: `{"clientId":"id","clientSecret":"old","clientSecretExpiresAt":"not a time"}`,
			want: `{"clientId":"id","clientSecret":"` + newSecret + `","clientSecretExpiresAt":"not a time"}`,
		},
		{
			name: "zero expiry adds no key", keys: DefaultKeys, secret: newSecret,
			data: `{"clientId":"id","clientSecret":"old"}`,
			want: `{"clientId":"id","clientSecret":"` + newSecret + `"}`,
		},
		{
			name: "expiry of another type is replaced", keys: DefaultKeys, secret: newSecret, expires: expiry,
			data: `{"clientId":"id","clientSecret":"old","clientSecretExpiresAt":{"x":1}}`,
			want: `{"clientId":"id","clientSecret":"` + newSecret + `","clientSecretExpiresAt":"2026-07-08T21:09:17.198Z"}`,
		},
		{
			name: "custom key names", keys: Keys{ClientID: "LWA_CLIENT_ID", ClientSecret: "LWA_CLIENT_SECRET"}, secret: newSecret,
			data: `{"LWA_CLIENT_ID":"id","clientSecret":"unrelated","LWA_CLIENT_SECRET":"old"}`,
			want: `{"LWA_CLIENT_ID":"id","clientSecret":"unrelated","LWA_CLIENT_SECRET":"` + newSecret + `"}`,
		},
		{
			name: "secret with characters JSON escapes", keys: DefaultKeys, secret: "a\"b\\c<d>&e\u2028\x01",
			data: `{"clientId":"id","clientSecret":"old"}`,
			want: `{"clientId":"id","clientSecret":"a\"b\\c<d>&e\u2028\u0001"}`,
		},
		{
			name: "escaped keys are written unescaped", keys: DefaultKeys, secret: newSecret,
			data: `{"client\u0049d":"id","clientSecret":"old","x\u003cy":1}`,
			want: `{"clientId":"id","clientSecret":"` + newSecret + `","x<y":1}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Parse([]byte(tt.data), tt.keys)
			if err != nil {
				t.Fatalf("Parse() error = %v", err)
			}
			before := d.ClientSecret()
			got, err := d.WithClientSecret(tt.secret, tt.expires)
			if err != nil {
				t.Fatalf("WithClientSecret() error = %v", err)
			}
			if string(got) != tt.want {
				t.Errorf("WithClientSecret() =\n%s\nwant\n%s", got, tt.want)
			}
			if d.ClientSecret() != before {
				t.Errorf("WithClientSecret() changed the document it was called on")
			}
			d2, err := Parse(got, tt.keys)
			if err != nil {
				t.Fatalf("Parse(WithClientSecret()) error = %v", err)
			}
			if d2.ClientSecret() != tt.secret {
				t.Errorf("round trip ClientSecret() = %q, want %q", d2.ClientSecret().Reveal(), tt.secret.Reveal())
			}
			if d2.ClientID() != d.ClientID() {
				t.Errorf("round trip ClientID() = %q, want %q", d2.ClientID(), d.ClientID())
			}
			if !tt.expires.IsZero() {
				if at, ok := d2.ExpiresAt(); !ok || !at.Equal(tt.expires) {
					t.Errorf("round trip ExpiresAt() = %v, %v, want %v", at, ok, tt.expires)
				}
			}
			checkOtherKeys(t, d, d2, !tt.expires.IsZero())
		})
	}
}

// checkOtherKeys asserts that every key but the client secret (and the
// expiry, when it was replaced) has byte-identical values in a and b.
func checkOtherKeys(t *testing.T, a, b *Document, expiryReplaced bool) {
	t.Helper()
	for _, k := range a.order {
		if k == a.keys.ClientSecret || (expiryReplaced && k == ExpiresAtKey) {
			continue
		}
		if !bytes.Equal(a.fields[k], b.fields[k]) {
			t.Errorf("key %q: value %s became %s", k, a.fields[k], b.fields[k])
		}
	}
	extra := 0
	if _, ok := a.fields[ExpiresAtKey]; expiryReplaced && !ok {
		extra = 1
	}
	if len(b.order) != len(a.order)+extra {
		t.Errorf("document has %d keys, want %d", len(b.order), len(a.order)+extra)
	}
}

func TestWithClientSecretErrors(t *testing.T) {
	d, err := Parse([]byte(`{"clientId":"id","clientSecret":"`+oldSecret+`","pad":"`+strings.Repeat("x", MaxSize-200)+`"}`), DefaultKeys)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		secret  lwa.ClientSecret
		expires time.Time
	}{
		{"empty secret", "", time.Time{}},
		{"invalid UTF-8", lwa.ClientSecret("NEWSECRET\xff"), time.Time{}},
		{"year 10000", newSecret, time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"result too large", lwa.ClientSecret("NEWSECRET" + strings.Repeat("y", 300)), time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := d.WithClientSecret(tt.secret, tt.expires)
			if err == nil {
				t.Fatalf("WithClientSecret() = %d bytes, nil, want an error", len(got))
			}
			if strings.Contains(err.Error(), "NEWSECRET") || strings.Contains(err.Error(), "OLDSECRET") {
				t.Errorf("WithClientSecret() error = %q, contains a secret", err)
			}
		})
	}
}

// TestDocumentDoesNotPrint checks every way a Document reaches text: fmt
// verbs on the value and the pointer, nested in a struct, and slog.
func TestDocumentDoesNotPrint(t *testing.T) {
	d, err := Parse([]byte(richDoc), DefaultKeys)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, format := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T %[1]v"} {
		out = append(out, fmt.Sprintf(format, d), fmt.Sprintf(format, *d))
	}
	out = append(out,
		fmt.Sprintf("%+v", struct{ Doc *Document }{d}),
		fmt.Sprintf("%+v", struct{ Doc Document }{*d}),
		fmt.Sprintf("%#v", []*Document{d}),
		fmt.Sprint(d), fmt.Sprintln(d))
	var buf bytes.Buffer
	for _, h := range []slog.Handler{slog.NewJSONHandler(&buf, nil), slog.NewTextHandler(&buf, nil)} {
		l := slog.New(h)
		l.Info("doc", "doc", d, "value", *d, "any", any(d))
		l.Info("doc", slog.Any("doc", d))
	}
	out = append(out, buf.String())
	for _, s := range out {
		for _, leak := range []string{oldSecret, "OLDSECRET", "Atzr"} {
			if strings.Contains(s, leak) {
				t.Errorf("output %s contains %q", s, leak)
			}
		}
	}
	if s := fmt.Sprintf("%v", d); !strings.Contains(s, clientID) || !strings.Contains(s, "[redacted]") {
		t.Errorf("Sprintf(%%v) = %s, want the client id and [redacted]", s)
	}
	if !strings.Contains(buf.String(), `"clientId":"`+clientID+`"`) {
		t.Errorf("JSON log %s does not show the client id", buf.String())
	}
}

// TestWithClientSecretOutputIsCompactJSON checks that the output is one valid
// JSON object that encoding/json reads with the same values.
func TestWithClientSecretOutputIsCompactJSON(t *testing.T) {
	d, err := Parse([]byte(richDoc), DefaultKeys)
	if err != nil {
		t.Fatal(err)
	}
	out, err := d.WithClientSecret(newSecret, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	var before, after map[string]any
	if err := json.Unmarshal([]byte(richDoc), &before); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(out, &after); err != nil {
		t.Fatalf("json.Unmarshal(WithClientSecret()) error = %v", err)
	}
	before["clientSecret"] = newSecret
	before[ExpiresAtKey] = "2026-01-02T03:04:05Z"
	if fmt.Sprint(before) != fmt.Sprint(after) {
		t.Errorf("decoded output = %v, want %v", after, before)
	}
}

func BenchmarkWithClientSecret(b *testing.B) {
	d, err := Parse([]byte(richDoc), DefaultKeys)
	if err != nil {
		b.Fatal(err)
	}
	expires := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.WithClientSecret(newSecret, expires); err != nil {
			b.Fatal(err)
		}
	}
}
