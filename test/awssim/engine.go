// Package awssim plays the AWS behaviours the project relies on but cannot
// call on this machine: Secrets Manager's rotation engine, which runs a
// rotation function's four steps and reattempts a failed rotation, and
// Lambda's SQS event source mapping, which polls a queue, invokes a function
// with a batch and deletes what the function did not report as failed.
//
// Each is written once, against a clock, a store and a function invoker the
// caller provides, so that the local stack (moto over HTTP, real time) and
// the chaos world (in-memory fakes, simulated time) play AWS alike. It is
// test support: no function links it.
package awssim

import (
	"cmp"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"
)

// Steps are the rotation steps, in the order the engine invokes them.
var Steps = []string{"createSecret", "setSecret", "testSecret", "finishSecret"}

// Attempt is one run of a rotation's steps.
type Attempt struct {
	SecretARN string
	Token     string // the rotation's ClientRequestToken
	N         int    // 1 for the first attempt of the token
	Reattempt bool   // the engine (not a fresh RotateSecret) started it
}

// Outcome is what became of an attempt.
type Outcome int

// The outcomes an engine reports to OnDone.
const (
	Succeeded   Outcome = iota // the steps and Finish succeeded
	WillRetry                  // it failed; a reattempt is scheduled
	Abandoned                  // it failed MaxAttempts times in a row
	Interrupted                // it failed after Stop
)

// Engine is Secrets Manager's rotation engine. A rotation is a secret ARN
// and a token. Start runs its steps in the background, one Invoke each, and
// then Finish (the service removes AWSPENDING). A failed attempt is
// reattempted RetryDelay later, or at once if a RotateSecret call asked for
// it while it ran, as long as the token still holds AWSPENDING (Pending);
// after MaxAttempts failures in a row (0: never) the rotation is abandoned.
// Reattempts become due on the Now clock and start when StartDue is called;
// Wake tells a real-time caller when to call it.
type Engine struct {
	Now         func() time.Time // the clock reattempts are scheduled on
	RetryDelay  time.Duration    // how long after a failure a rotation is reattempted
	MaxAttempts int              // bound on the attempts of one rotation; 0 means none
	// Invoke runs one step as one Lambda invocation; an error fails the attempt.
	Invoke func(a Attempt, step string) error
	// Finish ends a rotation whose steps succeeded; an error fails the attempt.
	Finish func(secretARN, token string) error
	// Pending returns the token whose version holds AWSPENDING, if any.
	Pending func(secretARN string) (token string, ok bool)
	// ConcurrentRerun, when set and true, makes a reattempt asked for while
	// the rotation runs start a second run at once instead of waiting.
	ConcurrentRerun func() bool
	// OnStart and OnDone, when set, hear of every attempt (without the
	// engine's lock held).
	OnStart func(Attempt)
	OnDone  func(Attempt, Outcome)
	// Wake, when set, is called with the time of a reattempt just scheduled.
	Wake func(at time.Time)

	mu       sync.Mutex
	running  map[rotation]int       // runs in progress
	rerun    map[rotation]bool      // a reattempt was asked for while running
	retryAt  map[rotation]time.Time // failed rotations and when they are reattempted
	attempts map[rotation]int       // failures in a row, plus the run in progress
	config   map[rotation]bool      // configuration tests: testSecret alone
	runs     int
	active   int
	stopped  bool
	wg       sync.WaitGroup
}

type rotation struct{ arn, token string }

// Start is RotateSecret's effect on the engine: it starts the rotation, or,
// when reattempt is set (RotateSecret refused because the rotation is
// incomplete) and it is running, asks for a reattempt once that run ends.
func (e *Engine) Start(secretARN, token string, reattempt bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.init()
	r := rotation{secretARN, token}
	if e.running[r] > 0 {
		if reattempt && e.ConcurrentRerun != nil && e.ConcurrentRerun() {
			e.startLocked(r, true)
			return
		}
		e.rerun[r] = true
		return
	}
	delete(e.retryAt, r)
	if !reattempt {
		delete(e.attempts, r)
	}
	e.startLocked(r, reattempt)
}

// ConfigTest marks the next run of the rotation as the configuration test
// that the service runs when rotation is set up without rotating: testSecret
// alone, then Finish, never reattempted.
func (e *Engine) ConfigTest(secretARN, token string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.init()
	e.config[rotation{secretARN, token}] = true
}

