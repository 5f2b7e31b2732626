package chaos

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/spapi-lwa/secret-rotation/internal/managed"
	"github.com/spapi-lwa/secret-rotation/test/secretsmanagertest"
	"github.com/spapi-lwa/secret-rotation/test/snstest"
)

// Result is the outcome of one run and its invariant checks.
type Result struct {
	Schedule              Schedule
	Settled               bool          // I5
	SettleSim, SettleReal time.Duration // from the end of faults to settled (or the bound): simulated, real
	Real                  time.Duration // the whole run in real time

	Issued, Portal              int // secrets issued after the initial ones, of which by hand in the portal
	RotateCalls, IssuingCalls   int // rotate calls (any answer), of which those that issued a secret
	StepFailures                int // failed rotation steps
	Forged, ForgedRejected      int // forged deliveries sent, of which listed as rejected at the end
	Redriven, OperatorRotations int // by the operator: dead-lettered messages moved back, rotations started

	Lost, NotNewest int // I1: issued secrets stored in no version; apps not at the newest once settled
	NotWorking      int // I2: observations where LWA did not accept AWSCURRENT
	Needless        int // I3: unexplained issuing calls
	Tied            int // I3: issuing calls past a stored secret of a tied expiry (not needless)
	Overlap         int // issuing calls while another rotation's secret was on its way
	Leaks           int // I4: secret values found in logs, alerts or errors
	// I6: observations of a forged secret in AWSCURRENT, genuine secrets listed as rejected.
	ForgedCurrent, GenuineRejected int
	Violations                     []string // what broke, never a value
	// I3's explained extra issuing calls of a rotation: a 5xx retried; concurrent createSecret runs
	// (rotation Case 5); the cooldown elapsed before the previous secret was stored; a receiver's
	// rotation that asked Amazon just after its secret was adopted.
	ExplainedRetry, ExplainedConcurrent, ExplainedCooldown, ExplainedLate int
}

// OK reports whether every invariant held.
func (r *Result) OK() bool { return len(r.Violations) == 0 }

// violate counts one more in n and reports what broke, the first five times of each count.
func (r *Result) violate(n *int, format string, a ...any) {
	if *n++; *n <= 5 {
		r.Violations = append(r.Violations, fmt.Sprintf(format, a...))
	}
}

// check computes the invariants of a finished run into res.
func (w *World) check(res *Result) {
	for _, a := range w.Apps { // I1, and I6's genuine secrets listed as rejected
		issued, rejected := a.Sim.Issued(), w.SM.Tags(a.ARN)[managed.TagRejectedSecrets]
		res.Issued += len(issued) - 1
		res.Portal += a.Sim.Stats().PortalRotations
		for i, s := range issued {
			if _, ok := w.stored[s]; i > 0 && !ok {
				res.violate(&res.Lost, "I1: app %d: issued secret #%d is stored in no version of %s",
					a.Index, i, a.Name)
			}
			if managed.Rejected(rejected, s) {
				res.violate(&res.GenuineRejected, "I6: app %d: issued secret #%d, which Amazon issued, is listed in %s",
					a.Index, i, managed.TagRejectedSecrets)
			}
		}
		if res.Settled && w.CurrentSecret(a.Index) != issued[len(issued)-1] {
			res.violate(&res.NotNewest, "I1: app %d: settled but AWSCURRENT is not the newest issued secret (#%d)",
				a.Index, len(issued)-1)
		}
	}
	w.checkRotateCalls(res) // I3
	w.checkLeaks(res)       // I4
	w.checkForged(res)      // I6
	if !res.Settled {       // I5 (the test logs the versions and rotate calls of a failed run)
		runs, retries := w.engine.Stats()
		q, dq, _ := w.NewSecretQ.Len()
		eq, edq, _ := w.ExpiryQ.Len()
		res.violate(new(int), "I5: not settled %s after faults stopped (runs %d, reattempts due %d, queued: new-secret %d+%d dead, expiry %d+%d dead)",
			res.SettleSim, runs, retries, q, dq, eq, edq)
	}
}

// checkForged is I6 for forged deliveries: claiming the latest expiry, each is adopted, then rejected.
func (w *World) checkForged(res *Result) {
	for _, f := range w.forged {
		res.Forged++
		a := w.Apps[f.App]
		if !slices.ContainsFunc(w.SM.Versions(a.ARN), func(v secretsmanagertest.Version) bool {
			val, ok := w.SM.Value(a.ARN, v.ID)
			return ok && secretOf(val) == f.Secret
		}) {
			res.violate(new(int), "I6: app %d: the forged delivery of notification %s is stored in no version of %s",
				f.App, f.NotificationID, a.Name)
		}
		if managed.Rejected(w.SM.Tags(a.ARN)[managed.TagRejectedSecrets], f.Secret) {
			res.ForgedRejected++
		} else if res.Settled {
			res.violate(new(int), "I6: app %d: settled, but the forged secret of notification %s is not listed in %s",
				f.App, f.NotificationID, managed.TagRejectedSecrets)
		}
	}
}

