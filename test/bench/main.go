// Command bench measures what issue 7 asks of this project against AWS's Python rotation templates
// (sizes, cold starts, peak RSS, handler and peer time, calls per rotation, Go benchmarks, targets)
// and writes it to BENCHMARKS.md. Usage: go run ./test/bench [-out BENCHMARKS.md] [-starts 120].
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"syscall"
	"time"

	"github.com/spapi-lwa/secret-rotation/test/harness"
)

type results struct {
	date       time.Time
	took       time.Duration
	machine    machine
	sizes      []sizes
	goBench    []goBench
	goBenchErr error
	cold       *coldRun
	coldErr    error
	starts     int
	loadEnd    string
	stackErr   error
	rotation   *rotationRun
	batches    []invocation // the receive-secret and expiry-alert batches, labelled as rows
	sweeps     []sweepRun
	peakRSS    map[string]int64    // KiB
	doc        map[string]*docStep // nil when the rotation package doc's table cannot be read
	docReasons string
}

func main() {
	out := flag.String("out", "BENCHMARKS.md", "report file")
	starts := flag.Int("starts", 120, "cold starts of each function, of the floor and of the Python baseline")
	coldOnly := flag.Bool("cold-only", false, "measure sizes and cold starts only, without the local stack")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *out, *starts, *coldOnly); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}

func run(ctx context.Context, outPath string, starts int, coldOnly bool) error {
	began := time.Now()
	root, err := harness.RepoRoot()
	if err != nil {
		return err
	}
	// Fail before building when aws-lambda-rie is missing.
	if _, err := harness.RIEPath(root); err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "spapi-lwa-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	r := &results{date: began.UTC(), starts: starts, peakRSS: map[string]int64{}, machine: describeMachine(ctx)}
	progress("building linux/arm64 (as deployed) and %s/%s", runtime.GOOS, runtime.GOARCH)
	arm, err := build(ctx, root, filepath.Join(work, "arm64"), "linux", "arm64")
	if err != nil {
		return err
	}
	host, err := build(ctx, root, filepath.Join(work, "host"), runtime.GOOS, runtime.GOARCH)
	if err != nil {
		return err
	}
	for _, f := range builtNames {
		s, err := measureSizes(f, arm[f], host[f])
		if err != nil {
			return fmt.Errorf("zip %s: %w", f, err)
		}
		r.sizes = append(r.sizes, s)
	}

	progress("go test -bench on the hot paths")
	r.goBench, r.goBenchErr = runGoBenchmarks(ctx, root)

	progress("cold starts: %d rounds of each function, the floor and the Python baseline", starts)
	r.cold, r.coldErr = coldStarts(ctx, host, starts, work)
	r.doc, r.docReasons = readDoc(root)

	if coldOnly {
		r.stackErr = errors.New("not run (-cold-only)")
	} else {
		progress("local stack: full rotation and batches")
		r.stackErr = runStack(ctx, r, root, work, host)
	}

	r.took = time.Since(began)
	r.loadEnd = loadavg()
	if err := os.WriteFile(outPath, []byte(render(r)), 0o644); err != nil {
		return err
	}
	progress("wrote %s in %s", outPath, r.took.Round(time.Second))
	return nil
}

func runStack(ctx context.Context, r *results, root, work string, host map[string]string) (err error) {
	s, err := startStack(ctx, root, work, host)
	defer s.close()
	if err != nil {
		return err
	}
	if err := s.warmUp(ctx); err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	defer func() {
		for _, f := range functionNames {
			pid, ok := s.h.BootstrapPID(f)
			if kb, found := procKB(fmt.Sprintf("/proc/%d/status", pid), "VmHWM"); ok && found {
				r.peakRSS[f] = kb
			}
		}
		if err != nil {
			err = fmt.Errorf("%w\nlogs of the functions:\n%s\n%s\n%s", err,
				tail(s.h.Logs(harness.FunctionRotate), 3000),
				tail(s.h.Logs(harness.FunctionReceive), 3000),
				tail(s.h.Logs(harness.FunctionExpiry), 2000))
		}
	}()
	progress("stack: full rotation")
	if r.rotation, err = s.rotation(ctx); err != nil {
		return err
	}
	if r.rotation.err != nil {
		return fmt.Errorf("rotation: %w", r.rotation.err)
	}
	for _, batch := range []func(context.Context) (invocation, error){s.receiveBatch, s.expiryBatch} {
		inv, err := batch(ctx)
		if err != nil {
			return err
		}
		r.batches = append(r.batches, inv)
	}
	progress("stack: watchdog sweeps of %v managed secrets", sweepSizes)
	r.sweeps, err = s.sweeps(ctx)
	return err
}
