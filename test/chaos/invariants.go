package chaos

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/spapi-lwa/secret-rotation/internal/managed"
)

// Result is the outcome of one run and its invariant checks.
type Result struct {
	Seed     uint64
	Schedule Schedule

	Settled    bool          // I5
	SettleSim  time.Duration // simulated time from the end of faults to settled (or to the bound)
	SettleReal time.Duration // the same in real time
	Real       time.Duration // the whole run in real time

	Issued       int // client secrets issued after the initial ones (API and portal)
	Portal       int // of which by hand in the portal
	RotateCalls  int // rotate calls (any answer)
	IssuingCalls int // rotate calls that issued a secret
	Runs         int // rotation attempts (first runs and reattempts)
	StepFailures int
	Redriven     int // dead-lettered messages moved back by the operator
	Alerts       int
	// Forged: forged deliveries sent (Schedule.Forged); ForgedRejected: of
	// which listed in sp-api-lwa:rejected-secrets at the end of the run.
	Forged, ForgedRejected int
	// OperatorRotations: rotations World.OperatorRotates started.
	OperatorRotations int

	Lost       int // I1: issued secrets stored in no version
	NotNewest  int // I1: apps whose AWSCURRENT is not the newest secret once settled
	NotWorking int // I2: observations where AWSCURRENT was not accepted
	Needless   int // I3: unexplained extra issuing calls within one rotation
	Explained  int // I3: extra issuing calls explained (the Explained* counts)
	// ExplainedRetry: the SP-API client retried a 5xx whose call had issued
	// a secret (the answer was lost); docs/design.md requires 5xx to be retried.
	ExplainedRetry int
	// Ignored: issuing calls made while a secret newer than the one in
	// AWSCURRENT was already stored (part of Needless).
	Ignored int
	// Tied: issuing calls made while a secret issued after the one in
	// AWSCURRENT was already stored, but with the same
	// clientSecretExpiresAt as AWSCURRENT's or as another stored secret's:
	// Amazon issued both in the same millisecond (a rotate call and a
	// rotation by hand), and nothing in the notifications orders them. Not
	// needless; see checkRotateCalls.
	Tied int
	// ExplainedConcurrent: two createSecret runs of the same rotation ran
	// at once and both called (their tag writes further apart than
	// Config.Settle; rotation package doc, Case 5).
	ExplainedConcurrent int
	// ExplainedCooldown: the cooldown elapsed without the previous secret
	// being stored, so the rotation asked again.
	ExplainedCooldown int
	// ExplainedLate: a rotation a receiver started to adopt its secret
	// asked Amazon, because a rotation that finished between the
	// receiver's write and its RotateSecret had already adopted it.
	ExplainedLate int
	Overlap       int // issuing calls made while another rotation's secret was still on its way (informational)
	Leaks         int // I4: secret values found in logs, alerts or errors
	// ForgedCurrent: observations that found a forged secret in AWSCURRENT
	// (I6).
	ForgedCurrent int
	// GenuineRejected: secrets Amazon issued that ended listed in
	// sp-api-lwa:rejected-secrets (I6).
	GenuineRejected int
	Violations      []string // what broke, with ids and counts, never a value
}

// OK reports whether every invariant held.
func (r *Result) OK() bool { return len(r.Violations) == 0 }

func (r *Result) violate(format string, a ...any) {
	r.Violations = append(r.Violations, fmt.Sprintf(format, a...))
}

