// Package notification parses and validates the Selling Partner API
// notifications this project consumes from SQS: the envelope
// (notificationVersion 1.0, payloadVersion 2023-11-30) and the payloads of
// APPLICATION_OAUTH_CLIENT_NEW_SECRET and APPLICATION_OAUTH_CLIENT_SECRET_EXPIRY.
// Parsing is strict about what the project relies on and tolerant of fields
// Amazon may add. Errors never quote the body: a new-secret body holds a secret.
//
// The rules, in the order they are checked:
//
//  1. The body is at most MaxBodySize bytes (ErrTooLarge) and valid UTF-8
//     (ErrMalformed): encoding/json would silently replace invalid bytes,
//     and a secret changed that way is a lost secret.
//  2. The body is one JSON object (ErrMalformed; a syntax error is reported
//     by its byte offset, never the text around it).
//  3. notificationType is the expected type (ErrWrongType; the message names
//     the type only when it is one of the two this package knows).
//  4. notificationVersion is "1.0" and payloadVersion "2023-11-30". Another
//     value is ErrUnsupportedVersion rather than a malformed body: a new
//     version Amazon introduces means the project must be updated.
//  5. eventTime and notificationMetadata.publishTime are RFC 3339 times;
//     notificationMetadata.applicationId and notificationId are ids
//     (redact.ValidID, else ErrBadValue), because they reach alerts, log
//     fields and derived tokens; subscriptionId is optional.
//  6. The payload object for the type is present; its clientId is an id
//     (ErrBadValue) and, for a new secret, differs from newClientSecret. The
//     "amzn1.application-oa2-client." prefix is not required: the client id
//     is only ever compared with the tag on the managed secret.
//  7. New secret: newClientSecret is a non-empty string, not checked further
//     (a stored secret can be tested, a rejected one is only in a dead-letter
//     queue); newClientSecretExpiryTime is a required RFC 3339 time,
//     oldClientSecretExpiryTime an optional one (only reported).
//  8. Secret expiry: clientSecretExpiryTime is a required RFC 3339 time;
//     clientSecretExpiryReason is an optional string.
//
// A field that is absent or JSON null is missing (ErrMissingField when
// required), and so is an empty required string; a time that does not parse,
// "" included, is ErrBadTime; a field of the wrong JSON type is ErrMalformed.
// A key this package reads that appears twice is ErrMalformed (which value
// was meant is unknowable); unknown keys, repeated or not, are ignored.
// Times are returned in UTC.
package notification

import (
	"encoding/json"
	"errors"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/spapi-lwa/secret-rotation/internal/lwa"
	"github.com/spapi-lwa/secret-rotation/internal/redact"
)

// The notification types and the versions this package understands.
const (
	TypeNewSecret       = "APPLICATION_OAUTH_CLIENT_NEW_SECRET"
	TypeSecretExpiry    = "APPLICATION_OAUTH_CLIENT_SECRET_EXPIRY"
	NotificationVersion = "1.0"
	PayloadVersion      = "2023-11-30"
)

// MaxBodySize is the largest body accepted (SQS's own limit is 256 KiB).
const MaxBodySize = 256 * 1024

// RootField is the Error.Field of errors about the body as a whole.
const RootField = "$"

// Sentinel errors; every parse error wraps ErrInvalid and one of the others.
var (
	ErrInvalid            = errors.New("invalid notification")
	ErrMalformed          = errors.New("malformed JSON")
	ErrWrongType          = errors.New("wrong notification type")
	ErrMissingField       = errors.New("missing field")
	ErrBadTime            = errors.New("bad time")
	ErrTooLarge           = errors.New("body too large")
	ErrUnsupportedVersion = errors.New("unsupported version") // rule 4
	ErrBadValue           = errors.New("bad value")           // rules 5 and 6
)

// Error describes what is wrong with a notification, naming the field, never its value.
type Error struct {
	Field  string // JSON path, e.g. "payload.applicationOAuthClientNewSecret.clientId"
	Err    error  // one of the sentinels above
	detail string // fixed text and numbers only, never text of the body
}