// checkRotateCalls counts I3: every issuing call after a rotation's first must be explained, and
// none may be made while a secret newer than AWSCURRENT's (by expiry, to the millisecond) was stored,
// which createSecret adopts instead (rotation Case 3); equal expiries adopt neither: Tied.
func (w *World) checkRotateCalls(res *Result) {
	calls := w.calls
	res.RotateCalls = len(calls)
	lastOf := map[string]RotateCall{} // the last issuing call of each rotation
	for k, c := range calls {
		if !c.Issued {
			continue
		}
		res.IssuingCalls++
		issued := w.Apps[c.App].Sim.Issued()
		if c.Current >= 0 {
			switch j, tie := adoptable(c, issued, c.inv.start, w.stored); {
			case j >= 0:
				res.violate(&res.Needless, "I3: app %d rotation %s: issuing rotate call at %s while issued secret #%d, newer than AWSCURRENT (#%d), was already stored (at %s)",
					c.App, c.inv.token, c.At.Sub(Epoch), j, c.Current, w.stored[issued[j]].at.Sub(Epoch))
			case tie:
				res.Tied++
			}
		}
		if last, ok := lastOf[c.inv.token]; ok {
			st, ok := w.stored[issued[last.Secret]]
			// The cooldown runs from the rotation-requested-at stamp written before the previous call.
			cooledAt := last.At
			for _, r := range w.requested[w.Apps[c.App].ARN] {
				if !r.After(last.At) {
					cooledAt = r
				}
			}
			cooledAt = cooledAt.Add(Cooldown)
			switch {
			case last.Status >= http.StatusInternalServerError && last.inv == c.inv:
				res.ExplainedRetry++
			case last.inv != c.inv && !c.inv.start.After(last.inv.end) && !last.inv.start.After(c.inv.end):
				res.ExplainedConcurrent++
			case !c.At.Before(cooledAt) && (!ok || st.at.After(cooledAt)):
				res.ExplainedCooldown++
			default:
				res.violate(&res.Needless, "I3: app %d rotation %s: issuing rotate call at %s after one at %s (status %d) whose secret was stored (%v) at %s, within the cooldown",
					c.App, c.inv.token, c.At.Sub(Epoch), last.At.Sub(Epoch), last.Status, ok, st.at.Sub(Epoch))
			}
		} else if w.byReceiver[c.inv.token] && c.Current >= 0 && lateReceiverCall(c, issued, w.stored) {
			res.ExplainedLate++
		} else if slices.ContainsFunc(calls[:k], func(o RotateCall) bool {
			if !o.Issued || o.App != c.App || o.inv.token == c.inv.token {
				return false
			}
			st, ok := w.stored[issued[o.Secret]]
			return c.At.Before(o.At.Add(Cooldown)) && (!ok || st.at.After(c.At))
		}) {
			res.Overlap++
		}
		lastOf[c.inv.token] = c
	}
}

// adoptable returns the secret, issued after AWSCURRENT's and stored before the step started, that
// createSecret would have adopted instead of issuing call c (-1: none), or whether a tie explains none:
// with AWSCURRENT, or of the newest with one stored at any time (stored can trail the write).
func adoptable(c RotateCall, issued []string, started time.Time, st map[string]stored) (int, bool) {
	best, tie := -1, false
	for j := c.Current + 1; j < c.Secret; j++ {
		if s, ok := st[issued[j]]; !ok || !s.at.Before(started) {
			continue
		}
		if st[issued[j]].tied(st[issued[c.Current]]) {
			tie = true
			continue
		}
		best = j // expiries grow with the issue order, ties aside
	}
	if best < 0 {
		return -1, tie
	}
	for k := c.Current + 1; k < c.Secret; k++ {
		if k != best && st[issued[k]].tied(st[issued[best]]) {
			return -1, true
		}
	}
	return best, false
}

// lateReceiverCall reports whether c, a receiver's rotation's first issuing call, found AWSCURRENT newer
// than and tied with no other secret issued before and ever stored (ExplainedLate: adopted in between).
// AWSCURRENT at the call must be known.
func lateReceiverCall(c RotateCall, issued []string, st map[string]stored) bool {
	for j := range c.Secret {
		if _, ok := st[issued[j]]; j == c.Current || !ok {
			continue
		}
		if j > c.Current || st[issued[j]].tied(st[issued[c.Current]]) {
			return false
		}
	}
	return true
}

// stored is when an issued secret was first seen stored, and its version's clientSecretExpiresAt.
type stored struct{ at, expiry time.Time }

// tied reports whether s and o were both stored with the same clientSecretExpiresAt.
func (s stored) tied(o stored) bool { return !s.expiry.IsZero() && s.expiry.Equal(o.expiry) }

// checkLeaks is I4: no client secret, access or refresh token in a log line, alert or error.
func (w *World) checkLeaks(res *Result) {
	type place struct{ what, text string }
	places := []place{{"logs", w.logs.String()}}
	for i, in := range w.SNS.Published() {
		text := fmt.Sprint(aws.ToString(in.Subject), aws.ToString(in.Message), snstest.Attributes(in))
		places = append(places, place{fmt.Sprintf("alert #%d", i), text})
	}
	for i, e := range w.errs {
		places = append(places, place{fmt.Sprintf("returned error #%d", i), e})
	}
	check := func(secret, format string, a ...any) {
		for _, p := range places {
			if secret != "" && strings.Contains(p.text, secret) {
				res.violate(&res.Leaks, "I4: %s found in %s", fmt.Sprintf(format, a...), p.what)
			}
		}
	}
	for _, a := range w.Apps {
		for i, s := range a.Sim.Issued() {
			check(s, "app %d client secret #%d", a.Index, i)
		}
		check(a.Refresh, "app %d refresh token", a.Index)
	}
	for i, v := range w.Secrets {
		check(v, "test secret #%d", i)
	}
	for i, t := range w.AccessTokens() {
		check(t, "access token #%d", i)
	}
}
