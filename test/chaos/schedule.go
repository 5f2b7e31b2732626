package chaos

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/spapi-lwa/secret-rotation/test/spapisim"
)

// Schedule is one seeded fault schedule, in simulated time from the start of the run.
type Schedule struct {
	Seed          uint64
	Apps          int           // applications (managed secrets)
	FaultPhase    time.Duration // faults are active before this
	DeliveryDelay time.Duration // new-secret notification delay (simulator)
	Sim           spapisim.Faults

	SMErrorRate    float64 // a Secrets Manager call of SMErrorOps fails with this probability
	SMErrorOps     []string
	SNSErrorRate   float64 // SNS Publish
	SQSSendFail    float64 // Amazon's delivery to the queue (retried by the simulator)
	SQSReceiveFail float64 // a poll of the event source mapping
	SQSDeleteFail  float64 // deleting a handled message (it is delivered again)
	InvokeFail     float64 // an SQS handler invocation dies before it starts
	StepTimeouts   float64 // a rotation step gets a much shorter deadline
	ConcurrentRuns float64 // a refused RotateSecret starts a concurrent run of the rotation

	Rotations []time.Duration // RotateSecret by the rotation schedule
	Portal    []time.Duration // rotations by hand in the portal, of app 0
	Expiry    []ExpiryNotice  // expiry notices
	Forged    *ForgedDelivery // a NEW_SECRET message Amazon did not send, or nil
}

// ForgedDelivery is a NEW_SECRET message for app App sent at At: LWA never accepts its secret,
// which claims ForgedExpiry. World.SendForged sets NotificationID and Secret.
type ForgedDelivery struct {
	At                     time.Duration
	App                    int
	NotificationID, Secret string
}

// String prints f in a failure report's schedule (%+v), not as a pointer, and never its secret.
func (f *ForgedDelivery) String() string { return fmt.Sprintf("{At:%s App:%d}", f.At, f.App) }

// ForgedExpiry, a year after Epoch, is later than any secret issued in a run.
var ForgedExpiry = Epoch.Add(365 * 24 * time.Hour)

// ForgedShare is the share of seeded runs, in percent, with a forged delivery.
const ForgedShare = 10

// ExpiryNotice is an expiry notice sent at At about the initial secret (Old) or the newest one.
type ExpiryNotice struct {
	At  time.Duration
	App int
	Old bool
}

// NewSchedule derives the schedule of seed: one in ten has no faults, the others random faults.
func NewSchedule(seed uint64) Schedule {
	r := rand.New(rand.NewPCG(seed, 0x6368616f73)) // "chaos"
	s := Schedule{Seed: seed, Apps: 1}
	if r.IntN(4) == 0 {
		s.Apps = 2
	}
	s.FaultPhase = time.Duration(20+r.IntN(160)) * time.Minute
	s.DeliveryDelay = time.Duration(5+r.IntN(120)) * time.Second
	if r.IntN(8) == 0 { // Amazon is slow: after the step's deadline, sometimes after the cooldown
		s.DeliveryDelay = time.Duration(10+r.IntN(35)) * time.Minute
	}
	s.Rotations = []time.Duration{time.Minute}
	if r.IntN(3) == 0 {
		s.Rotations = append(s.Rotations, time.Duration(2+r.IntN(120))*time.Minute)
	}
	if r.IntN(2) == 0 { // in the middle of the scheduled rotation, mostly
		s.Portal = append(s.Portal, time.Minute+time.Duration(r.IntN(15*60))*time.Second)
	}
	for range r.IntN(3) {
		s.Expiry = append(s.Expiry, ExpiryNotice{
			At:  time.Duration(r.IntN(int(s.FaultPhase/time.Second))) * time.Second,
			App: r.IntN(s.Apps),
			Old: r.IntN(2) == 0,
		})
	}
	// A generator of its own keeps every other draw as it was before forgeries.
	if f := rand.New(rand.NewPCG(seed, 0x666f72676564)); f.IntN(100) < ForgedShare { // "forged"
		s.Forged = &ForgedDelivery{
			At:  time.Duration(f.IntN(int(s.FaultPhase/time.Second))) * time.Second,
			App: f.IntN(s.Apps),
		}
	}
	if r.IntN(10) == 0 {
		return s // a clean run
	}
	p := func(max float64) float64 {
		if r.IntN(2) == 0 {
			return 0
		}
		return r.Float64() * max
	}
	s.Sim = spapisim.Faults{
		TokenErrorRate:         p(0.3),
		RotateErrorRate:        p(0.3),
		RotateLostResponseRate: p(0.3),
		RotateThrottleRate:     p(0.3),
		DuplicateRate:          p(0.5),
		Reorder:                r.IntN(4) == 0,
	}
	if r.IntN(3) == 0 {
		s.Sim.Latency = time.Duration(r.IntN(3000)) * time.Microsecond
	}
	if r.IntN(3) == 0 {
		s.Sim.ActivationDelay = time.Duration(r.IntN(600)) * time.Second
	}
	if r.IntN(4) == 0 {
		s.Sim.ReorderWindow = time.Duration(1+r.IntN(30)) * time.Minute
	}
	if s.SMErrorRate = p(0.15); s.SMErrorRate > 0 {
		all := r.IntN(2) == 0 // all operations, or a few
		for _, op := range []string{"GetSecretValue", "PutSecretValue", "DescribeSecret",
			"UpdateSecretVersionStage", "TagResource", "UntagResource", "ListSecrets", "RotateSecret"} {
			if all || r.IntN(3) == 0 {
				s.SMErrorOps = append(s.SMErrorOps, op)
			}
		}
	}
	for _, rate := range []*float64{&s.SNSErrorRate, &s.SQSSendFail, &s.SQSReceiveFail, &s.SQSDeleteFail} {
		*rate = p(0.3)
	}
	s.InvokeFail, s.StepTimeouts, s.ConcurrentRuns = p(0.2), p(0.2), p(0.5)
	return s
}
