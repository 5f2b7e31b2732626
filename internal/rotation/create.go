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

	"github.com/spapi-lwa/secret-rotation/internal/alert"
	"github.com/spapi-lwa/secret-rotation/internal/endpoint"
	"github.com/spapi-lwa/secret-rotation/internal/lwa"
	"github.com/spapi-lwa/secret-rotation/internal/managed"
	"github.com/spapi-lwa/secret-rotation/internal/retry"
	"github.com/spapi-lwa/secret-rotation/internal/spapi"
)

// createSecret makes the token's version hold the new client secret.
func (r *Rotator) createSecret(ctx context.Context, c *call) error {
	// Case 1: the token's version already has a value.
	if _, ok, err := r.readPending(ctx, c); err != nil || ok {
		if ok {
			c.log.InfoContext(ctx, "pending version already has a value")
		}
		return err
	}

	// Case 2: AWSCURRENT must be a valid document for the tagged client id.
	cur, err := r.readCurrent(ctx, c)
	if err != nil {
		if errors.Is(err, ErrMisconfigured) {
			return r.failWithAlert(ctx, c, c.tags[managed.TagClientID], err,
				"The secret cannot be rotated until its value or tags are fixed.",
				"Nothing was requested from Amazon; the secret is unchanged.",
				err.Error())
		}
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
		return r.awaitReceived(ctx, c, cur, seen)
	}

	// Case 5: request a new secret.
	if err := r.requestSecret(ctx, c, cur); err != nil {
		return err
	}

	// Case 6: wait for it.
	return r.awaitReceived(ctx, c, cur, seen)
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

// adoptStored is Case 3: it reads the stored versions and writes the
// pending version from the one choose picks.
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
	return r.writePending(ctx, c, cur, best)
}

