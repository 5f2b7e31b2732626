package chaos

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spapi-lwa/secret-rotation/internal/alert"
	"github.com/spapi-lwa/secret-rotation/internal/managed"
	"github.com/spapi-lwa/secret-rotation/test/snstest"
)

// publishedAlert is one published alert: its default document and email text.
type publishedAlert struct {
	doc   map[string]any
	email string
}

func publishedAlerts(t *testing.T, w *World) []publishedAlert {
	t.Helper()
	docs := w.SNS.Alerts()
	var out []publishedAlert
	for i, in := range w.SNS.Published() {
		out = append(out, publishedAlert{doc: docs[i], email: snstest.Structure(t, in)["email"]})
	}
	return out
}

// firstAlert returns the index of the first alert from index from on that
// ok accepts, or -1.
func firstAlert(alerts []publishedAlert, from int, ok func(publishedAlert) bool) int {
	for i := from; i < len(alerts); i++ {
		if ok(alerts[i]) {
			return i
		}
	}
	return -1
}

func eventIs(e alert.Event) func(publishedAlert) bool {
	return func(a publishedAlert) bool { return a.doc["event"] == string(e) }
}

// TestForgedDeliveryThenScheduledRotation is the end-to-end story of a
// forged delivery: a NEW_SECRET message for the managed client id whose
// secret LWA never accepts, claiming a later expiry than any genuine one.
// The receiver stores it and starts a rotation, which adopts it (it claims
// the latest expiry); testSecret fails on it until the pending version is
// RejectAfter old, then lists it in sp-api-lwa:rejected-secrets and takes
// AWSPENDING off. The scheduled rotation that follows does not adopt it
// again: it asks Amazon, and the genuine secret ends in AWSCURRENT. A
// person reading the alerts learns each step.
func TestForgedDeliveryThenScheduledRotation(t *testing.T) {
	w := Scenarios["forged"](SeedOf(t.Name()))
	w.OperatorRotates = false // the scheduled rotation alone must do it
	logStateOnFailure(t, w)
	r := w.Run()
	for _, v := range r.Violations {
		t.Error(v)
	}
	forged := w.forged
	if len(forged) != 1 || r.Forged != 1 {
		t.Fatalf("forged deliveries = %d, want 1", len(forged))
	}
	f := forged[0]
	if r.ForgedRejected != 1 {
		t.Errorf("forged secrets listed in %s = %d, want 1", managed.TagRejectedSecrets, r.ForgedRejected)
	}
	issued := w.Apps[0].Sim.Issued()
	if len(issued) != 2 {
		t.Fatalf("secrets issued after the initial one = %d, want 1 (the scheduled rotation asks Amazon once)", len(issued)-1)
	}
	if w.CurrentSecret(0) != issued[1] {
		t.Errorf("AWSCURRENT holds issued #%d, want the genuine secret #1", indexOf(issued, w.CurrentSecret(0)))
	}
	if !r.Settled {
		t.Error("the world did not settle")
	}
	arn := w.Apps[0].ARN
	if id, ok := w.SM.StageVersion(arn, managed.StageReceived); ok {
		if v, _ := w.SM.Value(arn, id); secretOf(v) == f.Secret {
			t.Errorf("LWA_RECEIVED is still on the forged secret's version %s", id)
		}
	}

	// The alerts, in the order a person reads them.
	alerts := publishedAlerts(t, w)
	var summary []string
	for _, a := range alerts {
		summary = append(summary, a.doc["event"].(string)+" "+a.doc["action"].(string))
	}
	t.Logf("alerts: %s", strings.Join(summary, ", "))
	forgedReceived := firstAlert(alerts, 0, func(a publishedAlert) bool {
		return eventIs(alert.EventReceived)(a) && a.doc["notificationId"] == f.NotificationID
	})
	if forgedReceived < 0 {
		t.Fatalf("no %s alert names the forged notification %s", alert.EventReceived, f.NotificationID)
	}
	failed := firstAlert(alerts, forgedReceived, eventIs(alert.EventRotationFailed))
	if failed < 0 {
		t.Fatalf("no %s alert after the forged delivery's %s", alert.EventRotationFailed, alert.EventReceived)
	}
	if a := alerts[failed]; !strings.Contains(a.email, managed.TagRejectedSecrets) || a.doc["severity"] != string(alert.SeverityCritical) {
		t.Errorf("%s alert: severity %v, email names %s: %v; want CRITICAL and the tag", alert.EventRotationFailed, a.doc["severity"], managed.TagRejectedSecrets, strings.Contains(a.email, managed.TagRejectedSecrets))
	}
	if n := countAlerts(alerts, eventIs(alert.EventRotationFailed)); n != 1 {
		t.Errorf("%s alerts = %d, want 1: the rejection is alerted once", alert.EventRotationFailed, n)
	}
	genuineReceived := firstAlert(alerts, failed, func(a publishedAlert) bool {
		return eventIs(alert.EventReceived)(a) && a.doc["notificationId"] != f.NotificationID
	})
	if genuineReceived < 0 {
		t.Errorf("no %s alert for the genuine delivery after the %s alert", alert.EventReceived, alert.EventRotationFailed)
	}
	rotated := firstAlert(alerts, failed, eventIs(alert.EventRotated))
	if rotated < 0 {
		t.Fatalf("no %s alert after the %s alert", alert.EventRotated, alert.EventRotationFailed)
	}
	if id, _ := w.SM.StageVersion(arn, managed.StageCurrent); alerts[rotated].doc["versionId"] != id {
		t.Errorf("%s alert names version %v, want AWSCURRENT's %s", alert.EventRotated, alerts[rotated].doc["versionId"], id)
	}
	if n := countAlerts(alerts, eventIs(alert.EventRotated)); n != 1 {
		t.Errorf("%s alerts = %d, want 1", alert.EventRotated, n)
	}
	w.SNS.Check(t, topicARN, f.Secret, issued[0], issued[1])
}

