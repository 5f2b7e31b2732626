package e2e

import (
	"bytes"
	"encoding/json"
	"go/build"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/spapi-lwa/secret-rotation/test/harness"
)

// TestREADMECommands keeps the README's commands true. It reads every
// fenced sh or bash block of README.md and checks, for each command in
// them:
//   - make T [VAR=V]: T is a target of the Makefile and VAR one of its
//     variables;
//   - go run / go install ./path: path is a main package of this module;
//   - go run ./cmd/lwa-rotation C … (or lwa-rotation C …): C is a command
//     of the built CLI and every flag is one its -h lists; the same for the
//     flags of the other commands run with go run;
//   - aws S O --flags: O is an operation of service S in the installed AWS
//     CLI and every flag is one of its options or a global option.
//
// Commands that end in -h are run as written (through the built binary)
// and must exit 0. sam and shell builtins are not checked: sam is not
// installed here. The aws part needs the aws CLI: without it that part is
// skipped, unless E2E=1.
func TestREADMECommands(t *testing.T) {
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	cmds := readmeCommands(string(readme))
	has := func(name, sub string) bool {
		return slices.ContainsFunc(cmds, func(c []string) bool { return len(c) >= 2 && c[0] == name && c[1] == sub })
	}
	// The first screen's two commands; a parser that finds nothing fails here.
	if !has("make", "demo") || !has("make", "test") {
		t.Fatalf("README sh blocks: make demo and make test not found among %d commands", len(cmds))
	}

	t.Run("make", func(t *testing.T) { checkMake(t, root, cmds) })
	t.Run("go", func(t *testing.T) { checkGo(t, root, cmds) })
	t.Run("aws", func(t *testing.T) { checkAWS(t, cmds) })
}

// readmeCommands returns the simple commands of every sh or bash fenced
// block of md, as words with quotes removed. Lines ending in a backslash are
// joined; && || | ; separate commands; # starts a comment; each $(…) is a
// command of its own and stands as one word in the command around it;
// leading VAR=value assignments are dropped.
func readmeCommands(md string) [][]string {
	var out [][]string
	var block []string
	in := false
	for _, line := range strings.Split(md, "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case !in && (trimmed == "```sh" || trimmed == "```bash"):
			in, block = true, nil
		case in && trimmed == "```":
			in = false
			text := strings.ReplaceAll(strings.Join(block, "\n"), "\\\n", " ")
			for _, l := range strings.Split(text, "\n") {
				out = append(out, shellCommands(l)...)
			}
		case in:
			block = append(block, line)
		}
	}
	return out
}

