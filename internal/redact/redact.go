// Package redact keeps LWA secret values out of text that leaves the
// project: error messages, log lines and alerts. It knows the shapes of
// Login with Amazon's client secrets (amzn1.oa2-cs.…), access tokens
// (Atza|…) and refresh tokens (Atzr|…), and cleans text that outside
// services send back (LWA error descriptions, SP-API error messages) before
// it is quoted.
package redact

import (
	"strings"
	"unicode"
)

// prefixes are the prefixes of LWA client secrets, access tokens and refresh
// tokens.
var prefixes = []string{"amzn1.oa2-cs.", "Atza|", "Atzr|"}

// LooksSecret reports whether s contains something shaped like an LWA client
// secret or token.
func LooksSecret(s string) bool {
	for _, p := range prefixes {
		if strings.Contains(s, p) {
			return true
		}
	}
	return false
}

// Clean returns s, from an outside answer, fit to quote: "" if it contains
// one of secrets (the values the request sent) or anything shaped like a
// secret, otherwise s trimmed, with control characters replaced by spaces
// and cut to limit runes (marked with an ellipsis).
func Clean(s string, limit int, secrets ...string) string {
	for _, v := range secrets {
		if v != "" && strings.Contains(s, v) {
			return ""
		}
	}
	if LooksSecret(s) {
		return ""
	}
	var b strings.Builder
	n := 0
	for _, r := range strings.TrimSpace(s) {
		if n == limit {
			b.WriteString("…")
			break
		}
		if !unicode.IsPrint(r) {
			r = ' '
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}
