package chaos

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
)

// TestCrashPoints interrupts each handler at each side-effect boundary of
// CrashPoints, lets the retries run, and checks the invariants.
func TestCrashPoints(t *testing.T) {
	for _, cp := range CrashPoints {
		t.Run(cp.Name, func(t *testing.T) {
			t.Parallel()
			scenario, ok := Scenarios[cp.Scenario]
			if !ok {
				t.Fatalf("crash point %q names unknown scenario %q", cp.Name, cp.Scenario)
			}
			w := scenario(SeedOf(cp.Name))
			crash := cp.Crash
			w.Crash = &crash
			r := w.Run()
			if w.crashHits == 0 {
				t.Errorf("the crash point was never reached (op %s, scenario %s)", crash.Op, cp.Scenario)
			}
			for _, v := range r.Violations {
				t.Error(v)
			}
		})
	}
}

// TestScenariosWithoutCrash checks that every scenario on its own keeps the
// invariants, so a crash point failure is the crash's.
func TestScenariosWithoutCrash(t *testing.T) {
	names := make([]string, 0, len(Scenarios))
	for n := range Scenarios {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			w := Scenarios[name](SeedOf(name))
			r := w.Run()
			for _, v := range r.Violations {
				t.Error(v)
			}
			if !r.OK() && *logsFlag {
				t.Logf("logs:\n%s", w.logs.String())
			}
		})
	}
}

// sideEffects are the methods that change state outside the function (or,
// for ClientCredentials, obtain a credential) and so are crash boundaries.
var sideEffects = []string{
	"PutSecretValue", "UpdateSecretVersionStage", "TagResource", "UntagResource", "RotateSecret",
	"CreateSecret", "DeleteSecret", "RestoreSecret", "UpdateSecret", "CancelRotateSecret",
	"Publish", "RotateApplicationClientSecret", "ClientCredentials", "RefreshToken",
	"SendMessage", "DeleteMessage", "ChangeMessageVisibility",
}

// handlerSites returns every call of a side-effecting method in the
// non-test source of the handler packages, as package.function.Method#n.
func handlerSites(t *testing.T) []string {
	t.Helper()
	var sites []string
	for _, pkg := range []string{"rotation", "receiver", "expiry"} {
		files, err := filepath.Glob(filepath.Join("..", "..", "internal", pkg, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		if len(files) == 0 {
			t.Fatalf("no source in internal/%s", pkg)
		}
		for _, file := range files {
			if strings.HasSuffix(file, "_test.go") {
				continue
			}
			src, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			f, err := parser.ParseFile(token.NewFileSet(), file, src, 0)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range f.Decls {
				fn, ok := d.(*ast.FuncDecl)
				if !ok || fn.Body == nil {
					continue
				}
				seen := map[string]int{}
				ast.Inspect(fn.Body, func(n ast.Node) bool {
					call, ok := n.(*ast.CallExpr)
					if !ok {
						return true
					}
					sel, ok := call.Fun.(*ast.SelectorExpr)
					if !ok || !slices.Contains(sideEffects, sel.Sel.Name) {
						return true
					}
					seen[sel.Sel.Name]++
					sites = append(sites, fmt.Sprintf("%s.%s.%s#%d", pkg, fn.Name.Name, sel.Sel.Name, seen[sel.Sel.Name]))
					return true
				})
			}
		}
	}
	sort.Strings(sites)
	return sites
}

// TestCrashPointTableCoversSource fails when a side-effecting call in the
// rotation, receiver or expiry code has no row in CrashPoints (a new
// boundary without a test), or a row names a call that no longer exists.
func TestCrashPointTableCoversSource(t *testing.T) {
	sites := handlerSites(t)
	if len(sites) == 0 {
		t.Fatal("found no side-effecting calls in the handlers' source; the scan is broken")
	}
	covered := map[string]bool{}
	for _, cp := range CrashPoints {
		if cp.Site != "" {
			covered[cp.Site] = true
		}
	}
	for _, s := range sites {
		if !covered[s] {
			t.Errorf("side-effecting call %s has no row in CrashPoints: add one (and a scenario that reaches it)", s)
		}
	}
	for s := range covered {
		if !slices.Contains(sites, s) {
			t.Errorf("CrashPoints names %s, which is not a side-effecting call in the source any more", s)
		}
	}
	t.Logf("%d call sites, %d crash points", len(sites), len(CrashPoints))
}
