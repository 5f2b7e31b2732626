package notification

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"time"
	"unicode/utf8"
)

// object is one JSON object of a notification, read member by member so that
// duplicate keys are seen (encoding/json keeps the last one silently).
// Errors built here carry fixed text and numbers only: encoding/json's own
// messages can quote input (a number's text, a character), so they are never
// passed on.
type object struct {
	at      string // JSON path of the object; "" for the body
	members map[string]json.RawMessage
	dups    map[string]bool // keys seen more than once; nil when none
}

// parseObject reads data, a JSON value at path at, as an object. For the
// body (at == "") it first checks the syntax of the whole body; other values
// are parts of a body already checked.
func parseObject(data []byte, at string) (*object, error) {
	field := at
	if at == "" {
		field = RootField
		if !json.Valid(data) {
			return nil, &Error{Field: field, Err: ErrMalformed, detail: syntaxDetail(data)}
		}
	}
	if k := kindOf(data); k != "object" {
		return nil, &Error{Field: field, Err: ErrMalformed, detail: "want a JSON object, got " + k}
	}
	o := &object{at: at, members: make(map[string]json.RawMessage, 8)}
	ok := scanObject(data, func(key string, raw []byte) {
		if _, seen := o.members[key]; seen {
			if o.dups == nil {
				o.dups = make(map[string]bool)
			}
			o.dups[key] = true
		}
		o.members[key] = raw
	})
	if !ok {
		return nil, &Error{Field: field, Err: ErrMalformed, detail: "syntax error"}
	}
	return o, nil
}

// scanObject calls member for every member of data, a valid JSON object,
// in order, with the key unescaped and the value's raw bytes (a sub-slice of
// data). It reports false if data turns out not to be a valid object; it
// never reads out of bounds.
func scanObject(data []byte, member func(key string, raw []byte)) bool {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return false
	}
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		return skipSpace(data, i+1) == len(data)
	}
	for {
		end := skipString(data, i)
		if end < 0 {
			return false
		}
		key, ok := unquote(data[i:end])
		if !ok {
			return false
		}
		i = skipSpace(data, end)
		if i >= len(data) || data[i] != ':' {
			return false
		}
		start := skipSpace(data, i+1)
		end = skipValue(data, start)
		if end < 0 {
			return false
		}
		member(key, data[start:end])
		i = skipSpace(data, end)
		if i >= len(data) {
			return false
		}
		switch data[i] {
		case ',':
			i = skipSpace(data, i+1)
		case '}':
			return skipSpace(data, i+1) == len(data)
		default:
			return false
		}
	}
}

// skipSpace returns the index of the first byte at or after i that is not
// JSON white space.
func skipSpace(data []byte, i int) int {
	for i < len(data) {
		switch data[i] {
		case ' ', '\t', '\r', '\n':
			i++
		default:
			return i
		}
	}
	return i
}

// skipString returns the index just after the JSON string starting at i, or -1.
func skipString(data []byte, i int) int {
	if i >= len(data) || data[i] != '"' {
		return -1
	}
	for j := i + 1; j < len(data); j++ {
		switch data[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return -1
}

// skipValue returns the index just after the JSON value starting at i, or -1.
func skipValue(data []byte, i int) int {
	if i >= len(data) {
		return -1
	}
	switch data[i] {
	case '"':
		return skipString(data, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(data); {
			switch data[j] {
			case '"':
				j = skipString(data, j)
				if j < 0 {
					return -1
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
			j++
		}
		return -1
	}
	j := i
	for j < len(data) {
		switch data[j] {
		case ',', '}', ']', ' ', '\t', '\r', '\n':
			return j
		}
		j++
	}
	return j
}

// unquote returns the string a valid JSON string literal stands for.
func unquote(lit []byte) (string, bool) {
	if len(lit) < 2 {
		return "", false
	}
	if bytes.IndexByte(lit, '\\') < 0 {
		return string(lit[1 : len(lit)-1]), true
	}
	var s string
	if err := json.Unmarshal(lit, &s); err != nil {
		return "", false
	}
	return s, true
}

// syntaxDetail says where data stops being JSON, without quoting it.
func syntaxDetail(data []byte) string {
	var v struct{}
	var se *json.SyntaxError
	if err := json.Unmarshal(data, &v); errors.As(err, &se) {
		return "syntax error at offset " + itoa(int(se.Offset))
	}
	return "syntax error"
}

// kindOf names the JSON type of a valid JSON value.
func kindOf(raw []byte) string {
	raw = bytes.TrimLeft(raw, " \t\r\n")
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	return "number"
}

// path is the JSON path of the member name.
func (o *object) path(name string) string {
	if o.at == "" {
		return name
	}
	return o.at + "." + name
}

// get returns the raw value of name; JSON null counts as absent.
func (o *object) get(name string) (json.RawMessage, bool, error) {
	if o.dups[name] {
		return nil, false, &Error{Field: o.path(name), Err: ErrMalformed, detail: "duplicate key"}
	}
	raw, ok := o.members[name]
	if !ok || kindOf(raw) == "null" {
		return nil, false, nil
	}
	return raw, true, nil
}

// optionalString returns the string value of name, if present.
func (o *object) optionalString(name string) (string, bool, error) {
	raw, ok, err := o.get(name)
	if err != nil || !ok {
		return "", false, err
	}
	if k := kindOf(raw); k != "string" {
		return "", false, &Error{Field: o.path(name), Err: ErrMalformed, detail: "want a JSON string, got " + k}
	}
	s, ok := unquote(raw)
	if !ok {
		return "", false, &Error{Field: o.path(name), Err: ErrMalformed, detail: "bad JSON string"}
	}
	return s, true, nil
}

// requiredString returns the non-empty string value of name.
func (o *object) requiredString(name string) (string, error) {
	s, ok, err := o.optionalString(name)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", &Error{Field: o.path(name), Err: ErrMissingField}
	}
	if s == "" {
		return "", &Error{Field: o.path(name), Err: ErrMissingField, detail: "empty string"}
	}
	return s, nil
}

// optionalTime returns the RFC 3339 time of name, or the zero time when absent.
func (o *object) optionalTime(name string) (time.Time, error) {
	s, ok, err := o.optionalString(name)
	if err != nil || !ok {
		return time.Time{}, err
	}
	t, ok := parseTime(s)
	if !ok {
		return time.Time{}, &Error{Field: o.path(name), Err: ErrBadTime, detail: "want RFC 3339"}
	}
	return t, nil
}

// requiredTime returns the RFC 3339 time of name.
func (o *object) requiredTime(name string) (time.Time, error) {
	if _, ok, err := o.get(name); err != nil {
		return time.Time{}, err
	} else if !ok {
		return time.Time{}, &Error{Field: o.path(name), Err: ErrMissingField}
	}
	return o.optionalTime(name)
}

// requiredObject returns the object value of name.
func (o *object) requiredObject(name string) (*object, error) {
	raw, ok, err := o.get(name)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, &Error{Field: o.path(name), Err: ErrMissingField}
	}
	return parseObject(raw, o.path(name))
}

// invalidUTF8Offset returns the offset of the first byte of b that is not
// part of valid UTF-8.
func invalidUTF8Offset(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return len(b)
}

func itoa(n int) string { return strconv.Itoa(n) }
