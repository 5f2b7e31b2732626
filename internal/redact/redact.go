// Package redact keeps LWA secret values out of text that leaves the
// project: error messages, log lines and alerts. It knows the shapes of
// Login with Amazon's client secrets (amzn1.oa2-cs.…), access tokens
// (Atza|…) and refresh tokens (Atzr|…), and cleans text that outside
// services send back (LWA error descriptions, SP-API error messages) before
// it is quoted. ValidID is the one rule for the ids (client id, application
// id, notification id) the project lets into logs, alerts, tags and derived
// tokens.
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

// MaxIDLen is the longest id ValidID accepts. Amazon's ids are far shorter
// (a client id is about 60 characters, a notification id a UUID).
const MaxIDLen = 128

// ValidID reports whether s may be used as an id in a log field, an alert, a
// tag or a token derivation: 1 to MaxIDLen characters, each an ASCII letter,
// digit, '.', '_', ':' or '-' (the characters of Amazon's client ids,
// application ids, notification ids and UUIDs), and nothing shaped like a
// secret (a client secret has the same characters, so its prefix is
// refused).
func ValidID(s string) bool {
	if s == "" || len(s) > MaxIDLen || LooksSecret(s) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !idByte(s[i]) {
			return false
		}
	}
	return true
}

// IDRule describes ValidID's rule in words, for error messages.
const IDRule = "1 to 128 of the characters A-Z a-z 0-9 . _ : - and not shaped like a secret"

func idByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return c == '.' || c == '_' || c == ':' || c == '-'
}
