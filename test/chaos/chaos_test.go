package chaos

import (
	"flag"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	seedsFlag = flag.Int("seeds", 200, "number of seeded fault schedules TestChaos runs")
	firstSeed = flag.Uint64("first-seed", 1, "first seed TestChaos runs")
	seedFlag  = flag.Uint64("seed", 0, "seed TestChaosSeed replays (0: skip)")
	logsFlag  = flag.Bool("logs", false, "TestChaosSeed prints every log line of the run")
	workers   = flag.Int("workers", 0, "concurrent runs (0: 8 per GOMAXPROCS; runs wait in real time more than they compute)")
)

// summary aggregates results for the table.
type summary struct {
	runs, settled, lost, notNewest, notWorking, leaks, needless, overlap  int
	explainedRetry, explainedCooldown, explainedConcurrent, explainedLate int
	tied                                                                  int
	forged, forgedRejected, forgedCurrent, genuineRejected, operatorRots  int
	issued, portal, calls, issuing, redriven                              int
	worstSim, worstSettleReal, worstReal, totalReal                       time.Duration
	worstSimSeed, worstRealSeed                                           uint64
	failures                                                              []*Result
}

func (s *summary) add(r *Result) {
	s.runs++
	if r.Settled {
		s.settled++
		if r.SettleSim > s.worstSim {
			s.worstSim, s.worstSimSeed = r.SettleSim, r.Schedule.Seed
		}
		if r.SettleReal > s.worstSettleReal {
			s.worstSettleReal = r.SettleReal
		}
	}
	if r.Real > s.worstReal {
		s.worstReal, s.worstRealSeed = r.Real, r.Schedule.Seed
	}
	s.totalReal += r.Real
	s.lost += r.Lost
	s.notNewest += r.NotNewest
	s.notWorking += r.NotWorking
	s.leaks += r.Leaks
	s.needless += r.Needless
	s.explainedRetry += r.ExplainedRetry
	s.explainedCooldown += r.ExplainedCooldown
	s.explainedConcurrent += r.ExplainedConcurrent
	s.explainedLate += r.ExplainedLate
	s.overlap += r.Overlap
	s.tied += r.Tied
	s.forged += r.Forged
	s.forgedRejected += r.ForgedRejected
	s.forgedCurrent += r.ForgedCurrent
	s.genuineRejected += r.GenuineRejected
	s.operatorRots += r.OperatorRotations
	s.issued += r.Issued
	s.portal += r.Portal
	s.calls += r.RotateCalls
	s.issuing += r.IssuingCalls
	s.redriven += r.Redriven
	if !r.OK() {
		s.failures = append(s.failures, r)
	}
}

func (s *summary) table(wall time.Duration, parallel int) string {
	var b strings.Builder
	row := func(k string, v any) { fmt.Fprintf(&b, "  %-62s %v\n", k, v) }
	row("runs", s.runs)
	row("settled (I5)", fmt.Sprintf("%d/%d", s.settled, s.runs))
	row("lost secrets (I1)", s.lost)
	row("AWSCURRENT not newest once settled (I1)", s.notNewest)
	row("observations with AWSCURRENT not accepted (I2)", s.notWorking)
	row("needless rotations, unexplained (I3)", s.needless)
	row("needless rotations, explained: 5xx retried after a lost answer", s.explainedRetry)
	row("needless rotations, explained: cooldown elapsed, not delivered", s.explainedCooldown)
	row("needless rotations, explained: concurrent createSecret runs", s.explainedConcurrent)
	row("needless rotations, explained: rotation started after adoption", s.explainedLate)
	row("issuing calls overlapping another rotation", s.overlap)
	row("issuing calls past a stored secret of the same expiry (tied)", s.tied)
	row("leaks (I4)", s.leaks)
	row("forged deliveries (of which rejected by the end)", fmt.Sprintf("%d (%d)", s.forged, s.forgedRejected))
	row("observations with a forged secret in AWSCURRENT (I6)", s.forgedCurrent)
	row("genuine secrets listed as rejected (I6)", s.genuineRejected)
	row("rotations started by the operator once idle (forged runs)", s.operatorRots)
	row("secrets issued (of which portal)", fmt.Sprintf("%d (%d)", s.issued, s.portal))
	row("rotate calls (of which issuing)", fmt.Sprintf("%d (%d)", s.calls, s.issuing))
	row("dead-lettered messages redriven", s.redriven)
	row("worst settling time, simulated", fmt.Sprintf("%s (seed %d)", s.worstSim.Round(time.Second), s.worstSimSeed))
	row("worst settling time, real", s.worstSettleReal.Round(time.Millisecond))
	row("worst run, real", fmt.Sprintf("%s (seed %d)", s.worstReal.Round(time.Millisecond), s.worstRealSeed))
	if s.runs > 0 {
		row("mean run, real", (s.totalReal / time.Duration(s.runs)).Round(time.Microsecond))
	}
	row("wall time (parallel runs)", fmt.Sprintf("%s (%d)", wall.Round(time.Millisecond), parallel))
	if s.runs > 0 {
		row("wall time per seed", (wall / time.Duration(s.runs)).Round(time.Microsecond))
	}
	var seeds []string
	for _, r := range s.failures {
		seeds = append(seeds, fmt.Sprint(r.Schedule.Seed))
	}
	row("failed seeds", strings.Join(seeds, " "))
	return b.String()
}

