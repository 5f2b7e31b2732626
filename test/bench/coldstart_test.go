package main

import (
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// TestMain lets the test binary play a runtime: with BENCH_TEST_RUNTIME set
// it sleeps that long, asks the runtime API for the next invocation as a
// bootstrap does, and waits to be killed.
func TestMain(m *testing.M) {
	if d := os.Getenv("BENCH_TEST_RUNTIME"); d != "" {
		wait, _ := time.ParseDuration(d)
		time.Sleep(wait)
		http.Get("http://" + os.Getenv("AWS_LAMBDA_RUNTIME_API") + "/2018-06-01/runtime/invocation/next")
		select {}
	}
	os.Exit(m.Run())
}

func TestColdStart(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, wait := range []time.Duration{0, 150 * time.Millisecond} {
		c := newColdRun()
		if err := c.start("self", []string{self}, []string{"BENCH_TEST_RUNTIME=" + wait.String()}); err != nil {
			t.Fatalf("start(sleep %s) error = %v", wait, err)
		}
		if ready := c.ready["self"][0]; ready < wait || ready > wait+5*time.Second {
			t.Errorf("start(sleep %s): ready after %s, want at least the sleep", wait, ready)
		}
		if c.hwmKB["self"] <= 0 {
			t.Errorf("start(sleep %s): peak RSS %d KiB, want the process's", wait, c.hwmKB["self"])
		}
	}
	// A process that exits without asking is an error, not a sample.
	c := newColdRun()
	err = c.start("true", []string{"/bin/true"}, nil)
	if err == nil || !strings.Contains(err.Error(), "exited before") || len(c.ready["true"]) != 0 {
		t.Errorf("start(/bin/true) error = %v, samples %v; want an error saying it exited before asking, no sample", err, c.ready["true"])
	}
}

func TestColdVerdicts(t *testing.T) {
	ms := func(vs ...int) []time.Duration {
		var out []time.Duration
		for _, v := range vs {
			out = append(out, time.Duration(v)*time.Millisecond)
		}
		return out
	}
	run := &coldRun{ready: map[string][]time.Duration{
		"rotate-secret":  ms(12, 13, 14),
		"receive-secret": ms(13, 14, 15),
		"expiry-alert":   ms(11, 12, 13),
		"watchdog":       ms(20, 12, 12),
		subjectFloor:     ms(10, 10, 10),
		subjectSDKFloor:  ms(11, 11, 11),
		subjectPython:    ms(400, 300, 350),
	}}
	// receive-secret has the highest median (14 ms): 1.4× the floor (missed), 1/25 of 350 ms (met).
	f, r := worstCold(run, subjectFloor)
	if f != "receive-secret" || r.median != 1.4 || r.median <= targetFloorRatio {
		t.Errorf("floor verdict = %s %.2f, want receive-secret 1.40 missed", f, r.median)
	}
	f, r = worstCold(run, subjectPython)
	if f != "receive-secret" || r.median != 0.04 || r.median > targetColdRatio {
		t.Errorf("python verdict = %s %.3f, want receive-secret 0.040 met", f, r.median)
	}
	// Per round, watchdog's first start was twice the floor's.
	if got := compareCold(run, "watchdog", subjectFloor); got.paired.p90 != 2 {
		t.Errorf("watchdog per-round p90 = %.2f, want 2", got.paired.p90)
	}
}
