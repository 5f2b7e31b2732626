package operator

import (
	"errors"
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

// TestBadTokenURL: an LWA_TOKEN_URL that is not https (plain http only to a loopback address) is
// bad input, refused before the AWS configuration is read; endpoint.Check's tests cover the rules.
func TestBadTokenURL(t *testing.T) {
	bad := []string{"http://api.amazon.com/auth/o2/token", "http://10.0.0.1/auth/o2/token", "ftp://api.amazon.com/", "not a url"}
	for _, raw := range bad {
		_, err := AWSClients(func(k string) string { return map[string]string{"LWA_TOKEN_URL": raw}[k] })(t.Context())
		var ee *exitError
		if !errors.As(err, &ee) || ee.code != ExitBadInput || !strings.Contains(ee.msg, "LWA_TOKEN_URL") {
			t.Errorf("AWSClients with LWA_TOKEN_URL %q = %v, want bad input naming LWA_TOKEN_URL", raw, err)
		}
	}
}

func TestFingerprint(t *testing.T) {
	a, b := fingerprint("amzn1.oa2-cs.v1.one"), fingerprint("amzn1.oa2-cs.v1.two")
	if a == b || len(a) != len("sha256:")+8 || strings.Contains(a, "one") {
		t.Errorf("fingerprint() = %q, %q; want distinct sha256:<8 hex>", a, b)
	}
}
