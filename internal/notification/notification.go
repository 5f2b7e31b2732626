// Package notification strictly parses the SP-API notifications the project
// consumes (notificationVersion 1.0, payloadVersion 2023-11-30): new client
// secret and client secret expiry. Errors name fields, never the body's text.
// The rules, in the order they are checked:
//
//  1. At most MaxBodySize bytes (ErrTooLarge) of valid UTF-8 (ErrMalformed):
//     encoding/json would silently replace invalid bytes of a secret.
//  2. One JSON object (ErrMalformed; a syntax error gives a byte offset only).
//  3. notificationType is the expected one (ErrWrongType).
//  4. notificationVersion and payloadVersion are the known ones (ErrUnsupportedVersion).
//  5. eventTime and publishTime are RFC 3339; applicationId and notificationId
//     are ids (redact.ValidID, else ErrBadValue); subscriptionId is optional.
//  6. The payload's clientId is an id (ErrBadValue) and differs from newClientSecret.
//  7. New secret: newClientSecret is a non-empty string; newClientSecretExpiryTime
//     is required, oldClientSecretExpiryTime optional (RFC 3339).
//  8. Secret expiry: clientSecretExpiryTime is required, clientSecretExpiryReason optional.
//
// Absent, null or empty required fields are ErrMissingField; a bad time ErrBadTime;
// a wrong JSON type or a repeated known key ErrMalformed. Unknown keys are ignored;
// times are in UTC.
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

// The notification types this package understands, and its limits.
const (
	TypeNewSecret    = "APPLICATION_OAUTH_CLIENT_NEW_SECRET"
	TypeSecretExpiry = "APPLICATION_OAUTH_CLIENT_SECRET_EXPIRY"
	// MaxBodySize is the largest body accepted (SQS's own limit).
	MaxBodySize = 256 * 1024
	// RootField is the Error.Field of errors about the body as a whole.
	RootField = "$"
)

// Sentinel errors; every parse error wraps ErrInvalid and one of the others.
var (
	ErrInvalid            = errors.New("invalid notification")
	ErrMalformed          = errors.New("malformed JSON")
	ErrWrongType          = errors.New("wrong notification type")
	ErrMissingField       = errors.New("missing field")
	ErrBadTime            = errors.New("bad time")
	ErrTooLarge           = errors.New("body too large")
	ErrUnsupportedVersion = errors.New("unsupported version")
	ErrBadValue           = errors.New("bad value")
)

// Error names the field of a notification that is wrong, never its value.
type Error struct {
	Field  string // JSON path, e.g. "payload.applicationOAuthClientNewSecret.clientId"
	Err    error  // one of the sentinels
	detail string // never text of the body
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
	OldClientSecretExpiryTime time.Time // zero when absent
}

// SecretExpiry is an APPLICATION_OAUTH_CLIENT_SECRET_EXPIRY notification.
type SecretExpiry struct {
	Envelope
	ClientID                 string
	ClientSecretExpiryTime   time.Time
	ClientSecretExpiryReason string // "" when absent
}

// ParseNewSecret parses and validates an APPLICATION_OAUTH_CLIENT_NEW_SECRET body.
func ParseNewSecret(body []byte) (*NewSecret, error) {
	env, p := parseEnvelope(body, TypeNewSecret, "applicationOAuthClientNewSecret")
	n := &NewSecret{Envelope: env, ClientID: p.id("clientId")}
	n.NewClientSecret = lwa.ClientSecret(p.str("newClientSecret", true))
	if n.NewClientSecret.Reveal() == n.ClientID {
		p.fail(p.prefix+"clientId", ErrBadValue, "same as newClientSecret")
	}
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

// parseEnvelope applies rules 1 to 5 and returns the payload object payloadName.
func parseEnvelope(body []byte, wantType, payloadName string) (Envelope, *object) {
	root := &object{err: new(error)}
	switch {
	case len(body) > MaxBodySize:
		root.fail(RootField, ErrTooLarge, "limit "+strconv.Itoa(MaxBodySize)+" bytes")
	case !utf8.Valid(body):
		at := 0
		for r, n := utf8.DecodeRune(body); r != utf8.RuneError || n > 1; r, n = utf8.DecodeRune(body[at:]) {
			at += n
		}
		root.fail(RootField, ErrMalformed, "invalid UTF-8 at offset "+strconv.Itoa(at))
	default:
		root = parseObject(body, RootField, "", root.err)
	}
	// The type first: a body sent to the wrong queue is reported as such.
	env := Envelope{NotificationType: root.str("notificationType", true)}
	if t := env.NotificationType; t != wantType {
		detail := "want " + wantType
		if t == TypeNewSecret || t == TypeSecretExpiry { // any other could be body text
			detail += ", got " + t
		}
		root.fail("notificationType", ErrWrongType, detail)
	}
	versions := []struct{ name, want string }{{"notificationVersion", "1.0"}, {"payloadVersion", "2023-11-30"}}
	for _, v := range versions {
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

// object is one JSON object of a body; all share err, the first error. Once it is set, every
// method returns zero values, so reading the fields in the order of the rules reports the first.
type object struct {
	prefix  string // JSON path of the object and a dot; "" for the body
	members []redact.Member
	err     *error
}

// parseObject reads data as an object named field; prefix starts its members' paths.
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

func (o *object) fail(field string, sentinel error, detail string) {
	if *o.err == nil {
		*o.err = &Error{Field: field, Err: sentinel, detail: detail}
	}
}

// raw returns the value of name, nil when it is absent, null or repeated.
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

func (o *object) id(name string) string {
	id := o.str(name, true)
	if !redact.ValidID(id) {
		o.fail(o.prefix+name, ErrBadValue, "want "+redact.IDRule)
	}
	return id
}

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

func (o *object) object(name string) *object {
	return parseObject(o.raw(name, true), o.prefix+name, o.prefix+name+".", o.err)
}
