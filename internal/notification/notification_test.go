package notification

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spapi-lwa/secret-rotation/internal/lwa"
)

const (
	newSecretFile    = "APPLICATION_OAUTH_CLIENT_NEW_SECRET.example.json"
	secretExpiryFile = "APPLICATION_OAUTH_CLIENT_SECRET_EXPIRY.example.json"
	// exampleSecret is the newClientSecret of the official example.
	exampleSecret = "amzn1.oa2-cs.v1.8b6XXXXXXXXXXXXXXXXXXXXXXXXX"
)

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func ms(year int, month time.Month, day, hour, min, sec, milli int) time.Time {
	return time.Date(year, month, day, hour, min, sec, milli*int(time.Millisecond), time.UTC)
}

func TestParseNewSecretExample(t *testing.T) {
	got, err := ParseNewSecret(readTestdata(t, newSecretFile))
	if err != nil {
		t.Fatalf("ParseNewSecret() error = %v", err)
	}
	want := &NewSecret{
		Envelope: Envelope{
			NotificationType: TypeNewSecret,
			EventTime:        ms(2024, time.January, 10, 22, 9, 17, 456),
			Metadata: Metadata{
				ApplicationID:  "amzn1.sp.solution.6XXXXXXXXXXXXXXXXXXXXXXXXX",
				SubscriptionID: "8594dc0e-78dc-4b05-83a4-a6XXXXXXXXXXXXXX",
				PublishTime:    ms(2024, time.January, 10, 22, 9, 18, 706),
				NotificationID: "b0805eb9-78f7-49bb-ac0e-XXXXXXXXXXX",
			},
		},
		ClientID:                  "amzn1.application-oa2-client.6XXXXXXXXXXXXXXXXXXXXXXXXX",
		NewClientSecret:           lwa.ClientSecret(exampleSecret),
		NewClientSecretExpiryTime: ms(2024, time.July, 8, 22, 9, 17, 198),
		OldClientSecretExpiryTime: ms(2024, time.January, 17, 22, 9, 17, 180),
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ParseNewSecret() = %+v, want %+v", got, want)
	}
	if got.NewClientSecret.Reveal() != exampleSecret {
		t.Errorf("NewClientSecret.Reveal() = %q, want %q", got.NewClientSecret.Reveal(), exampleSecret)
	}
}

func TestParseSecretExpiryExample(t *testing.T) {
	got, err := ParseSecretExpiry(readTestdata(t, secretExpiryFile))
	if err != nil {
		t.Fatalf("ParseSecretExpiry() error = %v", err)
	}
	want := &SecretExpiry{
		Envelope: Envelope{
			NotificationType: TypeSecretExpiry,
			EventTime:        ms(2024, time.January, 10, 2, 15, 10, 45),
			Metadata: Metadata{
				ApplicationID:  "amzn1.sp.solution.xxxxxxxxxxxxxxxxxxxxxxxxxxxx",
				SubscriptionID: "a275c00d-260c-4xxxxxxxxxxxf25",
				PublishTime:    ms(2024, time.January, 10, 2, 15, 14, 269),
				NotificationID: "e7e27216-4970-477a-882c-e4xxxxxxxxxxxxxdc",
			},
		},
		ClientID:                 "amzn1.application-oa2-client.xxxxxxxxxxxxxxxxxxxxxxxxxxxx",
		ClientSecretExpiryTime:   ms(2024, time.March, 3, 22, 6, 39, 224),
		ClientSecretExpiryReason: "PERIODIC_ROTATION",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ParseSecretExpiry() = %+v, want %+v", got, want)
	}
}

// checkError asserts that err is an *Error for field wrapping ErrInvalid and want.
func checkError(t *testing.T, err, want error, field string) {
	t.Helper()
	if err == nil {
		t.Fatalf("error = nil, want %v", want)
	}
	if !errors.Is(err, want) || !errors.Is(err, ErrInvalid) {
		t.Errorf("error = %v, want one wrapping %v and %v", err, want, ErrInvalid)
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error = %T, want *Error", err)
	}
	if e.Field != field {
		t.Errorf("Error.Field = %q, want %q (error %v)", e.Field, field, err)
	}
}

// padded returns body grown to exactly size bytes by white space before its
// final brace, so that only its size is wrong.
func padded(body []byte, size int) []byte {
	i := strings.LastIndexByte(string(body), '}')
	out := make([]byte, 0, size)
	out = append(out, body[:i]...)
	out = append(out, strings.Repeat(" ", size-len(body))...)
	return append(out, body[i:]...)
}

