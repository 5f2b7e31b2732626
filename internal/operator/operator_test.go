package operator

import (
	"strings"
	"testing"
)

func TestHelpEverywhere(t *testing.T) {
	e := newEnv()
	for _, args := range [][]string{{"-h"}, {"help"}, {"status", "-h"}, {"enable", "-h"}, {"rotate", "--help"}, {"doctor", "-h"}} {
		out, stderr, code := e.run(t, args...)
		if code != ExitOK || !strings.HasPrefix(out, "Usage: lwa-rotation") || stderr != "" {
			t.Errorf("%v = %d, stdout %q, stderr %q; want 0 and the usage on stdout", args, code, out, stderr)
		}
	}
	if w := e.sm.TotalCalls(); w != 0 {
		t.Errorf("help made %d AWS calls", w)
	}
}

func TestTopLevelBadInput(t *testing.T) {
	e := newEnv()
	for _, args := range [][]string{nil, {"rotat"}, {"--verbose"}} {
		out, stderr, code := e.run(t, args...)
		if code != ExitBadInput || out != "" {
			t.Errorf("%v = %d, stdout %q; want 2 and no output", args, code, out)
		}
		oneLineErr(t, stderr)
	}
}

func TestCheckTokenURL(t *testing.T) {
	for raw, ok := range map[string]bool{
		"https://api.amazon.com/auth/o2/token": true,
		"http://127.0.0.1:8080/auth/o2/token":  true,
		"http://localhost:9/auth/o2/token":     true,
		"http://[::1]:9/auth/o2/token":         true,
		"http://api.amazon.com/auth/o2/token":  false,
		"http://10.0.0.1/auth/o2/token":        false,
		"ftp://api.amazon.com/":                false,
		"not a url":                            false,
	} {
		if err := checkTokenURL(raw); (err == nil) != ok {
			t.Errorf("checkTokenURL(%q) = %v, want ok %v", raw, err, ok)
		}
	}
}

func TestFingerprint(t *testing.T) {
	a, b := fingerprint("amzn1.oa2-cs.v1.one"), fingerprint("amzn1.oa2-cs.v1.two")
	if a == b || len(a) != len("sha256:")+8 || strings.Contains(a, "one") {
		t.Errorf("fingerprint() = %q, %q; want distinct sha256:<8 hex>", a, b)
	}
}
