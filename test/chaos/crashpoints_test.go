package chaos

import (
	"context"
	"hash/fnv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/spapi-lwa/secret-rotation/internal/alert"
	"github.com/spapi-lwa/secret-rotation/internal/managed"
	"github.com/spapi-lwa/secret-rotation/internal/rotation"
	"github.com/spapi-lwa/secret-rotation/test/spapisim"
)

// CrashPoint is one side-effect boundary of a handler and how to crash there.
type CrashPoint struct {
	Name string
	// Site is the call the source scan matches, package.function.Method#n (the n-th such call in
	// the function); "" for the acknowledgement of an SQS message, outside the handlers' code.
	Site     string
	Scenario string // a key of Scenarios
	Crash    Crash
}

// CrashPoints enumerates every side-effect boundary of the rotation steps, the receiver and the
// expiry alert (TestCrashPointTableCoversSource).
var CrashPoints = []CrashPoint{
	// createSecret, Case 5: tag, token, rotate call, and the clean-ups of a refusal.
	{"createSecret: tagging rotation-requested-at fails", "rotation.requestSecret.TagResource#1", "scheduled",
		Crash{Op: "TagResource", Arg: managed.TagRotationRequestedAt}},
	{"createSecret: crash after tagging rotation-requested-at", "rotation.requestSecret.TagResource#1", "scheduled",
		Crash{Op: "TagResource", Arg: managed.TagRotationRequestedAt, After: true}},
	{"createSecret: crash after the LWA token for the rotate call", "rotation.requestSecret.ClientCredentials#1", "scheduled",
		Crash{Op: "ClientCredentials", After: true}},
	{"createSecret: the rotate call never reaches Amazon", "rotation.requestSecret.RotateApplicationClientSecret#1", "scheduled",
		Crash{Op: "RotateApplicationClientSecret"}},
	{"createSecret: crash after the rotate call (secret issued, answer lost)", "rotation.requestSecret.RotateApplicationClientSecret#1", "scheduled",
		Crash{Op: "RotateApplicationClientSecret", After: true}},
	{"createSecret: crash after untagging following a throttled rotate call", "rotation.untagAfter.UntagResource#1", "throttled",
		Crash{Op: "UntagResource", Arg: managed.TagRotationRequestedAt, After: true}},
	{"createSecret: crash after the ROTATION_FAILED alert (not enrolled)", "rotation.failWithAlert.Publish#1", "notEnrolled",
		Crash{Op: "Publish", Arg: string(alert.EventRotationFailed), After: true}},
	// createSecret, Case 3: the pending version.
	{"createSecret: writing AWSPENDING fails", "rotation.writePending.PutSecretValue#1", "scheduled",
		Crash{Op: "PutSecretValue", Arg: managed.StagePending}},
	{"createSecret: crash after writing AWSPENDING", "rotation.writePending.PutSecretValue#1", "scheduled",
		Crash{Op: "PutSecretValue", Arg: managed.StagePending, After: true}},
	{"createSecret: crash after the rotate call that two tied secrets need", "rotation.requestSecret.RotateApplicationClientSecret#1", "tied",
		Crash{Op: "RotateApplicationClientSecret", After: true}},
	// testSecret.
	{"testSecret (configuration test): crash after the LWA token", "rotation.testSecret.ClientCredentials#1", "configTest",
		Crash{Op: "ClientCredentials", After: true}},
	{"testSecret: crash after the LWA token with the pending credentials", "rotation.testSecret.ClientCredentials#2", "portal",
		Crash{Op: "ClientCredentials", After: true}},
	// testSecret, Case 9: rejecting a secret LWA keeps refusing.
	{"testSecret: listing the rejected secret fails", "rotation.reject.TagResource#1", "forged",
		Crash{Op: "TagResource", Arg: managed.TagRejectedSecrets}},
	{"testSecret: crash after listing the rejected secret", "rotation.reject.TagResource#1", "forged",
		Crash{Op: "TagResource", Arg: managed.TagRejectedSecrets, After: true}},
	{"testSecret: crash after taking LWA_RECEIVED off the rejected secret", "rotation.removeStage.UpdateSecretVersionStage#1", "forged",
		Crash{Op: "UpdateSecretVersionStage", Arg: managed.StageReceived, After: true}},
	{"testSecret: crash after the ROTATION_FAILED alert for the rejected secret", "rotation.failWithAlert.Publish#1", "forged",
		Crash{Op: "Publish", Arg: string(alert.EventRotationFailed), After: true}},
	{"testSecret: taking AWSPENDING off the rejected secret's version fails", "rotation.removeStage.UpdateSecretVersionStage#1", "forged",
		Crash{Op: "UpdateSecretVersionStage", Arg: managed.StagePending}},
	{"testSecret: crash after taking AWSPENDING off the rejected secret's version", "rotation.removeStage.UpdateSecretVersionStage#1", "forged",
		Crash{Op: "UpdateSecretVersionStage", Arg: managed.StagePending, After: true}},
	// finishSecret, Case 10.
	{"finishSecret: the LWA check of the pending credentials fails", "rotation.finishSecret.ClientCredentials#1", "scheduled",
		Crash{Op: "ClientCredentials", Step: rotation.StepFinish}},
	{"finishSecret: crash after the LWA check of the pending credentials", "rotation.finishSecret.ClientCredentials#1", "scheduled",
		Crash{Op: "ClientCredentials", Step: rotation.StepFinish, After: true}},
	{"finishSecret: moving AWSCURRENT fails", "rotation.finishSecret.UpdateSecretVersionStage#1", "scheduled",
		Crash{Op: "UpdateSecretVersionStage", Arg: managed.StageCurrent}},
	{"finishSecret: crash after moving AWSCURRENT", "rotation.finishSecret.UpdateSecretVersionStage#1", "scheduled",
		Crash{Op: "UpdateSecretVersionStage", Arg: managed.StageCurrent, After: true}},
	{"finishSecret: crash after the CLIENT_SECRET_ROTATED alert", "rotation.finishTail.Publish#1", "scheduled",
		Crash{Op: "Publish", Arg: string(alert.EventRotated), After: true}},
	{"finishSecret: crash after tagging client-secret-expires-at", "rotation.finishTail.TagResource#1", "scheduled",
		Crash{Op: "TagResource", Arg: managed.TagClientSecretExpiresAt, After: true}},
	{"finishSecret: crash after untagging rotation-requested-at", "rotation.finishSecret.UntagResource#1", "scheduled",
		Crash{Op: "UntagResource", Arg: managed.TagRotationRequestedAt, After: true}},

	// Receiver: it only appends (Case 2c), starts a rotation (Case 4) and alerts.
	{"receiver: writing the version (LWA_RECEIVED) fails", "receiver.put.PutSecretValue#1", "scheduled",
		Crash{Op: "PutSecretValue", Arg: managed.StageReceived}},
	{"receiver: crash after writing the version (LWA_RECEIVED)", "receiver.put.PutSecretValue#1", "scheduled",
		Crash{Op: "PutSecretValue", Arg: managed.StageReceived, After: true}},
	{"receiver: crash after writing an out-of-order (older) secret (LWA_SUPERSEDED)", "receiver.put.PutSecretValue#1", "reordered",
		Crash{Op: "PutSecretValue", Arg: managed.StageSuperseded, After: true}},
	{"receiver: crash after writing a forged secret", "receiver.put.PutSecretValue#1", "forged",
		Crash{Op: "PutSecretValue", Arg: managed.StageReceived, After: true}},
	{"receiver: RotateSecret fails", "receiver.adopt.RotateSecret#1", "portal", Crash{Op: "RotateSecret"}},
	{"receiver: crash after RotateSecret", "receiver.adopt.RotateSecret#1", "portal",
		Crash{Op: "RotateSecret", After: true}},
	{"receiver: crash after RotateSecret for the second of two tied secrets", "receiver.adopt.RotateSecret#1", "tied",
		Crash{Op: "RotateSecret", Nth: 2, After: true}},
	{"receiver: crash after the NEW_CLIENT_SECRET_RECEIVED alert", "receiver.publish.Publish#1", "portal",
		Crash{Op: "Publish", Arg: string(alert.EventReceived), After: true}},
	{"receiver: crash after the NOTIFICATION_REJECTED alert", "receiver.publishRejected.Publish#1", "malformed",
		Crash{Op: "Publish", Arg: string(alert.EventRejected), After: true}},
	{"receiver: crash after the redacted NOTIFICATION_REJECTED alert (secret-shaped fields)", "receiver.publishRejected.Publish#2", "secretShaped",
		Crash{Op: "Publish", Arg: string(alert.EventRejected), After: true}},
	{"receiver: handled message not acknowledged (delete fails)", "", "portal",
		Crash{Op: "DeleteMessage", Arg: "new-secret"}},

	// Expiry alert.
	{"expiry: RotateSecret fails", "expiry.rotate.RotateSecret#1", "expiry", Crash{Op: "RotateSecret"}},
	{"expiry: crash after RotateSecret", "expiry.rotate.RotateSecret#1", "expiry",
		Crash{Op: "RotateSecret", After: true}},
	{"expiry: crash after the CLIENT_SECRET_EXPIRING alert", "expiry.publish.Publish#1", "expiry",
		Crash{Op: "Publish", Arg: string(alert.EventExpiring), After: true}},
	{"expiry: crash after the NOTIFICATION_REJECTED alert", "expiry.reject.Publish#1", "expiryMalformed",
		Crash{Op: "Publish", Arg: string(alert.EventRejected), After: true}},
	{"expiry: handled message not acknowledged (delete fails)", "", "expiry",
		Crash{Op: "DeleteMessage", Arg: "secret-expiry"}},
}

