package jsonscan

import (
	"encoding/json"
	"slices"
	"testing"
)

func TestObject(t *testing.T) {
	type member struct{ key, raw string }
	for _, tc := range []struct {
		in   string
		ok   bool
		want []member
	}{
		{`{}`, true, nil},
		{` { "a" : 1 , "b":{"c":[1,"x"]} } `, true, []member{{"a", "1"}, {"b", `{"c":[1,"x"]}`}}},
		{`{"a":1,"a":2}`, true, []member{{"a", "1"}, {"a", "2"}}},
		{`{"\u0061":"1.0e3"}`, true, []member{{"a", `"1.0e3"`}}},
		{`{"a":-0.0}`, true, []member{{"a", "-0.0"}}},
		{`[]`, false, nil},
		{`{"a":1,}`, false, nil},
		{`{"a" 1}`, false, nil},
		{`{"a":1} x`, false, nil},
		{`{"a":`, false, nil},
	} {
		var got []member
		ok := Object([]byte(tc.in), func(k string, raw []byte) { got = append(got, member{k, string(raw)}) })
		if ok != tc.ok || (ok && !slices.Equal(got, tc.want)) {
			t.Errorf("Object(%s) = %v %v, want %v %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestKindAndSyntaxDetail(t *testing.T) {
	for in, want := range map[string]string{`{"a":1}`: "object", ` [1]`: "array", `"s"`: "string", `true`: "boolean", `null`: "null", `-1`: "number", ``: "nothing"} {
		if got := Kind([]byte(in)); got != want {
			t.Errorf("Kind(%q) = %s, want %s", in, got, want)
		}
	}
	if got, want := SyntaxDetail([]byte(`{"secret-value": x}`)), "syntax error at offset 18"; got != want {
		t.Errorf("SyntaxDetail() = %q, want %q", got, want)
	}
}

// FuzzObject: Object never panics and accepts exactly the valid objects
// that encoding/json reads as objects.
func FuzzObject(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":[1,{"b":null}],"c":"\u00e9"}`, `{"a":1,"a":2}`, `{"a":"\"}`, `[1]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		n := 0
		ok := Object(data, func(string, []byte) { n++ })
		var m map[string]json.RawMessage
		valid := json.Valid(data) && json.Unmarshal(data, &m) == nil && m != nil
		if ok != valid {
			t.Fatalf("Object(%q) = %v, encoding/json says %v", data, ok, valid)
		}
		if ok && n < len(m) {
			t.Fatalf("Object(%q) saw %d members, encoding/json %d", data, n, len(m))
		}
	})
}
