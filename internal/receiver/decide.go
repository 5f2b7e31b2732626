package receiver

import (
	"time"

	"github.com/spapi-lwa/secret-rotation/internal/alert"
	"github.com/spapi-lwa/secret-rotation/internal/lwa"
	"github.com/spapi-lwa/secret-rotation/internal/managed"
	"github.com/spapi-lwa/secret-rotation/internal/secretdoc"
)

// facts is what the receiver read for one notification that passed Case 1.
type facts struct {
	secret   lwa.ClientSecret    // the delivered client secret
	expires  time.Time           // its newClientSecretExpiryTime
	current  *secretdoc.Document // AWSCURRENT
	received *secretdoc.Document // the LWA_RECEIVED version, nil when none or the same as AWSCURRENT
	stored   bool                // this notification's version exists (a redelivery)
	rejected bool                // the secret is listed in sp-api-lwa:rejected-secrets
}

// plan is what the receiver does about it.
type plan struct {
	label   string        // the label to write the version with; "" writes nothing
	adopt   bool          // make sure a rotation adopts it (Case 4)
	outcome alert.Outcome // when adopt is false
}

// decide is the receiver's decision, made only on what was read.
func decide(f facts) plan {
	// Case 2a: already adopted.
	if f.current.ClientSecret() == f.secret {
		return plan{outcome: alert.OutcomeCurrent}
	}
	var p plan
	// Case 2b: a redelivery writes nothing. Case 2c: store it, labelled
	// LWA_RECEIVED only when it is the newest delivered.
	if !f.stored {
		p.label = managed.StageSuperseded
		if !f.rejected && versus(f.expires, f.current) > 0 && (f.received == nil || versus(f.expires, f.received) > 0) {
			p.label = managed.StageReceived
		}
	}
	// Case 4a: nothing to adopt when AWSCURRENT is later, or LWA rejected
	// this secret before.
	switch {
	case f.rejected:
		p.outcome = alert.OutcomeRejectedBefore
	case versus(f.expires, f.current) < 0:
		p.outcome = alert.OutcomeOlder
	default:
		p.adopt = true
	}
	return p
}

// versus compares expires with doc's expiry; 1 (later) when doc has none.
func versus(expires time.Time, doc *secretdoc.Document) int {
	if e, ok := doc.ExpiresAt(); ok {
		return expires.Compare(e)
	}
	return 1
}