func countAlerts(alerts []publishedAlert, ok func(publishedAlert) bool) int {
	n := 0
	for _, a := range alerts {
		if ok(a) {
			n++
		}
	}
	return n
}

func indexOf(issued []string, s string) int {
	for i, x := range issued {
		if x == s {
			return i
		}
	}
	return -1
}

// TestForgedDeliveryInSeededSchedules checks that the seeded schedules
// carry forged deliveries in about ForgedShare percent of runs, within the
// fault phase, for an app of the world.
func TestForgedDeliveryInSeededSchedules(t *testing.T) {
	n := 0
	for seed := uint64(1); seed <= 1000; seed++ {
		s := NewSchedule(seed)
		if s.Forged == nil {
			continue
		}
		n++
		if s.Forged.At >= s.FaultPhase || s.Forged.App >= s.Apps {
			t.Errorf("seed %d: forged delivery %+v outside the fault phase %s or the %d apps", seed, *s.Forged, s.FaultPhase, s.Apps)
		}
	}
	if n < 60 || n > 140 {
		t.Errorf("forged deliveries in %d of 1000 seeds, want about %d", n, ForgedShare*10)
	}
}

// TestSeed1470GenuineSecretStrandedBehindForgedOne replays what seed 1470
// found (and seed 821 under another interleaving). It FAILS on the current
// receiver and rotation: a forged secret, claiming the latest expiry, keeps
// a genuine secret out of AWSCURRENT for good.
//
//  1. A forged delivery is stored (LWA_RECEIVED: it claims the latest
//     expiry), but its RotateSecret fails, so its message waits for a
//     redelivery. (In seed 1470 a rotation in progress refused it.)
//  2. A secret rotated by hand in the portal is delivered: the receiver
//     stores it (LWA_SUPERSEDED, the forged one is "later"), its
//     RotateSecret starts a rotation, and the message is acknowledged
//     (ROTATION_STARTED).
//  3. That rotation's createSecret chooses the newest stored secret by
//     expiry: the forged one. testSecret fails on it until its pending
//     version is RejectAfter old, then lists it as rejected and takes
//     AWSPENDING off; the rotation ends failed.
//  4. Nothing starts another rotation: the genuine delivery was
//     acknowledged in step 2, the forged one's redelivery finds it rejected.
//     The genuine secret stays stored and unadopted; Amazon stops accepting
//     AWSCURRENT's secret 7 days after the portal rotation, long before a
//     30-day schedule rotates again. Only the watchdog (RECEIVED_NOT_ADOPTED,
//     after STUCK_ROTATION_AFTER) tells a person.
//
// The world must settle with the genuine secret in AWSCURRENT without a
// rotation started by anyone but the handlers.
func TestSeed1470GenuineSecretStrandedBehindForgedOne(t *testing.T) {
	s := baseSchedule(1470)
	s.Forged = &ForgedDelivery{At: 30 * time.Second}
	s.Portal = []time.Duration{time.Minute} // delivered at 2m
	w := NewWorld(s)
	w.OperatorRotates = false
	logStateOnFailure(t, w)
	failed := failFirstHandlerRotateSecret(w) // the forged delivery's
	r := w.Run()
	if !failed() || r.ForgedRejected != 1 {
		t.Fatalf("the scenario did not happen: RotateSecret failed %v, forged secrets rejected %d", failed(), r.ForgedRejected)
	}
	// The genuine delivery was acknowledged: it started the rotation that adopts its secret or, under
	// load, found one in progress that holds it (ROTATION_RESUMED) or its secret already adopted (NONE).
	f := w.forged[0]
	acks := []any{string(alert.ActionRotationStarted), string(alert.ActionRotationResumed), string(alert.ActionNone)}
	acked := firstAlert(publishedAlerts(t, w), 0, func(a publishedAlert) bool {
		return eventIs(alert.EventReceived)(a) && a.doc["notificationId"] != f.NotificationID &&
			slices.Contains(acks, a.doc["action"])
	})
	if acked < 0 {
		t.Fatal("the scenario did not happen: the genuine delivery was not acknowledged")
	}
	issued := w.Apps[0].Sim.Issued()
	if got := indexOf(issued, w.CurrentSecret(0)); got != len(issued)-1 {
		t.Errorf("AWSCURRENT holds issued #%d, want the newest genuine secret #%d", got, len(issued)-1)
	}
	for _, v := range r.Violations {
		t.Error(v)
	}
}

