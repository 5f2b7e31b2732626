package notification

import (
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"
)

// knownFields is every Error.Field the package can report.
var knownFields = map[string]bool{
	RootField:                                    true,
	"notificationType":                           true,
	"notificationVersion":                        true,
	"payloadVersion":                             true,
	"eventTime":                                  true,
	"notificationMetadata":                       true,
	"notificationMetadata.applicationId":         true,
	"notificationMetadata.subscriptionId":        true,
	"notificationMetadata.publishTime":           true,
	"notificationMetadata.notificationId":        true,
	"payload":                                    true,
	"payload.applicationOAuthClientNewSecret":    true,
	"payload.applicationOAuthClientSecretExpiry": true,
	newPayload + "clientId":                      true,
	newPayload + "newClientSecret":               true,
	newPayload + "newClientSecretExpiryTime":     true,
	newPayload + "oldClientSecretExpiryTime":     true,
	expiryPayload + "clientId":                   true,
	expiryPayload + "clientSecretExpiryTime":     true,
	expiryPayload + "clientSecretExpiryReason":   true,
}

// messageGrammar matches every error message the package can produce: fixed
// text and decimal numbers only, so no message can carry text of the body.
var messageGrammar = regexp.MustCompile(`^notification: [A-Za-z.$]+: ` +
	`(invalid notification|malformed JSON|wrong notification type|missing field|bad time|body too large|unsupported version|bad value)` +
	`( \((` +
	`limit \d+ bytes|invalid UTF-8 at offset \d+|syntax error( at offset \d+)?|` +
	`want a JSON (object|string), got (object|array|string|boolean|null|number|nothing)|` +
	`bad JSON string|duplicate key|empty string|` +
	`want APPLICATION_OAUTH_CLIENT_(NEW_SECRET|SECRET_EXPIRY)(, got APPLICATION_OAUTH_CLIENT_(NEW_SECRET|SECRET_EXPIRY))?|` +
	`want 1\.0|want 2023-11-30|want RFC 3339|same as newClientSecret|` +
	`want 1 to 128 of the characters A-Z a-z 0-9 \. _ : - and not shaped like a secret` +
	`)\))?$`)

// secretIn returns payload.applicationOAuthClientNewSecret.newClientSecret
// of body as encoding/json reads it, if it is a string. (For bodies that are
// not JSON, messageGrammar is the proof that nothing of the body is quoted.)
func secretIn(body []byte) string {
	var m struct {
		Payload struct {
			P struct {
				S any `json:"newClientSecret"`
			} `json:"applicationOAuthClientNewSecret"`
		} `json:"payload"`
	}
	if json.Unmarshal(body, &m) != nil {
		return ""
	}
	s, _ := m.Payload.P.S.(string)
	return s
}

func FuzzParse(f *testing.F) {
	newSecret := readTestdata(f, newSecretFile)
	expiry := readTestdata(f, secretExpiryFile)
	f.Add(newSecret)
	f.Add(expiry)
	f.Add(newSecret[:len(newSecret)/2])
	f.Add([]byte(strings.Replace(string(newSecret), `"1.0"`, `1.0`, 1)))
	f.Add([]byte(strings.Replace(string(newSecret), `"newClientSecret":`, `"newClientSecret": "amzn1.oa2-cs.v1.dup", "newClientSecret":`, 1)))
	f.Add([]byte(strings.Replace(string(newSecret), `2024-07-08T22:09:17.198Z`, `2024-07-08T25:09:17Z`, 1)))
	f.Add([]byte(strings.Replace(string(expiry), `"PERIODIC_ROTATION"`, `null`, 1)))
	f.Add([]byte(strings.Replace(string(newSecret), TypeNewSecret, TypeSecretExpiry, 1)))
	f.Add([]byte(`{"notificationType":"APPLICATION_OAUTH_CLIENT_NEW_SECRET","payload":{"applicationOAuthClientNewSecret":{"newClientSecret":"amzn1.oa2-cs.v1.\u00ff"}}}`))
	f.Add([]byte(`[]`))

	f.Fuzz(func(t *testing.T, body []byte) {
		secret := secretIn(body)
		n, errN := ParseNewSecret(body)
		e, errE := ParseSecretExpiry(body)

		if (n == nil) == (errN == nil) {
			t.Fatalf("ParseNewSecret() = %v, %v: want exactly one of them", n, errN)
		}
		if (e == nil) == (errE == nil) {
			t.Fatalf("ParseSecretExpiry() = %v, %v: want exactly one of them", e, errE)
		}
		if n != nil && e != nil {
			t.Fatalf("both ParseNewSecret and ParseSecretExpiry accepted the body")
		}
		if n != nil && (n.NotificationType != TypeNewSecret || n.NewClientSecret.Reveal() == "" || n.ClientID == "") {
			t.Fatalf("ParseNewSecret() accepted a body of type %q", n.NotificationType)
		}
		if n != nil {
			// Differential check: encoding/json reads the same values
			// (maps, because struct fields match keys case-insensitively).
			var m map[string]any
			if err := json.Unmarshal(body, &m); err != nil {
				t.Fatalf("ParseNewSecret() accepted a body encoding/json rejects: %v", err)
			}
			p, _ := m["payload"].(map[string]any)
			p, _ = p["applicationOAuthClientNewSecret"].(map[string]any)
			if p["clientId"] != n.ClientID || p["newClientSecret"] != n.NewClientSecret.Reveal() {
				t.Fatalf("ParseNewSecret() = %q, %q; encoding/json reads %q, %q", n.ClientID, n.NewClientSecret.Reveal(), p["clientId"], p["newClientSecret"])
			}
		}
		if e != nil && (e.NotificationType != TypeSecretExpiry || e.ClientID == "") {
			t.Fatalf("ParseSecretExpiry() accepted a body of type %q", e.NotificationType)
		}
		for _, err := range []error{errN, errE} {
			if err == nil {
				continue
			}
			var pe *Error
			if !errors.As(err, &pe) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v is not an *Error wrapping ErrInvalid", err)
			}
			if !knownFields[pe.Field] {
				t.Fatalf("Error.Field = %q, not a field of the schema", pe.Field)
			}
			msg := err.Error()
			if !messageGrammar.MatchString(msg) {
				t.Fatalf("error message %q is not made of fixed text", msg)
			}
			if len(secret) >= 8 && strings.Contains(msg, secret) {
				t.Fatalf("error message %q contains the newClientSecret of the body", msg)
			}
		}
	})
}