// shellCommands splits one shell line into simple commands (a small subset
// of sh: enough for a README).
func shellCommands(line string) [][]string {
	var cmds [][]string
	var words []string
	var word strings.Builder
	inWord := false
	flushWord := func() {
		if inWord {
			words = append(words, word.String())
		}
		word.Reset()
		inWord = false
	}
	flushCmd := func() {
		flushWord()
		for len(words) > 0 && regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=`).MatchString(words[0]) {
			words = words[1:]
		}
		if len(words) > 0 {
			cmds = append(cmds, words)
		}
		words = nil
	}
	r := []rune(line)
	for i := 0; i < len(r); i++ {
		c := r[i]
		switch {
		case c == '\'':
			j := i + 1
			for j < len(r) && r[j] != '\'' {
				j++
			}
			word.WriteString(string(r[i+1 : min(j, len(r))]))
			inWord, i = true, j
		case c == '"':
			j := i + 1
			for j < len(r) && r[j] != '"' {
				if r[j] == '$' && j+1 < len(r) && r[j+1] == '(' {
					end := matchParen(r, j+1)
					cmds = append(cmds, shellCommands(string(r[j+2:end]))...)
					word.WriteString("$SUB")
					j = end + 1
					continue
				}
				if r[j] == '\\' && j+1 < len(r) {
					j++
				}
				word.WriteRune(r[j])
				j++
			}
			inWord, i = true, j
		case c == '$' && i+1 < len(r) && r[i+1] == '(':
			end := matchParen(r, i+1)
			cmds = append(cmds, shellCommands(string(r[i+2:end]))...)
			word.WriteString("$SUB")
			inWord, i = true, end
		case c == '#' && !inWord:
			i = len(r)
		case c == ' ' || c == '\t':
			flushWord()
		case c == ';' || c == '|' || c == '&':
			flushCmd()
			if i+1 < len(r) && (r[i+1] == '|' || r[i+1] == '&') {
				i++
			}
		default:
			word.WriteRune(c)
			inWord = true
		}
	}
	flushCmd()
	return cmds
}

// matchParen returns the index of the ) that closes the ( at open (or the
// end of r), skipping quoted text.
func matchParen(r []rune, open int) int {
	depth := 0
	var quote rune
	for i := open; i < len(r); i++ {
		switch c := r[i]; {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '(':
			depth++
		case c == ')':
			depth--
			if depth == 0 {
				return i
			}
		}
	}
	return len(r)
}

func checkMake(t *testing.T, root string, cmds [][]string) {
	mk, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	targets := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^([A-Za-z0-9_.-]+)\s*:([^=]|$)`).FindAllStringSubmatch(string(mk), -1) {
		targets[m[1]] = true
	}
	vars := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^([A-Z_]+)\s*[?:]?=`).FindAllStringSubmatch(string(mk), -1) {
		vars[m[1]] = true
	}
	n := 0
	for _, c := range cmds {
		if c[0] != "make" {
			continue
		}
		for _, w := range c[1:] {
			if name, _, ok := strings.Cut(w, "="); ok {
				if !vars[name] {
					t.Errorf("README: %q: the Makefile has no variable %s", strings.Join(c, " "), name)
				}
				continue
			}
			n++
			if !targets[w] {
				t.Errorf("README: %q: the Makefile has no target %s", strings.Join(c, " "), w)
			}
		}
	}
	t.Logf("%d make targets checked", n)
}

// goCommand is a go run of a main package, or the installed CLI.
type goCommand struct {
	pkg  string // ./cmd/…
	args []string
	text string
}

func checkGo(t *testing.T, root string, cmds [][]string) {
	var runs []goCommand
	for _, c := range cmds {
		text := strings.Join(c, " ")
		switch {
		case c[0] == "go" && len(c) >= 3 && (c[1] == "run" || c[1] == "install"):
			pkg := c[2]
			p, err := build.ImportDir(filepath.Join(root, pkg), 0)
			if err != nil || p.Name != "main" || !strings.HasPrefix(pkg, "./") {
				t.Errorf("README: %q: %s is not a main package of this module (%v)", text, pkg, err)
				continue
			}
			if c[1] == "run" {
				runs = append(runs, goCommand{pkg: pkg, args: c[3:], text: text})
			}
		case c[0] == "lwa-rotation":
			runs = append(runs, goCommand{pkg: "./cmd/lwa-rotation", args: c[1:], text: text})
		}
	}
	if len(runs) == 0 {
		t.Fatal("README: no go run command found")
	}
	var pkgs []string
	for _, r := range runs {
		if !slices.Contains(pkgs, r.pkg) {
			pkgs = append(pkgs, r.pkg)
		}
	}
	bin := t.TempDir()
	buildCmd := exec.CommandContext(t.Context(), "go", append([]string{"build", "-o", bin + string(os.PathSeparator)}, pkgs...)...)
	buildCmd.Dir = root
	if out, err := buildCmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %v: %v\n%s", pkgs, err, out)
	}
	// help runs path with args (ending in -h) and returns what it printed;
	// -h must exit 0.
	helps := map[string]string{}
	help := func(r goCommand, args ...string) (string, bool) {
		key := r.pkg + " " + strings.Join(args, " ")
		if out, ok := helps[key]; ok {
			return out, true
		}
		cmd := exec.CommandContext(t.Context(), filepath.Join(bin, filepath.Base(r.pkg)), args...)
		cmd.Env = append(os.Environ(), "AWS_REGION=us-east-1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("README: %q: %s %s: %v\n%s", r.text, r.pkg, strings.Join(args, " "), err, out)
			return "", false
		}
		helps[key] = string(out)
		return string(out), true
	}
	flagRE := regexp.MustCompile(`(?m)^\s+-([A-Za-z0-9-]+)`)
	for _, r := range runs {
		// Run as written when it asks for help.
		if len(r.args) > 0 && r.args[len(r.args)-1] == "-h" {
			help(r, r.args...)
			continue
		}
		args := []string{"-h"}
		if len(r.args) > 0 && !strings.HasPrefix(r.args[0], "-") && r.pkg == "./cmd/lwa-rotation" {
			args = []string{r.args[0], "-h"}
		}
		usage, ok := help(r, args...)
		if !ok {
			continue
		}
		known := map[string]bool{"h": true}
		for _, m := range flagRE.FindAllStringSubmatch(usage, -1) {
			known[m[1]] = true
		}
		for _, w := range r.args {
			if !strings.HasPrefix(w, "-") {
				continue
			}
			name, _, _ := strings.Cut(strings.TrimLeft(w, "-"), "=")
			if !known[name] {
				t.Errorf("README: %q: %s has no flag -%s", r.text, strings.Join(append([]string{r.pkg}, args[:len(args)-1]...), " "), name)
			}
		}
	}
	t.Logf("%d go commands checked", len(runs))
}

// awsV2Only are options and commands of AWS CLI v2 that v1 lacks; the
// README says they need v2.
var awsV2Only = map[string][]string{
	"":          {"cli-binary-format", "no-cli-pager"},
	"logs tail": {"since", "follow", "format", "filter-pattern", "log-stream-names", "log-stream-name-prefix", "mode"},
}

// awsModelScript prints, for each "service operation" on stdin (JSON), the
// operation's option names (null when it does not exist), and the global
// options, from the installed AWS CLI's own command tables.
const awsModelScript = `
import json, sys
import awscli.clidriver as c
d = c.create_clidriver()
ct = d._get_command_table()
out = {"": sorted(d._get_argument_table().keys())}
for key in json.load(sys.stdin):
    svc, op = key.split(" ")
    s = ct.get(svc)
    o = s._get_command_table().get(op) if s is not None else None
    out[key] = sorted(o.arg_table.keys()) if o is not None else None
json.dump(out, sys.stdout)
`

func checkAWS(t *testing.T, cmds [][]string) {
	awsPath, err := exec.LookPath("aws")
	if err != nil {
		if os.Getenv("E2E") == "1" {
			t.Fatalf("the aws CLI is needed to check the README's aws commands: %v", err)
		}
		t.Skipf("no aws CLI (set E2E=1 to make this a failure): %v", err)
	}
	var keys []string
	var awsCmds [][]string
	for _, c := range cmds {
		if c[0] != "aws" {
			continue
		}
		if len(c) < 3 {
			t.Errorf("README: %q: want aws SERVICE OPERATION", strings.Join(c, " "))
			continue
		}
		awsCmds = append(awsCmds, c)
		if k := c[1] + " " + c[2]; awsV2Only[k] == nil && !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	if len(awsCmds) == 0 {
		t.Fatal("README: no aws command found")
	}
	options, err := awsOptions(t, awsPath, keys)
	if err != nil {
		t.Fatal(err)
	}
	global := append(slices.Clone(options[""]), awsV2Only[""]...)
	for _, c := range awsCmds {
		text := strings.Join(c, " ")
		key := c[1] + " " + c[2]
		opts, known := options[key]
		if v2, ok := awsV2Only[key]; ok {
			opts, known = v2, true
		}
		if !known || opts == nil {
			t.Errorf("README: %q: aws has no operation %s", text, key)
			continue
		}
		for _, w := range c[3:] {
			if !strings.HasPrefix(w, "--") {
				continue
			}
			name, _, _ := strings.Cut(strings.TrimPrefix(w, "--"), "=")
			if !slices.Contains(opts, name) && !slices.Contains(opts, "*") && !slices.Contains(global, name) {
				t.Errorf("README: %q: aws %s has no option --%s", text, key, name)
			}
		}
	}
	t.Logf("%d aws commands checked (%d operations)", len(awsCmds), len(keys))
}

// awsOptions returns the options of each operation in keys, and the global
// options under "". It asks the AWS CLI's Python package once; when that is
// not importable (AWS CLI v2 is a binary), it asks the CLI per operation
// for its input skeleton, whose keys name the options.
func awsOptions(t *testing.T, awsPath string, keys []string) (map[string][]string, error) {
	in, _ := json.Marshal(keys)
	py := exec.CommandContext(t.Context(), "python3", "-c", awsModelScript)
	py.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	py.Stderr = &stderr
	if out, err := py.Output(); err == nil {
		var m map[string][]string
		if err := json.Unmarshal(out, &m); err == nil {
			return m, nil
		}
	}
	t.Logf("AWS CLI command tables not importable from python3 (%s); asking aws per operation", strings.TrimSpace(stderr.String()))
	m := map[string][]string{"": {"query", "output", "region", "profile", "endpoint-url", "debug", "no-paginate", "no-cli-pager", "cli-input-json", "generate-cli-skeleton"}}
	kebab := regexp.MustCompile(`([a-z0-9])([A-Z])`)
	for _, k := range keys {
		svc, op, _ := strings.Cut(k, " ")
		cmd := exec.CommandContext(t.Context(), awsPath, svc, op, "--generate-cli-skeleton", "input")
		var errOut bytes.Buffer
		cmd.Stderr = &errOut
		out, err := cmd.Output()
		if err != nil {
			// An operation with required arguments outside the skeleton
			// (lambda invoke's outfile) exists but shows no skeleton: its
			// options are not checked.
			if strings.Contains(errOut.String(), "arguments are required") {
				t.Logf("aws %s: exists; options not checked without the CLI's command tables", k)
				m[k] = []string{"*"}
			} else {
				m[k] = nil
			}
			continue
		}
		var skel map[string]any
		if err := json.Unmarshal(out, &skel); err != nil {
			m[k] = nil
			continue
		}
		opts := []string{}
		for name := range skel {
			o := strings.ToLower(kebab.ReplaceAllString(name, "$1-$2"))
			opts = append(opts, o, "no-"+o)
		}
		m[k] = opts
	}
	return m, nil
}
