// Package secretdoc reads and rewrites the managed secret's value, a JSON object
// holding an SP-API application's LWA credentials. Errors wrap ErrInvalid and
// name a key, never a value; a syntax error gives a byte offset only. The rules:
//
//  1. At most MaxSize bytes of valid UTF-8 holding exactly one JSON object.
//  2. The client id and client secret keys (Keys) hold non-empty JSON strings.
//  3. No key appears twice (a rewrite could keep only one of the values).
//  4. The values are what their keys say, so a swapped secret is never quoted as an id:
//     a. the client id is an id (redact.ValidID), not shaped like a secret or token;
//     b. the client secret is at most MaxSecretSize bytes, not shaped like a client id;
//     c. the two differ. WithClientSecret applies b and c to the new secret.
//  5. clientSecretExpiresAt is optional: if absent or not RFC 3339, ExpiresAt reports false.
//  6. Every other key's JSON value is kept byte for byte; WithClientSecret keeps the
//     order, appends the expiry when absent and drops the white space between members.
package secretdoc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/spapi-lwa/secret-rotation/internal/lwa"
	"github.com/spapi-lwa/secret-rotation/internal/redact"
)

// Keys names the two required keys (SECRET_CLIENT_ID_KEY, SECRET_CLIENT_SECRET_KEY).
type Keys struct {
	ClientID     string
	ClientSecret string
}

// DefaultKeys are the key names used when none are configured.
var DefaultKeys = Keys{ClientID: "clientId", ClientSecret: "clientSecret"}

// Validate reports whether k can name a document's keys (distinct, not ExpiresAtKey).
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

const (
	// ExpiresAtKey is the key the client secret's expiry is written under (RFC 3339).
	ExpiresAtKey = "clientSecretExpiresAt"
	// MaxSize is the largest value accepted (Secrets Manager's own limit is 64 KiB).
	MaxSize = 64 * 1024
	// MaxSecretSize is the longest client secret accepted, in bytes (LWA's are under 100).
	MaxSecretSize  = 1024
	clientIDPrefix = "amzn1.application-oa2-client."
)

// ErrInvalid is wrapped by every error about a document's content.
var ErrInvalid = errors.New("invalid secret document")

// Document is a parsed secret value; it prints redacted, but not from an
// unexported struct field (fmt cannot call its methods there).
type Document struct {
	keys     Keys
	fields   map[string][]byte // raw JSON values
	order    []string
	clientID string
	secret   lwa.ClientSecret
}

// Parse parses data as a secret document (rules 1 to 4).
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
	members, kind, err := redact.JSONObject(data)
	if err != nil {
		return nil, fmt.Errorf("secretdoc: %w: not JSON (%v)", ErrInvalid, err)
	}
	if kind != "object" {
		return nil, fmt.Errorf("secretdoc: %w: not a JSON object but a JSON %s", ErrInvalid, kind)
	}
	d := &Document{keys: keys, fields: make(map[string][]byte, len(members))}
	for _, m := range members {
		if _, seen := d.fields[m.Key]; !seen {
			d.fields[m.Key] = m.Value
			d.order = append(d.order, m.Key)
		} else if m.Key == keys.ClientID || m.Key == keys.ClientSecret || m.Key == ExpiresAtKey {
			return nil, fmt.Errorf("secretdoc: %w: key %q appears more than once", ErrInvalid, m.Key)
		} else {
			// Other key names are the operator's and might say too much.
			return nil, fmt.Errorf("secretdoc: %w: a key appears more than once (value at offset %d)", ErrInvalid, m.Offset)
		}
	}
	if d.clientID, err = d.requiredString(keys.ClientID); err != nil {
		return nil, err
	}
	// Rule 4a first: when both are wrong, name the key most likely to be quoted.
	if redact.LooksSecret(d.clientID) {
		return nil, fmt.Errorf("secretdoc: %w: key %q holds a value shaped like a client secret or token, not a client id; "+
			"check that the values of %q and %q are not swapped", ErrInvalid, keys.ClientID, keys.ClientID, keys.ClientSecret)
	}
	secret, err := d.requiredString(keys.ClientSecret)
	if err != nil {
		return nil, err
	}
	d.secret = lwa.ClientSecret(secret)
	// Rules 4a (the character set), 4b and 4c.
	switch {
	case d.clientID == secret:
		return nil, fmt.Errorf("secretdoc: %w: keys %q and %q hold the same value; put the client id under %q",
			ErrInvalid, keys.ClientID, keys.ClientSecret, keys.ClientID)
	case !redact.ValidID(d.clientID):
		return nil, fmt.Errorf("secretdoc: %w: key %q does not hold a client id (want %s)", ErrInvalid, keys.ClientID, redact.IDRule)
	case len(secret) > MaxSecretSize:
		return nil, fmt.Errorf("secretdoc: %w: key %q holds more than %d bytes, too long for a client secret",
			ErrInvalid, keys.ClientSecret, MaxSecretSize)
	case strings.HasPrefix(secret, clientIDPrefix):
		return nil, fmt.Errorf("secretdoc: %w: key %q holds a value shaped like a client id, not a client secret; "+
			"check that the values of %q and %q are not swapped", ErrInvalid, keys.ClientSecret, keys.ClientID, keys.ClientSecret)
	}
	return d, nil
}

