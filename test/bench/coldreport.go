package main

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// coldVerdict is the worst function against one reference subject.
type coldVerdict struct {
	function string
	ratio    coldRatio
	met      bool
}

// coldVerdicts judges every function against the floor and against the
// Python baseline, from the ratios of the medians only, and returns the
// worst function of each comparison.
func coldVerdicts(c *coldRun) (floor, python coldVerdict, err error) {
	fl, err := c.subject(subjectFloor)
	if err != nil {
		return floor, python, err
	}
	py, err := c.subject(subjectPython)
	if err != nil {
		return floor, python, err
	}
	floor.met, python.met = true, true
	for _, f := range functionNames {
		fn, err := c.subject(f)
		if err != nil {
			return floor, python, err
		}
		rf, rp := compareCold(fn, fl), compareCold(fn, py)
		if !rf.hasSamples || !rp.hasSamples {
			return floor, python, fmt.Errorf("no cold starts of %s to compare", f)
		}
		if floor.function == "" || rf.median > floor.ratio.median {
			floor.function, floor.ratio = f, rf
		}
		if python.function == "" || rp.median > python.ratio.median {
			python.function, python.ratio = f, rp
		}
	}
	floor.met = floor.ratio.median <= targetFloorRatio
	python.met = python.ratio.median <= targetColdRatio
	return floor, python, nil
}

// fraction renders a ratio below 1 as "1/N (0.040)".
func fraction(x float64) string {
	if x <= 0 {
		return "–"
	}
	return fmt.Sprintf("1/%.0f (%.3f)", 1/x, x)
}

func times(x float64) string { return fmt.Sprintf("%.2f×", x) }

func renderColdTargets(r *report, res *results) {
	floor, python, err := coldVerdicts(res.cold)
	if res.coldErr != nil {
		err = res.coldErr
	}
	if err != nil {
		r.row("cold start ≤ 1.3× the floor", "not measured", "–", "cold starts failed: "+oneLine(err))
		r.row("cold start ≤ 1/25 of boto3", "not measured", "–", "cold starts failed: "+oneLine(err))
		return
	}
	why := fmt.Sprintf("worst function %s: median exec → first `/runtime/invocation/next` of the function over that of a bare aws-lambda-go function built and started the same way in the same run (section 2). Round by round the ratio ran from %s to %s (p10–p90).",
		floor.function, times(floor.ratio.paired.p10), times(floor.ratio.paired.p90))
	if p := floor.ratio.paired; p.p10 <= targetFloorRatio && targetFloorRatio <= p.p90 {
		why += " The target lies inside that spread: a run under a different load could give the other verdict."
	}
	if fl, err := res.cold.subject(subjectFloor); err == nil {
		if sdk, err := res.cold.subject(subjectSDKFloor); err == nil {
			if sr := compareCold(sdk, fl); sr.hasSamples {
				why += fmt.Sprintf(" The floor with the SDK's secretsmanager and sns packages linked but never called (sdkfloor) is %s the floor: that much is the SDK's own package initialisation (its schemas and endpoint tables), which no wiring can avoid while the functions use the SDK's clients.", times(sr.median))
				if !floor.met {
					why += " What would close the gap: calling Secrets Manager and SNS through hand-written signed requests (the SDK's SigV4 signer costs nearly nothing at start) instead of the SDK's service clients."
				}
			}
		}
	}
	r.row("cold start ≤ 1.3× the floor", times(floor.ratio.median), yes(floor.met), why)
	why = fmt.Sprintf("worst function %s: its median over the median of the Python boto3 baseline, timed the same way (section 2). Round by round: %s to %s (p10–p90).",
		python.function, fraction(python.ratio.paired.p90), fraction(python.ratio.paired.p10))
	if p := python.ratio.paired; p.p10 <= targetColdRatio && targetColdRatio <= p.p90 {
		why += " The target lies inside that spread: a run under a different load could give the other verdict."
	}
	if sdk, err := res.cold.subject(subjectSDKFloor); err == nil {
		if py, err := res.cold.subject(subjectPython); err == nil {
			if sr := compareCold(sdk, py); sr.hasSamples {
				why += fmt.Sprintf(" The floor with the SDK's two service packages linked (sdkfloor) is %s of boto3 on its own.", fraction(sr.median))
			}
		}
	}
	r.row("cold start ≤ 1/25 of boto3", fraction(python.ratio.median), yes(python.met), why)
}

