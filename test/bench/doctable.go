package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// docStep is one row of the "Calls for one rotation" table of the rotation
// package doc: Secrets Manager calls per operation, and LWA, SP-API, SNS.
type docStep struct {
	step         string
	sm           map[string]int
	lwa, sp, sns int
	haveTrailing bool
}

var (
	docPair   = regexp.MustCompile(`([A-Z][A-Za-z]+) (\d+)`)
	trailing3 = regexp.MustCompile(`\s(\d+)\s+(\d+)\s+(\d+)\s*$`)
)

var rotationSteps = []string{"createSecret", "setSecret", "testSecret", "finishSecret"}

// readDocTable parses the per-step table of internal/rotation/doc.go, so the
// expected numbers come from the package doc, never from this program.
func readDocTable(root string) (map[string]*docStep, bool) {
	b, err := os.ReadFile(filepath.Join(root, "internal", "rotation", "doc.go"))
	if err != nil {
		return nil, false
	}
	text := string(b)
	i := strings.Index(text, "# Calls for one rotation")
	if i < 0 {
		return nil, false
	}
	rows := map[string]*docStep{}
	var cur *docStep
	inTable := false
	for _, line := range strings.Split(text[i:], "\n") {
		if !strings.HasPrefix(line, "//\t") {
			if inTable {
				break
			}
			continue
		}
		body := strings.TrimPrefix(line, "//\t")
		f := strings.Fields(body)
		if len(f) == 0 {
			continue
		}
		if f[0] == "step" {
			inTable = true
			continue
		}
		if !inTable {
			continue
		}
		if isStep(f[0]) {
			cur = &docStep{step: f[0], sm: map[string]int{}}
			rows[f[0]] = cur
			body = strings.TrimPrefix(strings.TrimSpace(body), f[0])
			if m := trailing3.FindStringSubmatch(body); m != nil {
				cur.lwa, _ = strconv.Atoi(m[1])
				cur.sp, _ = strconv.Atoi(m[2])
				cur.sns, _ = strconv.Atoi(m[3])
				cur.haveTrailing = true
				body = body[:len(body)-len(m[0])]
			}
		}
		if cur == nil {
			continue
		}
		for _, m := range docPair.FindAllStringSubmatch(body, -1) {
			n, _ := strconv.Atoi(m[2])
			cur.sm[m[1]] += n
		}
	}
	if len(rows) != len(rotationSteps) {
		return nil, false
	}
	return rows, true
}

func isStep(s string) bool {
	for _, st := range rotationSteps {
		if s == st {
			return true
		}
	}
	return false
}

// readDocReasons returns the rotation package doc's explanation of each call
// ("Why each is needed:" up to the end of the list), as Markdown.
func readDocReasons(root string) string {
	b, err := os.ReadFile(filepath.Join(root, "internal", "rotation", "doc.go"))
	if err != nil {
		return ""
	}
	text := string(b)
	i := strings.Index(text, "Why each is needed:")
	if i < 0 {
		return ""
	}
	var out []string
	for _, line := range strings.Split(text[i:], "\n")[1:] {
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
