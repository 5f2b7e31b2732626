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

// The references built beside the functions, named after their directories under test/bench.
const (
	subjectFloor    = "floor"
	subjectSDKFloor = "sdkfloor"
)

// builtNames are the binaries build makes: the functions, then the references.
var builtNames = slices.Concat(functionNames, []string{subjectFloor, subjectSDKFloor})

func build(ctx context.Context, root, dir, goos, goarch string) (map[string]string, error) {
	cmd := exec.CommandContext(ctx, "go", "build", "-tags", "lambda.norpc", "-trimpath", "-ldflags=-s -w",
		"-o", dir+string(filepath.Separator), "./functions/...", "./test/bench/"+subjectFloor, "./test/bench/"+subjectSDKFloor)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+goos, "GOARCH="+goarch)
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build %s/%s: %v\n%s", goos, goarch, err, out)
	}
	paths := map[string]string{}
	for _, f := range builtNames {
		paths[f] = filepath.Join(dir, f)
	}
	return paths, nil
}

// sizes of one function's artifacts, in bytes: the bootstraps and the deployment zip of the arm64 one.
type sizes struct {
	function         string
	arm64, zip, host int64
}

// measureSizes zips the arm64 bootstrap as a deployment does: one file named bootstrap, mode 0755.
func measureSizes(function, arm64, host string) (sizes, error) {
	data, err := os.ReadFile(arm64)
	if err != nil {
		return sizes{}, err
	}
	st, err := os.Stat(host)
	if err != nil {
		return sizes{}, err
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	h := &zip.FileHeader{Name: "bootstrap", Method: zip.Deflate, Modified: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)}
	h.SetMode(0o755)
	w, err := zw.CreateHeader(h)
	if err == nil {
		_, err = w.Write(data)
	}
	if err == nil {
		err = zw.Close()
	}
	return sizes{function: function, arm64: int64(len(data)), zip: int64(buf.Len()), host: st.Size()}, err
}

type machine struct {
	arch, cpu, kernel, goVersion, memory, python, boto3, load string
	cores                                                     int
}

func describeMachine(ctx context.Context) machine {
	output := func(name string, args ...string) string {
		out, _ := exec.CommandContext(ctx, name, args...).Output()
		return strings.TrimSpace(string(out))
	}
	m := machine{arch: output("uname", "-m"), kernel: output("uname", "-sr"), cores: runtime.NumCPU(), load: loadavg()}
	m.goVersion = cmp.Or(strings.TrimPrefix(output("go", "version"), "go version "), runtime.Version())
	m.cpu, m.memory = cmp.Or(procField("/proc/cpuinfo", "model name"), "unknown"), "unknown"
	if kb, ok := procKB("/proc/meminfo", "MemTotal"); ok {
		m.memory = fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
	}
	if f := strings.Fields(output("python3", "-c", "import sys, boto3; print(sys.version.split()[0], boto3.__version__)")); len(f) == 2 {
		m.python, m.boto3 = f[0], f[1]
	}
	return m
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

func procKB(path, name string) (int64, bool) {
	n, err := strconv.ParseInt(strings.TrimSuffix(procField(path, name), " kB"), 10, 64)
	return n, err == nil
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

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "unknown"
}

// goBench is the median run of one benchmark, with the fastest and slowest.
type goBench struct {
	pkg, name                                string
	nsPerOp, bytesOp, allocsOp, minNs, maxNs float64
}

const goBenchCount = 5

var benchLine = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+\d+\s+([0-9.]+) ns/op(?:\s+[0-9.]+ MB/s)?(?:\s+([0-9.]+) B/op)?(?:\s+([0-9.]+) allocs/op)?`)

var benchPackages = []string{"./internal/notification", "./internal/secretdoc", "./internal/alert"}

func runGoBenchmarks(ctx context.Context, root string) ([]goBench, error) {
	var out []goBench
	for _, pkg := range benchPackages {
		cmd := exec.CommandContext(ctx, "go", "test", "-run", "^$", "-bench", ".", "-benchmem", "-benchtime", "1s",
			"-count", strconv.Itoa(goBenchCount), pkg)
		cmd.Dir = root
		stdout, err := cmd.CombinedOutput()
		if err != nil {
			return nil, fmt.Errorf("go test -bench %s: %v\n%s", pkg, err, tail(string(stdout), 2000))
		}
		var runs [][]goBench // by benchmark, in the order of the output
		for _, line := range strings.Split(string(stdout), "\n") {
			m := benchLine.FindStringSubmatch(line)
			if m == nil {
				continue
			}
			b := goBench{pkg: strings.TrimPrefix(pkg, "./"), name: m[1]}
			b.nsPerOp, _ = strconv.ParseFloat(m[2], 64)
			b.bytesOp, _ = strconv.ParseFloat(m[3], 64)
			b.allocsOp, _ = strconv.ParseFloat(m[4], 64)
			i := slices.IndexFunc(runs, func(rs []goBench) bool { return rs[0].name == b.name })
			if i < 0 {
				i, runs = len(runs), append(runs, nil)
			}
			runs[i] = append(runs[i], b)
		}
		for _, rs := range runs {
			slices.SortFunc(rs, func(a, b goBench) int { return cmp.Compare(a.nsPerOp, b.nsPerOp) })
			b := rs[len(rs)/2]
			b.minNs, b.maxNs = rs[0].nsPerOp, rs[len(rs)-1].nsPerOp
			out = append(out, b)
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