// noise is the spread of a subject's starts relative to its median.
func noise(s spread) string {
	if s.median <= 0 {
		return "–"
	}
	return fmt.Sprintf("±%.0f%%", 50*float64(s.p90-s.p10)/float64(s.median))
}

func renderCold(r *report, res *results) {
	r.p("## 2. Cold start")
	r.p("")
	if res.coldErr != nil || res.cold == nil {
		r.p("Not measured: %s", oneLine(res.coldErr))
		r.p("")
		return
	}
	c := res.cold
	r.p("Every subject is timed the same way: from the exec of its process to the arrival of its first `GET /2018-06-01/runtime/invocation/next` at a fake runtime API (a small HTTP server in the bench, one per start, named by `AWS_LAMBDA_RUNTIME_API`), i.e. from process start to ready for the first invocation; the request is then held open and the process killed, so nothing after ready is timed. The subjects are the four functions (host builds), the *floor* (`test/bench/floor`: a bare aws-lambda-go function, `lambda.Start` with a handler that does nothing, built in this run with the same flags), *sdkfloor* (`test/bench/sdkfloor`: the floor with the SDK's secretsmanager and sns packages linked but never called, to show what their initialisation costs) and the Python baseline (`test/bench/baseline.py`: imports boto3 and creates the Secrets Manager and SNS clients, as AWS's Python rotation templates do before their first line of logic, then asks the same fake runtime API for the next invocation). %d rounds; each round starts every subject once, in an order shuffled per round, after one discarded warm-up round. Every process gets only PATH, an empty HOME, fake credentials, the region and the function's variables (endpoints on an unused loopback port: nothing is called before ready); %s are unset, as in a Lambda sandbox. Load average (1, 5, 15 min) before the first start: %s; after the last: %s.",
		c.rounds, "`"+strings.Join(caVariables, "`, `")+"`", c.loadBefore, c.loadAfter)
	r.p("")
	r.head("subject", "before it asks", "median", "p10", "p90", "min", "max", "noise (p10–p90 around the median)", "CPU time to ready: median (p10–p90)", "peak RSS when ready")
	for _, s := range c.subjects {
		sp := summarize(s.readies())
		var hwm int64
		for _, x := range s.samples {
			hwm = max(hwm, x.hwmKB)
		}
		cpu := summarize(s.cpus())
		r.row(s.name, s.note, ms(sp.median), ms(sp.p10), ms(sp.p90), ms(sp.min), ms(sp.max), noise(sp), fmt.Sprintf("%s (%s–%s)", ms(cpu.median), ms(cpu.p10), ms(cpu.p90)), kibToMiB(hwm))
	}
	r.p("")
	fl, _ := c.subject(subjectFloor)
	py, _ := c.subject(subjectPython)
	r.p("The verdicts use the ratio of the medians only. The per-round ratios (the function over the floor or Python started in the same round) show how much a ratio moved with the machine's load.")
	r.p("")
	r.head("function", "median / floor median", "≤ 1.3×?", "per round p10–p90", "median / boto3 median", "≤ 1/25?", "per round p10–p90")
	for _, f := range append(slices.Clone(functionNames), subjectSDKFloor) {
		fn, err := c.subject(f)
		if err != nil {
			continue
		}
		rf, rp := compareCold(fn, fl), compareCold(fn, py)
		name, vf, vp := f, yes(rf.median <= targetFloorRatio), yes(rp.median <= targetColdRatio)
		if f == subjectSDKFloor {
			name, vf, vp = f+" (reference)", "–", "–"
		}
		r.row(name, times(rf.median), vf, times(rf.paired.p10)+" – "+times(rf.paired.p90),
			fraction(rp.median), vp, fraction(rp.paired.p10)+" – "+fraction(rp.paired.p90))
	}
	r.p("")
	if f, p := summarize(fl.readies()), summarize(py.readies()); f.median > 0 {
		r.p("For scale: the floor's median is %s, boto3's %s; 1.3× the floor is %s and 1/25 of boto3 is %s.",
			ms(f.median), ms(p.median), ms(time.Duration(float64(f.median)*targetFloorRatio)), ms(time.Duration(float64(p.median)*targetColdRatio)))
		r.p("")
	}
}