// Error implements error.
func (e *Error) Error() string {
	s := "notification: " + e.Field + ": " + e.Err.Error()
	if e.detail != "" {
		s += " (" + e.detail + ")"
	}
	return s
}

// Unwrap lets errors.Is match both ErrInvalid and the specific sentinel.
func (e *Error) Unwrap() []error { return []error{ErrInvalid, e.Err} }

// Metadata is the envelope's notificationMetadata.
type Metadata struct {
	ApplicationID  string
	SubscriptionID string
	PublishTime    time.Time
	NotificationID string
}

// Envelope is what every notification shares.
type Envelope struct {
	NotificationType string
	EventTime        time.Time
	Metadata         Metadata
}

// NewSecret is an APPLICATION_OAUTH_CLIENT_NEW_SECRET notification.
type NewSecret struct {
	Envelope
	ClientID                  string
	NewClientSecret           lwa.ClientSecret
	NewClientSecretExpiryTime time.Time
	OldClientSecretExpiryTime time.Time // zero when the notification has none
}

// SecretExpiry is an APPLICATION_OAUTH_CLIENT_SECRET_EXPIRY notification.
type SecretExpiry struct {
	Envelope
	ClientID                 string
	ClientSecretExpiryTime   time.Time
	ClientSecretExpiryReason string // "" when the notification has none
}

// ParseNewSecret parses and validates an APPLICATION_OAUTH_CLIENT_NEW_SECRET body.
func ParseNewSecret(body []byte) (*NewSecret, error) {
	env, p := parseEnvelope(body, TypeNewSecret, "applicationOAuthClientNewSecret")
	n := &NewSecret{Envelope: env, ClientID: p.id("clientId")}
	secret := p.str("newClientSecret", true)
	if secret == n.ClientID {
		p.fail(p.prefix+"clientId", ErrBadValue, "same as newClientSecret")
	}
	n.NewClientSecret = lwa.ClientSecret(secret)
	n.NewClientSecretExpiryTime = p.timestamp("newClientSecretExpiryTime", true)
	n.OldClientSecretExpiryTime = p.timestamp("oldClientSecretExpiryTime", false)
	if *p.err != nil {
		return nil, *p.err
	}
	return n, nil
}

// ParseSecretExpiry parses and validates an APPLICATION_OAUTH_CLIENT_SECRET_EXPIRY body.
func ParseSecretExpiry(body []byte) (*SecretExpiry, error) {
	env, p := parseEnvelope(body, TypeSecretExpiry, "applicationOAuthClientSecretExpiry")
	n := &SecretExpiry{
		Envelope:                 env,
		ClientID:                 p.id("clientId"),
		ClientSecretExpiryTime:   p.timestamp("clientSecretExpiryTime", true),
		ClientSecretExpiryReason: p.str("clientSecretExpiryReason", false),
	}
	if *p.err != nil {
		return nil, *p.err
	}
	return n, nil
}

// parseEnvelope applies rules 1 to 5 and returns the envelope and the payload
// object named payloadName, which holds the first error (see object).
func parseEnvelope(body []byte, wantType, payloadName string) (Envelope, *object) {
	root := &object{err: new(error)}
	switch {
	case len(body) > MaxBodySize:
		root.fail(RootField, ErrTooLarge, "limit "+strconv.Itoa(MaxBodySize)+" bytes")
	case !utf8.Valid(body):
		at := 0 // of the first byte that is not part of valid UTF-8
		for r, n := utf8.DecodeRune(body); r != utf8.RuneError || n > 1; r, n = utf8.DecodeRune(body[at:]) {
			at += n
		}
		root.fail(RootField, ErrMalformed, "invalid UTF-8 at offset "+strconv.Itoa(at))
	default:
		root = parseObject(body, RootField, "", root.err)
	}
	// The type is checked first, so a body sent to the wrong queue is
	// reported as such whatever else is wrong with it.
	env := Envelope{NotificationType: root.str("notificationType", true)}
	if t := env.NotificationType; t != wantType {
		detail := "want " + wantType
		if t == TypeNewSecret || t == TypeSecretExpiry {
			detail += ", got " + t
		}
		root.fail("notificationType", ErrWrongType, detail)
	}
	for _, v := range []struct{ name, want string }{
		{"notificationVersion", NotificationVersion}, {"payloadVersion", PayloadVersion},
	} {
		if root.str(v.name, true) != v.want {
			root.fail(v.name, ErrUnsupportedVersion, "want "+v.want)
		}
	}
	env.EventTime = root.timestamp("eventTime", true)
	md := root.object("notificationMetadata")
	env.Metadata = Metadata{
		ApplicationID:  md.id("applicationId"),
		SubscriptionID: md.str("subscriptionId", false),
		PublishTime:    md.timestamp("publishTime", true),
		NotificationID: md.id("notificationId"),
	}
	return env, root.object("payload").object(payloadName)
}