// TestForgedSecretOutlastsGenuineDeliveryRetries is the same family as
// TestSeed1470GenuineSecretStrandedBehindForgedOne, through the dead-letter
// queue. It FAILS on the current receiver and rotation.
//
//  1. A forged delivery is stored and its rotation adopts it (pending).
//  2. A genuine secret (rotated by hand) is delivered and stored; its
//     RotateSecret is refused (the rotation is in progress) and the pending
//     version holds the forged secret, so the message fails
//     (ErrRotationBusy), again on each redelivery.
//  3. The queue allows MaxReceiveCount receives a visibility timeout apart
//     (5 x 6 min = 30 min as deployed), less than RejectAfter (1h): the
//     genuine message reaches the dead-letter queue before the forged
//     secret is rejected.
//  4. After the rejection nothing starts the rotation that adopts the
//     genuine secret until a person redrives the message.
//
// With no one redriving, the world must settle with the genuine secret in
// AWSCURRENT.
func TestForgedSecretOutlastsGenuineDeliveryRetries(t *testing.T) {
	s := baseSchedule(SeedOf(t.Name()))
	s.Forged = &ForgedDelivery{At: 30 * time.Second}
	s.Portal = []time.Duration{2 * time.Minute}
	w := NewWorld(s)
	w.OperatorRotates = false
	w.Redrive = false
	logStateOnFailure(t, w)
	r := w.Run()
	if r.ForgedRejected != 1 {
		t.Fatalf("the scenario did not happen: forged secrets rejected %d, want 1", r.ForgedRejected)
	}
	if _, n, _ := w.NewSecretQ.Len(); n > 0 {
		t.Errorf("new-secret dead-letter queue holds %d genuine deliveries", n)
	}
	issued := w.Apps[0].Sim.Issued()
	if got := indexOf(issued, w.CurrentSecret(0)); got != len(issued)-1 {
		t.Errorf("AWSCURRENT holds issued #%d, want the newest genuine secret #%d", got, len(issued)-1)
	}
	for _, v := range r.Violations {
		t.Error(v)
	}
}
