// Package awssim plays what AWS does that moto cannot: Secrets Manager's rotation engine (the four
// steps, reattempts) and Lambda's SQS event source mapping (batches, partial failures). Both run
// against the caller's clock, store and invoker, so that the local stack (moto, real time) and the
// chaos world (fakes, simulated time) play AWS alike.
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
	WillRetry                  // a reattempt is scheduled
	Abandoned                  // it failed MaxAttempts times in a row
	Interrupted                // it failed after Stop
)

// Engine is Secrets Manager's rotation engine. Start runs a rotation (secret ARN and token) in the
// background, one Invoke per step, then Finish. A failed attempt is reattempted RetryDelay later (at
// once if RotateSecret asked while it ran) while its token holds AWSPENDING, until MaxAttempts
// failures in a row (0: no bound). Reattempts start when StartDue is called; Wake says when.
type Engine struct {
	Now             func() time.Time
	RetryDelay      time.Duration
	MaxAttempts     int
	Invoke          func(a Attempt, step string) error             // one step, one invocation
	Finish          func(secretARN, token string) error            // removes AWSPENDING
	Pending         func(secretARN string) (token string, ok bool) // the token holding AWSPENDING
	ConcurrentRerun func() bool                                    // if true, a rerun asked for runs at once
	OnDone          func(Attempt, Outcome)                         // optional; called without the lock
	Wake            func(at time.Time)                             // optional; when a reattempt is due

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

// Start is RotateSecret's effect: it starts the rotation or, when reattempt is set (RotateSecret
// refused as a rotation is incomplete) and it runs, asks for a reattempt once that run ends.
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

// ConfigTest marks the rotation's next run as the service's configuration test: testSecret alone,
// then Finish, never reattempted.
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

func (e *Engine) run(a Attempt, config bool) {
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

// done settles a finished attempt: its outcome and when it is reattempted (zero: not scheduled).
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

// StartDue reattempts, in a fixed order, the failed rotations due whose token holds AWSPENDING.
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
