package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestFunctionsLinkNoSDKSchemas guards the pin in go.mod: the SDK's
// schema-based service versions build their schemas at package
// initialisation, which costs every cold start about 1.3 ms. A dependency
// bump that brings them back fails here, before the bench would show it.
func TestFunctionsLinkNoSDKSchemas(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "../../functions/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	var sdk int
	for _, p := range strings.Fields(string(out)) {
		if strings.HasPrefix(p, "github.com/aws/aws-sdk-go-v2/service/") {
			sdk++
			if strings.HasSuffix(p, "/schemas") {
				t.Errorf("functions link %s: go.mod pins service/secretsmanager and service/sns below their schema-based versions for cold start", p)
			}
		}
	}
	if sdk == 0 {
		t.Fatal("go list -deps found no SDK service package: the check reads nothing")
	}
}