// edit decodes body, applies f to the decoded value and encodes it again.
func edit(t *testing.T, body []byte, f func(m map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	f(m)
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func obj(m map[string]any, path ...string) map[string]any {
	for _, p := range path {
		m = m[p].(map[string]any)
	}
	return m
}

const (
	newPayload    = "payload.applicationOAuthClientNewSecret."
	expiryPayload = "payload.applicationOAuthClientSecretExpiry."
)

// set returns an edit that sets the member at path (dot-separated) to v;
// v == deleted removes it.
func set(path string, v any) func(map[string]any) {
	return func(m map[string]any) {
		parts := strings.Split(strings.TrimSuffix(path, "."), ".")
		o := obj(m, parts[:len(parts)-1]...)
		if v == deleted {
			delete(o, parts[len(parts)-1])
			return
		}
		o[parts[len(parts)-1]] = v
	}
}

type deletedMarker struct{}

var deleted any = deletedMarker{}

func TestParseNewSecretErrors(t *testing.T) {
	base := readTestdata(t, newSecretFile)
	baseStr := string(base)
	tests := []struct {
		name      string
		body      []byte
		wantErr   error
		wantField string
	}{
		{"too large", padded(base, MaxBodySize+1), ErrTooLarge, RootField},
		{"invalid UTF-8", []byte(strings.Replace(baseStr, "8b6X", "8b6\xff", 1)), ErrMalformed, RootField},
		{"truncated", base[:len(base)/2], ErrMalformed, RootField},
		{"trailing data", append(append([]byte{}, base...), "{}"...), ErrMalformed, RootField},
		{"empty", []byte{}, ErrMalformed, RootField},
		{"array", []byte("[" + baseStr + "]"), ErrMalformed, RootField},
		{"string", []byte(`"APPLICATION_OAUTH_CLIENT_NEW_SECRET"`), ErrMalformed, RootField},
		{"null", []byte(`null`), ErrMalformed, RootField},
		{"expiry type", readTestdata(t, secretExpiryFile), ErrWrongType, "notificationType"},
		{"unknown type", edit(t, base, set("notificationType", "ORDER_CHANGE")), ErrWrongType, "notificationType"},
		{"type missing", edit(t, base, set("notificationType", deleted)), ErrMissingField, "notificationType"},
		{"type wrong JSON type", edit(t, base, set("notificationType", []any{TypeNewSecret})), ErrMalformed, "notificationType"},
		{"notificationVersion missing", edit(t, base, set("notificationVersion", deleted)), ErrMissingField, "notificationVersion"},
		{"notificationVersion 2.0", edit(t, base, set("notificationVersion", "2.0")), ErrUnsupportedVersion, "notificationVersion"},
		{"notificationVersion number", edit(t, base, set("notificationVersion", 1.0)), ErrMalformed, "notificationVersion"},
		{"payloadVersion missing", edit(t, base, set("payloadVersion", deleted)), ErrMissingField, "payloadVersion"},
		{"payloadVersion other", edit(t, base, set("payloadVersion", "2024-01-01")), ErrUnsupportedVersion, "payloadVersion"},
		{"eventTime missing", edit(t, base, set("eventTime", deleted)), ErrMissingField, "eventTime"},
		{"eventTime null", edit(t, base, set("eventTime", nil)), ErrMissingField, "eventTime"},
		{"eventTime not RFC 3339", edit(t, base, set("eventTime", "2024-01-10 22:09:17")), ErrBadTime, "eventTime"},
		{"eventTime empty", edit(t, base, set("eventTime", "")), ErrBadTime, "eventTime"},
		{"eventTime number", edit(t, base, set("eventTime", 1704924557)), ErrMalformed, "eventTime"},
		{"metadata missing", edit(t, base, set("notificationMetadata", deleted)), ErrMissingField, "notificationMetadata"},
		{"metadata string", edit(t, base, set("notificationMetadata", "x")), ErrMalformed, "notificationMetadata"},
		{"applicationId missing", edit(t, base, set("notificationMetadata.applicationId", deleted)), ErrMissingField, "notificationMetadata.applicationId"},
		{"applicationId empty", edit(t, base, set("notificationMetadata.applicationId", "")), ErrMissingField, "notificationMetadata.applicationId"},
		{"subscriptionId number", edit(t, base, set("notificationMetadata.subscriptionId", 5)), ErrMalformed, "notificationMetadata.subscriptionId"},
		{"publishTime missing", edit(t, base, set("notificationMetadata.publishTime", deleted)), ErrMissingField, "notificationMetadata.publishTime"},
		{"publishTime bad", edit(t, base, set("notificationMetadata.publishTime", "2024-13-10T22:09:18Z")), ErrBadTime, "notificationMetadata.publishTime"},
		{"notificationId missing", edit(t, base, set("notificationMetadata.notificationId", deleted)), ErrMissingField, "notificationMetadata.notificationId"},
		{"notificationId bool", edit(t, base, set("notificationMetadata.notificationId", true)), ErrMalformed, "notificationMetadata.notificationId"},
		{"payload missing", edit(t, base, set("payload", deleted)), ErrMissingField, "payload"},
		{"payload array", edit(t, base, set("payload", []any{})), ErrMalformed, "payload"},
		{"payload of other type", edit(t, base, set("payload", map[string]any{"applicationOAuthClientSecretExpiry": map[string]any{}})), ErrMissingField, "payload.applicationOAuthClientNewSecret"},
		{"payload object number", edit(t, base, set("payload.applicationOAuthClientNewSecret", 1)), ErrMalformed, "payload.applicationOAuthClientNewSecret"},
		{"clientId missing", edit(t, base, set(newPayload+"clientId", deleted)), ErrMissingField, newPayload + "clientId"},
		{"clientId empty", edit(t, base, set(newPayload+"clientId", "")), ErrMissingField, newPayload + "clientId"},
		{"clientId with space", edit(t, base, set(newPayload+"clientId", "amzn1.application-oa2-client.6X ")), ErrBadValue, newPayload + "clientId"},
		{"clientId with newline", edit(t, base, set(newPayload+"clientId", "amzn1\n")), ErrBadValue, newPayload + "clientId"},
		{"clientId number", edit(t, base, set(newPayload+"clientId", 12345678)), ErrMalformed, newPayload + "clientId"},
		{"clientId shaped like a secret", edit(t, base, set(newPayload+"clientId", "amzn1.oa2-cs.v1.0therS3CR3T")), ErrBadValue, newPayload + "clientId"},
		{"clientId equal to newClientSecret", edit(t, edit(t, base, set(newPayload+"newClientSecret", "N3WS3CR3TBUTNOPREFIX")), set(newPayload+"clientId", "N3WS3CR3TBUTNOPREFIX")), ErrBadValue, newPayload + "clientId"},
		{"clientId refresh token", edit(t, base, set(newPayload+"clientId", "Atzr|S3CR3TPART")), ErrBadValue, newPayload + "clientId"},
		{"clientId of 129 characters", edit(t, base, set(newPayload+"clientId", strings.Repeat("a", 129))), ErrBadValue, newPayload + "clientId"},
		{"clientId with a slash", edit(t, base, set(newPayload+"clientId", "amzn1.application-oa2-client/x")), ErrBadValue, newPayload + "clientId"},
		{"clientId not ASCII", edit(t, base, set(newPayload+"clientId", "amzn1.application-oa2-client.\u00e9")), ErrBadValue, newPayload + "clientId"},
		{"applicationId with space", edit(t, base, set("notificationMetadata.applicationId", "amzn1.sp.solution.x y")), ErrBadValue, "notificationMetadata.applicationId"},
		{"applicationId with markup", edit(t, base, set("notificationMetadata.applicationId", "<a href=x>click</a>")), ErrBadValue, "notificationMetadata.applicationId"},
		{"applicationId of 129 characters", edit(t, base, set("notificationMetadata.applicationId", strings.Repeat("a", 129))), ErrBadValue, "notificationMetadata.applicationId"},
		{"applicationId shaped like a secret", edit(t, base, set("notificationMetadata.applicationId", exampleSecret)), ErrBadValue, "notificationMetadata.applicationId"},
		{"notificationId with newline", edit(t, base, set("notificationMetadata.notificationId", "b0805eb9\nINJECTED")), ErrBadValue, "notificationMetadata.notificationId"},
		{"notificationId with a slash", edit(t, base, set("notificationMetadata.notificationId", "../../x")), ErrBadValue, "notificationMetadata.notificationId"},
		{"notificationId of 129 characters", edit(t, base, set("notificationMetadata.notificationId", strings.Repeat("0", 129))), ErrBadValue, "notificationMetadata.notificationId"},
		{"notificationId shaped like a secret", edit(t, base, set("notificationMetadata.notificationId", "Atza|S3CR3TPART")), ErrBadValue, "notificationMetadata.notificationId"},
		{"newClientSecret missing", edit(t, base, set(newPayload+"newClientSecret", deleted)), ErrMissingField, newPayload + "newClientSecret"},
		{"newClientSecret empty", edit(t, base, set(newPayload+"newClientSecret", "")), ErrMissingField, newPayload + "newClientSecret"},
		{"newClientSecret null", edit(t, base, set(newPayload+"newClientSecret", nil)), ErrMissingField, newPayload + "newClientSecret"},
		{"newClientSecret object", edit(t, base, set(newPayload+"newClientSecret", map[string]any{"v": exampleSecret})), ErrMalformed, newPayload + "newClientSecret"},
		{"newClientSecretExpiryTime missing", edit(t, base, set(newPayload+"newClientSecretExpiryTime", deleted)), ErrMissingField, newPayload + "newClientSecretExpiryTime"},
		{"newClientSecretExpiryTime bad", edit(t, base, set(newPayload+"newClientSecretExpiryTime", "2024-07-08")), ErrBadTime, newPayload + "newClientSecretExpiryTime"},
		{"oldClientSecretExpiryTime bad", edit(t, base, set(newPayload+"oldClientSecretExpiryTime", "soon")), ErrBadTime, newPayload + "oldClientSecretExpiryTime"},
		{"oldClientSecretExpiryTime number", edit(t, base, set(newPayload+"oldClientSecretExpiryTime", 0)), ErrMalformed, newPayload + "oldClientSecretExpiryTime"},
		{
			"duplicate newClientSecret",
			[]byte(strings.Replace(baseStr, `"newClientSecret":`, `"newClientSecret": "amzn1.oa2-cs.v1.other", "newClientSecret":`, 1)),
			ErrMalformed, newPayload + "newClientSecret",
		},
		{
			"duplicate payload",
			[]byte(strings.Replace(baseStr, `"payload":`, `"payload": {}, "payload":`, 1)),
			ErrMalformed, "payload",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseNewSecret(tt.body)
			if got != nil {
				t.Errorf("ParseNewSecret() = %+v, want nil", got)
			}
			checkError(t, err, tt.wantErr, tt.wantField)
			for _, v := range []string{exampleSecret, "S3CR3T", "INJECTED", "click"} {
				if strings.Contains(err.Error(), v) {
					t.Errorf("error %q quotes a value (%q)", err, v)
				}
			}
		})
	}
}

func TestParseSecretExpiryErrors(t *testing.T) {
	base := readTestdata(t, secretExpiryFile)
	tests := []struct {
		name      string
		body      []byte
		wantErr   error
		wantField string
	}{
		{"new secret type", readTestdata(t, newSecretFile), ErrWrongType, "notificationType"},
		{"unknown type", edit(t, base, set("notificationType", "B2B_ANY_OFFER_CHANGED")), ErrWrongType, "notificationType"},
		{"too large", padded(base, MaxBodySize+1), ErrTooLarge, RootField},
		{"not an object", []byte(`42`), ErrMalformed, RootField},
		{"notificationVersion other", edit(t, base, set("notificationVersion", "1.1")), ErrUnsupportedVersion, "notificationVersion"},
		{"eventTime bad", edit(t, base, set("eventTime", "10/01/2024")), ErrBadTime, "eventTime"},
		{"publishTime bad", edit(t, base, set("notificationMetadata.publishTime", "x")), ErrBadTime, "notificationMetadata.publishTime"},
		{"payload of other type", edit(t, base, set("payload", map[string]any{"applicationOAuthClientNewSecret": map[string]any{}})), ErrMissingField, "payload.applicationOAuthClientSecretExpiry"},
		{"clientId missing", edit(t, base, set(expiryPayload+"clientId", deleted)), ErrMissingField, expiryPayload + "clientId"},
		{"clientId empty", edit(t, base, set(expiryPayload+"clientId", "")), ErrMissingField, expiryPayload + "clientId"},
		{"clientId tab", edit(t, base, set(expiryPayload+"clientId", "a\tb")), ErrBadValue, expiryPayload + "clientId"},
		{"clientId shaped like a secret", edit(t, base, set(expiryPayload+"clientId", "amzn1.oa2-cs.v1.x")), ErrBadValue, expiryPayload + "clientId"},
		{"clientId of 129 characters", edit(t, base, set(expiryPayload+"clientId", strings.Repeat("a", 129))), ErrBadValue, expiryPayload + "clientId"},
		{"applicationId with a quote", edit(t, base, set("notificationMetadata.applicationId", `amzn1.sp.solution."x`)), ErrBadValue, "notificationMetadata.applicationId"},
		{"notificationId with a space", edit(t, base, set("notificationMetadata.notificationId", "e7e27216 x")), ErrBadValue, "notificationMetadata.notificationId"},
		{"clientSecretExpiryTime missing", edit(t, base, set(expiryPayload+"clientSecretExpiryTime", deleted)), ErrMissingField, expiryPayload + "clientSecretExpiryTime"},
		{"clientSecretExpiryTime bad", edit(t, base, set(expiryPayload+"clientSecretExpiryTime", "2024-03-03T22:06:39")), ErrBadTime, expiryPayload + "clientSecretExpiryTime"},
		{"clientSecretExpiryReason number", edit(t, base, set(expiryPayload+"clientSecretExpiryReason", 1)), ErrMalformed, expiryPayload + "clientSecretExpiryReason"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseSecretExpiry(tt.body)
			if got != nil {
				t.Errorf("ParseSecretExpiry() = %+v, want nil", got)
			}
			checkError(t, err, tt.wantErr, tt.wantField)
		})
	}
}

