package redact

import (
	"strings"
	"testing"
)

func TestLooksSecret(t *testing.T) {
	for s, want := range map[string]bool{
		"amzn1.oa2-cs.v1.0123abcd":              true,
		"token Atza|IwEBI and more":             true,
		"Atzr|IwEBI":                            true,
		"amzn1.application-oa2-client.0123abcd": false,
		"Client authentication failed":          false,
		"":                                      false,
	} {
		if got := LooksSecret(s); got != want {
			t.Errorf("LooksSecret(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestClean(t *testing.T) {
	for _, tc := range []struct {
		in      string
		limit   int
		secrets []string
		want    string
	}{
		{"  Client authentication failed ", 100, nil, "Client authentication failed"},
		{"bad\x00value\nhere", 100, nil, "bad value here"},
		{"abcdef", 3, nil, "abc…"},
		{"the secret s3cr3t-value leaked", 100, []string{"s3cr3t-value"}, ""},
		{"token Atza|abc", 100, nil, ""},
		{"client secret amzn1.oa2-cs.v1.x", 100, nil, ""},
		{"nothing to hide", 100, []string{""}, "nothing to hide"},
	} {
		if got := Clean(tc.in, tc.limit, tc.secrets...); got != tc.want {
			t.Errorf("Clean(%q, %d, %q) = %q, want %q", tc.in, tc.limit, tc.secrets, got, tc.want)
		}
	}
}

func TestValidID(t *testing.T) {
	for s, want := range map[string]bool{
		"amzn1.application-oa2-client.6XXXXXXXXXXXXXXXXXXXXXXXXX": true,
		"amzn1.sp.solution.xxxxxxxxxxxxxxxxxxxxxxxxxxxx":          true,
		"b0805eb9-78f7-49bb-ac0e-XXXXXXXXXXX":                     true,
		"n-1":                                                     true,
		"a:b_c":                                                   true,
		strings.Repeat("a", MaxIDLen):                             true,
		strings.Repeat("a", MaxIDLen+1):                           false,
		"":                                                        false,
		"amzn1.oa2-cs.v1.0123abcd":                                false,
		"Atza|x":                                                  false,
		"has space":                                               false,
		"line\nbreak":                                             false,
		"quote\"":                                                 false,
		"slash/":                                                  false,
		"<script>":                                                false,
		"caf\u00e9":                                               false,
		"nul\x00":                                                 false,
		"percent%41":                                              false,
	} {
		if got := ValidID(s); got != want {
			t.Errorf("ValidID(%q) = %v, want %v", s, got, want)
		}
	}
}
