package main

import (
	"archive/zip"
	"bufio"
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// functionNames are the directories under functions/.
var functionNames = []string{"rotate-secret", "receive-secret", "expiry-alert", "watchdog"}

// lambdaFlags are the build flags of the Makefile's build targets.
var lambdaFlags = []string{"-tags", "lambda.norpc", "-trimpath", "-ldflags=-s -w"}

// floorPackage is the bare aws-lambda-go function the cold starts are
// compared with, sdkFloorPackage the same with the AWS SDK's service
// packages linked; build names their binaries after the directories
// (subjectFloor, subjectSDKFloor).
const (
	floorPackage    = "./test/bench/floor"
	sdkFloorPackage = "./test/bench/sdkfloor"
)

// references are the binaries built beside the functions.
var references = []string{subjectFloor, subjectSDKFloor}

// build builds the functions and the floor for goos/goarch into
// dir/<function> and dir/floor with the deployed flags, all in one go build.
func build(ctx context.Context, root, dir, goos, goarch string) (map[string]string, error) {
	args := append([]string{"build"}, lambdaFlags...)
	args = append(args, "-o", dir+string(filepath.Separator))
	for _, f := range functionNames {
		args = append(args, "./functions/"+f)
	}
	args = append(args, floorPackage, sdkFloorPackage)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+goos, "GOARCH="+goarch)
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build %s/%s: %v\n%s", goos, goarch, err, out)
	}
	paths := map[string]string{}
	for _, f := range append(slices.Clone(functionNames), references...) {
		p := filepath.Join(dir, f)
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("go build %s/%s: %w", goos, goarch, err)
		}
		paths[f] = p
	}
	return paths, nil
}

// sizes of one function's artifacts, in bytes.
type sizes struct {
	function string
	arm64    int64 // bootstrap as deployed, linux/arm64
	zip      int64 // its deployment zip
	host     int64 // bootstrap for this machine, same flags
}

// deploymentZip writes the zip a Lambda deployment takes: one file named
// bootstrap, mode 0755, deflated; it returns its size.
func deploymentZip(bootstrap, out string) (int64, error) {
	data, err := os.ReadFile(bootstrap)
	if err != nil {
		return 0, err
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	h := &zip.FileHeader{Name: "bootstrap", Method: zip.Deflate, Modified: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)}
	h.SetMode(0o755)
	w, err := zw.CreateHeader(h)
	if err != nil {
		return 0, err
	}
	if _, err := w.Write(data); err != nil {
		return 0, err
	}
	if err := zw.Close(); err != nil {
		return 0, err
	}
	if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
		return 0, err
	}
	return int64(buf.Len()), nil
}

func fileSize(p string) int64 {
	st, err := os.Stat(p)
	if err != nil {
		return 0
	}
	return st.Size()
}

// machine describes where the benchmark ran.
type machine struct {
	arch, cpu, kernel, goVersion string
	cores                        int
	memory                       string
	python, boto3                string
	load                         string // /proc/loadavg at the start
}

func describeMachine(ctx context.Context) machine {
	m := machine{goVersion: runtime.Version(), cores: runtime.NumCPU(), cpu: "unknown", memory: "unknown"}
	if out, err := exec.CommandContext(ctx, "uname", "-m").Output(); err == nil {
		m.arch = strings.TrimSpace(string(out))
	}
	if out, err := exec.CommandContext(ctx, "uname", "-sr").Output(); err == nil {
		m.kernel = strings.TrimSpace(string(out))
	}
	if out, err := exec.CommandContext(ctx, "go", "version").Output(); err == nil {
		m.goVersion = strings.TrimPrefix(strings.TrimSpace(string(out)), "go version ")
	}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			k, v, ok := strings.Cut(sc.Text(), ":")
			if ok && strings.TrimSpace(k) == "model name" {
				m.cpu = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) >= 3 {
			m.load = strings.Join(f[:3], " ")
		}
	}
	if kb, ok := statusKBFile("/proc/meminfo", "MemTotal"); ok {
		m.memory = fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
	}
	if out, err := exec.CommandContext(ctx, "python3", "-c", "import sys, boto3; print(sys.version.split()[0], boto3.__version__)").Output(); err == nil {
		f := strings.Fields(string(out))
		if len(f) == 2 {
			m.python, m.boto3 = f[0], f[1]
		}
	}
	return m
}

// statusKBFile reads a "Name: N kB" line of a /proc file.
func statusKBFile(path, field string) (int64, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		name, rest, ok := strings.Cut(line, ":")
		if ok && name == field {
			v, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return v, err == nil
		}
	}
	return 0, false
}

// goBench is one benchmark: the median of its goBenchCount runs, and the
// fastest and slowest run.
type goBench struct {
	pkg, name                  string
	nsPerOp, bytesOp, allocsOp float64
	minNs, maxNs               float64
}

// goBenchCount is how often each Go benchmark runs (go test -count).
const goBenchCount = 5

var benchLine = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+\d+\s+([0-9.]+) ns/op(?:\s+[0-9.]+ MB/s)?(?:\s+([0-9.]+) B/op)?(?:\s+([0-9.]+) allocs/op)?`)

// benchPackages hold the Go benchmarks of the hot paths.
var benchPackages = []string{"./internal/notification", "./internal/secretdoc", "./internal/alert"}

// runGoBenchmarks runs the hot-path benchmarks and parses their figures.
func runGoBenchmarks(ctx context.Context, root string) ([]goBench, error) {
	var out []goBench
	for _, pkg := range benchPackages {
		cmd := exec.CommandContext(ctx, "go", "test", "-run", "^$", "-bench", ".", "-benchmem", "-benchtime", "1s", "-count", strconv.Itoa(goBenchCount), pkg)
		cmd.Dir = root
		var stdout bytes.Buffer
		cmd.Stdout = &stdout
		cmd.Stderr = &stdout
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("go test -bench %s: %v\n%s", pkg, err, tail(stdout.String(), 2000))
		}
		runs := map[string][]goBench{}
		var names []string
		sc := bufio.NewScanner(io.Reader(&stdout))
		for sc.Scan() {
			m := benchLine.FindStringSubmatch(sc.Text())
			if m == nil {
				continue
			}
			b := goBench{pkg: strings.TrimPrefix(pkg, "./"), name: m[1]}
			b.nsPerOp, _ = strconv.ParseFloat(m[2], 64)
			b.bytesOp, _ = strconv.ParseFloat(m[3], 64)
			b.allocsOp, _ = strconv.ParseFloat(m[4], 64)
			if _, ok := runs[b.name]; !ok {
				names = append(names, b.name)
			}
			runs[b.name] = append(runs[b.name], b)
		}
		for _, name := range names {
			out = append(out, medianBench(runs[name]))
		}
	}
	return out, nil
}

// medianBench is the run with the median time of runs, with the range of
// all of them.
func medianBench(runs []goBench) goBench {
	slices.SortFunc(runs, func(a, b goBench) int { return cmp.Compare(a.nsPerOp, b.nsPerOp) })
	b := runs[len(runs)/2]
	b.minNs, b.maxNs = runs[0].nsPerOp, runs[len(runs)-1].nsPerOp
	return b
}