// TestChaos runs -seeds seeded fault schedules and fails if any invariant
// broke in any of them. Replay a failed seed with
// go test -run '^TestChaosSeed$' ./test/chaos -seed N -v.
func TestChaos(t *testing.T) {
	n := *seedsFlag
	par := *workers
	if par <= 0 {
		par = 8 * runtime.GOMAXPROCS(0)
		if raceEnabled {
			par = 4 * runtime.GOMAXPROCS(0)
		}
	}
	start := time.Now()
	results := make([]*Result, n)
	states := make([]string, n) // of the failed runs, for the first few
	var wg sync.WaitGroup
	next := make(chan int)
	for range par {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				w := NewWorld(NewSchedule(*firstSeed + uint64(i)))
				results[i] = w.Run()
				if !results[i].OK() {
					states[i] = stateText(w, true)
				}
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	wall := time.Since(start)

	var s summary
	for _, r := range results {
		s.add(r)
	}
	t.Logf("chaos: %d seeds from %d\n%s", n, *firstSeed, s.table(wall, par))
	slices.SortFunc(s.failures, func(a, b *Result) int { return int(a.Schedule.Seed - b.Schedule.Seed) })
	for i, r := range s.failures {
		t.Errorf("seed %d broke an invariant (replay: go test -run '^TestChaosSeed$' ./test/chaos -seed %d -v):\n  %s\n  schedule: %+v",
			r.Schedule.Seed, r.Schedule.Seed, strings.Join(r.Violations, "\n  "), r.Schedule)
		// Replays interleave differently: log how this run ended.
		if i < 3 {
			t.Logf("seed %d ended as follows:\n%s", r.Schedule.Seed, states[r.Schedule.Seed-*firstSeed])
		}
	}
}

// TestChaosSeed replays one seed (-seed) and prints its result and logs' size.
func TestChaosSeed(t *testing.T) {
	if *seedFlag == 0 {
		t.Skip("no -seed given")
	}
	w := NewWorld(NewSchedule(*seedFlag))
	r := w.Run()
	t.Logf("schedule: %+v", r.Schedule)
	runs, _ := w.engine.Stats()
	t.Logf("settled %v in %s simulated (%s real), run %s real; issued %d (portal %d), rotate calls %d (issuing %d), runs %d, step failures %d, redriven %d, alerts %d, log bytes %d",
		r.Settled, r.SettleSim, r.SettleReal, r.Real, r.Issued, r.Portal, r.RotateCalls, r.IssuingCalls, runs, r.StepFailures, r.Redriven, len(w.SNS.Published()), len(w.logs.String()))
	if testing.Verbose() {
		logState(t, w, *logsFlag)
	} else if *logsFlag {
		t.Logf("logs:\n%s", w.logs.String())
	}
	for _, v := range r.Violations {
		t.Error(v)
	}
}

// logState logs every version of every app's secret (which issued secret it
// holds, never the value), every rotate call and, with logs, every log line
// of the run (the runs check that none holds a secret value).
func logState(t *testing.T, w *World, logs bool) {
	t.Helper()
	t.Log(stateText(w, logs))
}

// stateText is what logState logs.
func stateText(w *World, logs bool) string {
	var b strings.Builder
	for _, a := range w.Apps {
		issued := a.Sim.Issued()
		for _, v := range w.SM.Versions(a.ARN) {
			val, _ := w.SM.Value(a.ARN, v.ID)
			fmt.Fprintf(&b, "app %d version %s created %s stages %v holds issued #%d\n", a.Index, v.ID, v.Created.Sub(Epoch), v.Stages, slices.Index(issued, secretOf(val)))
		}
	}
	for _, c := range w.calls {
		fmt.Fprintf(&b, "rotate call: app %d rotation %s step started %s, at %s status %d issued %v current #%d\n", c.App, c.inv.token, c.inv.start.Sub(Epoch), c.At.Sub(Epoch), c.Status, c.Issued, c.Current)
	}
	if logs {
		fmt.Fprintf(&b, "logs:\n%s", w.logs.String())
	}
	return b.String()
}

// logStateOnFailure logs the world's state with logState when the test fails.
func logStateOnFailure(t *testing.T, w *World) {
	t.Cleanup(func() {
		if t.Failed() {
			logState(t, w, true)
		}
	})
}
