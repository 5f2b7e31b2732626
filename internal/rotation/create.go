package rotation

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/spapi-lwa/secret-rotation/internal/endpoint"
	"github.com/spapi-lwa/secret-rotation/internal/lwa"
	"github.com/spapi-lwa/secret-rotation/internal/managed"
	"github.com/spapi-lwa/secret-rotation/internal/retry"
	"github.com/spapi-lwa/secret-rotation/internal/spapi"
)

// What a failed request did, for ROTATION_FAILED alerts.
const (
	nothingRequested = "Nothing was requested from Amazon; the secret is unchanged."
	nothingIssued    = "Amazon issued no new client secret; the secret is unchanged."
)

// createSecret makes the token's version hold the new client secret.
func (r *Rotator) createSecret(ctx context.Context, c *call) error {
	// Case 1: the token's version already has a value.
	if pending, err := r.readPending(ctx, c); err != nil || pending != nil {
		if pending != nil {
			c.log.InfoContext(ctx, "pending version already has a value")
		}
		return err
	}

	// Case 2: AWSCURRENT must be a valid document for the tagged client id.
	cur, err := r.readCurrent(ctx, c)
	if errors.Is(err, ErrMisconfigured) {
		return r.failWithAlert(ctx, c, c.tags[managed.TagClientID], err,
			"The secret cannot be rotated until its value or tags are fixed.", nothingRequested, err.Error())
	} else if err != nil {
		return err
	}
	c.log = c.log.With("clientId", cur.doc.ClientID())

	// Case 3: adopt a secret that was already received.
	seen := map[string]*version{}
	if adopted, err := r.adoptStored(ctx, c, cur, seen); err != nil || adopted {
		return err
	}

	// Case 4: a request is outstanding.
	if at, ok := r.outstanding(ctx, c, cur); ok {
		c.log.InfoContext(ctx, "rotation already requested; waiting for the new client secret", "requestedAt", at)
	} else if err := r.requestSecret(ctx, c, cur); err != nil { // Case 5: request a new secret.
		return err
	}

	// Case 6: wait for it.
	giveUp, start := r.giveUp(ctx), time.Now()
	for polls := 1; ; polls++ {
		if !retry.Sleep(ctx, r.cfg.PollInterval) {
			return c.errorf("wait for the new client secret: %w", ctx.Err())
		}
		if adopted, err := r.adoptStored(ctx, c, cur, seen); err != nil || adopted {
			return err
		}
		if !giveUp.IsZero() && time.Now().Add(r.cfg.PollInterval).After(giveUp) {
			return c.errorf("waited %s (%d looks): %w", time.Since(start).Round(time.Millisecond), polls, ErrSecretNotReceived)
		}
		c.log.DebugContext(ctx, "new client secret not received yet", "polls", polls)
	}
}

// outstanding reports whether rotation-requested-at names a request newer
// than AWSCURRENT and younger than the cooldown (Case 4).
func (r *Rotator) outstanding(ctx context.Context, c *call, cur *version) (time.Time, bool) {
	v, ok := c.tags[managed.TagRotationRequestedAt]
	if !ok {
		return time.Time{}, false
	}
	at, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		c.log.WarnContext(ctx, "ignoring unreadable tag", "tag", managed.TagRotationRequestedAt)
		return time.Time{}, false
	}
	return at, at.After(cur.created) && r.cfg.Now().Sub(at) < r.cfg.Cooldown
}

// adoptStored is Case 3: it writes the pending version from the stored one choose picks.
func (r *Rotator) adoptStored(ctx context.Context, c *call, cur *version, seen map[string]*version) (bool, error) {
	stored, err := r.stored(ctx, c, cur.id, seen)
	if err != nil {
		return false, err
	}
	best, tied := choose(cur, stored, c.tags[managed.TagRejectedSecrets])
	if tied {
		c.log.InfoContext(ctx, "two received client secrets expire at the same instant; neither is adopted")
	}
	if best == nil {
		return false, nil
	}
	return true, r.writePending(ctx, c, cur, best)
}

// stored returns the secret's versions (the unlabelled ones included) that
// hold a secret document, except the token's, AWSPREVIOUS and currentID. It
// reads each version not in seen and adds it there: a value never changes.
func (r *Rotator) stored(ctx context.Context, c *call, currentID string, seen map[string]*version) ([]*version, error) {
	in := &secretsmanager.ListSecretVersionIdsInput{SecretId: aws.String(c.secretID), IncludeDeprecated: aws.Bool(true)}
	var stored []*version
	for pages := secretsmanager.NewListSecretVersionIdsPaginator(r.store, in); pages.HasMorePages(); {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, c.errorf("list versions: %w", err)
		}
		for _, e := range page.Versions {
			id := aws.ToString(e.VersionId)
			if id == c.token || id == currentID || slices.Contains(e.VersionStages, managed.StagePrevious) {
				continue // the empty pending version, or a secret already replaced
			}
			v, ok := seen[id]
			if !ok {
				if v, err = r.readStored(ctx, c, id); err != nil {
					return nil, err
				}
				seen[id] = v
			}
			if v != nil {
				stored = append(stored, v)
			}
		}
	}
	return stored, nil
}

