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
	"github.com/spapi-lwa/secret-rotation/internal/secretdoc"
	"github.com/spapi-lwa/secret-rotation/internal/spapi"
)

// nothingRequested is what a failed request did, for ROTATION_FAILED alerts.
const nothingRequested = "Nothing was requested from Amazon; the secret is unchanged."

func (r *Rotator) createSecret(ctx context.Context, c *call, pending *version) error {
	// Case 1: the token's version already has a value.
	if pending != nil {
		c.log.InfoContext(ctx, "pending version already has a value")
		return nil
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

	// Case 3: adopt a secret already stored.
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
	giveUp, start := r.giveUp(ctx, time.Time{}), time.Now()
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

func (r *Rotator) outstanding(ctx context.Context, c *call, cur *version) (time.Time, bool) {
	v, ok := c.tags[managed.TagRotationRequestedAt]
	at, err := time.Parse(time.RFC3339Nano, v)
	if ok && err != nil {
		c.log.WarnContext(ctx, "ignoring unreadable tag", "tag", managed.TagRotationRequestedAt)
	}
	return at, ok && err == nil && at.After(cur.created) && r.cfg.Now().Sub(at) < r.cfg.Cooldown
}

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

// stored reads only the versions not in seen.
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

func (r *Rotator) readStored(ctx context.Context, c *call, id string) (*version, error) {
	v, invalid, err := r.read(ctx, c, &id, nil)
	if err != nil {
		return nil, c.errorf("read version %s: %w", id, err)
	} else if invalid != nil {
		c.log.WarnContext(ctx, "stored version is not a valid secret document; not adopted", "storedVersionId", id, "error", invalid)
	}
	return v, nil
}

// choose is the pure decision of Case 3: the version to adopt, or nil (always on a tie).
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
		best = nil
	}
	return best, tied
}

// newer compares expiries when both documents have one: a version may be older than an AWSCURRENT
// written in between.
func newer(a, b *version) bool {
	ae, aok := a.doc.ExpiresAt()
	be, bok := b.doc.ExpiresAt()
	if aok && bok {
		return ae.After(be)
	}
	return a.created.After(b.created)
}