// TestParseTolerated covers bodies that differ from the examples in ways
// Amazon may choose and that must still be accepted.
func TestParseTolerated(t *testing.T) {
	base := readTestdata(t, newSecretFile)
	tests := []struct {
		name  string
		body  []byte
		check func(*NewSecret) error
	}{
		{
			name: "unknown fields everywhere",
			body: edit(t, base, func(m map[string]any) {
				m["newTopLevel"] = []any{1, "x"}
				obj(m, "payload")["other"] = map[string]any{"k": true}
				obj(m, "payload", "applicationOAuthClientNewSecret")["extra"] = 3.5
				obj(m, "notificationMetadata")["region"] = "eu-west-1"
			}),
		},
		{
			name: "duplicate unknown key",
			body: []byte(strings.Replace(string(base), `"payload":`, `"x": 1, "x": 2, "payload":`, 1)),
		},
		{
			name: "no oldClientSecretExpiryTime",
			body: edit(t, base, set(newPayload+"oldClientSecretExpiryTime", deleted)),
			check: func(n *NewSecret) error {
				if !n.OldClientSecretExpiryTime.IsZero() {
					return fmt.Errorf("OldClientSecretExpiryTime = %v, want zero", n.OldClientSecretExpiryTime)
				}
				return nil
			},
		},
		{
			name: "null oldClientSecretExpiryTime and no subscriptionId",
			body: edit(t, base, func(m map[string]any) {
				set(newPayload+"oldClientSecretExpiryTime", nil)(m)
				set("notificationMetadata.subscriptionId", deleted)(m)
			}),
			check: func(n *NewSecret) error {
				if !n.OldClientSecretExpiryTime.IsZero() || n.Metadata.SubscriptionID != "" {
					return fmt.Errorf("got %v, %q, want zero values", n.OldClientSecretExpiryTime, n.Metadata.SubscriptionID)
				}
				return nil
			},
		},
		{
			name: "time with offset and no fraction",
			body: edit(t, base, set(newPayload+"newClientSecretExpiryTime", "2024-07-09T00:09:17+02:00")),
			check: func(n *NewSecret) error {
				want := time.Date(2024, time.July, 8, 22, 9, 17, 0, time.UTC)
				if !n.NewClientSecretExpiryTime.Equal(want) || n.NewClientSecretExpiryTime.Location() != time.UTC {
					return fmt.Errorf("NewClientSecretExpiryTime = %v, want %v", n.NewClientSecretExpiryTime, want)
				}
				return nil
			},
		},
		{
			name: "escaped key and value",
			body: []byte(strings.Replace(string(base), `"newClientSecret": "amzn1.oa2-cs`, `"newClient\u0053ecret": "amzn1\u002eoa2-cs`, 1)),
			check: func(n *NewSecret) error {
				if n.NewClientSecret.Reveal() != exampleSecret {
					return fmt.Errorf("NewClientSecret = %q, want %q", n.NewClientSecret.Reveal(), exampleSecret)
				}
				return nil
			},
		},
		{
			name: "secret without the usual prefix",
			body: edit(t, base, set(newPayload+"newClientSecret", "plain")),
			check: func(n *NewSecret) error {
				if n.NewClientSecret.Reveal() != "plain" {
					return fmt.Errorf("NewClientSecret = %q, want %q", n.NewClientSecret.Reveal(), "plain")
				}
				return nil
			},
		},
		{name: "exactly MaxBodySize", body: padded(base, MaxBodySize)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := ParseNewSecret(tt.body)
			if err != nil {
				t.Fatalf("ParseNewSecret() error = %v", err)
			}
			if n.ClientID != "amzn1.application-oa2-client.6XXXXXXXXXXXXXXXXXXXXXXXXX" {
				t.Errorf("ClientID = %q", n.ClientID)
			}
			if tt.check != nil {
				if err := tt.check(n); err != nil {
					t.Error(err)
				}
			}
		})
	}
}