// readStored reads version id; nil when it has no value or is not a secret
// document (logged: the receiver only writes documents).
func (r *Rotator) readStored(ctx context.Context, c *call, id string) (*version, error) {
	v, invalid, err := r.read(ctx, c, id, "")
	if err != nil {
		return nil, c.errorf("read version %s: %w", id, err)
	} else if invalid != nil {
		c.log.WarnContext(ctx, "stored version is not a valid secret document; not adopted", "storedVersionId", id, "error", invalid)
	}
	return v, nil
}

// choose is the decision of Case 3: the newest stored version that holds
// the client id of AWSCURRENT, another client secret, one not listed in
// rejected (sp-api-lwa:rejected-secrets), and is newer than AWSCURRENT; or
// nil. tied reports two different secrets sharing the newest expiry: neither
// is adopted.
func choose(cur *version, stored []*version, rejected string) (best *version, tied bool) {
	for _, v := range stored {
		switch {
		case v.doc.ClientID() != cur.doc.ClientID(),
			v.doc.ClientSecret() == cur.doc.ClientSecret(),
			managed.Rejected(rejected, v.doc.ClientSecret().Reveal()),
			!newer(v, cur):
			continue
		case best == nil || newer(v, best):
			best, tied = v, false
		case !newer(best, v) && v.doc.ClientSecret() != best.doc.ClientSecret():
			tied = true
		}
	}
	if tied {
		return nil, true
	}
	return best, false
}

// newer reports whether a holds a later client secret than b: the later
// expiry when both documents have one (a secret's version can be older than
// an AWSCURRENT version written in between), else the later created version.
func newer(a, b *version) bool {
	ae, aok := a.doc.ExpiresAt()
	be, bok := b.doc.ExpiresAt()
	if aok && bok {
		return ae.After(be)
	}
	return a.created.After(b.created)
}

// writePending writes the pending version (Case 3): the AWSCURRENT document
// with recv's client secret and expiry, so every other key is the current one.
func (r *Rotator) writePending(ctx context.Context, c *call, cur *version, recv *version) error {
	expiresAt, _ := recv.doc.ExpiresAt()
	value, err := cur.doc.WithClientSecret(recv.doc.ClientSecret(), expiresAt)
	if err != nil {
		return c.errorf("build pending value from version %s: %w", recv.id, err)
	}
	_, err = r.store.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
		SecretId:           aws.String(c.secretID),
		ClientRequestToken: aws.String(c.token),
		SecretString:       aws.String(string(value)),
		VersionStages:      []string{managed.StagePending},
	})
	var exists *types.ResourceExistsException
	if errors.As(err, &exists) {
		// A concurrent run wrote the version first (Case 1 for it).
		if pending, rerr := r.readPending(ctx, c); rerr == nil && pending != nil {
			c.log.InfoContext(ctx, "pending version was written by a concurrent run")
			return nil
		}
	}
	if err != nil {
		return c.errorf("put pending version from version %s: %w", recv.id, err)
	}
	c.log.InfoContext(ctx, "adopted the received client secret as the pending version", "receivedVersionId", recv.id)
	return nil
}

// requestSecret sets rotation-requested-at and, unless a concurrent run
// took over, asks Amazon for a new client secret (Case 5).
func (r *Rotator) requestSecret(ctx context.Context, c *call, cur *version) error {
	if _, err := managed.FindByClientID(ctx, r.store, cur.doc.ClientID()); err != nil {
		err = c.errorf("check that the client id is tagged on this secret alone: %w", err)
		if errors.Is(err, managed.ErrAmbiguous) {
			return r.failWithAlert(ctx, c, cur.doc.ClientID(), err,
				"The client id is tagged on more than one secret, so no new client secret was requested.", nothingRequested,
				fmt.Sprintf("Keep the tag %s on exactly one secret (aws secretsmanager untag-resource --secret-id <other secret> --tag-keys %s), then run: aws secretsmanager rotate-secret --secret-id %s", managed.TagClientID, managed.TagClientID, c.arn))
		}
		return err
	}
	stamp := r.cfg.Now().UTC().Format(time.RFC3339Nano)
	if err := r.tag(ctx, c, managed.TagRotationRequestedAt, stamp); err != nil {
		return err
	}
	if !retry.Sleep(ctx, r.cfg.Settle) {
		return r.untagAfter(ctx, c, c.errorf("settle after tagging: %w", ctx.Err()))
	}
	out, err := r.store.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(c.secretID)})
	if err != nil {
		return r.untagAfter(ctx, c, c.errorf("read back tag %s: %w", managed.TagRotationRequestedAt, err))
	}
	if managed.TagMap(out.Tags)[managed.TagRotationRequestedAt] != stamp {
		c.log.InfoContext(ctx, "a concurrent run requested the rotation; waiting for its client secret")
		return nil
	}

	tok, err := r.tokens.ClientCredentials(ctx, cur.doc.ClientID(), cur.doc.ClientSecret(), lwa.ScopeRotation)
	if err != nil {
		return r.requestFailed(ctx, c, cur, c.errorf("obtain LWA token with the AWSCURRENT credentials: %w", err), false)
	}
	c.log.InfoContext(ctx, "calling rotateApplicationClientSecret")
	if err := r.api.RotateApplicationClientSecret(ctx, tok.AccessToken); err != nil {
		return r.requestFailed(ctx, c, cur, c.errorf("rotateApplicationClientSecret: %w", err), true)
	}
	c.log.InfoContext(ctx, "rotateApplicationClientSecret accepted; the new client secret is on its way")
	return nil
}

