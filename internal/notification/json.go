package notification

import (
	"encoding/json"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/spapi-lwa/secret-rotation/internal/jsonscan"
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
			return nil, &Error{Field: field, Err: ErrMalformed, detail: jsonscan.SyntaxDetail(data)}
		}
	}
	if k := jsonscan.Kind(data); k != "object" {
		return nil, &Error{Field: field, Err: ErrMalformed, detail: "want a JSON object, got " + k}
	}
	o := &object{at: at, members: make(map[string]json.RawMessage, 8)}
	ok := jsonscan.Object(data, func(key string, raw []byte) {
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
	if !ok || jsonscan.Kind(raw) == "null" {
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
	if k := jsonscan.Kind(raw); k != "string" {
		return "", false, &Error{Field: o.path(name), Err: ErrMalformed, detail: "want a JSON string, got " + k}
	}
	s, ok := jsonscan.Unquote(raw)
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