func (d *Document) requiredString(key string) (string, error) {
	raw, ok := d.fields[key]
	var s, problem string
	switch kind := redact.JSONKind(raw); {
	case !ok:
		problem = "is missing"
	case kind != "string":
		problem = "holds a JSON " + kind + ", want a string"
	case json.Unmarshal(raw, &s) != nil:
		problem = "holds a bad JSON string"
	case s == "":
		problem = "is empty"
	default:
		return s, nil
	}
	return "", fmt.Errorf("secretdoc: %w: key %q %s", ErrInvalid, key, problem)
}

// ClientID returns the client id.
func (d *Document) ClientID() string { return d.clientID }

// ClientSecret returns the client secret.
func (d *Document) ClientSecret() lwa.ClientSecret { return d.secret }

// ExpiresAt returns clientSecretExpiresAt in UTC, if present and valid.
func (d *Document) ExpiresAt() (time.Time, bool) {
	var s string
	_ = json.Unmarshal(d.fields[ExpiresAtKey], &s) // s stays "" unless it is a JSON string
	t, err := time.Parse(time.RFC3339Nano, s)
	return t.UTC(), err == nil
}

// WithClientSecret returns the JSON of d with the client secret and, unless
// expiresAt is zero, clientSecretExpiresAt replaced.
func (d *Document) WithClientSecret(secret lwa.ClientSecret, expiresAt time.Time) ([]byte, error) {
	switch s := secret.Reveal(); {
	case s == "":
		return nil, errors.New("secretdoc: replace client secret: new secret is empty")
	case !utf8.ValidString(s):
		// encoding/json would replace the bad bytes.
		return nil, errors.New("secretdoc: replace client secret: new secret is not valid UTF-8")
	// Rule 4 for the new secret, so that the result parses again.
	case s == d.clientID:
		return nil, fmt.Errorf("secretdoc: replace client secret: %w: new secret is the same as the client id", ErrInvalid)
	case len(secret) > MaxSecretSize:
		return nil, fmt.Errorf("secretdoc: replace client secret: %w: new secret is longer than %d bytes", ErrInvalid, MaxSecretSize)
	case strings.HasPrefix(s, clientIDPrefix):
		return nil, fmt.Errorf("secretdoc: replace client secret: %w: new secret is shaped like a client id", ErrInvalid)
	}
	var expiry []byte
	if !expiresAt.IsZero() {
		u := expiresAt.UTC()
		if y := u.Year(); y < 1 || y > 9999 {
			return nil, fmt.Errorf("secretdoc: replace client secret: expiry year %d is outside RFC 3339", y)
		}
		// With its fraction, two secrets issued within a second keep their order.
		expiry = appendString(nil, u.Format(time.RFC3339Nano))
	}
	buf := append(make([]byte, 0, 512), '{')
	member := func(k string, v []byte) {
		if len(buf) > 1 {
			buf = append(buf, ',')
		}
		buf = append(append(appendString(buf, k), ':'), v...)
	}
	for _, k := range d.order {
		switch {
		case k == d.keys.ClientSecret:
			member(k, appendString(nil, secret.Reveal()))
		case k == ExpiresAtKey && expiry != nil:
			member(k, expiry)
		default:
			member(k, d.fields[k])
		}
	}
	if _, ok := d.fields[ExpiresAtKey]; !ok && expiry != nil {
		member(ExpiresAtKey, expiry)
	}
	buf = append(buf, '}')
	if len(buf) > MaxSize {
		return nil, fmt.Errorf("secretdoc: replace client secret: %w: result larger than %d bytes", ErrInvalid, MaxSize)
	}
	return buf, nil
}

// Format implements fmt.Formatter: every verb, %#v included, prints String.
func (d Document) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, d.String()) }

// String implements fmt.Stringer: the client id, never the secret.
func (d Document) String() string {
	return fmt.Sprintf("secretdoc.Document{%s: %q, %s: [redacted], keys: %d}",
		d.keys.ClientID, d.clientID, d.keys.ClientSecret, len(d.order))
}

// GoString implements fmt.GoStringer, like String.
func (d Document) GoString() string { return d.String() }

// LogValue implements slog.LogValuer: the client id and the number of keys.
func (d Document) LogValue() slog.Value {
	return slog.GroupValue(slog.String("clientId", d.clientID), slog.String("clientSecret", "[redacted]"),
		slog.Int("keys", len(d.order)))
}

// appendString appends s as a JSON string without HTML escaping.
func appendString(dst []byte, s string) []byte {
	plain := true
	for i := 0; i < len(s) && plain; i++ {
		plain = s[i] >= 0x20 && s[i] < 0x7f && s[i] != '"' && s[i] != '\\'
	}
	if plain { // the common case, without the encoder's allocations
		return append(append(append(dst, '"'), s...), '"')
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return append(dst, bytes.TrimSuffix(b.Bytes(), []byte("\n"))...)
}
