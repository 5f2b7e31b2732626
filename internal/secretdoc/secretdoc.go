// Package secretdoc reads and rewrites the managed secret's value: a JSON
// object holding an SP-API application's LWA credentials (clientId,
// clientSecret, clientSecretExpiresAt and any other keys, which are kept
// byte for byte). Errors never quote the value.
//
// The document (docs/design.md "The managed secret"):
//
//  1. It is at most MaxSize bytes of valid UTF-8 holding exactly one JSON
//     object (not an array, string, number or null).
//  2. The client id and client secret keys (Keys; SECRET_CLIENT_ID_KEY and
//     SECRET_CLIENT_SECRET_KEY) hold non-empty JSON strings.
//  3. No key appears twice: a rewrite could keep only one of the values, and
//     which one was meant is unknowable.
//  4. The two values are what their keys say, so that a document with its
//     values swapped, or the secret under the client id key, never puts the
//     secret where a client id is quoted (errors, logs, alerts, tags):
//     a. the client id is an id (redact.ValidID: 1 to 128 of A-Z a-z 0-9
//     . _ : -) and is not shaped like an LWA client secret or token
//     (amzn1.oa2-cs., Atza|, Atzr|);
//     b. the client secret is at most MaxSecretSize bytes and is not shaped
//     like a client id (amzn1.application-oa2-client.);
//     c. the two differ.
//     Each failure names the key to fix and never the value; WithClientSecret
//     applies b and c to the new secret, so what it writes parses again.
//  5. clientSecretExpiresAt is optional. When it is absent, not a string, or
//     not an RFC 3339 time, the document is still valid and ExpiresAt
//     reports false: the expiry is information, and a rotation must not fail
//     for it. WithClientSecret overwrites it.
//  6. Every other key's JSON value is kept byte for byte (numbers such as
//     1.0e3, escapes such as \u00e9, nested objects and their spacing).
//     WithClientSecret writes the members in their original order, with the
//     expiry key appended when it was absent; the white space between
//     members is not kept, and keys are written unescaped (a key spelled
//     "client\u0049d" is written "clientId", the same JSON string).
//
// Errors about the content wrap ErrInvalid and name the key and what is wrong
// with it, never a value; a syntax error gives a byte offset only.
package secretdoc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/spapi-lwa/secret-rotation/internal/lwa"
	"github.com/spapi-lwa/secret-rotation/internal/redact"
)

// ExpiresAtKey is the key the project writes the client secret's expiry under (RFC 3339).
const ExpiresAtKey = "clientSecretExpiresAt"

// Keys names the two required keys (SECRET_CLIENT_ID_KEY, SECRET_CLIENT_SECRET_KEY).
type Keys struct {
	ClientID     string
	ClientSecret string
}

// DefaultKeys are the key names used when none are configured.
var DefaultKeys = Keys{ClientID: "clientId", ClientSecret: "clientSecret"}

// Validate reports whether k can name a document's keys: both non-empty,
// valid UTF-8, distinct, and neither equal to ExpiresAtKey.
func (k Keys) Validate() error {
	var errs []error
	for _, n := range []struct{ what, key string }{{"client id", k.ClientID}, {"client secret", k.ClientSecret}} {
		switch {
		case n.key == "":
			errs = append(errs, fmt.Errorf("secretdoc: %s key is empty", n.what))
		case !utf8.ValidString(n.key):
			errs = append(errs, fmt.Errorf("secretdoc: %s key is not valid UTF-8", n.what))
		case n.key == ExpiresAtKey:
			errs = append(errs, fmt.Errorf("secretdoc: %s key %q is reserved for the expiry", n.what, n.key))
		}
	}
	if k.ClientID != "" && k.ClientID == k.ClientSecret {
		errs = append(errs, fmt.Errorf("secretdoc: client id and client secret keys are both %q", k.ClientID))
	}
	return errors.Join(errs...)
}

// MaxSize is the largest value accepted (Secrets Manager's own limit is 64 KiB).
const MaxSize = 64 * 1024

// MaxSecretSize is the longest client secret accepted, in bytes. LWA's
// client secrets are under 100 bytes; a value far longer is not one.
const MaxSecretSize = 1024

// clientIDPrefix starts every LWA client id of an SP-API application.
const clientIDPrefix = "amzn1.application-oa2-client."

// ErrInvalid is wrapped by every error about a document's content.
var ErrInvalid = errors.New("invalid secret document")

// Document is a parsed secret value. Hold it by pointer: fmt prints a
// Document only through its Format method, and fmt cannot call methods on a
// Document kept in an unexported struct field.
type Document struct {
	keys   Keys
	fields map[string][]byte // raw JSON value of every key
	order  []string          // keys in document order

	clientID string
	secret   lwa.ClientSecret
}