// check computes the invariants of a finished run into res.
func (w *World) check(res *Result) {
	w.mu.Lock()
	res.NotWorking = w.notWorking
	notWorkingAt := append([]string(nil), w.notWorkingAt...)
	res.Redriven = w.redriven
	res.StepFailures = w.stepFailures
	res.ForgedCurrent = w.forgedCurrent
	forgedCurrentAt := append([]string(nil), w.forgedCurrentAt...)
	for _, n := range w.operatorRotations {
		res.OperatorRotations += n
	}
	storedAt := make(map[string]time.Time, len(w.storedAt))
	for k, v := range w.storedAt {
		storedAt[k] = v
	}
	storedExpiry := make(map[string]time.Time, len(w.storedExpiry))
	for k, v := range w.storedExpiry {
		storedExpiry[k] = v
	}
	w.mu.Unlock()
	res.Runs, _ = w.engine.Stats()
	res.Alerts = len(w.SNS.Published())

	// I1.
	for _, a := range w.Apps {
		issued := a.Sim.Issued()
		st := a.Sim.Stats()
		res.Issued += len(issued) - 1
		res.Portal += st.PortalRotations
		for i, s := range issued[1:] {
			if _, ok := storedAt[s]; !ok {
				res.Lost++
				res.violate("I1: app %d: issued secret #%d is stored in no version of %s (%s)", a.Index, i+1, a.Name, w.whereIs(s))
			}
		}
		if res.Settled && w.CurrentSecret(a.Index) != issued[len(issued)-1] {
			res.NotNewest++
			res.violate("I1: app %d: settled but AWSCURRENT is not the newest issued secret (#%d)", a.Index, len(issued)-1)
		}
	}
	// I2.
	if res.NotWorking > 0 {
		res.violate("I2: %d observations of %d found AWSCURRENT not accepted by LWA: %s", res.NotWorking, w.observations, strings.Join(notWorkingAt, "; "))
	}
	// I3.
	w.checkRotateCalls(res, storedAt, storedExpiry)
	// I4.
	w.checkLeaks(res)
	// I6.
	w.checkForged(res, forgedCurrentAt)
	// I5.
	if !res.Settled {
		runs, retries := w.engine.Stats()
		var state []string
		for _, a := range w.Apps {
			cur, _ := w.SM.StageVersion(a.ARN, "AWSCURRENT")
			p, _ := w.SM.StageVersion(a.ARN, "AWSPENDING")
			recv, _ := w.SM.StageVersion(a.ARN, "LWA_RECEIVED")
			newest, _ := a.Sim.Current()
			adopted := w.CurrentSecret(a.Index) == newest
			diag := ""
			if recvVal, _ := w.SM.Value(a.ARN, recv); !adopted && p == "" && retries == 0 && secretOf(recvVal) == newest {
				diag = " [newest secret stored under LWA_RECEIVED, no rotation pending to adopt it]"
			}
			state = append(state, fmt.Sprintf("app %d: current=%s pending=%s received=%s newestAdopted=%v simPending=%d%s", a.Index, cur, p, recv, adopted, a.Sim.Stats().Pending, diag))
		}
		q, dq := w.NewSecretQ.Len()
		eq, edq := w.ExpiryQ.Len()
		res.violate("I5: not settled %s after faults stopped (runs %d, reattempts scheduled %d, new-secret queue %d+%d dead, expiry queue %d+%d dead; %s)",
			res.SettleSim, runs, retries, q, dq, eq, edq, strings.Join(state, "; "))
	}
}

