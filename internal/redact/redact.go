// Package redact keeps LWA secret values out of text that leaves the project
// (errors, log lines, alerts). It knows the shapes of Login with Amazon's
// client secrets (amzn1.oa2-cs.…), access tokens (Atza|…) and refresh tokens
// (Atzr|…); Clean makes text that outside services send back fit to quote;
// ValidID is the one rule for the ids the project lets into logs, alerts,
// tags and derived tokens; JSONObject reads the JSON objects that hold secrets
// (a notification, the secret document) without quoting them in an error.
package redact

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"
)

// prefixes start LWA client secrets, access tokens and refresh tokens.
var prefixes = []string{"amzn1.oa2-cs.", "Atza|", "Atzr|"}

// LooksSecret reports whether s contains something shaped like an LWA secret or token.
func LooksSecret(s string) bool {
	return slices.ContainsFunc(prefixes, func(p string) bool { return strings.Contains(s, p) })
}

// Clean returns s, from an outside answer, fit to quote: "" if it contains
// one of secrets (the values the request sent) or anything shaped like a
// secret, otherwise s trimmed, with control characters replaced by spaces
// and cut to limit runes (marked with an ellipsis).
func Clean(s string, limit int, secrets ...string) string {
	quoted := func(v string) bool { return v != "" && strings.Contains(s, v) }
	if LooksSecret(s) || slices.ContainsFunc(secrets, quoted) {
		return ""
	}
	printable := func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return ' '
	}
	runes := []rune(strings.Map(printable, strings.TrimSpace(s)))
	if limit >= 0 && len(runes) > limit {
		return string(runes[:limit]) + "…"
	}
	return string(runes)
}

const (
	// MaxIDLen is the longest id ValidID accepts. Amazon's ids are far shorter
	// (a client id is about 60 characters, a notification id a UUID).
	MaxIDLen = 128
	// idChars are the characters of Amazon's client, application and notification ids.
	idChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-"
	// IDRule describes ValidID's rule in words, for error messages.
	IDRule = "1 to 128 of the characters A-Z a-z 0-9 . _ : - and not shaped like a secret"
)

// ValidID reports whether s may be used as an id in a log field, an alert, a
// tag or a token derivation: 1 to MaxIDLen of idChars, and nothing shaped like
// a secret (a client secret has the same characters, so its prefix is refused).
func ValidID(s string) bool {
	return s != "" && len(s) <= MaxIDLen && strings.Trim(s, idChars) == "" && !LooksSecret(s)
}

// Member is one member of a JSON object.
type Member struct {
	Key    string
	Value  json.RawMessage // the value's bytes as written
	Offset int64           // of Value in the object's text
}

// JSONObject reads data, one JSON value, and returns its JSON type and, for an
// object, its members in document order, repeated keys included. Unlike
// encoding/json's, which can quote the input, its error is fixed text.
func JSONObject(data []byte) ([]Member, string, error) {
	if err := json.Unmarshal(data, new(json.RawMessage)); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, "", fmt.Errorf("syntax error at offset %d", se.Offset)
		}
		return nil, "", errors.New("syntax error")
	}
	if k := JSONKind(data); k != "object" {
		return nil, k, nil
	}
	var members []Member
	dec := json.NewDecoder(bytes.NewReader(data))
	_, err := dec.Token() // the object's '{'
	for err == nil && dec.More() {
		var m Member
		var key json.Token
		if key, err = dec.Token(); err == nil {
			m.Key, _ = key.(string)
			err = dec.Decode(&m.Value)
		}
		m.Offset = dec.InputOffset() - int64(len(m.Value))
		members = append(members, m)
	}
	if err != nil {
		return nil, "", errors.New("syntax error")
	}
	return members, "object", nil
}

// kinds names the JSON types by the first byte of a value; any other is a number.
var kinds = map[byte]string{'{': "object", '[': "array", '"': "string", 't': "boolean", 'f': "boolean", 'n': "null"}

// JSONKind names the JSON type of raw, a valid JSON value ("nothing" when empty).
func JSONKind(raw []byte) string {
	raw = bytes.TrimLeft(raw, " \t\r\n")
	if len(raw) == 0 {
		return "nothing"
	}
	return cmp.Or(kinds[raw[0]], "number")
}
