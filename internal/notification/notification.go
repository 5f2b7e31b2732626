// Package notification parses and validates the Selling Partner API
// notifications this project consumes from SQS: the envelope
// (notificationVersion 1.0, payloadVersion 2023-11-30) and the payloads of
// APPLICATION_OAUTH_CLIENT_NEW_SECRET and APPLICATION_OAUTH_CLIENT_SECRET_EXPIRY.
// Parsing is strict about what the project relies on and tolerant of fields
// Amazon may add. Errors never quote the body: a new-secret body holds a secret.
//
// The rules, in the order they are checked:
//
//  1. The body is at most MaxBodySize bytes (ErrTooLarge) and is valid UTF-8
//     (ErrMalformed): encoding/json would silently replace invalid bytes, and
//     a secret changed that way is a lost secret.
//  2. The body is one JSON value and that value is an object (ErrMalformed;
//     the message gives the byte offset of a syntax error, never the text
//     around it).
//  3. notificationType is the expected type (ErrWrongType, also for unknown
//     types; the message names the type only when it is one of the two this
//     package knows).
//  4. notificationVersion is "1.0" and payloadVersion is "2023-11-30".
//     Absent: ErrMissingField. Present with another value:
//     ErrUnsupportedVersion, so that a new version Amazon introduces is
//     reported as such (the project must be updated) rather than as a
//     malformed body.
//  5. eventTime and notificationMetadata.publishTime are RFC 3339 times;
//     notificationMetadata.applicationId and notificationId are ids
//     (redact.ValidID: 1 to 128 of A-Z a-z 0-9 . _ : -, nothing shaped like
//     a secret; otherwise ErrBadValue), because they reach alerts, log
//     fields and derived tokens; notificationMetadata.subscriptionId is
//     optional.
//  6. The payload object for the type is present; its clientId is an id
//     like the above (ErrBadValue), and for a new secret it differs from
//     newClientSecret; the "amzn1.application-oa2-client." prefix is not
//     required, since the client id is only ever compared with the tag on
//     the managed secret.
//  7. New secret: newClientSecret is a non-empty string (its content is not
//     checked further: a secret that is stored can be tested, a secret that is
//     rejected is only in a dead-letter queue); newClientSecretExpiryTime is
//     a required RFC 3339 time; oldClientSecretExpiryTime is optional (the
//     project only reports it), but when present it must be an RFC 3339 time.
//  8. Secret expiry: clientSecretExpiryTime is a required RFC 3339 time;
//     clientSecretExpiryReason is an optional string.
//
// Conventions: a field that is absent or JSON null is missing
// (ErrMissingField when required). An empty string in a required string field
// is missing too; a time that does not parse, including "", is ErrBadTime. A
// field of the wrong JSON type is ErrMalformed. Unknown fields are ignored.
// Times are returned in UTC.
// A key that appears twice in an object this package reads is ErrMalformed
// when it is one of the keys it reads (which of the two values was meant is
// unknowable); duplicates among unknown keys are ignored like the keys.
package notification

import (
	"errors"
	"time"
	"unicode/utf8"

	"github.com/spapi-lwa/secret-rotation/internal/lwa"
	"github.com/spapi-lwa/secret-rotation/internal/redact"
)

// Notification types.
const (
	TypeNewSecret    = "APPLICATION_OAUTH_CLIENT_NEW_SECRET"
	TypeSecretExpiry = "APPLICATION_OAUTH_CLIENT_SECRET_EXPIRY"
)

// Versions this package understands.
const (
	NotificationVersion = "1.0"
	PayloadVersion      = "2023-11-30"
)

// MaxBodySize is the largest body accepted (SQS's own limit is 256 KiB).
const MaxBodySize = 256 * 1024

// RootField is the Error.Field of errors about the body as a whole
// (too large, not UTF-8, not JSON, not an object).
const RootField = "$"

// Sentinel errors; every parse error wraps ErrInvalid and one of the others.
var (
	ErrInvalid      = errors.New("invalid notification")
	ErrMalformed    = errors.New("malformed JSON")
	ErrWrongType    = errors.New("wrong notification type")
	ErrMissingField = errors.New("missing field")
	ErrBadTime      = errors.New("bad time")
	ErrTooLarge     = errors.New("body too large")
	// ErrUnsupportedVersion: notificationVersion or payloadVersion is present
	// but not the version this package implements.
	ErrUnsupportedVersion = errors.New("unsupported version")
	// ErrBadValue: a string field holds a value the project cannot use
	// (an id outside redact.ValidID's character set or length, or shaped
	// like a secret).
	ErrBadValue = errors.New("bad value")
)