// requestFailed decides what a failed LWA token request (called false) or
// rotateApplicationClientSecret (called true) means (Case 5): whether Amazon
// may have issued a secret (keep the tag), and whether a person must act.
func (r *Rotator) requestFailed(ctx context.Context, c *call, cur *version, err error, called bool) error {
	var le *lwa.Error
	var se *spapi.Error
	var message, did, todo string
	rerun := "aws secretsmanager rotate-secret --secret-id " + c.arn
	switch {
	case errors.Is(err, endpoint.ErrRedirect) || errors.Is(err, endpoint.ErrInsecure):
		// A redirect (never followed) or an endpoint that is not https: the call reached no handler.
		message = "The LWA or SP-API endpoint answered with a redirect (or is not https), so no new client secret was requested."
		did = "Nothing was sent to the redirect's target; the secret is unchanged."
		todo = fmt.Sprintf("Check the stack parameters LwaTokenUrl and SpApiEndpoint (environment LWA_TOKEN_URL, SP_API_ENDPOINT of the rotation function): they must be Amazon's https endpoints. Then run: %s. The error was: %v", rerun, err)
	case !called && errors.As(err, &le) && !errors.Is(err, lwa.ErrServer):
		message = "Login with Amazon rejected the credentials in AWSCURRENT, so no new client secret could be requested."
		did = nothingRequested
		todo = fmt.Sprintf("Check that the client id and client secret in AWSCURRENT of %s are the application's current LWA credentials (Solution Provider Portal, Developer Central, View credentials). If the secret was rotated in the portal, wait for its APPLICATION_OAUTH_CLIENT_NEW_SECRET notification to be stored, or put the new secret into AWSCURRENT. Then run: %s. LWA said: %v", c.arn, rerun, le)
	case !called:
		return r.untagAfter(ctx, c, err) // LWA unavailable: nothing was requested
	case errors.Is(err, spapi.ErrNotEnrolled):
		message = "SP-API refused to rotate the client secret: the application is not enrolled for the rotation notification."
		did = nothingIssued
		todo = fmt.Sprintf("Register the new-secret queue (stack output NewSecretQueueArn) in the Developer Console, Notification Preferences, row \"Application Client New Secret\". Then run: %s. SP-API said: %v", rerun, err)
	case errors.Is(err, spapi.ErrForbidden):
		message = "SP-API refused to rotate the client secret (403 forbidden)."
		did = nothingIssued
		todo = fmt.Sprintf("Check that the application is allowed to call the Application Management API (rotateApplicationClientSecret) with a grantless token of scope %s, and that the credentials in AWSCURRENT belong to it. Then run: %s. SP-API said: %v", lwa.ScopeRotation, rerun, err)
	case errors.Is(err, spapi.ErrThrottled) && !errors.Is(err, spapi.ErrOutcomeUnknown):
		// Nothing was issued. (After an earlier 5xx of the same call
		// something may have been: the default case keeps the tag.)
		return r.untagAfter(ctx, c, err)
	case errors.As(err, &se) && se.StatusCode >= 400 && se.StatusCode < 500 && se.StatusCode != http.StatusTooManyRequests:
		message = fmt.Sprintf("SP-API refused to rotate the client secret (status %d).", se.StatusCode)
		did = nothingIssued
		todo = fmt.Sprintf("Read SP-API's answer and fix its cause, then run: %s. SP-API said: %v", rerun, err)
	default:
		// 5xx or timeout: Amazon may have issued a secret. Keep the tag so
		// the next attempt waits for it (Case 4) instead of asking again.
		return err
	}
	return r.untagAfter(ctx, c, r.failWithAlert(ctx, c, cur.doc.ClientID(), err, message, did, todo))
}

// untagAfter removes rotation-requested-at after a failure that requested
// nothing, and returns err (joined with the untag error, if any).
func (r *Rotator) untagAfter(ctx context.Context, c *call, err error) error {
	cctx, cancel := cleanupContext(ctx)
	defer cancel()
	_, uerr := r.tagger.UntagResource(cctx, &secretsmanager.UntagResourceInput{
		SecretId: aws.String(c.secretID), TagKeys: []string{managed.TagRotationRequestedAt},
	})
	if uerr != nil {
		return errors.Join(err, c.errorf("untag %s: %w", managed.TagRotationRequestedAt, uerr))
	}
	return err
}