func (e *Engine) init() {
	if e.running == nil {
		e.running, e.rerun, e.retryAt = map[rotation]int{}, map[rotation]bool{}, map[rotation]time.Time{}
		e.attempts, e.config = map[rotation]int{}, map[rotation]bool{}
	}
}

func (e *Engine) startLocked(r rotation, reattempt bool) {
	if e.stopped {
		return
	}
	e.running[r]++
	e.attempts[r]++
	e.active++
	e.runs++
	a := Attempt{SecretARN: r.arn, Token: r.token, N: e.attempts[r], Reattempt: reattempt}
	config := e.config[r]
	e.wg.Go(func() { e.run(a, config) })
}

// run invokes the steps of one attempt.
func (e *Engine) run(a Attempt, config bool) {
	if e.OnStart != nil {
		e.OnStart(a)
	}
	steps := Steps
	if config {
		steps = []string{"testSecret"}
	}
	var err error
	for _, step := range steps {
		if err = e.Invoke(a, step); err != nil {
			break
		}
	}
	if err == nil || config {
		// The configuration test's result is reported, never retried.
		err = e.Finish(a.SecretARN, a.Token)
	}
	o, at := e.done(a, err == nil || config)
	if !at.IsZero() && e.Wake != nil {
		e.Wake(at)
	}
	if e.OnDone != nil {
		e.OnDone(a, o)
	}
}

// done settles a finished attempt and reports its outcome and when it is
// reattempted (zero: not scheduled).
func (e *Engine) done(a Attempt, ok bool) (Outcome, time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	r := rotation{a.SecretARN, a.Token}
	e.running[r]--
	e.active--
	rerun := e.rerun[r]
	switch {
	case e.running[r] > 0:
		return WillRetry, time.Time{} // the other run decides
	case ok:
		delete(e.rerun, r)
		delete(e.retryAt, r)
		delete(e.attempts, r)
		delete(e.config, r)
		return Succeeded, time.Time{}
	case e.stopped:
		return Interrupted, time.Time{}
	case e.MaxAttempts > 0 && e.attempts[r] >= e.MaxAttempts:
		delete(e.rerun, r)
		return Abandoned, time.Time{}
	}
	delete(e.rerun, r)
	at := e.Now()
	if !rerun {
		at = at.Add(e.RetryDelay)
	}
	e.retryAt[r] = at
	return WillRetry, at
}

// StartDue reattempts the failed rotations due at now whose token still
// holds AWSPENDING, in a fixed order.
func (e *Engine) StartDue(now time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	due := make([]rotation, 0, len(e.retryAt))
	for r, at := range e.retryAt {
		if !at.After(now) {
			due = append(due, r)
		}
	}
	slices.SortFunc(due, func(x, y rotation) int {
		return cmp.Or(strings.Compare(x.arn, y.arn), strings.Compare(x.token, y.token))
	})
	for _, r := range due {
		delete(e.retryAt, r)
		if t, ok := e.Pending(r.arn); !ok || t != r.token {
			continue // no longer this rotation's: nothing to reattempt
		}
		if e.running[r] == 0 {
			e.startLocked(r, true)
		}
	}
}

// NextRetry returns the earliest scheduled reattempt.
func (e *Engine) NextRetry() (time.Time, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.retryAt) == 0 {
		return time.Time{}, false
	}
	return slices.MinFunc(slices.Collect(maps.Values(e.retryAt)), time.Time.Compare), true
}

// Running reports whether a run of any rotation of secretARN is in progress.
func (e *Engine) Running(secretARN string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	for r, n := range e.running {
		if r.arn == secretARN && n > 0 {
			return true
		}
	}
	return false
}

// Stats returns how many runs started and how many reattempts wait.
func (e *Engine) Stats() (runs, waiting int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.runs, len(e.retryAt)
}

// Busy reports whether a run is in progress.
func (e *Engine) Busy() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.active > 0
}

// Stop starts nothing more and waits for the runs in progress.
func (e *Engine) Stop() {
	e.mu.Lock()
	e.stopped = true
	e.mu.Unlock()
	e.wg.Wait()
}

// Wait waits for the runs in progress.
func (e *Engine) Wait() { e.wg.Wait() }
