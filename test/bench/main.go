// Command bench measures what issue 7 asks of this project against AWS's Python rotation templates
// (sizes, cold starts, peak RSS, handler and peer time, calls per rotation, Go benchmarks, targets)
// and writes it to BENCHMARKS.md. Usage: go run ./test/bench [-out BENCHMARKS.md].
package main

import (
	"context"
	"errors"
	"flag"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"syscall"
	"time"

	"github.com/spapi-lwa/secret-rotation/test/harness"
)

const coldRounds = 120

type results struct {
	date            time.Time
	took            time.Duration
	machine         [][]string // the Machine table's rows
	loadStart, load string     // load averages at the start and at the end
	sizes           []sizes
	goBench         []goBench
	cold            *coldRun
	rotation        *rotationRun
	batches         []invocation              // the receive-secret and expiry-alert batches, labelled as rows
	sweeps          []invocation              // the watchdog's, labelled as rows
	peakRSS         map[string]int64          // KiB
	doc             map[string]map[string]int // by step: the rotation package doc's table of calls
}

func main() {
	out := flag.String("out", "BENCHMARKS.md", "report file")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *out); err != nil {
		stderr.Fatal(err)
	}
}

var stderr = log.New(os.Stderr, "bench: ", 0)

func run(ctx context.Context, outPath string) error {
	r := &results{date: time.Now().UTC(), loadStart: loadavg(), peakRSS: map[string]int64{}}
	root, err := harness.RepoRoot()
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "spapi-lwa-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	stderr.Printf("building linux/arm64 (as deployed) and %s/%s", runtime.GOOS, runtime.GOARCH)
	if r.sizes, err = build(ctx, root, work); err != nil {
		return err
	}
	host := filepath.Join(work, runtime.GOOS+"-"+runtime.GOARCH)
	stderr.Printf("go test -bench on the hot paths")
	if r.goBench, err = runGoBenchmarks(ctx, root); err != nil {
		return err
	}
	stderr.Printf("cold starts: %d rounds of each function, the floor and the Python baseline", coldRounds)
	if r.cold, err = coldStarts(ctx, host, coldRounds, work); err != nil {
		return err
	}
	if r.doc = readDoc(root); r.doc == nil {
		return errors.New("the call table of internal/rotation/doc.go could not be read")
	}
	stderr.Printf("local stack: a full rotation, batches, watchdog sweeps")
	if err := runStack(ctx, r, work, host); err != nil {
		return err
	}
	r.took, r.load = time.Since(r.date), loadavg()
	r.machine = describeMachine(ctx, r.loadStart, r.load)
	if err := os.WriteFile(outPath, []byte(render(r)), 0o644); err != nil {
		return err
	}
	stderr.Printf("wrote %s in %s", outPath, r.took.Round(time.Second))
	return nil
}
