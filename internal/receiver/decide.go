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
		if !f.rejected && laterThan(f.expires, f.current) && (f.received == nil || laterThan(f.expires, f.received)) {
			p.label = managed.StageReceived
		}
	}
	// Case 4a: nothing to adopt when AWSCURRENT is later, or LWA rejected
	// this secret before.
	switch {
	case f.rejected:
		p.outcome = alert.OutcomeRejectedBefore
	case earlierThan(f.expires, f.current):
		p.outcome = alert.OutcomeOlder
	default:
		p.adopt = true
	}
	return p
}

// laterThan reports whether expires is later than doc's expiry (true when
// doc has none).
func laterThan(expires time.Time, doc *secretdoc.Document) bool {
	e, ok := doc.ExpiresAt()
	return !ok || expires.After(e)
}

// earlierThan reports whether expires is earlier than doc's expiry (false
// when doc has none).
func earlierThan(expires time.Time, doc *secretdoc.Document) bool {
	e, ok := doc.ExpiresAt()
	return ok && expires.Before(e)
}