// checkForged is I6: a secret nobody can vouch for never becomes
// AWSCURRENT and never keeps a genuine one out. At no observation does
// AWSCURRENT hold a forged secret; every forged delivery is stored (storing
// is unconditional); once settled, every forged secret is listed in
// sp-api-lwa:rejected-secrets (it was adopted, since it claims the latest
// expiry, and testSecret gave up on it) while AWSCURRENT holds the newest
// genuine secret (I1) that LWA accepts (I2); and no secret Amazon issued is
// ever listed as rejected.
func (w *World) checkForged(res *Result, forgedCurrentAt []string) {
	if res.ForgedCurrent > 0 {
		res.violate("I6: %d observations found a forged secret in AWSCURRENT: %s", res.ForgedCurrent, strings.Join(forgedCurrentAt, "; "))
	}
	for _, f := range w.Forged() {
		res.Forged++
		a := w.Apps[f.App]
		stored := false
		for _, v := range w.SM.Versions(a.ARN) {
			if val, ok := w.SM.Value(a.ARN, v.ID); ok && secretOf(val) == f.Secret {
				stored = true
			}
		}
		if !stored {
			res.violate("I6: app %d: the forged delivery of notification %s is stored in no version of %s (%s)", f.App, f.NotificationID, a.Name, w.whereIs(f.Secret))
		}
		rejected := managed.Rejected(w.SM.Tags(a.ARN)[managed.TagRejectedSecrets], f.Secret)
		if rejected {
			res.ForgedRejected++
		} else if res.Settled {
			res.violate("I6: app %d: settled, but the forged secret of notification %s is not listed in %s", f.App, f.NotificationID, managed.TagRejectedSecrets)
		}
	}
	for _, a := range w.Apps {
		tag := w.SM.Tags(a.ARN)[managed.TagRejectedSecrets]
		for i, s := range a.Sim.Issued() {
			if managed.Rejected(tag, s) {
				res.GenuineRejected++
				res.violate("I6: app %d: issued secret #%d, which Amazon issued, is listed in %s", a.Index, i, managed.TagRejectedSecrets)
			}
		}
	}
}

// whereIs says where an unstored secret is: which queue holds its message.
func (w *World) whereIs(secret string) string {
	var at []string
	for _, q := range []*Queue{w.NewSecretQ, w.ExpiryQ} {
		q.mu.Lock()
		for _, m := range q.msgs {
			if strings.Contains(m.Body, secret) {
				at = append(at, fmt.Sprintf("message %s in %s, received %d times", m.ID, q.Name, m.ReceiveCount))
			}
		}
		for _, m := range q.dlq {
			if strings.Contains(m.Body, secret) {
				at = append(at, fmt.Sprintf("message %s in the %s dead-letter queue", m.ID, q.Name))
			}
		}
		q.mu.Unlock()
	}
	if len(at) == 0 {
		return "in no queue: its message was deleted or never sent"
	}
	return strings.Join(at, "; ")
}

