package chaos

import (
	"fmt"
	"hash/fnv"
	"time"

	"github.com/spapi-lwa/secret-rotation/internal/alert"
	"github.com/spapi-lwa/secret-rotation/internal/managed"
	"github.com/spapi-lwa/secret-rotation/internal/rotation"
	"github.com/spapi-lwa/secret-rotation/test/spapisim"
)

// CrashPoint is one side-effect boundary of a handler and how to crash there.
type CrashPoint struct {
	Name string
	// Sites are the call sites in the handlers' source this row covers, as
	// package.function.Method#n (the n-th such call in the function); the
	// source scan test matches them. Empty for boundaries outside the
	// handlers' code (acknowledging an SQS message).
	Sites    []string
	Scenario string // a key of Scenarios
	Crash    Crash
}

// CrashPoints enumerates every side-effect boundary of the rotation steps,
// the receiver and the expiry alert. A call of a side-effecting method in
// those packages without a row here fails TestCrashPointTableCoversSource.
var CrashPoints = []CrashPoint{
	// createSecret, Case 5: tag, token, rotate call, and the clean-ups of a refusal.
	{"createSecret: tagging rotation-requested-at fails", []string{"rotation.requestSecret.TagResource#1"}, "scheduled",
		Crash{Op: "TagResource", Match: TagIs(managed.TagRotationRequestedAt)}},
	{"createSecret: crash after tagging rotation-requested-at", []string{"rotation.requestSecret.TagResource#1"}, "scheduled",
		Crash{Op: "TagResource", Match: TagIs(managed.TagRotationRequestedAt), After: true}},
	{"createSecret: crash after the LWA token for the rotate call", []string{"rotation.requestSecret.ClientCredentials#1"}, "scheduled",
		Crash{Op: "ClientCredentials", After: true}},
	{"createSecret: the rotate call never reaches Amazon", []string{"rotation.requestSecret.RotateApplicationClientSecret#1"}, "scheduled",
		Crash{Op: "RotateApplicationClientSecret"}},
	{"createSecret: crash after the rotate call (secret issued, answer lost)", []string{"rotation.requestSecret.RotateApplicationClientSecret#1"}, "scheduled",
		Crash{Op: "RotateApplicationClientSecret", After: true}},
	{"createSecret: crash after untagging following a throttled rotate call", []string{"rotation.untagAfter.UntagResource#1"}, "throttled",
		Crash{Op: "UntagResource", Match: TagIs(managed.TagRotationRequestedAt), After: true}},
	{"createSecret: crash after the ROTATION_FAILED alert (not enrolled)", []string{"rotation.failWithAlert.Publish#1"}, "notEnrolled",
		Crash{Op: "Publish", Match: EventIs(string(alert.EventRotationFailed)), After: true}},
	// createSecret, Case 3: the pending version.
	{"createSecret: writing AWSPENDING fails", []string{"rotation.writePending.PutSecretValue#1"}, "scheduled",
		Crash{Op: "PutSecretValue", Match: StageIs(managed.StagePending)}},
	{"createSecret: crash after writing AWSPENDING", []string{"rotation.writePending.PutSecretValue#1"}, "scheduled",
		Crash{Op: "PutSecretValue", Match: StageIs(managed.StagePending), After: true}},
	{"createSecret: crash after the rotate call that two tied secrets need", []string{"rotation.requestSecret.RotateApplicationClientSecret#1"}, "tied",
		Crash{Op: "RotateApplicationClientSecret", After: true}},
	// testSecret.
	{"testSecret (configuration test): crash after the LWA token", []string{"rotation.testSecret.ClientCredentials#1"}, "configTest",
		Crash{Op: "ClientCredentials", After: true}},
	{"testSecret: crash after the LWA token with the pending credentials", []string{"rotation.testSecret.ClientCredentials#2"}, "portal",
		Crash{Op: "ClientCredentials", After: true}},
	// testSecret, Case 9: rejecting a secret LWA keeps refusing.
	{"testSecret: listing the rejected secret fails", []string{"rotation.reject.TagResource#1"}, "forged",
		Crash{Op: "TagResource", Match: TagIs(managed.TagRejectedSecrets)}},
	{"testSecret: crash after listing the rejected secret", []string{"rotation.reject.TagResource#1"}, "forged",
		Crash{Op: "TagResource", Match: TagIs(managed.TagRejectedSecrets), After: true}},
	{"testSecret: crash after taking LWA_RECEIVED off the rejected secret", []string{"rotation.removeStage.UpdateSecretVersionStage#1"}, "forged",
		Crash{Op: "UpdateSecretVersionStage", Match: StageMove(managed.StageReceived), After: true}},
	{"testSecret: crash after the ROTATION_FAILED alert for the rejected secret", []string{"rotation.failWithAlert.Publish#1"}, "forged",
		Crash{Op: "Publish", Match: EventIs(string(alert.EventRotationFailed)), After: true}},
	{"testSecret: taking AWSPENDING off the rejected secret's version fails", []string{"rotation.removeStage.UpdateSecretVersionStage#1"}, "forged",
		Crash{Op: "UpdateSecretVersionStage", Match: StageMove(managed.StagePending)}},
	{"testSecret: crash after taking AWSPENDING off the rejected secret's version", []string{"rotation.removeStage.UpdateSecretVersionStage#1"}, "forged",
		Crash{Op: "UpdateSecretVersionStage", Match: StageMove(managed.StagePending), After: true}},
	// finishSecret, Case 10.
	{"finishSecret: the LWA check of the pending credentials fails", []string{"rotation.finishSecret.ClientCredentials#1"}, "scheduled",
		Crash{Op: "ClientCredentials", Step: rotation.StepFinish}},
	{"finishSecret: crash after the LWA check of the pending credentials", []string{"rotation.finishSecret.ClientCredentials#1"}, "scheduled",
		Crash{Op: "ClientCredentials", Step: rotation.StepFinish, After: true}},
	{"finishSecret: moving AWSCURRENT fails", []string{"rotation.finishSecret.UpdateSecretVersionStage#1"}, "scheduled",
		Crash{Op: "UpdateSecretVersionStage", Match: StageMove(managed.StageCurrent)}},
	{"finishSecret: crash after moving AWSCURRENT", []string{"rotation.finishSecret.UpdateSecretVersionStage#1"}, "scheduled",
		Crash{Op: "UpdateSecretVersionStage", Match: StageMove(managed.StageCurrent), After: true}},
	{"finishSecret: crash after the CLIENT_SECRET_ROTATED alert", []string{"rotation.finishTail.Publish#1"}, "scheduled",
		Crash{Op: "Publish", Match: EventIs(string(alert.EventRotated)), After: true}},
	{"finishSecret: crash after tagging client-secret-expires-at", []string{"rotation.finishTail.TagResource#1"}, "scheduled",
		Crash{Op: "TagResource", Match: TagIs(managed.TagClientSecretExpiresAt), After: true}},
	{"finishSecret: crash after untagging rotation-requested-at", []string{"rotation.finishSecret.UntagResource#1"}, "scheduled",
		Crash{Op: "UntagResource", Match: TagIs(managed.TagRotationRequestedAt), After: true}},

	// Receiver: it only appends (Case 2c), starts a rotation (Case 4) and alerts.
	{"receiver: writing the version (LWA_RECEIVED) fails", []string{"receiver.put.PutSecretValue#1"}, "scheduled",
		Crash{Op: "PutSecretValue", Match: StageIs(managed.StageReceived)}},
	{"receiver: crash after writing the version (LWA_RECEIVED)", []string{"receiver.put.PutSecretValue#1"}, "scheduled",
		Crash{Op: "PutSecretValue", Match: StageIs(managed.StageReceived), After: true}},
	{"receiver: crash after writing an out-of-order (older) secret (LWA_SUPERSEDED)", []string{"receiver.put.PutSecretValue#1"}, "reordered",
		Crash{Op: "PutSecretValue", Match: StageIs(managed.StageSuperseded), After: true}},
	{"receiver: crash after writing a forged secret", []string{"receiver.put.PutSecretValue#1"}, "forged",
		Crash{Op: "PutSecretValue", Match: StageIs(managed.StageReceived), After: true}},
	{"receiver: RotateSecret fails", []string{"receiver.adopt.RotateSecret#1"}, "portal",
		Crash{Op: "RotateSecret"}},
	{"receiver: crash after RotateSecret", []string{"receiver.adopt.RotateSecret#1"}, "portal",
		Crash{Op: "RotateSecret", After: true}},
	{"receiver: crash after RotateSecret for the second of two tied secrets", []string{"receiver.adopt.RotateSecret#1"}, "tied",
		Crash{Op: "RotateSecret", Nth: 2, After: true}},
	{"receiver: crash after the NEW_CLIENT_SECRET_RECEIVED alert", []string{"receiver.publish.Publish#1"}, "portal",
		Crash{Op: "Publish", Match: EventIs(string(alert.EventReceived)), After: true}},
	{"receiver: crash after the NOTIFICATION_REJECTED alert", []string{"receiver.publishRejected.Publish#1"}, "malformed",
		Crash{Op: "Publish", Match: EventIs(string(alert.EventRejected)), After: true}},
	{"receiver: crash after the redacted NOTIFICATION_REJECTED alert (secret-shaped fields)", []string{"receiver.publishRejected.Publish#2"}, "secretShaped",
		Crash{Op: "Publish", Match: EventIs(string(alert.EventRejected)), After: true}},
	{"receiver: handled message not acknowledged (delete fails)", nil, "portal",
		Crash{Op: "DeleteMessage", Match: QueueIs("new-secret")}},

	// Expiry alert.
	{"expiry: RotateSecret fails", []string{"expiry.rotate.RotateSecret#1"}, "expiry",
		Crash{Op: "RotateSecret"}},
	{"expiry: crash after RotateSecret", []string{"expiry.rotate.RotateSecret#1"}, "expiry",
		Crash{Op: "RotateSecret", After: true}},
	{"expiry: crash after the CLIENT_SECRET_EXPIRING alert", []string{"expiry.publish.Publish#1"}, "expiry",
		Crash{Op: "Publish", Match: EventIs(string(alert.EventExpiring)), After: true}},
	{"expiry: crash after the NOTIFICATION_REJECTED alert", []string{"expiry.reject.Publish#1"}, "expiryMalformed",
		Crash{Op: "Publish", Match: EventIs(string(alert.EventRejected)), After: true}},
	{"expiry: handled message not acknowledged (delete fails)", nil, "expiry",
		Crash{Op: "DeleteMessage", Match: QueueIs("secret-expiry")}},
}

