package watchdog

import (
	"strings"
	"testing"
)

func TestSafeClientID(t *testing.T) {
	const prefix = "amzn1.application-oa2-client."
	long := func(n int) string { return prefix + strings.Repeat("a", n-len(prefix)) }
	tests := []struct {
		id, want string
	}{
		{prefix + "0123abcd", prefix + "0123abcd"},
		{long(maxClientIDLen), long(maxClientIDLen)},
		{long(maxClientIDLen + 1), invalidClientID},
		{"", invalidClientID},
		{".amzn1", invalidClientID},
		{"amzn1 application", invalidClientID},
		{"amzn1/application", invalidClientID},
	}
	for _, tt := range tests {
		if got := safeClientID(tt.id); got != tt.want {
			t.Errorf("safeClientID(%q) = %q, want %q", tt.id, got, tt.want)
		}
	}
}