// checkRotateCalls counts I3: per rotation (token), every issuing call after
// the first must be explained; and no issuing call may be made while a
// secret newer than AWSCURRENT's was already stored, since createSecret
// adopts it instead (rotation package doc, Case 3).
//
// "Newer" is by clientSecretExpiresAt, the only order Amazon states (to the
// millisecond). Two secrets issued in the same millisecond (a rotate call
// and a rotation by hand in the portal; the simulated clock makes this
// common) carry the same expiry, and nothing else in their notifications
// (event and publish times, old-secret expiry) tells them apart either;
// LWA accepts both until the replaced one's grace period ends, days later.
// Which one Amazon replaced is unknowable to the handlers, so createSecret
// adopts neither (choose reports the tie) and asks Amazon for a secret
// known to be the newest; a secret with AWSCURRENT's own expiry is not
// newer than it and is not adopted either. Adopting a tied secret would be
// a coin toss that may install the replaced one, which LWA stops accepting
// after its grace period. The rotate call is then necessary, and counted in
// Tied, not in Needless (adoptable). storedExpiry holds the expiry of
// every stored secret; a secret without one is never tied.
//
// A rotation a receiver's RotateSecret started exists to adopt the secret
// that receiver stored. When its first issuing call finds AWSCURRENT
// holding the newest secret stored, with no stored secret newer or tied,
// a rotation that finished between the receiver's read of AWSCURRENT and
// its RotateSecret had already adopted that secret: the call is needless,
// and counted in ExplainedLate (the race is the receiver's; it costs a
// secret and loses none).
func (w *World) checkRotateCalls(res *Result, storedAt, storedExpiry map[string]time.Time) {
	calls := w.Calls()
	res.RotateCalls = len(calls)
	type prevCall struct {
		c      RotateCall
		secret string
	}
	byToken := map[string][]prevCall{}
	var issuing []prevCall
	for _, c := range calls {
		if !c.Issued {
			continue
		}
		res.IssuingCalls++
		issued := w.Apps[c.App].Sim.Issued()
		p := prevCall{c: c, secret: issued[c.Secret]}
		w.mu.Lock()
		started := w.invs[c.Inv][0]
		w.mu.Unlock()
		if c.Current >= 0 && !started.IsZero() {
			switch j, tie := adoptable(c, issued, started, storedAt, storedExpiry); {
			case j >= 0:
				res.Needless++
				res.Ignored++
				res.violate("I3: app %d rotation %s: issuing rotate call at %s while issued secret #%d, newer than AWSCURRENT (#%d), was already stored (at %s)",
					c.App, c.Token, c.At.Sub(Epoch), j, c.Current, storedAt[issued[j]].Sub(Epoch))
			case tie:
				res.Tied++
			}
		}
		k := fmt.Sprintf("%d|%s", c.App, c.Token)
		if prev := byToken[k]; len(prev) > 0 {
			last := prev[len(prev)-1]
			stored, ok := storedAt[last.secret]
			// The cooldown runs from the rotation-requested-at stamp written
			// before the previous call.
			since := w.requestedBefore(w.Apps[c.App].ARN, last.c.At)
			cooldownElapsed := !c.At.Before(since.Add(Cooldown)) && (!ok || stored.After(since.Add(Cooldown)))
			lostRetry := last.c.Status >= http.StatusInternalServerError && last.c.Inv == c.Inv
			w.mu.Lock()
			a, b := w.invs[last.c.Inv], w.invs[c.Inv]
			w.mu.Unlock()
			concurrent := last.c.Inv != c.Inv && !a[0].IsZero() && !b[0].IsZero() && !b[0].After(a[1]) && !a[0].After(b[1])
			switch {
			case lostRetry:
				res.Explained++
				res.ExplainedRetry++
			case concurrent:
				res.Explained++
				res.ExplainedConcurrent++
			case cooldownElapsed:
				res.Explained++
				res.ExplainedCooldown++
			default:
				res.Needless++
				res.violate("I3: app %d rotation %s: issuing rotate call at %s after one at %s (status %d) whose secret was stored at %v, within the cooldown",
					c.App, c.Token, c.At.Sub(Epoch), last.c.At.Sub(Epoch), last.c.Status, storedDesc(stored, ok))
			}
		} else if w.lateReceiverCall(c, issued, storedAt, storedExpiry) {
			res.Explained++
			res.ExplainedLate++
		} else {
			for _, o := range issuing {
				if o.c.App != c.App || o.c.Token == c.Token {
					continue
				}
				stored, ok := storedAt[o.secret]
				if c.At.Before(o.c.At.Add(Cooldown)) && (!ok || stored.After(c.At)) {
					res.Overlap++
					break
				}
			}
		}
		byToken[k] = append(byToken[k], p)
		issuing = append(issuing, p)
	}
}

// adoptable returns the issued secret that createSecret would have adopted
// instead of making issuing call c (-1 when none), and whether a tie
// explains that it adopted none. Candidates are the secrets issued after
// AWSCURRENT's and stored before the step started; one with AWSCURRENT's
// expiry is not newer than it, and the newest is not adopted when another
// stored secret shares its expiry (package rotation, choose): both are
// ties. The partner of a tie counts when it was stored at any time in the
// run, since storedAt can trail the write under load.
func adoptable(c RotateCall, issued []string, started time.Time, storedAt, storedExpiry map[string]time.Time) (int, bool) {
	best, tie := -1, false
	for j := c.Current + 1; j < c.Secret; j++ {
		if at, ok := storedAt[issued[j]]; !ok || !at.Before(started) {
			continue
		}
		if tied(storedExpiry, issued[j], issued[c.Current]) {
			tie = true
			continue
		}
		best = j // expiries grow with the issue order, ties aside
	}
	if best < 0 {
		return -1, tie
	}
	for k := c.Current + 1; k < c.Secret; k++ {
		if _, ok := storedAt[issued[k]]; ok && k != best && tied(storedExpiry, issued[k], issued[best]) {
			return -1, true
		}
	}
	return best, false
}