func (r *Rotator) writePending(ctx context.Context, c *call, cur *version, recv *version) error {
	expiresAt, _ := recv.doc.ExpiresAt()
	value, err := cur.doc.WithClientSecret(recv.doc.ClientSecret(), expiresAt)
	if err != nil {
		return c.errorf("build pending value from version %s: %w", recv.id, err)
	}
	_, err = r.store.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
		SecretId: aws.String(c.secretID), ClientRequestToken: aws.String(c.token),
		SecretString: aws.String(string(value)), VersionStages: []string{managed.StagePending},
	})
	if errors.As(err, new(*types.ResourceExistsException)) {
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

// requestFailed decides whether a failed LWA token request (called false) or rotate call may have
// issued a secret (keep the tag), and whether a person must act.
func (r *Rotator) requestFailed(ctx context.Context, c *call, cur *version, err error, called bool) error {
	var le *lwa.Error
	var se *spapi.Error
	var message, todo string
	did := "Amazon issued no new client secret; the secret is unchanged."
	rerun := "aws secretsmanager rotate-secret --secret-id " + c.arn
	switch {
	case errors.Is(err, endpoint.ErrRedirect) || errors.Is(err, endpoint.ErrInsecure):
		message = "The LWA or SP-API endpoint answered with a redirect (or is not https), so no new client secret was requested."
		did = "Nothing was sent to the redirect's target; the secret is unchanged."
		todo = fmt.Sprintf("Check the stack parameters LwaTokenUrl and SpApiEndpoint (environment LWA_TOKEN_URL, SP_API_ENDPOINT of the rotation function): they must be Amazon's https endpoints. Then run: %s. The error was: %v", rerun, err)
	case !called && errors.As(err, &le) && !errors.Is(err, lwa.ErrServer):
		message = "Login with Amazon rejected the credentials in AWSCURRENT, so no new client secret could be requested."
		did = nothingRequested
		todo = fmt.Sprintf("Check that the client id and client secret in AWSCURRENT of %s are the application's current LWA credentials (Solution Provider Portal, Developer Central, View credentials). If the secret was rotated in the portal, wait for its APPLICATION_OAUTH_CLIENT_NEW_SECRET notification to be stored, or put the new secret into AWSCURRENT. Then run: %s. LWA said: %v", c.arn, rerun, le)
	case !called:
		return r.untagAfter(ctx, c, err)
	case errors.Is(err, spapi.ErrNotEnrolled):
		message = "SP-API refused to rotate the client secret: the application is not enrolled for the rotation notification."
		todo = fmt.Sprintf("Register the new-secret queue (stack output NewSecretQueueArn) in the Developer Console, Notification Preferences, row \"Application Client New Secret\". Then run: %s. SP-API said: %v", rerun, err)
	case errors.Is(err, spapi.ErrForbidden):
		message = "SP-API refused to rotate the client secret (403 forbidden)."
		todo = fmt.Sprintf("Check that the application is allowed to call the Application Management API (rotateApplicationClientSecret) with a grantless token of scope %s, and that the credentials in AWSCURRENT belong to it. Then run: %s. SP-API said: %v", lwa.ScopeRotation, rerun, err)
	case errors.Is(err, spapi.ErrThrottled) && !errors.Is(err, spapi.ErrOutcomeUnknown):
		// Nothing was issued; after an earlier 5xx (outcome unknown) something may have been.
		return r.untagAfter(ctx, c, err)
	case errors.As(err, &se) && se.StatusCode >= 400 && se.StatusCode < 500 && se.StatusCode != http.StatusTooManyRequests:
		message = fmt.Sprintf("SP-API refused to rotate the client secret (status %d).", se.StatusCode)
		todo = fmt.Sprintf("Read SP-API's answer and fix its cause, then run: %s. SP-API said: %v", rerun, err)
	default:
		// 5xx or timeout: Amazon may have issued a secret. Keep the tag: Case 4 waits for it.
		return err
	}
	return r.untagAfter(ctx, c, r.failWithAlert(ctx, c, cur.doc.ClientID(), err, message, did, todo))
}

func (r *Rotator) untagAfter(ctx context.Context, c *call, err error) error {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_, uerr := r.tagger.UntagResource(cctx, &secretsmanager.UntagResourceInput{
		SecretId: aws.String(c.secretID), TagKeys: []string{managed.TagRotationRequestedAt},
	})
	if uerr != nil {
		return errors.Join(err, c.errorf("untag %s: %w", managed.TagRotationRequestedAt, uerr))
	}
	return err
}

func (r *Rotator) setSecret(ctx context.Context, c *call, pending *version) error {
	// Case 7: a valid document for the client of AWSCURRENT and of the tag.
	if pending == nil {
		return c.errorf("pending version has no value: createSecret has not completed")
	}
	cur, err := r.readCurrent(ctx, c)
	if err != nil {
		return err
	}
	c.log = c.log.With("clientId", cur.doc.ClientID())
	if err := r.checkClient(c, pending.doc); err != nil {
		return fmt.Errorf("pending version: %w", err)
	}
	return nil
}

func (r *Rotator) testSecret(ctx context.Context, c *call, pending *version) error {
	if pending == nil {
		// Case 8: configuration test.
		cur, err := r.readCurrent(ctx, c)
		if err != nil {
			return err
		}
		c.log = c.log.With("clientId", cur.doc.ClientID())
		if _, err := r.tokens.ClientCredentials(ctx, cur.doc.ClientID(), cur.doc.ClientSecret(), lwa.ScopeRotation); err != nil {
			return c.errorf("configuration test: obtain LWA token with the AWSCURRENT credentials: %w", err)
		}
		c.log.InfoContext(ctx, "configuration test: AWSCURRENT credentials work")
		return nil
	}

	// Case 9: test the pending credentials.
	if err := r.checkClient(c, pending.doc); err != nil {
		return fmt.Errorf("pending version: %w", err)
	}
	c.log = c.log.With("clientId", pending.doc.ClientID())
	until := r.giveUp(ctx, time.Now().Add(r.cfg.TestRetryFor))
	for attempt := 1; ; attempt++ {
		_, err := r.tokens.ClientCredentials(ctx, pending.doc.ClientID(), pending.doc.ClientSecret(), lwa.ScopeRotation)
		if err == nil {
			c.log.InfoContext(ctx, "pending credentials work", "attempts", attempt)
			return nil
		}
		const failed = "obtain LWA token with the pending credentials (%d attempts): %w"
		if !errors.Is(err, lwa.ErrInvalidClient) {
			return c.errorf(failed, attempt, err)
		}
		if time.Now().Add(r.cfg.TestRetryInterval).After(until) {
			return r.refused(ctx, c, pending, c.errorf(failed, attempt, err))
		}
		c.log.DebugContext(ctx, "pending client secret not accepted yet; retrying", "attempts", attempt)
		if !retry.Sleep(ctx, r.cfg.TestRetryInterval) {
			return c.errorf(failed, attempt, errors.Join(err, ctx.Err()))
		}
	}
}

// refused rejects the pending secret once LWA has refused it for RejectAfter since first stored.
func (r *Rotator) refused(ctx context.Context, c *call, pending *version, err error) error {
	stored, serr := r.stored(ctx, c, "", map[string]*version{})
	if serr != nil {
		return errors.Join(err, serr)
	}
	var at time.Time
	for _, v := range stored {
		if v.doc.ClientSecret() == pending.doc.ClientSecret() && (at.IsZero() || v.created.Before(at)) {
			at = v.created
		}
	}
	if at.IsZero() {
		at = pending.created // RotateSecret may have created it long before the secret came
	}
	if age := r.cfg.Now().Sub(at); age >= r.cfg.RejectAfter {
		return r.reject(ctx, c, pending, fmt.Errorf("%w; LWA has refused it since it was stored %s ago", err, age.Round(time.Second)))
	}
	return err
}

// reject lists the secret as rejected, takes LWA_RECEIVED off it if it holds it, alerts and takes
// AWSPENDING off the token's version; each part is safe to repeat.
func (r *Rotator) reject(ctx context.Context, c *call, pending *version, cause error) error {
	rejected := managed.WithRejected(c.tags[managed.TagRejectedSecrets], pending.doc.ClientSecret().Reveal())
	if err := r.tag(ctx, c, managed.TagRejectedSecrets, rejected); err != nil {
		return errors.Join(cause, err)
	}
	if id := managed.Holder(c.stages, managed.StageReceived); id != "" {
		v, err := r.readStored(ctx, c, id)
		if err == nil && v != nil && v.doc.ClientSecret() == pending.doc.ClientSecret() {
			err = r.removeStage(ctx, c, managed.StageReceived, id)
		}
		if err != nil {
			return errors.Join(cause, err)
		}
	}
	cause = r.failWithAlert(ctx, c, pending.doc.ClientID(), cause,
		"Login with Amazon kept rejecting a delivered client secret; it was not promoted and is listed in the tag "+managed.TagRejectedSecrets+" so that it is never adopted again.",
		"The secret stays stored (its fingerprint is in the tag "+managed.TagRejectedSecrets+"); AWSCURRENT is unchanged; the next rotation asks Amazon for a new client secret or adopts a later delivered one.",
		fmt.Sprintf("Check where the rejected secret came from: the NEW_CLIENT_SECRET_RECEIVED alerts of %s name the notification of each delivered version (a message on the new-secret queue that Amazon did not send, or a damaged one). If AWSCURRENT still works, run: aws secretsmanager rotate-secret --secret-id %s", c.arn, c.arn))
	if err := r.removeStage(ctx, c, managed.StagePending, c.token); err != nil {
		return errors.Join(cause, err)
	}
	return cause
}

func (r *Rotator) removeStage(ctx context.Context, c *call, stage, id string) error {
	_, err := r.store.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{
		SecretId: aws.String(c.secretID), VersionStage: aws.String(stage), RemoveFromVersionId: aws.String(id),
	})
	if err != nil {
		return c.errorf("remove %s from version %s: %w", stage, id, err)
	}
	return nil
}