// stored lists the secret's versions (the unlabelled ones included) and
// returns those with a secret document, except the token's, AWSPREVIOUS and
// version currentID. It reads each version not in seen and adds it there: a
// version's value never changes.
func (r *Rotator) stored(ctx context.Context, c *call, currentID string, seen map[string]*version) ([]*version, error) {
	in := &secretsmanager.ListSecretVersionIdsInput{SecretId: aws.String(c.secretID), IncludeDeprecated: aws.Bool(true)}
	var stored []*version
	for pages := secretsmanager.NewListSecretVersionIdsPaginator(r.index, in); pages.HasMorePages(); {
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
	out, ok, err := r.getValue(ctx, c, id, "")
	if err != nil || !ok {
		if err != nil {
			err = c.errorf("read version %s: %w", id, err)
		}
		return nil, err
	}
	v, err := r.parse(out)
	if err != nil {
		c.log.WarnContext(ctx, "stored version is not a valid secret document; not adopted", "storedVersionId", id, "error", err)
		return nil, nil
	}
	return v, nil
}

// choose is the decision of Case 3, made on what was read: the stored
// version to adopt, or nil. A version is adoptable when it holds the client
// id of AWSCURRENT, another client secret, one not listed in rejected (the
// value of sp-api-lwa:rejected-secrets), and is newer than AWSCURRENT. The
// newest adoptable version wins, whatever label it has. tied reports that
// two different secrets share the newest expiry: Amazon issued both at once,
// nothing tells which one it replaced, and neither is adopted (Case 5 asks
// Amazon for a secret known to be the newest).
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

// writePending writes the pending version from recv (Case 3): the AWSCURRENT
// document with recv's client secret and expiry, so every other key is the
// current one.
func (r *Rotator) writePending(ctx context.Context, c *call, cur *version, recv *version) (bool, error) {
	expiresAt, _ := recv.doc.ExpiresAt()
	value, err := cur.doc.WithClientSecret(recv.doc.ClientSecret(), expiresAt)
	if err != nil {
		return false, c.errorf("build pending value from version %s: %w", recv.id, err)
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
		if _, ok, rerr := r.readPending(ctx, c); rerr == nil && ok {
			c.log.InfoContext(ctx, "pending version was written by a concurrent run")
			return true, nil
		}
	}
	if err != nil {
		return false, c.errorf("put pending version from version %s: %w", recv.id, err)
	}
	c.log.InfoContext(ctx, "adopted the received client secret as the pending version", "receivedVersionId", recv.id)
	return true, nil
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

// requestSecret sets rotation-requested-at and, unless a concurrent run
// took over, asks Amazon for a new client secret (Case 5).
func (r *Rotator) requestSecret(ctx context.Context, c *call, cur *version) error {
	// The receiver rejects a delivery for a client id tagged on two secrets,
	// so a secret requested now would wait in the dead-letter queue.
	if _, err := managed.FindByClientID(ctx, r.index, cur.doc.ClientID()); err != nil {
		err = c.errorf("check that the client id is tagged on this secret alone: %w", err)
		if errors.Is(err, managed.ErrAmbiguous) {
			return r.failWithAlert(ctx, c, cur.doc.ClientID(), err,
				"The client id is tagged on more than one secret, so no new client secret was requested.",
				"Nothing was requested from Amazon; the secret is unchanged.",
				fmt.Sprintf("Keep the tag %s on exactly one secret (aws secretsmanager untag-resource --secret-id <other secret> --tag-keys %s), then run: aws secretsmanager rotate-secret --secret-id %s", managed.TagClientID, managed.TagClientID, c.arn))
		}
		return err
	}
	stamp := r.cfg.Now().UTC().Format(time.RFC3339Nano)
	_, err := r.tagger.TagResource(ctx, &secretsmanager.TagResourceInput{
		SecretId: aws.String(c.secretID),
		Tags:     []types.Tag{{Key: aws.String(managed.TagRotationRequestedAt), Value: aws.String(stamp)}},
	})
	if err != nil {
		return c.errorf("tag %s: %w", managed.TagRotationRequestedAt, err)
	}
	if !retry.Sleep(ctx, r.cfg.Settle) {
		return r.untagAfter(ctx, c, c.errorf("settle after tagging: %w", ctx.Err()))
	}
	out, err := r.store.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(c.secretID)})
	if err != nil {
		return r.untagAfter(ctx, c, c.errorf("read back tag %s: %w", managed.TagRotationRequestedAt, err))
	}
	if got := managed.TagMap(out.Tags)[managed.TagRotationRequestedAt]; got != stamp {
		c.log.InfoContext(ctx, "a concurrent run requested the rotation; waiting for its client secret")
		return nil
	}

	tok, err := r.tokens.ClientCredentials(ctx, cur.doc.ClientID(), cur.doc.ClientSecret(), lwa.ScopeRotation)
	if err != nil {
		err = c.errorf("obtain LWA token with the AWSCURRENT credentials: %w", err)
		if endpointRefused(err) {
			return r.untagAfter(ctx, c, r.failEndpoint(ctx, c, cur, err))
		}
		var le *lwa.Error
		if errors.As(err, &le) && !errors.Is(err, lwa.ErrServer) {
			// LWA rejected the current credentials: a person must act.
			return r.untagAfter(ctx, c, r.failWithAlert(ctx, c, cur.doc.ClientID(), err,
				"Login with Amazon rejected the credentials in AWSCURRENT, so no new client secret could be requested.",
				"Nothing was requested from Amazon; the secret is unchanged.",
				fmt.Sprintf("Check that the client id and client secret in AWSCURRENT of %s are the application's current LWA credentials (Solution Provider Portal, Developer Central, View credentials). If the secret was rotated in the portal, wait for its APPLICATION_OAUTH_CLIENT_NEW_SECRET notification to be stored, or put the new secret into AWSCURRENT. Then run: aws secretsmanager rotate-secret --secret-id %s. LWA said: %v", c.arn, c.arn, le)))
		}
		return r.untagAfter(ctx, c, err)
	}

	c.log.InfoContext(ctx, "calling rotateApplicationClientSecret")
	err = r.api.RotateApplicationClientSecret(ctx, tok.AccessToken)
	if err == nil {
		c.log.InfoContext(ctx, "rotateApplicationClientSecret accepted; the new client secret is on its way")
		return nil
	}
	return r.rotateFailed(ctx, c, cur, c.errorf("rotateApplicationClientSecret: %w", err))
}

// rotateFailed decides what a failed rotateApplicationClientSecret means
// (Case 5): whether Amazon may have issued a secret (keep the tag), and
// whether a person must act (alert).
func (r *Rotator) rotateFailed(ctx context.Context, c *call, cur *version, err error) error {
	var se *spapi.Error
	switch {
	case endpointRefused(err):
		// A redirect or a refused endpoint: the call reached no handler.
		return r.untagAfter(ctx, c, r.failEndpoint(ctx, c, cur, err))
	case errors.Is(err, spapi.ErrNotEnrolled):
		return r.untagAfter(ctx, c, r.failWithAlert(ctx, c, cur.doc.ClientID(), err,
			"SP-API refused to rotate the client secret: the application is not enrolled for the rotation notification.",
			"Amazon issued no new client secret; the secret is unchanged.",
			fmt.Sprintf("Register the new-secret queue (stack output NewSecretQueueArn) in the Developer Console, Notification Preferences, row \"Application Client New Secret\". Then run: aws secretsmanager rotate-secret --secret-id %s. SP-API said: %v", c.arn, err)))
	case errors.Is(err, spapi.ErrForbidden):
		return r.untagAfter(ctx, c, r.failWithAlert(ctx, c, cur.doc.ClientID(), err,
			"SP-API refused to rotate the client secret (403 forbidden).",
			"Amazon issued no new client secret; the secret is unchanged.",
			fmt.Sprintf("Check that the application is allowed to call the Application Management API (rotateApplicationClientSecret) with a grantless token of scope %s, and that the credentials in AWSCURRENT belong to it. Then run: aws secretsmanager rotate-secret --secret-id %s. SP-API said: %v", lwa.ScopeRotation, c.arn, err)))
	case errors.Is(err, spapi.ErrThrottled) && !errors.Is(err, spapi.ErrOutcomeUnknown):
		// Nothing was issued: the next attempt may call again. (After an
		// earlier 5xx of the same call something may have been: that goes
		// to the default case and keeps the tag.)
		return r.untagAfter(ctx, c, err)
	case errors.As(err, &se) && se.StatusCode >= 400 && se.StatusCode < 500 && se.StatusCode != http.StatusTooManyRequests:
		return r.untagAfter(ctx, c, r.failWithAlert(ctx, c, cur.doc.ClientID(), err,
			fmt.Sprintf("SP-API refused to rotate the client secret (status %d).", se.StatusCode),
			"Amazon issued no new client secret; the secret is unchanged.",
			fmt.Sprintf("Read SP-API's answer and fix its cause, then run: aws secretsmanager rotate-secret --secret-id %s. SP-API said: %v", c.arn, err)))
	default:
		// 5xx or timeout: Amazon may have issued a secret. Keep the tag so
		// the next attempt waits for it (Case 4) instead of asking again.
		return err
	}
}

