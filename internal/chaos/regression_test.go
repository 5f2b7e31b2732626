package chaos

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/spapi-lwa/secret-rotation/internal/managed"
	"github.com/spapi-lwa/secret-rotation/internal/spapisim"
)

// TestSeed5PortalSecretArrivesWhileRotationFinishes replays what seed 5 found:
// a rotation has written its AWSPENDING version (from the secret it
// requested) and its finishSecret fails; meanwhile a newer secret, rotated
// by hand in the portal, arrives. The receiver stores it as LWA_RECEIVED and
// calls RotateSecret, which is refused because the rotation is in progress,
// and reports ROTATION_RESUMED. But that rotation's pending value is already
// the older secret: it promotes that one, and nothing ever adopts the newer
// secret, although Amazon stops accepting the promoted one 7 days later.
// The world must settle with the newest secret in AWSCURRENT.
func TestSeed5PortalSecretArrivesWhileRotationFinishes(t *testing.T) {
	s := baseSchedule(5)
	s.Rotations = []time.Duration{time.Minute}
	w := NewWorld(s)
	var (
		mu           sync.Mutex
		portalDone   bool
		portalStored bool
	)
	w.SMHook = func(op string, in any) error {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case StageMove(managed.StageCurrent)(in):
			// finishSecret of the scheduled rotation: its pending value holds
			// the secret it requested. Now the portal rotation happens.
			if !portalDone {
				portalDone = true
				w.Apps[0].Sim.PortalRotate()
			}
			if !portalStored {
				return &smtypes.InternalServiceError{Message: aws.String("injected: stage move fails until the portal secret is stored")}
			}
		case op == "PutSecretValue":
			p := in.(*secretsmanager.PutSecretValueInput)
			newest, _ := w.Apps[0].Sim.Current()
			if portalDone && strings.Contains(aws.ToString(p.SecretString), newest) {
				portalStored = true
			}
		}
		return nil
	}
	r := w.Run()
	if !portalStored {
		t.Fatal("the scenario did not happen: the portal secret was never stored")
	}
	for _, v := range r.Violations {
		t.Error(v)
	}
}

// TestSeed695ThrottledRetryAfterLostResponse replays what seed 695 found: the
// first rotate call of a createSecret issues a secret but its answer is lost
// (5xx); the SP-API client retries, and the retries are throttled (429, the
// limiter counted the first call). The call ends with 429, which the rotation
// reads as "nothing was issued": it removes rotation-requested-at, so the
// next attempt asks Amazon again while the first secret is still on its way
// (a needless rotation within the cooldown).
func TestSeed695ThrottledRetryAfterLostResponse(t *testing.T) {
	s := baseSchedule(695)
	s.FaultPhase = time.Hour
	s.DeliveryDelay = 15 * time.Minute // after the first reattempt, within the cooldown
	s.Sim.RotateLostResponseRate = 1
	s.Rotations = []time.Duration{time.Minute}
	w := NewWorld(s)
	var mu sync.Mutex
	n := 0
	w.AfterRotateCall = func(c RotateCall) {
		mu.Lock()
		defer mu.Unlock()
		n++
		switch n {
		case 1:
			w.Apps[0].Sim.SetFaults(spapisim.Faults{ThrottleNextRotateCalls: 4})
		case 5:
			w.Apps[0].Sim.SetFaults(spapisim.Faults{})
		}
	}
	r := w.Run()
	calls := w.Calls()
	if len(calls) < 5 || !calls[0].Issued || calls[0].Status < 500 || calls[4].Status != 429 {
		t.Fatalf("the scenario did not happen: calls %+v", calls)
	}
	for _, v := range r.Violations {
		t.Error(v)
	}
}

// TestReorderedPromoteRetryNewerSecretNotAdopted replays what the crash-point
// scenario "reordered" found once receivers store a secret first and move
// LWA_RECEIVED to it afterwards: the newer of two secrets is stored, but
// moving LWA_RECEIVED to it fails; the older one is stored and adopted by a
// rotation whose version is created after the newer secret's version. When
// the newer secret's message is retried, LWA_RECEIVED moves to it and a new
// rotation starts, but createSecret judges it "older than AWSCURRENT"
// (Case 3 compares version CreatedDates, and it was written before the
// current version was created) and asks Amazon for yet another secret: a
// needless rotation, while the newest secret Amazon issued is never adopted.
func TestReorderedPromoteRetryNewerSecretNotAdopted(t *testing.T) {
	w := Scenarios["reordered"](SeedOf("TestReorderedPromoteRetryNewerSecretNotAdopted"))
	var (
		mu     sync.Mutex
		failed bool
	)
	w.SMHook = func(op string, in any) error {
		mu.Lock()
		defer mu.Unlock()
		if !failed && StageMove(managed.StageReceived)(in) {
			failed = true // the first move: the newer secret's, delivered first
			return &smtypes.InternalServiceError{Message: aws.String("injected: moving LWA_RECEIVED fails once")}
		}
		return nil
	}
	r := w.Run()
	if !failed {
		t.Fatal("the scenario did not happen: LWA_RECEIVED never moved")
	}
	for _, v := range r.Violations {
		t.Error(v)
	}
}
