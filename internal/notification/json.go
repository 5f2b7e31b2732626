package notification

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"time"
	"unicode/utf8"
)

// object is one JSON object of a notification, read member by member with
// encoding/json's Decoder so that duplicate keys are seen (Unmarshal keeps
// the last one silently) and every value keeps its raw bytes.
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
		var whole json.RawMessage
		if err := json.Unmarshal(data, &whole); err != nil {
			detail := "syntax error"
			var se *json.SyntaxError
			if errors.As(err, &se) {
				detail += " at offset " + strconv.FormatInt(se.Offset, 10)
			}
			return nil, &Error{Field: field, Err: ErrMalformed, detail: detail}
		}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if k := kindOf(dec); k != "object" {
		return nil, &Error{Field: field, Err: ErrMalformed, detail: "want a JSON object, got " + k}
	}
	o := &object{at: at, members: make(map[string]json.RawMessage, 8)}
	for dec.More() {
		key, err := dec.Token()
		name, isKey := key.(string)
		var raw json.RawMessage
		if err == nil && isKey {
			err = dec.Decode(&raw)
		}
		if err != nil || !isKey {
			return nil, &Error{Field: field, Err: ErrMalformed, detail: "syntax error"}
		}
		if _, seen := o.members[name]; seen {
			if o.dups == nil {
				o.dups = make(map[string]bool)
			}
			o.dups[name] = true
		}
		o.members[name] = raw
	}
	return o, nil
}

// kindOf reads the first token of dec, a valid JSON value, and names its
// JSON type.
func kindOf(dec *json.Decoder) string {
	t, err := dec.Token()
	if err != nil {
		return "nothing"
	}
	switch t := t.(type) {
	case json.Delim:
		if t == '[' {
			return "array"
		}
		return "object"
	case string:
		return "string"
	case bool:
		return "boolean"
	case nil:
		return "null"
	}
	return "number"
}

// kind names the JSON type of raw, a valid JSON value.
func kind(raw []byte) string {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	return kindOf(dec)
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
	if !ok || kind(raw) == "null" {
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
	if k := kind(raw); k != "string" {
		return "", false, &Error{Field: o.path(name), Err: ErrMalformed, detail: "want a JSON string, got " + k}
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
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