// Error describes what is wrong with a notification, naming the field, never its value.
type Error struct {
	Field string // JSON path, e.g. "payload.applicationOAuthClientNewSecret.clientId"
	Err   error  // one of the sentinels above

	// detail is fixed text and numbers only (an offset, the JSON type
	// wanted), never text taken from the body.
	detail string
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
	NotificationVersion string
	NotificationType    string
	PayloadVersion      string
	EventTime           time.Time
	Metadata            Metadata
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

// Payload object names, under "payload".
const (
	payloadNewSecret    = "applicationOAuthClientNewSecret"
	payloadSecretExpiry = "applicationOAuthClientSecretExpiry"
)

// Type reads only the envelope's notificationType, validating nothing else
// but the body's size and JSON syntax. It returns TypeNewSecret or
// TypeSecretExpiry; any other type is an error wrapping ErrWrongType, so the
// returned string is always one of the constants and safe to log.
func Type(body []byte) (string, error) {
	root, err := parseRoot(body)
	if err != nil {
		return "", err
	}
	t, err := root.requiredString("notificationType")
	if err != nil {
		return "", err
	}
	switch t {
	case TypeNewSecret, TypeSecretExpiry:
		return t, nil
	}
	return "", &Error{Field: "notificationType", Err: ErrWrongType, detail: "unknown type"}
}

// ParseNewSecret parses and validates an APPLICATION_OAUTH_CLIENT_NEW_SECRET body.
func ParseNewSecret(body []byte) (*NewSecret, error) {
	env, p, err := parseEnvelope(body, TypeNewSecret, payloadNewSecret)
	if err != nil {
		return nil, err
	}
	n := &NewSecret{Envelope: env}
	if n.ClientID, err = clientID(p); err != nil {
		return nil, err
	}
	secret, err := p.requiredString("newClientSecret")
	if err != nil {
		return nil, err
	}
	n.NewClientSecret = lwa.ClientSecret(secret)
	if secret == n.ClientID {
		return nil, &Error{Field: p.path("clientId"), Err: ErrBadValue, detail: "same as newClientSecret"}
	}
	if n.NewClientSecretExpiryTime, err = p.requiredTime("newClientSecretExpiryTime"); err != nil {
		return nil, err
	}
	if n.OldClientSecretExpiryTime, err = p.optionalTime("oldClientSecretExpiryTime"); err != nil {
		return nil, err
	}
	return n, nil
}

// ParseSecretExpiry parses and validates an APPLICATION_OAUTH_CLIENT_SECRET_EXPIRY body.
func ParseSecretExpiry(body []byte) (*SecretExpiry, error) {
	env, p, err := parseEnvelope(body, TypeSecretExpiry, payloadSecretExpiry)
	if err != nil {
		return nil, err
	}
	n := &SecretExpiry{Envelope: env}
	if n.ClientID, err = clientID(p); err != nil {
		return nil, err
	}
	if n.ClientSecretExpiryTime, err = p.requiredTime("clientSecretExpiryTime"); err != nil {
		return nil, err
	}
	if n.ClientSecretExpiryReason, _, err = p.optionalString("clientSecretExpiryReason"); err != nil {
		return nil, err
	}
	return n, nil
}

// parseRoot applies rules 1 and 2 of the package doc.
func parseRoot(body []byte) (*object, error) {
	if len(body) > MaxBodySize {
		return nil, &Error{Field: RootField, Err: ErrTooLarge, detail: "limit " + itoa(MaxBodySize) + " bytes"}
	}
	if !utf8.Valid(body) {
		return nil, &Error{Field: RootField, Err: ErrMalformed, detail: "invalid UTF-8 at offset " + itoa(invalidUTF8Offset(body))}
	}
	return parseObject(body, "")
}

// parseEnvelope applies rules 1 to 5 and returns the payload object named
// payloadName.
func parseEnvelope(body []byte, wantType, payloadName string) (Envelope, *object, error) {
	var env Envelope
	root, err := parseRoot(body)
	if err != nil {
		return env, nil, err
	}
	// The type is checked first, so a body sent to the wrong queue is
	// reported as such whatever else is wrong with it.
	if env.NotificationType, err = root.requiredString("notificationType"); err != nil {
		return env, nil, err
	}
	if env.NotificationType != wantType {
		detail := "want " + wantType
		if env.NotificationType == TypeNewSecret || env.NotificationType == TypeSecretExpiry {
			detail += ", got " + env.NotificationType
		}
		return env, nil, &Error{Field: "notificationType", Err: ErrWrongType, detail: detail}
	}
	if env.NotificationVersion, err = root.version("notificationVersion", NotificationVersion); err != nil {
		return env, nil, err
	}
	if env.PayloadVersion, err = root.version("payloadVersion", PayloadVersion); err != nil {
		return env, nil, err
	}
	if env.EventTime, err = root.requiredTime("eventTime"); err != nil {
		return env, nil, err
	}
	md, err := root.requiredObject("notificationMetadata")
	if err != nil {
		return env, nil, err
	}
	if env.Metadata.ApplicationID, err = md.requiredID("applicationId"); err != nil {
		return env, nil, err
	}
	if env.Metadata.SubscriptionID, _, err = md.optionalString("subscriptionId"); err != nil {
		return env, nil, err
	}
	if env.Metadata.PublishTime, err = md.requiredTime("publishTime"); err != nil {
		return env, nil, err
	}
	if env.Metadata.NotificationID, err = md.requiredID("notificationId"); err != nil {
		return env, nil, err
	}
	payload, err := root.requiredObject("payload")
	if err != nil {
		return env, nil, err
	}
	p, err := payload.requiredObject(payloadName)
	if err != nil {
		return env, nil, err
	}
	return env, p, nil
}

// clientID reads and checks the payload's clientId (rule 6).
func clientID(p *object) (string, error) {
	return p.requiredID("clientId")
}

// requiredID reads a required string that must be an id (redact.ValidID).
// The error says what an id is, never what the field held.
func (o *object) requiredID(name string) (string, error) {
	id, err := o.requiredString(name)
	if err != nil {
		return "", err
	}
	if !redact.ValidID(id) {
		return "", &Error{Field: o.path(name), Err: ErrBadValue, detail: "want " + redact.IDRule}
	}
	return id, nil
}

// version reads a required version field that must equal want.
func (o *object) version(name, want string) (string, error) {
	v, err := o.requiredString(name)
	if err != nil {
		return "", err
	}
	if v != want {
		return "", &Error{Field: o.path(name), Err: ErrUnsupportedVersion, detail: "want " + want}
	}
	return v, nil
}

// parseTime parses an RFC 3339 time (fractional seconds allowed) and returns it in UTC.
func parseTime(s string) (time.Time, bool) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, false
	}
	return t.UTC(), true
}
