package main

import (
	"archive/zip"
	"bytes"
	"cmp"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spapi-lwa/secret-rotation/test/harness"
)

var functionNames = harness.Functions

// The references built beside the functions from test/bench/floor, sdkfloor with the tag of its name.
const (
	subjectFloor    = "floor"
	subjectSDKFloor = "sdkfloor"
)

// builtNames are the binaries build makes: the functions, then the references.
var builtNames = slices.Concat(functionNames, []string{subjectFloor, subjectSDKFloor})

// build builds the functions and the references for linux/arm64, as deployed, and for this machine,
// which every runtime figure is measured on, into work/<goos>-<goarch>/<name>/bootstrap (the layout
// the local stack takes), and measures them.
func build(ctx context.Context, root, work string) ([]sizes, error) {
	var out []sizes
	for _, name := range builtNames {
		pkg, tags := "./functions/"+name, "lambda.norpc"
		if !slices.Contains(functionNames, name) {
			pkg, tags = "./test/bench/floor", tags+","+name
		}
		s := sizes{function: name}
		for _, target := range []string{"linux/arm64", runtime.GOOS + "/" + runtime.GOARCH} {
			goos, goarch, _ := strings.Cut(target, "/")
			bin := filepath.Join(work, goos+"-"+goarch, name, "bootstrap")
			cmd := exec.CommandContext(ctx, "go", "build", "-tags", tags, "-trimpath", "-ldflags=-s -w", "-o", bin, pkg)
			cmd.Dir = root
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+goos, "GOARCH="+goarch)
			if b, err := cmd.CombinedOutput(); err != nil {
				return nil, fmt.Errorf("go build %s for %s: %v\n%s", pkg, target, err, b)
			}
			data, err := os.ReadFile(bin)
			if err != nil {
				return nil, err
			}
			s.host = int64(len(data)) // this machine's build comes last
			if target == "linux/arm64" {
				s.arm64, s.zip = s.host, zipSize(data)
			}
		}
		out = append(out, s)
	}
	return out, nil
}

// sizes of one function's artifacts, in bytes: the bootstraps and the deployment zip of the arm64 one.
type sizes struct {
	function         string
	arm64, zip, host int64
}

// zipSize is the size of bootstrap zipped as a deployment does: one file named bootstrap, mode 0755.
func zipSize(bootstrap []byte) int64 {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	h := &zip.FileHeader{Name: "bootstrap", Method: zip.Deflate, Modified: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)}
	h.SetMode(0o755)
	w, _ := zw.CreateHeader(h) // a valid header, into memory: nothing can fail
	w.Write(bootstrap)
	zw.Close()
	return int64(buf.Len())
}

func describeMachine(ctx context.Context, loadStart, loadEnd string) [][]string {
	output := func(name string, args ...string) string {
		out, _ := exec.CommandContext(ctx, name, args...).Output()
		return strings.TrimSpace(string(out))
	}
	return [][]string{
		{"architecture (`uname -m`)", output("uname", "-m")},
		{"kernel", output("uname", "-sr")},
		{"CPU", cmp.Or(procField("/proc/cpuinfo", "model name"), "unknown")},
		{"cores", strconv.Itoa(runtime.NumCPU())},
		{"memory", fmt.Sprintf("%.1f GiB", float64(procKB("/proc/meminfo", "MemTotal"))/(1<<20))},
		{"load average at start (1, 5, 15 min)", loadStart},
		{"load average at the end", loadEnd},
		{"Go", strings.TrimPrefix(output("go", "version"), "go version ")},
		{"Python / boto3", output("python3", "-c", "import sys, boto3; print(sys.version.split()[0], '/', boto3.__version__)")},
	}
}

func procField(path, name string) string {
	b, _ := os.ReadFile(path) // unreadable: no line matches
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == name {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func procKB(path, name string) int64 {
	n, _ := strconv.ParseInt(strings.TrimSuffix(procField(path, name), " kB"), 10, 64)
	return n
}

// cpuTime returns the CPU time all threads of pid have run so far.
func cpuTime(pid int) time.Duration {
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	var sum time.Duration
	for _, t := range tasks {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/schedstat", pid, t.Name()))
		ns, _, _ := strings.Cut(string(b), " ") // the first field: nanoseconds on the CPU
		n, _ := strconv.ParseInt(ns, 10, 64)
		sum += time.Duration(n)
	}
	return sum
}

// loadavg returns the load averages over 1, 5 and 15 minutes ("? ? ?" if it cannot read them).
func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	return strings.Join(strings.Fields(string(b) + " ? ? ?")[:3], " ")
}

// goBench is one benchmark: the time of each run, and its bytes and allocations per operation,
// which do not vary.
type goBench struct {
	pkg, name, bytes, allocs string
	ns                       []float64
}

const goBenchCount = 5

var benchLine = regexp.MustCompile(`(?m)^(Benchmark\S+?)(?:-\d+)?\s+\d+\s+([0-9.]+) ns/op(?:\s+[0-9.]+ MB/s)?(?:\s+([0-9.]+) B/op)?(?:\s+([0-9.]+) allocs/op)?`)

var benchPackages = []string{"internal/notification", "internal/secretdoc", "internal/alert"}

func runGoBenchmarks(ctx context.Context, root string) ([]goBench, error) {
	var out []goBench
	for _, pkg := range benchPackages {
		cmd := exec.CommandContext(ctx, "go", "test", "-run", "^$", "-bench", ".", "-benchmem",
			"-count", strconv.Itoa(goBenchCount), "./"+pkg)
		cmd.Dir = root
		stdout, err := cmd.CombinedOutput()
		if err != nil {
			return nil, fmt.Errorf("go test -bench %s: %v\n%s", pkg, err, tail(string(stdout), 2000))
		}
		for _, m := range benchLine.FindAllStringSubmatch(string(stdout), -1) {
			i := slices.IndexFunc(out, func(b goBench) bool { return b.pkg == pkg && b.name == m[1] })
			if i < 0 {
				i, out = len(out), append(out, goBench{pkg: pkg, name: m[1], bytes: m[3], allocs: m[4]})
			}
			ns, _ := strconv.ParseFloat(m[2], 64)
			out[i].ns = append(out[i].ns, ns)
		}
	}
	return out, nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