// object is one JSON object of a notification, read with redact.JSONObject so
// that repeated keys are seen and no error quotes the body. The objects of a
// body share err, the first error: once it is set, every method returns zero
// values and records nothing, so a parse reads the fields in the order of the
// rules and reports the first problem.
type object struct {
	prefix  string // JSON path of the object and a dot; "" for the body
	members []redact.Member
	err     *error
}

// parseObject reads data as an object: field names it in errors, prefix
// starts the paths of its members.
func parseObject(data []byte, field, prefix string, err *error) *object {
	o := &object{prefix: prefix, err: err}
	members, kind, jerr := redact.JSONObject(data)
	switch {
	case jerr != nil:
		o.fail(field, ErrMalformed, jerr.Error())
	case kind != "object":
		o.fail(field, ErrMalformed, "want a JSON object, got "+kind)
	default:
		o.members = members
	}
	return o
}

// fail records an error about field, unless one is recorded already.
func (o *object) fail(field string, sentinel error, detail string) {
	if *o.err == nil {
		*o.err = &Error{Field: field, Err: sentinel, detail: detail}
	}
}

// raw returns the value of name, nil when it is absent or JSON null (an error
// if required) or when the key appears twice (an error).
func (o *object) raw(name string, required bool) json.RawMessage {
	if *o.err != nil {
		return nil
	}
	var raw json.RawMessage
	for _, m := range o.members {
		if m.Key != name {
			continue
		}
		if raw != nil {
			o.fail(o.prefix+name, ErrMalformed, "duplicate key")
			return nil
		}
		raw = m.Value
	}
	if raw == nil || redact.JSONKind(raw) == "null" {
		if required {
			o.fail(o.prefix+name, ErrMissingField, "")
		}
		return nil
	}
	return raw
}

// str returns the string value of name, "" when absent; a required string
// must be present and not empty.
func (o *object) str(name string, required bool) string {
	raw := o.raw(name, required)
	var s string
	switch kind := redact.JSONKind(raw); {
	case raw == nil:
	case kind != "string":
		o.fail(o.prefix+name, ErrMalformed, "want a JSON string, got "+kind)
	case json.Unmarshal(raw, &s) != nil:
		o.fail(o.prefix+name, ErrMalformed, "bad JSON string")
	case required && s == "":
		o.fail(o.prefix+name, ErrMissingField, "empty string")
	}
	return s
}

// id returns the value of name, which must be an id (redact.ValidID).
func (o *object) id(name string) string {
	id := o.str(name, true)
	if !redact.ValidID(id) {
		o.fail(o.prefix+name, ErrBadValue, "want "+redact.IDRule)
	}
	return id
}

// timestamp returns the RFC 3339 time of name in UTC, the zero time when absent.
func (o *object) timestamp(name string, required bool) time.Time {
	if o.raw(name, required) == nil {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, o.str(name, false))
	if err != nil {
		o.fail(o.prefix+name, ErrBadTime, "want RFC 3339")
	}
	return t.UTC()
}

// object returns the object value of name, which is required.
func (o *object) object(name string) *object {
	return parseObject(o.raw(name, true), o.prefix+name, o.prefix+name+".", o.err)
}
