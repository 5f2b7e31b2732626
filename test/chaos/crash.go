package chaos

import (
	"context"
	"errors"
	"slices"
)

// ErrCrash is what an operation returns once its invocation has crashed.
var ErrCrash = errors.New("chaos: the function was interrupted at this point")

// Crash interrupts one handler invocation at the Nth call of Op matching Arg and Step, before it
// takes effect or (After) losing its answer; every later operation of the invocation fails too.
type Crash struct {
	Op    string // of Secrets Manager, Publish, ClientCredentials, RotateApplicationClientSecret, DeleteMessage
	Arg   string // when set, only calls with it among argsOf(in)
	Step  string // a rotation.Step* name: only calls of that step
	Nth   int    // 1-based; 0 means 1
	After bool
}

// crash fails an operation of an invocation that crashed, and crashes the one at the crash point:
// before it takes effect (after false), or with Crash.After once it did, losing its answer (after true).
func (w *World) crash(ctx context.Context, op string, in any, after bool) error {
	inv := invocationOf(ctx)
	if inv == nil {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	c := w.Crash
	switch {
	case after:
		if w.armed != inv {
			return nil
		}
		w.armed = nil
	case w.crashed == inv:
		return ErrCrash
	case c == nil || c.Op != op || (c.Step != "" && c.Step != inv.step) ||
		(c.Arg != "" && !slices.Contains(argsOf(in), c.Arg)):
		return nil
	default:
		if w.crashSeen++; w.crashSeen != max(c.Nth, 1) {
			return nil
		}
		if c.After {
			w.armed = inv // its call with after true crashes
			return nil
		}
	}
	w.crashHits++
	w.crashed = inv
	return ErrCrash
}
