package lwa

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func FuzzParseTokenResponse(f *testing.F) {
	for _, s := range []string{
		`{"access_token":"Atza|IwEBIA","token_type":"bearer","expires_in":3600}`,
		`{"access_token":"Atza|IwEBIA","refresh_token":"Atzr|IwEBIB","token_type":"bearer","expires_in":3600}`,
		`{"access_token":"","expires_in":3600}`,
		`{"access_token":12,"expires_in":"3600"}`,
		`{"expires_in":1e400}`,
		`{"access_token":"x","expires_in":-9223372036854775808}`,
		`null`, `[]`, ``, `{`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		tok, err := parseTokenResponse(body)
		if err != nil {
			if tok != (Token{}) {
				t.Errorf("parseTokenResponse() = %#v with error %v, want zero token", tok, err)
			}
			// The message is one of a fixed few: it never depends on
			// (and so never quotes) the body.
			switch err.Error() {
			case "lwa: token request: decode answer (status 200): malformed token response",
				"lwa: token request: answer has no access_token (status 200): malformed token response",
				"lwa: token request: answer has expires_in out of range (status 200): malformed token response":
			default:
				t.Errorf("parseTokenResponse() error = %q, want one of the fixed messages", err)
			}
			return
		}
		if tok.AccessToken == "" || tok.ExpiresIn < 0 {
			t.Errorf("parseTokenResponse() = %#v, want a token and a non-negative expiry", tok)
		}
	})
}

func FuzzParseErrorResponse(f *testing.F) {
	for _, s := range []string{
		`{"error":"invalid_client","error_description":"Client authentication failed"}`,
		`{"error":"invalid_grant","error_description":"The request has an invalid grant parameter : refresh_token"}`,
		`{"error":"invalid_scope","error_description":"An unknown scope was requested"}`,
		`{"error":"server_error"}`,
		`{"error":"invalid_request","error_description":"s3cr3t"}`,
		`{"error":1}`, `<html>`, ``,
	} {
		f.Add(500, []byte(s), "s3cr3t")
	}
	f.Fuzz(func(t *testing.T, status int, body []byte, secret string) {
		e := parseErrorResponse(status, body, []string{secret})
		if e == nil {
			t.Fatal("parseErrorResponse() = nil, want an *Error")
		}
		if e.StatusCode != status {
			t.Errorf("StatusCode = %d, want %d", e.StatusCode, status)
		}
		if utf8.RuneCountInString(e.Description) > maxDescription+1 || utf8.RuneCountInString(e.Code) > maxCode+1 {
			t.Errorf("*Error = %+v, want bounded code and description", e)
		}
		// Real secrets are long runs of printable characters; a one-space
		// "secret" would match the space a control character becomes.
		if len(secret) >= 8 && !strings.ContainsFunc(secret, func(r rune) bool { return !unicode.IsGraphic(r) || unicode.IsSpace(r) }) &&
			(strings.Contains(e.Code, secret) || strings.Contains(e.Description, secret)) {
			t.Errorf("*Error = %+v carries the secret %q", e, secret)
		}
		_ = e.Error()
		_ = e.Unwrap()
	})
}
