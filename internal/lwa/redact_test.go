package lwa

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// credentials holds every secret-bearing type, the way callers embed them.
type credentials struct {
	ClientID     string
	ClientSecret ClientSecret
	Access       AccessToken
	Token        Token
	Ptr          *ClientSecret
}

func TestRedaction(t *testing.T) {
	secret := ClientSecret("amzn1.oa2-cs.v1.redaction-secret")
	access := AccessToken("Atza|redaction-access")
	values := []string{secret.Reveal(), access.Reveal()}
	c := credentials{
		ClientID:     "amzn1.application-oa2-client.x",
		ClientSecret: secret,
		Access:       access,
		Token:        Token{AccessToken: access, TokenType: "bearer", ExpiresIn: time.Hour},
		Ptr:          &secret,
	}

	var outputs []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d"} {
		for _, v := range []any{secret, access, c, &c, c.Token, []any{secret, access}, map[string]any{"s": secret}} {
			outputs = append(outputs, verb+" "+fmt.Sprintf(verb, v))
		}
	}
	outputs = append(outputs, fmt.Sprint(secret, access, c), fmt.Sprintln(secret, access, c))

	for _, v := range []any{c, &c, c.Token, map[string]any{"secret": secret, "access": access}} {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("json.Marshal(%T) error = %v", v, err)
		}
		outputs = append(outputs, "json "+string(b))
	}

	var buf bytes.Buffer
	for _, h := range []slog.Handler{slog.NewJSONHandler(&buf, nil), slog.NewTextHandler(&buf, nil)} {
		l := slog.New(h)
		ctx := context.Background()
		l.InfoContext(ctx, "credentials", "creds", c, "ptr", &c, "secret", secret, "access", access, "token", c.Token)
		l.InfoContext(ctx, "group", slog.Group("g", slog.Any("secret", secret), slog.Any("list", []any{secret, access})))
		l.With("secret", secret).WithGroup("w").InfoContext(ctx, "with", "access", access)
	}
	outputs = append(outputs, strings.Split(buf.String(), "\n")...)

	for _, out := range outputs {
		for _, v := range values {
			if strings.Contains(out, v) {
				t.Errorf("output contains a secret value: %s", out)
			}
		}
	}
	// The test must be able to fail: the values do reach the output when
	// they are not wrapped in the redacting types.
	if plain := fmt.Sprintf("%v", struct{ S string }{secret.Reveal()}); !strings.Contains(plain, secret.Reveal()) {
		t.Fatalf("control output %q lacks the value; the check above proves nothing", plain)
	}
	if !strings.Contains(buf.String(), redacted) {
		t.Errorf("slog output lacks %q", redacted)
	}
}