// endpointRefused reports whether err is an answer the clients refuse to
// act on: a redirect (never followed) or an endpoint that is not https.
func endpointRefused(err error) bool {
	return errors.Is(err, endpoint.ErrRedirect) || errors.Is(err, endpoint.ErrInsecure)
}

// failEndpoint alerts that LWA_TOKEN_URL or SP_API_ENDPOINT must be fixed.
func (r *Rotator) failEndpoint(ctx context.Context, c *call, cur *version, err error) error {
	return r.failWithAlert(ctx, c, cur.doc.ClientID(), err,
		"The LWA or SP-API endpoint answered with a redirect (or is not https), so no new client secret was requested.",
		"Nothing was sent to the redirect's target; the secret is unchanged.",
		fmt.Sprintf("Check the stack parameters LwaTokenUrl and SpApiEndpoint (environment LWA_TOKEN_URL, SP_API_ENDPOINT of the rotation function): they must be Amazon's https endpoints. Then run: aws secretsmanager rotate-secret --secret-id %s. The error was: %v", c.arn, err))
}

// untagAfter removes rotation-requested-at after a failure that requested
// nothing, and returns err (joined with the untag error, if any).
func (r *Rotator) untagAfter(ctx context.Context, c *call, err error) error {
	cctx, cancel := cleanupContext(ctx)
	defer cancel()
	_, uerr := r.tagger.UntagResource(cctx, &secretsmanager.UntagResourceInput{
		SecretId: aws.String(c.secretID),
		TagKeys:  []string{managed.TagRotationRequestedAt},
	})
	if uerr != nil {
		return errors.Join(err, c.errorf("untag %s: %w", managed.TagRotationRequestedAt, uerr))
	}
	return err
}

// failWithAlert publishes a ROTATION_FAILED alert that asks a person to act
// and returns err (joined with the publish error, if any).
func (r *Rotator) failWithAlert(ctx context.Context, c *call, clientID string, err error, message, did, todo string) error {
	a := alert.Alert{
		Event:     alert.EventRotationFailed,
		Severity:  alert.SeverityCritical,
		ClientID:  clientID,
		SecretARN: c.arn,
		Action:    alert.ActionManual,
		VersionID: c.token,
		Message:   message,
		Did:       did,
		ToDo:      todo,
	}
	cctx, cancel := cleanupContext(ctx)
	defer cancel()
	if perr := r.alerts.Publish(cctx, a); perr != nil {
		return errors.Join(err, c.errorf("publish %s alert: %w", alert.EventRotationFailed, perr))
	}
	return err
}

// awaitReceived looks for an adoptable secret every PollInterval and adopts
// it (Case 6). seen holds the versions already read.
func (r *Rotator) awaitReceived(ctx context.Context, c *call, cur *version, seen map[string]*version) error {
	giveUp := r.giveUp(ctx)
	start := time.Now()
	for polls := 1; ; polls++ {
		if !retry.Sleep(ctx, r.cfg.PollInterval) {
			return c.errorf("wait for the new client secret: %w", ctx.Err())
		}
		adopted, err := r.adoptStored(ctx, c, cur, seen)
		if err != nil || adopted {
			return err
		}
		if !giveUp.IsZero() && time.Now().Add(r.cfg.PollInterval).After(giveUp) {
			return c.errorf("waited %s (%d looks): %w", time.Since(start).Round(time.Millisecond), polls, ErrSecretNotReceived)
		}
		c.log.DebugContext(ctx, "new client secret not received yet", "polls", polls)
	}
}