// Scenarios are the fault-free worlds the crash points run in.
var Scenarios = map[string]func(seed uint64) *World{
	// A scheduled rotation: rotate call, delivery, receiver, adoption.
	"scheduled": func(seed uint64) *World {
		s := baseSchedule(seed)
		s.Rotations = []time.Duration{time.Minute}
		return NewWorld(s)
	},
	// A portal rotation: the receiver stores it and starts the rotation
	// that adopts it without a rotate call.
	"portal": func(seed uint64) *World {
		s := baseSchedule(seed)
		s.Portal = []time.Duration{30 * time.Second}
		return NewWorld(s)
	},
	// Two portal rotations delivered in reverse order: the older secret is
	// stored under LWA_SUPERSEDED.
	"reordered": func(seed uint64) *World {
		s := baseSchedule(seed)
		s.FaultPhase = 30 * time.Minute
		s.Sim.Reorder = true
		s.Portal = []time.Duration{30 * time.Second, 40 * time.Second}
		w := NewWorld(s)
		// One batch: both messages, newest first.
		w.SerialReceivers = true
		return w
	},
	// Two portal rotations in one instant: two secrets with the same
	// expiry. Nothing tells which one Amazon replaced, so no rotation adopts
	// either (rotation Case 3, a tie) and a rotation asks Amazon for a
	// secret known to be the newest (I3 counts that call in Result.Tied).
	"tied": func(seed uint64) *World {
		w := NewWorld(baseSchedule(seed))
		w.SerialReceivers = true
		w.Hooks = []Hook{{30 * time.Second, func(w *World) {
			w.Apps[0].Sim.PortalRotate()
			w.Apps[0].Sim.PortalRotate()
		}}}
		return w
	},
	// A forged delivery (a secret LWA never accepts, claiming the latest
	// expiry) at 30s: its rotation adopts it, testSecret rejects it once the
	// pending version is RejectAfter old, and a scheduled rotation at 2h
	// asks Amazon for a genuine one, which ends in AWSCURRENT.
	"forged": func(seed uint64) *World {
		s := baseSchedule(seed)
		s.Forged = &ForgedDelivery{At: 30 * time.Second}
		s.Rotations = []time.Duration{2 * time.Hour}
		return NewWorld(s)
	},
	// Every rotate call is throttled for a while.
	"throttled": func(seed uint64) *World {
		s := baseSchedule(seed)
		s.FaultPhase = 10 * time.Minute
		s.Sim.ThrottleNextRotateCalls = 5
		s.Rotations = []time.Duration{time.Minute}
		return NewWorld(s)
	},
	// The new-secret queue is not registered until 20 minutes in.
	"notEnrolled": func(seed uint64) *World {
		s := baseSchedule(seed)
		s.Rotations = []time.Duration{time.Minute}
		w := NewWorld(s)
		w.Hooks = []Hook{
			{0, func(w *World) { w.Apps[0].Sim.Enroll(nil) }},
			{20 * time.Minute, func(w *World) { w.Apps[0].Sim.Enroll(spapisim.DelivererFunc(w.deliverNewSecret)) }},
		}
		return w
	},
	// Secrets Manager's configuration test: testSecret alone.
	"configTest": func(seed uint64) *World {
		w := NewWorld(baseSchedule(seed))
		w.Hooks = []Hook{{30 * time.Second, func(w *World) { w.ConfigTest(0) }}}
		return w
	},
	// A body that is not JSON on the new-secret queue.
	"malformed": func(seed uint64) *World {
		w := NewWorld(baseSchedule(seed))
		w.Redrive = false
		w.Hooks = []Hook{{30 * time.Second, func(w *World) { w.NewSecretQ.Send("{not json", w.Now()) }}}
		return w
	},
	// A well-formed notification for an unknown client whose application id
	// has the shape of a client secret.
	"secretShaped": func(seed uint64) *World {
		w := NewWorld(baseSchedule(seed))
		w.Redrive = false
		w.Hooks = []Hook{{30 * time.Second, func(w *World) {
			w.NewSecretQ.Send(NewSecretBody("amzn1.application-oa2-client.unknown", spapisim.SecretPrefix+"deadbeef", spapisim.SecretPrefix+"0123", "n-1", w.Now()), w.Now())
		}}}
		return w
	},
	// An expiry notice about the current secret: the expiry alert starts a rotation.
	"expiry": func(seed uint64) *World {
		s := baseSchedule(seed)
		s.Expiry = []ExpiryNotice{{At: 30 * time.Second}}
		return NewWorld(s)
	},
	// A body that is not an object on the expiry queue.
	"expiryMalformed": func(seed uint64) *World {
		w := NewWorld(baseSchedule(seed))
		w.Redrive = false
		w.Hooks = []Hook{{30 * time.Second, func(w *World) { w.ExpiryQ.Send("[]", w.Now()) }}}
		return w
	},
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

// ConfigTest plays Secrets Manager's configuration test for app i: a new
// empty AWSPENDING version tested alone (testSecret), then removed.
func (w *World) ConfigTest(i int) {
	a := w.Apps[i]
	token := w.uuid()
	w.mu.Lock()
	w.schedTokens[token] = true
	w.mu.Unlock()
	w.engine.ConfigTest(a.ARN, token)
	w.rotateWithToken(a, token)
}

// NewSecretBody returns an APPLICATION_OAUTH_CLIENT_NEW_SECRET body in the
// shape of the official example, for a secret that expires 180 days after now.
func NewSecretBody(clientID, applicationID, secret, notificationID string, now time.Time) string {
	return NewSecretBodyExpiring(clientID, applicationID, secret, notificationID, now, now.Add(180*24*time.Hour))
}

// NewSecretBodyExpiring is NewSecretBody for a secret that claims to expire
// at expires.
func NewSecretBodyExpiring(clientID, applicationID, secret, notificationID string, now, expires time.Time) string {
	ts := now.UTC().Format("2006-01-02T15:04:05.000Z")
	exp := expires.UTC().Format("2006-01-02T15:04:05.000Z")
	old := now.Add(7 * 24 * time.Hour).UTC().Format("2006-01-02T15:04:05.000Z")
	return fmt.Sprintf(`{"notificationVersion":"1.0","notificationType":"APPLICATION_OAUTH_CLIENT_NEW_SECRET","payloadVersion":"2023-11-30","eventTime":%q,"payload":{"applicationOAuthClientNewSecret":{"clientId":%q,"newClientSecret":%q,"newClientSecretExpiryTime":%q,"oldClientSecretExpiryTime":%q}},"notificationMetadata":{"applicationId":%q,"subscriptionId":"sub-1","publishTime":%q,"notificationId":%q}}`,
		ts, clientID, secret, exp, old, applicationID, ts, notificationID)
}