func (r *Rotator) finishSecret(ctx context.Context, c *call, pending *version) error {
	// Case 10: check with LWA, untag, move AWSCURRENT, then alert and tag.
	if pending == nil {
		return c.errorf("pending version has no value: createSecret has not completed")
	}
	if err := r.checkClient(c, pending.doc); err != nil {
		return fmt.Errorf("pending version: %w", err)
	}
	c.log = c.log.With("clientId", pending.doc.ClientID())
	if _, err := r.tokens.ClientCredentials(ctx, pending.doc.ClientID(), pending.doc.ClientSecret(), lwa.ScopeRotation); err != nil {
		return c.errorf("check the pending credentials with LWA before promoting them: %w", err)
	}
	currentID := managed.Holder(c.stages, managed.StageCurrent)
	if currentID == "" {
		return c.errorf("no version holds AWSCURRENT")
	}
	// Before the move: after it the next rotation may set rotation-requested-at at once.
	untag := []string{managed.TagRotationRequestedAt}
	if expiresTag(pending.doc) == "" {
		untag = append(untag, managed.TagClientSecretExpiresAt)
	}
	if _, err := r.tagger.UntagResource(ctx, &secretsmanager.UntagResourceInput{
		SecretId: aws.String(c.secretID), TagKeys: untag,
	}); err != nil {
		return c.errorf("untag %v: %w", untag, err)
	}
	_, err := r.store.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{
		SecretId: aws.String(c.secretID), VersionStage: aws.String(managed.StageCurrent),
		MoveToVersionId: aws.String(c.token), RemoveFromVersionId: aws.String(currentID),
	})
	switch {
	case err == nil:
		c.log.InfoContext(ctx, "moved AWSCURRENT", "previousVersionId", currentID)
	case errors.As(err, new(*types.InvalidParameterException)) && r.isCurrent(ctx, c):
		c.log.InfoContext(ctx, "a concurrent run already moved AWSCURRENT")
	default:
		return c.errorf("move AWSCURRENT from version %s: %w", currentID, err)
	}
	return r.finishTail(ctx, c, pending.doc)
}