// Parse parses data as a secret document: a JSON object whose two required
// keys hold non-empty strings.
func Parse(data []byte, keys Keys) (*Document, error) {
	if err := keys.Validate(); err != nil {
		return nil, err
	}
	if len(data) > MaxSize {
		return nil, fmt.Errorf("secretdoc: %w: larger than %d bytes", ErrInvalid, MaxSize)
	}
	if !utf8.Valid(data) {
		return nil, fmt.Errorf("secretdoc: %w: not valid UTF-8", ErrInvalid)
	}
	var whole json.RawMessage
	if err := json.Unmarshal(data, &whole); err != nil {
		at := ""
		var se *json.SyntaxError
		if errors.As(err, &se) {
			at = " at offset " + strconv.FormatInt(se.Offset, 10)
		}
		return nil, fmt.Errorf("secretdoc: %w: not JSON (syntax error%s)", ErrInvalid, at)
	}
	if k := kind(data); k != "object" {
		return nil, fmt.Errorf("secretdoc: %w: not a JSON object but a JSON %s", ErrInvalid, k)
	}
	d := &Document{keys: keys, fields: make(map[string][]byte, 8)}
	var dup string
	dupOffset := int64(-1)
	dec := json.NewDecoder(bytes.NewReader(data))
	_, err := dec.Token() // the object's '{'
	for err == nil && dec.More() {
		var key json.Token
		var raw json.RawMessage
		if key, err = dec.Token(); err == nil {
			err = dec.Decode(&raw)
		}
		name, _ := key.(string)
		if _, seen := d.fields[name]; seen {
			if dupOffset < 0 {
				dup, dupOffset = name, dec.InputOffset()-int64(len(raw))
			}
			continue
		}
		d.fields[name] = raw
		d.order = append(d.order, name)
	}
	if err != nil {
		return nil, fmt.Errorf("secretdoc: %w: syntax error", ErrInvalid)
	}
	if dupOffset >= 0 {
		if dup == keys.ClientID || dup == keys.ClientSecret || dup == ExpiresAtKey {
			return nil, fmt.Errorf("secretdoc: %w: key %q appears more than once", ErrInvalid, dup)
		}
		// Other key names are the operator's and might say too much.
		return nil, fmt.Errorf("secretdoc: %w: a key appears more than once (value at offset %d)", ErrInvalid, dupOffset)
	}
	if d.clientID, err = d.requiredString(keys.ClientID); err != nil {
		return nil, err
	}
	// Rule 4a before anything else, so that the key most likely to be
	// quoted is the one named when both are wrong.
	if redact.LooksSecret(d.clientID) {
		return nil, fmt.Errorf("secretdoc: %w: key %q holds a value shaped like a client secret or token, not a client id; check that the values of %q and %q are not swapped",
			ErrInvalid, keys.ClientID, keys.ClientID, keys.ClientSecret)
	}
	secret, err := d.requiredString(keys.ClientSecret)
	if err != nil {
		return nil, err
	}
	d.secret = lwa.ClientSecret(secret)
	if err := checkPair(keys, d.clientID, secret); err != nil {
		return nil, err
	}
	return d, nil
}

// checkPair applies rules 4a (the character set), 4b and 4c to a client id
// and a client secret held under keys. Its errors name keys only.
func checkPair(keys Keys, clientID, secret string) error {
	switch {
	case clientID == secret:
		return fmt.Errorf("secretdoc: %w: keys %q and %q hold the same value; put the client id under %q",
			ErrInvalid, keys.ClientID, keys.ClientSecret, keys.ClientID)
	case !redact.ValidID(clientID):
		return fmt.Errorf("secretdoc: %w: key %q does not hold a client id (want %s)", ErrInvalid, keys.ClientID, redact.IDRule)
	}
	switch {
	case len(secret) > MaxSecretSize:
		return fmt.Errorf("secretdoc: %w: key %q holds more than %d bytes, too long for a client secret", ErrInvalid, keys.ClientSecret, MaxSecretSize)
	case strings.HasPrefix(secret, clientIDPrefix):
		return fmt.Errorf("secretdoc: %w: key %q holds a value shaped like a client id, not a client secret; check that the values of %q and %q are not swapped",
			ErrInvalid, keys.ClientSecret, keys.ClientID, keys.ClientSecret)
	}
	return nil
}

// requiredString returns the non-empty string value of key.
func (d *Document) requiredString(key string) (string, error) {
	raw, ok := d.fields[key]
	if !ok {
		return "", fmt.Errorf("secretdoc: %w: key %q is missing", ErrInvalid, key)
	}
	if k := kind(raw); k != "string" {
		return "", fmt.Errorf("secretdoc: %w: key %q holds a JSON %s, want a string", ErrInvalid, key, k)
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", fmt.Errorf("secretdoc: %w: key %q holds a bad JSON string", ErrInvalid, key)
	}
	if s == "" {
		return "", fmt.Errorf("secretdoc: %w: key %q is empty", ErrInvalid, key)
	}
	return s, nil
}

// ClientID returns the client id.
func (d *Document) ClientID() string { return d.clientID }

// ClientSecret returns the client secret.
func (d *Document) ClientSecret() lwa.ClientSecret { return d.secret }

