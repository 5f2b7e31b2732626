// Package awssim plays what AWS does that moto cannot: Secrets Manager's rotation engine (the four
// steps, reattempts) and Lambda's SQS event source mapping (batches, partial failures). Both run
// against the caller's clock, store and invoker, so that the local stack (moto, real time) and the
// chaos world (fakes, simulated time) play AWS alike.
package awssim

import (
	"slices"
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

	mu      sync.Mutex
	rots    map[rotation]*state
	runs    int
	stopped bool
	wg      sync.WaitGroup
}

type rotation [2]string // secret ARN, token

// state is what the engine keeps of one rotation until it succeeds.
type state struct {
	running  int       // runs in progress
	rerun    bool      // a reattempt was asked for while running
	retryAt  time.Time // when a failed rotation is reattempted; zero when none is scheduled
	attempts int       // failures in a row, plus the run in progress
	config   bool      // the next run is the configuration test: testSecret alone
}

func (e *Engine) state(r rotation) *state {
	if e.rots == nil {
		e.rots = map[rotation]*state{}
	}
	if e.rots[r] == nil {
		e.rots[r] = &state{}
	}
	return e.rots[r]
}

// Start is RotateSecret's effect: it starts the rotation or, when reattempt is set (RotateSecret
// refused as a rotation is incomplete) and it runs, asks for a reattempt once that run ends.
func (e *Engine) Start(secretARN, token string, reattempt bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	r := rotation{secretARN, token}
	st := e.state(r)
	switch {
	case st.running == 0:
		st.retryAt = time.Time{}
		if !reattempt {
			st.attempts = 0
		}
	case !reattempt || e.ConcurrentRerun == nil || !e.ConcurrentRerun():
		st.rerun = true
		return
	}
	e.startLocked(r, st, reattempt)
}

// ConfigTest marks the rotation's next run as the service's configuration test: testSecret alone,
// then Finish, never reattempted.
func (e *Engine) ConfigTest(secretARN, token string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.state(rotation{secretARN, token}).config = true
}

func (e *Engine) startLocked(r rotation, st *state, reattempt bool) {
	if e.stopped {
		return
	}
	st.running++
	st.attempts++
	e.runs++
	a := Attempt{SecretARN: r[0], Token: r[1], N: st.attempts, Reattempt: reattempt}
	config := st.config
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
	st := e.rots[r]
	st.running--
	switch {
	case st.running > 0:
		return WillRetry, time.Time{} // the other run decides
	case ok:
		delete(e.rots, r)
		return Succeeded, time.Time{}
	case e.stopped:
		return Interrupted, time.Time{}
	}
	rerun := st.rerun
	st.rerun = false
	if e.MaxAttempts > 0 && st.attempts >= e.MaxAttempts {
		return Abandoned, time.Time{}
	}
	st.retryAt = e.Now()
	if !rerun {
		st.retryAt = st.retryAt.Add(e.RetryDelay)
	}
	return WillRetry, st.retryAt
}

// StartDue reattempts, in a fixed order, the failed rotations due whose token holds AWSPENDING.
func (e *Engine) StartDue(now time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	var due []rotation
	for r, st := range e.rots {
		if !st.retryAt.IsZero() && !st.retryAt.After(now) {
			due = append(due, r)
		}
	}
	slices.SortFunc(due, func(x, y rotation) int { return slices.Compare(x[:], y[:]) })
	for _, r := range due {
		st := e.rots[r]
		st.retryAt = time.Time{}
		// A token no longer holding AWSPENDING is no longer this rotation's: nothing to reattempt.
		if t, ok := e.Pending(r[0]); ok && t == r[1] && st.running == 0 {
			e.startLocked(r, st, true)
		}
	}
}

// NextRetry returns the earliest scheduled reattempt.
func (e *Engine) NextRetry() (next time.Time, ok bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, st := range e.rots {
		if !st.retryAt.IsZero() && (next.IsZero() || st.retryAt.Before(next)) {
			next = st.retryAt
		}
	}
	return next, !next.IsZero()
}

// Running reports whether a run of any rotation of secretARN (of any secret when "") is in progress.
func (e *Engine) Running(secretARN string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	for r, st := range e.rots {
		if (secretARN == "" || r[0] == secretARN) && st.running > 0 {
			return true
		}
	}
	return false
}

// Stats returns how many runs started and how many reattempts wait.
func (e *Engine) Stats() (runs, waiting int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, st := range e.rots {
		if !st.retryAt.IsZero() {
			waiting++
		}
	}
	return e.runs, waiting
}

// Busy reports whether a run is in progress.
func (e *Engine) Busy() bool { return e.Running("") }

// Stop starts nothing more and waits for the runs in progress.
func (e *Engine) Stop() {
	e.mu.Lock()
	e.stopped = true
	e.mu.Unlock()
	e.wg.Wait()
}

// Wait waits for the runs in progress.
func (e *Engine) Wait() { e.wg.Wait() }
