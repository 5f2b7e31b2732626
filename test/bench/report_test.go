package main

import (
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spapi-lwa/secret-rotation/test/harness"
)

func TestSummarize(t *testing.T) {
	ms := func(ns ...int) []time.Duration {
		var out []time.Duration
		for _, n := range ns {
			out = append(out, time.Duration(n)*time.Millisecond)
		}
		return out
	}
	tests := []struct {
		name string
		in   []time.Duration
		want spread[time.Duration]
	}{
		{"one", ms(5), spread[time.Duration]{median: 5 * time.Millisecond, p10: 5 * time.Millisecond, p90: 5 * time.Millisecond, min: 5 * time.Millisecond, max: 5 * time.Millisecond}},
		{"even count, unsorted", ms(4, 1, 3, 2), spread[time.Duration]{median: 2500 * time.Microsecond, p10: time.Millisecond, p90: 4 * time.Millisecond, min: time.Millisecond, max: 4 * time.Millisecond}},
		{"ten", ms(10, 9, 8, 7, 6, 5, 4, 3, 2, 1), spread[time.Duration]{median: 5500 * time.Microsecond, p10: time.Millisecond, p90: 9 * time.Millisecond, min: time.Millisecond, max: 10 * time.Millisecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := summarize(tt.in); got != tt.want {
				t.Errorf("summarize(%v) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

// TestReadDocTable checks that the per-step table parsed from the rotation
// package doc adds up to the totals its own prose states.
func TestReadDocTable(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	rows := readDoc(root)
	if rows == nil {
		t.Fatal("readDoc() found no table in internal/rotation/doc.go")
	}
	b, err := os.ReadFile(filepath.Join(root, "internal", "rotation", "doc.go"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`\((\d+) Secrets Manager calls\),\s*//\s*(\d+) LWA token requests, (\d+) SP-API call`).FindSubmatch(b)
	if m == nil {
		t.Fatal("doc.go states no totals to check against")
	}
	var sm, lwa, sp int
	for _, step := range rotationSteps {
		r := rows[step]
		if r == nil {
			t.Fatalf("row %s missing", step)
		}
		for op, n := range r {
			if strings.HasPrefix(op, "Secrets Manager ") {
				sm += n
			}
		}
		lwa += r["LWA token"]
		sp += r["SP-API rotateApplicationClientSecret"]
	}
	for _, c := range []struct {
		name string
		got  int
		want []byte
	}{{"Secrets Manager", sm, m[1]}, {"LWA", lwa, m[2]}, {"SP-API", sp, m[3]}} {
		want, _ := strconv.Atoi(string(c.want))
		if c.got != want {
			t.Errorf("%s calls in the table = %d, doc prose says %d", c.name, c.got, want)
		}
	}
}

// TestBenchLine: the figures of a go test -bench line are read whether or
// not the benchmark reports MB/s (SetBytes).
func TestBenchLine(t *testing.T) {
	for _, tc := range []struct{ line, ns, bytes, allocs string }{
		{"BenchmarkParseNewSecret-2   	   57405	     21643 ns/op	  36.50 MB/s	    2704 B/op	      41 allocs/op", "21643", "2704", "41"},
		{"BenchmarkRender-2   	   20000	     58542 ns/op	    6533 B/op	      69 allocs/op", "58542", "6533", "69"},
	} {
		m := benchLine.FindStringSubmatch(tc.line)
		if m == nil || m[2] != tc.ns || m[3] != tc.bytes || m[4] != tc.allocs {
			t.Errorf("benchLine(%q) = %q, want ns %s, B %s, allocs %s", tc.line, m, tc.ns, tc.bytes, tc.allocs)
		}
	}
}

func TestTimingProxyNamesSecretsManagerOperation(t *testing.T) {
	m := &meter{peerStats: peerStats{calls: map[string]int{}}}
	p := timed(m, harness.PeerSecretsManager, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest) // an answer of any kind is a call
	}))
	for _, target := range []string{"secretsmanager.RotateSecret", "secretsmanager.PutSecretValue", ""} {
		req := httptest.NewRequest(http.MethodPost, "/", nil)
		req.Header.Set("X-Amz-Target", target)
		p.ServeHTTP(httptest.NewRecorder(), req)
	}
	want := map[string]int{"Secrets Manager RotateSecret": 1, "Secrets Manager PutSecretValue": 1, "Secrets Manager ?": 1}
	if got := m.snapshot().calls; !maps.Equal(got, want) {
		t.Errorf("calls = %v, want %v", got, want)
	}
}

func TestTimingProxyNamesSNSAction(t *testing.T) {
	m := &meter{peerStats: peerStats{calls: map[string]int{}}}
	var got string
	p := timed(m, harness.PeerSNS, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = string(b)
	}))
	const form = "Action=Publish&TopicArn=arn&Message=x"
	p.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/", strings.NewReader(form)))
	if n := m.snapshot().calls["SNS Publish"]; n != 1 || got != form {
		t.Errorf("SNS Publish: counted %d, forwarded %q; want 1, %q", n, got, form)
	}
}

// TestRender: a report has every section, in order, and the targets in their order.
func TestRender(t *testing.T) {
	c := newColdRun()
	for i, name := range coldSubjects {
		c.ready[name] = []time.Duration{time.Duration(10+i) * time.Millisecond, 11 * time.Millisecond}
		c.cpu[name] = c.ready[name]
	}
	res := &results{machine: [][]string{{"architecture", "x86_64"}}, cold: c,
		goBench: []goBench{{ns: []float64{1}}}, rotation: &rotationRun{}, doc: map[string]map[string]int{}}
	for _, f := range builtNames {
		res.sizes = append(res.sizes, sizes{function: f, arm64: 1 << 20})
	}
	for _, step := range rotationSteps {
		inv := invocation{step: step, peerStats: peerStats{calls: map[string]int{}}}
		res.rotation.steps = append(res.rotation.steps, inv)
	}
	res.sweeps = []invocation{{records: 50}, {records: 100}}
	out := render(res)
	last := -1
	for _, want := range []string{"## Targets", "| cold start ≤ 1.3× the floor |", "| cold start ≤ 1/25 of boto3 |",
		"| peak RSS ≤ 25 MiB |", "| watchdog sweep of 100 secrets", "| each bootstrap ≤ 9 MiB |",
		"| Secrets Manager calls ≤ what the protocol needs |", "## How noisy", "## 1. Binary size", "## 2. Cold start",
		"## 3. Peak memory", "## 4. Handler time", "## 5. Calls per full rotation", "## 6. Go benchmarks"} {
		i := strings.Index(out, want)
		if i <= last {
			t.Errorf("render(): %q missing or out of order", want)
		}
		last = max(last, i)
	}
}