// ExpiresAt returns clientSecretExpiresAt, if present and valid (in UTC).
func (d *Document) ExpiresAt() (time.Time, bool) {
	raw, ok := d.fields[ExpiresAtKey]
	var s string
	if !ok || kind(raw) != "string" || json.Unmarshal(raw, &s) != nil {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, false
	}
	return t.UTC(), true
}

// WithClientSecret returns the JSON of a copy of d with the client secret and
// clientSecretExpiresAt replaced (expiresAt zero: key left as it is) and every
// other key's JSON value unchanged.
// The expiry is written as expiresAt.UTC().Format(time.RFC3339Nano): with
// the fraction of a second it has (Amazon's notifications give
// milliseconds), so that two secrets issued within one second keep their
// order; a whole second is written without a fraction.
// d itself is not changed.
func (d *Document) WithClientSecret(secret lwa.ClientSecret, expiresAt time.Time) ([]byte, error) {
	if secret == "" {
		return nil, errors.New("secretdoc: replace client secret: new secret is empty")
	}
	if !utf8.ValidString(secret.Reveal()) {
		// encoding/json would replace the bad bytes: the stored secret
		// would not be the one issued.
		return nil, errors.New("secretdoc: replace client secret: new secret is not valid UTF-8")
	}
	// Rule 4 for the new secret, so that the result parses again.
	switch {
	case secret.Reveal() == d.clientID:
		return nil, fmt.Errorf("secretdoc: replace client secret: %w: new secret is the same as the client id", ErrInvalid)
	case len(secret) > MaxSecretSize:
		return nil, fmt.Errorf("secretdoc: replace client secret: %w: new secret is longer than %d bytes", ErrInvalid, MaxSecretSize)
	case strings.HasPrefix(secret.Reveal(), clientIDPrefix):
		return nil, fmt.Errorf("secretdoc: replace client secret: %w: new secret is shaped like a client id", ErrInvalid)
	}
	var expires []byte
	if !expiresAt.IsZero() {
		u := expiresAt.UTC()
		if y := u.Year(); y < 1 || y > 9999 {
			return nil, fmt.Errorf("secretdoc: replace client secret: expiry year %d is outside RFC 3339", y)
		}
		expires = appendString(nil, u.Format(time.RFC3339Nano))
	}
	size := 2 + len(secret) + len(expires) + len(ExpiresAtKey) + 8
	for _, k := range d.order {
		size += len(k) + len(d.fields[k]) + 4
	}
	buf := make([]byte, 1, size)
	buf[0] = '{'
	member := func(key string, raw []byte) {
		if len(buf) > 1 {
			buf = append(buf, ',')
		}
		buf = appendString(buf, key)
		buf = append(buf, ':')
		buf = append(buf, raw...)
	}
	wroteExpiry := false
	for _, k := range d.order {
		switch {
		case k == d.keys.ClientSecret:
			if len(buf) > 1 {
				buf = append(buf, ',')
			}
			buf = appendString(buf, k)
			buf = append(buf, ':')
			buf = appendString(buf, secret.Reveal())
		case k == ExpiresAtKey && expires != nil:
			member(k, expires)
			wroteExpiry = true
		default:
			member(k, d.fields[k])
		}
	}
	if expires != nil && !wroteExpiry {
		member(ExpiresAtKey, expires)
	}
	buf = append(buf, '}')
	if len(buf) > MaxSize {
		return nil, fmt.Errorf("secretdoc: replace client secret: %w: result larger than %d bytes", ErrInvalid, MaxSize)
	}
	return buf, nil
}

// Format implements fmt.Formatter for every verb, so that no verb (%v, %+v,
// %#v, %s, %x, %d …) can print the fields, which hold the secret.
func (d Document) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		_, _ = fmt.Fprint(f, d.GoString())
		return
	}
	_, _ = fmt.Fprint(f, d.String())
}

// String implements fmt.Stringer: the client id, never the secret.
func (d Document) String() string {
	return "secretdoc.Document{" + d.keys.ClientID + ": " + strconv.Quote(d.clientID) + ", " + d.keys.ClientSecret + ": [redacted], keys: " + strconv.Itoa(len(d.order)) + "}"
}

// GoString implements fmt.GoStringer, like String.
func (d Document) GoString() string { return d.String() }

// LogValue implements slog.LogValuer: the client id and the number of keys.
func (d Document) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("clientId", d.clientID),
		slog.String("clientSecret", "[redacted]"),
		slog.Int("keys", len(d.order)),
	)
}

// appendString appends s as a JSON string, without HTML escaping, so that
// the written value is the shortest faithful spelling of s.
func appendString(dst []byte, s string) []byte {
	plain := true
	for i := 0; i < len(s) && plain; i++ {
		c := s[i]
		plain = c >= 0x20 && c < 0x7f && c != '"' && c != '\\'
	}
	if plain {
		dst = append(dst, '"')
		dst = append(dst, s...)
		return append(dst, '"')
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return append(dst, bytes.TrimSuffix(b.Bytes(), []byte("\n"))...)
}

// kind names the JSON type of raw, a valid JSON value, by its first byte.
func kind(raw []byte) string {
	raw = bytes.TrimLeft(raw, " \t\r\n")
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	return "number"
}