// TestErrorsNeverQuoteTheSecret feeds the secret in many broken shapes and
// checks that no error message (nor its %#v form) contains it.
func TestErrorsNeverQuoteTheSecret(t *testing.T) {
	const secret = "amzn1.oa2-cs.v1.SECRET0123456789abcdef"
	base := strings.Replace(string(readTestdata(t, newSecretFile)), exampleSecret, secret, 1)
	bodies := map[string]string{
		"truncated after the secret":  base[:strings.Index(base, secret)+len(secret)+1],
		"truncated inside the secret": base[:strings.Index(base, secret)+30],
		"invalid UTF-8 in the secret": strings.Replace(base, secret, secret+"\xff", 1),
		"control character":           strings.Replace(base, secret, secret+"\x01", 1),
		"bad escape":                  strings.Replace(base, secret, secret+`\q`, 1),
		"secret unquoted":             strings.Replace(base, `"`+secret+`"`, secret, 1),
		"secret as number":            strings.Replace(base, `"`+secret+`"`, "1234567890123456789012345", 1),
		"secret as type":              strings.Replace(base, TypeNewSecret, secret, 1),
		"secret as version":           strings.Replace(base, `"1.0"`, `"`+secret+`"`, 1),
		"secret as client id":         strings.Replace(base, "amzn1.application-oa2-client.6XXXXXXXXXXXXXXXXXXXXXXXXX", secret+" x", 1),
		"secret as time":              strings.Replace(base, "2024-07-08T22:09:17.198Z", secret, 1),
		"secret as payload":           strings.Replace(base, `"payload": {`, `"payload": "`+secret+`", "x": {`, 1),
		"secret as key":               strings.Replace(base, `"clientId"`, `"`+secret+`":1, "`+secret+`"`, 1),
		"secret in array":             strings.Replace(base, `"`+secret+`"`, `["`+secret+`"]`, 1),
		"secret duplicated":           strings.Replace(base, `"newClientSecret":`, `"newClientSecret": "`+secret+`", "newClientSecret":`, 1),
		"secret at the end":           base + secret,
		"secret only":                 `"` + secret + `"`,
		"secret in top-level array":   `["` + secret + `"]`,
		"secret and too large":        string(padded([]byte(base), MaxBodySize+1)),
		"secret with wrong type":      strings.Replace(base, TypeNewSecret, TypeSecretExpiry, 1),
	}
	for name, body := range bodies {
		t.Run(name, func(t *testing.T) {
			if !strings.Contains(body, "SECRET0123") && !strings.Contains(body, "1234567890123") {
				t.Fatalf("test body does not contain the secret")
			}
			_, err := ParseNewSecret([]byte(body))
			if err == nil {
				t.Fatalf("ParseNewSecret() error = nil, want one")
			}
			_, err2 := ParseSecretExpiry([]byte(body))
			for _, err := range []error{err, err2} {
				if err == nil {
					continue
				}
				for _, s := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
					if strings.Contains(s, "SECRET0123") || strings.Contains(s, "1234567890123") {
						t.Errorf("error %s contains the secret", s)
					}
				}
			}
		})
	}
}

// TestNewSecretDoesNotPrintTheSecret checks that a parsed notification can
// be formatted without revealing the secret.
func TestNewSecretDoesNotPrintTheSecret(t *testing.T) {
	n, err := ParseNewSecret(readTestdata(t, newSecretFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
		if s := fmt.Sprintf(format, n); strings.Contains(s, exampleSecret) {
			t.Errorf("Sprintf(%q) = %s, contains the secret", format, s)
		}
	}
	b, err := json.Marshal(n)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), exampleSecret) {
		t.Errorf("json.Marshal() = %s, contains the secret", b)
	}
}

func BenchmarkParseNewSecret(b *testing.B) {
	body := readTestdata(b, newSecretFile)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseNewSecret(body); err != nil {
			b.Fatal(err)
		}
	}
}
