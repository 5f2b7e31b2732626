// Package redact keeps LWA secret values (client secrets amzn1.oa2-cs.…, access
// tokens Atza|…, refresh tokens Atzr|…) out of errors, logs and alerts: Clean,
// the id rule ValidID, and JSONObject, a reader whose errors never quote the input.
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

var prefixes = []string{"amzn1.oa2-cs.", "Atza|", "Atzr|"}

// LooksSecret reports whether s contains something shaped like an LWA secret or token.
func LooksSecret(s string) bool {
	return slices.ContainsFunc(prefixes, func(p string) bool { return strings.Contains(s, p) })
}

// Clean returns s, from an outside answer, fit to quote: "" if it holds one of
// secrets or a secret shape, else trimmed, printable and cut to limit runes.
func Clean(s string, limit int, secrets ...string) string {
	quoted := func(v string) bool { return v != "" && strings.Contains(s, v) }
	if LooksSecret(s) || slices.ContainsFunc(secrets, quoted) {
		return ""
	}
	runes := []rune(strings.TrimSpace(s))
	for i, r := range runes {
		if !unicode.IsPrint(r) {
			runes[i] = ' '
		}
	}
	if limit >= 0 && len(runes) > limit {
		return string(runes[:limit]) + "…"
	}
	return string(runes)
}

const (
	// MaxIDLen is the longest id ValidID accepts (a client id has about 60 characters).
	MaxIDLen = 128
	idChars  = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-"
	// IDRule describes ValidID's rule in words, for error messages.
	IDRule = "1 to 128 of the characters A-Z a-z 0-9 . _ : - and not shaped like a secret"
)

// ValidID reports whether s may be an id in a log field, alert, tag or derived
// token (a client secret has the same characters, so its shape is refused).
func ValidID(s string) bool {
	return s != "" && len(s) <= MaxIDLen && strings.Trim(s, idChars) == "" && !LooksSecret(s)
}

// Member is one member of a JSON object.
type Member struct {
	Key    string
	Value  json.RawMessage // the value's bytes as written
	Offset int64           // of Value in the object's text
}

// JSONObject reads one JSON value and returns its JSON type and, for an object,
// its members in order, repeated keys included; its errors never quote data.
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

// kinds names the JSON types by a value's first byte; any other is a number.
var kinds = map[byte]string{'{': "object", '[': "array", '"': "string", 't': "boolean", 'f': "boolean", 'n': "null"}

// JSONKind names the JSON type of raw, a valid JSON value ("nothing" when empty).
func JSONKind(raw []byte) string {
	raw = bytes.TrimLeft(raw, " \t\r\n")
	if len(raw) == 0 {
		return "nothing"
	}
	return cmp.Or(kinds[raw[0]], "number")
}
