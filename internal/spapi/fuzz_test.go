package spapi

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func FuzzParseErrorList(f *testing.F) {
	for _, s := range []string{
		`{"errors":[{"code":"InvalidInput","message":"Application is not enrolled for rotation notification. Please update application notification preference in Developer console."}]}`,
		`{"errors":[{"code":"Unauthorized","message":"Access to requested resource is denied.","details":"The access token you provided has expired."}]}`,
		`{"errors":[{"code":"QuotaExceeded","message":"You exceeded your quota for the requested resource."}]}`,
		`{"errors":[]}`, `{"errors":null}`, `{"errors":[null,{}]}`, `{"errors":{"code":1}}`,
		`<html>Service Unavailable</html>`, ``, `null`,
	} {
		f.Add([]byte(s), "Atza|tok")
	}
	f.Fuzz(func(t *testing.T, body []byte, token string) {
		list := parseErrorList(body, token)
		if len(list) > maxErrors {
			t.Errorf("parseErrorList() kept %d errors, want at most %d", len(list), maxErrors)
		}
		for _, d := range list {
			if utf8.RuneCountInString(d.Code) > maxCode+1 || utf8.RuneCountInString(d.Message) > maxMessage+1 || utf8.RuneCountInString(d.Details) > maxDetails+1 {
				t.Errorf("parseErrorList() kept %+v, want bounded strings", d)
			}
			// Real tokens are long runs of printable characters; a one-space
			// "token" would match the space a control character becomes.
			if tokenShaped(token) && (strings.Contains(d.Code, token) || strings.Contains(d.Message, token) || strings.Contains(d.Details, token)) {
				t.Errorf("parseErrorList() kept %+v, which contains the token", d)
			}
		}
		// A token of the real shape never reaches the message, even
		// across the boundaries where the message joins kept strings.
		real := "Atza|" + token
		list = parseErrorList(body, real)
		for _, status := range []int{400, 403, 404, 429, 500, 503} {
			e := &Error{StatusCode: status, Errors: list, RequestID: "r"}
			if msg := e.Error(); strings.Contains(msg, real) {
				t.Errorf("Error() = %q contains the token", msg)
			}
			_ = e.Unwrap()
		}
	})
}

// tokenShaped reports whether s could be an LWA access token: eight or more
// printable characters, none of them white space.
func tokenShaped(s string) bool {
	return len(s) >= 8 && !strings.ContainsFunc(s, func(r rune) bool { return !unicode.IsGraphic(r) || unicode.IsSpace(r) })
}