// lateReceiverCall reports whether issuing call c, the first of its
// rotation, was made by a rotation a receiver started while AWSCURRENT
// held a secret newer than every other secret issued before the call and
// stored in the run, and tied with none of them (checkRotateCalls). It
// therefore never holds for a call the loop above counted as needless or
// tied. storedAt is when observe first saw a secret, which under load can
// be simulated minutes after the write, so any secret stored in the run
// counts: a call is counted as late only when it surely is.
func (w *World) lateReceiverCall(c RotateCall, issued []string, storedAt, storedExpiry map[string]time.Time) bool {
	w.mu.Lock()
	byReceiver := w.receiverTokens[c.Token]
	w.mu.Unlock()
	if !byReceiver || c.Current < 0 {
		return false
	}
	for j := range c.Secret {
		if _, ok := storedAt[issued[j]]; j == c.Current || !ok {
			continue
		}
		if j > c.Current || tied(storedExpiry, issued[j], issued[c.Current]) {
			return false
		}
	}
	return true
}

// requestedBefore returns the last rotation-requested-at write for arn at
// or before t (t itself if there is none).
func (w *World) requestedBefore(arn string, t time.Time) time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	at := t
	for _, r := range w.requested {
		if r.arn == arn && !r.at.After(t) {
			at = r.at
		}
	}
	return at
}

func storedDesc(t time.Time, ok bool) string {
	if !ok {
		return "never"
	}
	return t.Sub(Epoch).String()
}

// checkLeaks is I4: no client secret, access token or refresh token in any
// log line, alert or returned error.
func (w *World) checkLeaks(res *Result) {
	type secret struct{ what, value string }
	var secrets []secret
	for _, a := range w.Apps {
		for i, s := range a.Sim.Issued() {
			secrets = append(secrets, secret{fmt.Sprintf("app %d client secret #%d", a.Index, i), s})
		}
		secrets = append(secrets, secret{fmt.Sprintf("app %d refresh token", a.Index), a.Refresh})
	}
	for i, v := range w.Secrets {
		secrets = append(secrets, secret{fmt.Sprintf("test secret #%d", i), v})
	}
	for i, t := range w.AccessTokens() {
		secrets = append(secrets, secret{fmt.Sprintf("access token #%d", i), t})
	}
	type place struct{ what, text string }
	places := []place{{"logs", w.Logs()}}
	for i, in := range w.SNS.Published() {
		var attrs []string
		for k, v := range in.MessageAttributes {
			attrs = append(attrs, k+"="+aws.ToString(v.StringValue))
		}
		places = append(places, place{fmt.Sprintf("alert #%d", i), aws.ToString(in.Subject) + "\n" + aws.ToString(in.Message) + "\n" + strings.Join(attrs, "\n")})
	}
	for i, e := range w.Errors() {
		places = append(places, place{fmt.Sprintf("returned error #%d", i), e})
	}
	for _, p := range places {
		for _, s := range secrets {
			if s.value != "" && strings.Contains(p.text, s.value) {
				res.Leaks++
				res.violate("I4: %s found in %s", s.what, p.what)
			}
		}
	}
}

// tied reports whether secrets a and b were both stored with the same
// clientSecretExpiresAt (checkRotateCalls).
func tied(storedExpiry map[string]time.Time, a, b string) bool {
	ea, aok := storedExpiry[a]
	eb, bok := storedExpiry[b]
	return aok && bok && ea.Equal(eb)
}
