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

type plan struct {
	label   string        // the label to write the version with; "" writes nothing
	adopt   bool          // make sure a rotation adopts it (Case 4)
	outcome alert.Outcome // when adopt is false
}

// decide is the receiver's decision, made only on what was read.
func decide(f facts) plan {
	if f.current.ClientSecret() == f.secret {
		return plan{outcome: alert.OutcomeCurrent} // Case 2a
	}
	var p plan
	later := versus(f.expires, f.current)
	if !f.stored { // Case 2b writes nothing; Case 2c labels only the newest delivery LWA_RECEIVED.
		p.label = managed.StageSuperseded
		if !f.rejected && later > 0 && (f.received == nil || versus(f.expires, f.received) > 0) {
			p.label = managed.StageReceived
		}
	}
	switch { // Case 4a: nothing to adopt when LWA rejected this secret before, or AWSCURRENT is later.
	case f.rejected:
		p.outcome = alert.OutcomeRejectedBefore
	case later < 0:
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