// Scenarios are the fault-free worlds the crash points run in.
var Scenarios = map[string]func(seed uint64) *World{
	"scheduled": func(seed uint64) *World {
		return scenario(seed, func(s *Schedule) { s.Rotations = []time.Duration{time.Minute} })
	},
	// The receiver stores a portal rotation's secret and starts the rotation that adopts it.
	"portal": func(seed uint64) *World {
		return scenario(seed, func(s *Schedule) { s.Portal = []time.Duration{30 * time.Second} })
	},
	// Two portal rotations delivered in reverse order, in one batch: the older is LWA_SUPERSEDED.
	"reordered": func(seed uint64) *World {
		w := scenario(seed, func(s *Schedule) {
			s.FaultPhase, s.Sim.Reorder = 30*time.Minute, true
			s.Portal = []time.Duration{30 * time.Second, 40 * time.Second}
		})
		w.Concurrency = 1 // one batch at a time
		return w
	},
	// Two portal rotations in one instant: equal expiries, so one rotation asks Amazon (Result.Tied).
	"tied": func(seed uint64) *World {
		w := scenario(seed, nil)
		w.Concurrency = 1 // one batch at a time
		w.Hooks = []Hook{{30 * time.Second, func(w *World) {
			w.Apps[0].Sim.PortalRotate()
			w.Apps[0].Sim.PortalRotate()
		}}}
		return w
	},
	// A forged delivery at 30s, adopted then rejected; the rotation at 2h asks Amazon for a genuine one.
	"forged": func(seed uint64) *World {
		return scenario(seed, func(s *Schedule) {
			s.Forged = &ForgedDelivery{At: 30 * time.Second}
			s.Rotations = []time.Duration{2 * time.Hour}
		})
	},
	"throttled": func(seed uint64) *World {
		return scenario(seed, func(s *Schedule) {
			s.FaultPhase, s.Sim.ThrottleNextRotateCalls = 10*time.Minute, 5
			s.Rotations = []time.Duration{time.Minute}
		})
	},
	// The new-secret queue is not registered until 20 minutes in.
	"notEnrolled": func(seed uint64) *World {
		w := scenario(seed, func(s *Schedule) { s.Rotations = []time.Duration{time.Minute} })
		w.Hooks = []Hook{
			{0, func(w *World) { w.Apps[0].Sim.Enroll(nil) }},
			{20 * time.Minute, func(w *World) { w.Apps[0].Sim.Enroll(w.deliverTo(w.NewSecretQ, w.Sched.SQSSendFail)) }},
		}
		return w
	},
	"configTest": func(seed uint64) *World {
		w := scenario(seed, nil)
		w.Hooks = []Hook{{30 * time.Second, func(w *World) { // Secrets Manager's configuration test
			token := w.uuid()
			w.engine.ConfigTest(w.Apps[0].ARN, token)
			_, _ = w.SM.RotateSecret(context.Background(), &secretsmanager.RotateSecretInput{
				SecretId: aws.String(w.Apps[0].ARN), ClientRequestToken: aws.String(token),
			})
		}}}
		return w
	},
	"malformed": func(seed uint64) *World {
		return rejected(seed, func(w *World) { w.NewSecretQ.Send("{not json", w.Now()) })
	},
	// A notification for an unknown client whose application id is shaped like a client secret.
	"secretShaped": func(seed uint64) *World {
		return rejected(seed, func(w *World) {
			w.NewSecretQ.Send(NewSecretBody("amzn1.application-oa2-client.unknown", spapisim.SecretPrefix+"deadbeef",
				spapisim.SecretPrefix+"0123", "n-1", w.Now()), w.Now())
		})
	},
	"expiry": func(seed uint64) *World {
		return scenario(seed, func(s *Schedule) { s.Expiry = []ExpiryNotice{{At: 30 * time.Second}} })
	},
	"expiryMalformed": func(seed uint64) *World {
		return rejected(seed, func(w *World) { w.ExpiryQ.Send("[]", w.Now()) })
	},
}

// scenario is the world of a fault-free schedule that edit changes.
func scenario(seed uint64, edit func(s *Schedule)) *World {
	s := baseSchedule(seed)
	if edit != nil {
		edit(&s)
	}
	return NewWorld(s)
}

// rejected is a fault-free world where send puts input no handler accepts on a queue at 30s.
func rejected(seed uint64, send func(w *World)) *World {
	w := scenario(seed, nil)
	w.Redrive = false
	w.Hooks = []Hook{{30 * time.Second, send}}
	return w
}

// baseSchedule is a fault-free schedule.
func baseSchedule(seed uint64) Schedule {
	return Schedule{Seed: seed, Apps: 1, FaultPhase: time.Minute, DeliveryDelay: time.Minute}
}

// SeedOf derives a stable seed from a name.
func SeedOf(name string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	return h.Sum64()
}

// NewSecretBody returns a NEW_SECRET body shaped like the official example, expiring 180 days on.
func NewSecretBody(clientID, applicationID, secret, notificationID string, now time.Time) string {
	return newSecretBody(clientID, applicationID, secret, notificationID, now, now.Add(180*24*time.Hour))
}
