package main

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// docStep is one row of the "Calls for one rotation" table of the rotation
// package doc: Secrets Manager calls per operation, and LWA, SP-API, SNS.
type docStep struct {
	sm           map[string]int
	lwa, sp, sns int
}

var rotationSteps = []string{"createSecret", "setSecret", "testSecret", "finishSecret"}

var (
	// docRow is a row of the table: the step, its Secrets Manager calls, the
	// LWA, SP-API and SNS columns, then the lines that continue the calls.
	docRow = regexp.MustCompile(`(?m)^//\t(` + strings.Join(rotationSteps, "|") +
		`)\s+(.*?)\s+(\d+)\s+(\d+)\s+(\d+)\s*\n((?://\t +\S.*\n)*)`)
	docPair = regexp.MustCompile(`([A-Z][A-Za-z]+) (\d+)`)
)

// readDoc reads internal/rotation/doc.go, so that the expected numbers come
// from the package doc, never from this program: its per-step table (nil if
// it cannot be read) and its explanation of each call, as Markdown.
func readDoc(root string) (map[string]*docStep, string) {
	b, err := os.ReadFile(filepath.Join(root, "internal", "rotation", "doc.go"))
	if err != nil {
		return nil, ""
	}
	_, table, _ := strings.Cut(string(b), "# Calls for one rotation")
	rows := map[string]*docStep{}
	for _, m := range docRow.FindAllStringSubmatch(table, -1) {
		d := &docStep{sm: map[string]int{}}
		d.lwa, _ = strconv.Atoi(m[3])
		d.sp, _ = strconv.Atoi(m[4])
		d.sns, _ = strconv.Atoi(m[5])
		for _, p := range docPair.FindAllStringSubmatch(m[2]+m[6], -1) {
			n, _ := strconv.Atoi(p[2])
			d.sm[p[1]] += n
		}
		rows[m[1]] = d
	}
	if len(rows) != len(rotationSteps) {
		rows = nil
	}
	return rows, readDocReasons(string(b))
}

// readDocReasons returns the doc's "Why each is needed:" list.
func readDocReasons(doc string) string {
	_, text, ok := strings.Cut(doc, "Why each is needed:")
	if !ok {
		return ""
	}
	var out []string
	for _, line := range strings.Split(text, "\n")[1:] {
		l := strings.TrimPrefix(line, "//")
		if !strings.HasPrefix(l, "   ") {
			break
		}
		l = strings.TrimSpace(l)
		if strings.HasPrefix(l, "- ") {
			out = append(out, l)
		} else if len(out) > 0 {
			out[len(out)-1] += " " + l
		}
	}
	return strings.Join(out, "\n")
}

// smCalls keeps the Secrets Manager calls, by bare operation name.
func smCalls(m map[string]int) map[string]int {
	out := map[string]int{}
	for k, v := range m {
		if op, ok := strings.CutPrefix(k, "Secrets Manager "); ok {
			out[op] += v
		}
	}
	return out
}

// smDiff compares the Secrets Manager calls of one step with the package
// doc's: extra DescribeSecret calls in createSecret are polls while the new
// secret is on its way; every other difference is listed as "op ±n", and
// off is the number of calls they add up to.
func smDiff(step string, got, want map[string]int) (polls, off int, diffs []string) {
	ops := maps.Clone(got)
	maps.Copy(ops, want)
	for _, op := range slices.Sorted(maps.Keys(ops)) {
		n, w := got[op], want[op]
		switch {
		case n > w && step == "createSecret" && op == "DescribeSecret":
			polls = n - w
		case n != w:
			off += max(n-w, w-n)
			diffs = append(diffs, fmt.Sprintf("%s %+d", op, n-w))
		}
	}
	return polls, off, diffs
}