func (r *Rotator) isCurrent(ctx context.Context, c *call) bool {
	out, err := r.store.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(c.secretID)})
	return err == nil && managed.Holder(out.VersionIdsToStages, managed.StageCurrent) == c.token
}

func (r *Rotator) finishRetried(ctx context.Context, c *call) error {
	// Case 11: redo the tail of Case 10 unless the tag shows it was done.
	cur, invalid, err := r.read(ctx, c, &c.token, aws.String(managed.StageCurrent))
	switch {
	case err != nil:
		return c.errorf("read AWSCURRENT: %w", err)
	case invalid != nil:
		return c.errorf("AWSCURRENT: %w", invalid)
	case cur == nil:
		return c.errorf("AWSCURRENT has no value")
	}
	c.log = c.log.With("clientId", cur.doc.ClientID())
	// Not rotation-requested-at: it may be the next rotation's.
	got, ok := c.tags[managed.TagClientSecretExpiresAt]
	if want := expiresTag(cur.doc); got == want && ok == (want != "") {
		c.log.InfoContext(ctx, "version is already AWSCURRENT and its tags are up to date; nothing to do")
		return nil
	}
	c.log.InfoContext(ctx, "version is already AWSCURRENT but the rotation's tail did not finish; redoing it")
	return r.finishTail(ctx, c, cur.doc)
}

func expiresTag(doc *secretdoc.Document) string {
	if t, ok := doc.ExpiresAt(); ok {
		return t.UTC().Format(time.RFC3339)
	}
	return ""
}

// finishTail publishes CLIENT_SECRET_ROTATED, then sets client-secret-expires-at to record it.
func (r *Rotator) finishTail(ctx context.Context, c *call, doc *secretdoc.Document) error {
	a := alert.Alert{
		Event: alert.EventRotated, Severity: alert.SeverityInfo, Action: alert.ActionNone,
		ClientID: doc.ClientID(), SecretARN: c.arn, VersionID: c.token,
		Message: fmt.Sprintf("The LWA client secret of %s was rotated; AWSCURRENT of the secret now holds the new one.", doc.ClientID()),
		Did:     "Secrets Manager serves the new client secret as AWSCURRENT. The previous secret is kept as AWSPREVIOUS and Amazon accepts it for 7 more days.",
	}
	if t, ok := doc.ExpiresAt(); ok {
		t = t.UTC()
		days := alert.DaysLeft(r.cfg.Now(), t)
		a.ExpiresAt, a.DaysLeft = &t, &days
		a.Message = fmt.Sprintf("The LWA client secret of %s was rotated; the new one is in AWSCURRENT and expires on %s.", doc.ClientID(), t.Format(time.RFC3339))
	}
	if err := r.alerts.Publish(ctx, a); err != nil {
		return c.errorf("publish %s alert: %w", alert.EventRotated, err)
	}
	if exp := expiresTag(doc); exp != "" { // an unknown expiry's tag was removed before the move
		return r.tag(ctx, c, managed.TagClientSecretExpiresAt, exp)
	}
	return nil
}

func (r *Rotator) tag(ctx context.Context, c *call, key, value string) error {
	_, err := r.tagger.TagResource(ctx, &secretsmanager.TagResourceInput{
		SecretId: aws.String(c.secretID), Tags: []types.Tag{{Key: aws.String(key), Value: aws.String(value)}},
	})
	if err != nil {
		return c.errorf("tag %s: %w", key, err)
	}
	return nil
}
