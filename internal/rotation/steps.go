package rotation

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/spapi-lwa/secret-rotation/internal/alert"
	"github.com/spapi-lwa/secret-rotation/internal/lwa"
	"github.com/spapi-lwa/secret-rotation/internal/managed"
	"github.com/spapi-lwa/secret-rotation/internal/retry"
	"github.com/spapi-lwa/secret-rotation/internal/secretdoc"
)

// errNoPending fails setSecret and finishSecret before createSecret has written the version.
const errNoPending = "pending version has no value: createSecret has not completed"

// setSecret checks the pending version; Amazon has already set the secret
// on its side, so nothing is changed.
func (r *Rotator) setSecret(ctx context.Context, c *call) error {
	// Case 7: a valid document for the client of AWSCURRENT and of the tag.
	pending, err := r.readPending(ctx, c)
	if err != nil {
		return err
	} else if pending == nil {
		return c.errorf(errNoPending)
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

// testSecret proves the pending credentials work, or the current ones during
// the configuration test.
func (r *Rotator) testSecret(ctx context.Context, c *call) error {
	pending, err := r.readPending(ctx, c)
	if err != nil {
		return err
	}
	if pending == nil {
		// Case 8: configuration test; test AWSCURRENT and change nothing.
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

	// Case 9: test the pending credentials, retrying invalid_client for a while.
	if err := r.checkClient(c, pending.doc); err != nil {
		return fmt.Errorf("pending version: %w", err)
	}
	c.log = c.log.With("clientId", pending.doc.ClientID())
	until := time.Now().Add(r.cfg.TestRetryFor)
	if g := r.giveUp(ctx); !g.IsZero() && g.Before(until) {
		until = g
	}
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

// refused ends Case 9 when the retries ran out: it rejects the pending
// secret once LWA has refused it for RejectAfter since it was first stored:
// the earliest created date of the other versions holding it (the
// receiver's), else the pending version's own. Read only on this path.
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

// reject lists the pending secret in sp-api-lwa:rejected-secrets (so no
// rotation adopts it again), takes LWA_RECEIVED off it, alerts, and takes
// AWSPENDING off the token's version so the next rotation starts afresh
// (Case 9). Each part is safe to repeat when the step is retried.
func (r *Rotator) reject(ctx context.Context, c *call, pending *version, cause error) error {
	rejected := managed.WithRejected(c.tags[managed.TagRejectedSecrets], pending.doc.ClientSecret().Reveal())
	if err := r.tag(ctx, c, managed.TagRejectedSecrets, rejected); err != nil {
		return errors.Join(cause, err)
	}
	if err := r.unlabelReceived(ctx, c, pending); err != nil {
		return errors.Join(cause, err)
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

// unlabelReceived takes LWA_RECEIVED off its version when that version holds
// the client secret of pending.
func (r *Rotator) unlabelReceived(ctx context.Context, c *call, pending *version) error {
	id := managed.Holder(c.stages, managed.StageReceived)
	if id == "" {
		return nil
	}
	v, err := r.readStored(ctx, c, id)
	if err != nil || v == nil || v.doc.ClientSecret() != pending.doc.ClientSecret() {
		return err
	}
	return r.removeStage(ctx, c, managed.StageReceived, id)
}

// removeStage takes stage off version id.
func (r *Rotator) removeStage(ctx context.Context, c *call, stage, id string) error {
	_, err := r.store.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{
		SecretId: aws.String(c.secretID), VersionStage: aws.String(stage), RemoveFromVersionId: aws.String(id),
	})
	if err != nil {
		return c.errorf("remove %s from version %s: %w", stage, id, err)
	}
	return nil
}

// finishSecret promotes the pending version.
func (r *Rotator) finishSecret(ctx context.Context, c *call) error {
	// Case 10: check with LWA, untag, move AWSCURRENT, then alert and tag.
	pending, err := r.readPending(ctx, c)
	if err != nil {
		return err
	} else if pending == nil {
		return c.errorf(errNoPending)
	}
	if err := r.checkClient(c, pending.doc); err != nil {
		return fmt.Errorf("pending version: %w", err)
	}
	c.log = c.log.With("clientId", pending.doc.ClientID())
	// A forged finishSecret invocation must not promote untested credentials.
	if _, err := r.tokens.ClientCredentials(ctx, pending.doc.ClientID(), pending.doc.ClientSecret(), lwa.ScopeRotation); err != nil {
		return c.errorf("check the pending credentials with LWA before promoting them: %w", err)
	}
	currentID := managed.Holder(c.stages, managed.StageCurrent)
	if currentID == "" {
		return c.errorf("no version holds AWSCURRENT")
	}
	// Untag before the move, while no other rotation can start: after it, the
	// next rotation may set rotation-requested-at at once, and removing that
	// would make it ask Amazon again.
	untag := []string{managed.TagRotationRequestedAt}
	if expiresTag(pending.doc) == "" {
		untag = append(untag, managed.TagClientSecretExpiresAt)
	}
	if _, err := r.tagger.UntagResource(ctx, &secretsmanager.UntagResourceInput{
		SecretId: aws.String(c.secretID), TagKeys: untag,
	}); err != nil {
		return c.errorf("untag %v: %w", untag, err)
	}
	_, err = r.store.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{
		SecretId:            aws.String(c.secretID),
		VersionStage:        aws.String(managed.StageCurrent),
		MoveToVersionId:     aws.String(c.token),
		RemoveFromVersionId: aws.String(currentID),
	})
	var ip *types.InvalidParameterException
	switch {
	case err == nil:
		c.log.InfoContext(ctx, "moved AWSCURRENT", "previousVersionId", currentID)
	case errors.As(err, &ip) && r.isCurrent(ctx, c):
		c.log.InfoContext(ctx, "a concurrent run already moved AWSCURRENT")
	default:
		return c.errorf("move AWSCURRENT from version %s: %w", currentID, err)
	}
	return r.finishTail(ctx, c, pending.doc)
}

// isCurrent reports whether the token's version holds AWSCURRENT now.
func (r *Rotator) isCurrent(ctx context.Context, c *call) bool {
	out, err := r.store.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(c.secretID)})
	return err == nil && managed.Holder(out.VersionIdsToStages, managed.StageCurrent) == c.token
}

// finishRetried handles finishSecret for a version that is already AWSCURRENT.
func (r *Rotator) finishRetried(ctx context.Context, c *call) error {
	// Case 11: redo the tail of Case 10 unless the tags show it was done.
	cur, invalid, err := r.read(ctx, c, c.token, managed.StageCurrent)
	switch {
	case err != nil:
		return c.errorf("read AWSCURRENT: %w", err)
	case invalid != nil:
		return c.errorf("AWSCURRENT: %w", invalid)
	case cur == nil:
		return c.errorf("AWSCURRENT has no value")
	}
	c.log = c.log.With("clientId", cur.doc.ClientID())
	// rotation-requested-at says nothing here: it was removed before the
	// move, and once AWSCURRENT has moved it may be the next rotation's.
	got, ok := c.tags[managed.TagClientSecretExpiresAt]
	if want := expiresTag(cur.doc); got == want && ok == (want != "") {
		c.log.InfoContext(ctx, "version is already AWSCURRENT and its tags are up to date; nothing to do")
		return nil
	}
	c.log.InfoContext(ctx, "version is already AWSCURRENT but the rotation's tail did not finish; redoing it")
	return r.finishTail(ctx, c, cur.doc)
}

// expiresTag is the value of client-secret-expires-at for doc ("" when unknown).
func expiresTag(doc *secretdoc.Document) string {
	if t, ok := doc.ExpiresAt(); ok {
		return t.UTC().Format(time.RFC3339)
	}
	return ""
}

// finishTail publishes CLIENT_SECRET_ROTATED, then sets client-secret-expires-at,
// which records that the tail is done (Case 11 redoes it after a failure).
func (r *Rotator) finishTail(ctx context.Context, c *call, doc *secretdoc.Document) error {
	a := alert.Alert{
		Event:     alert.EventRotated,
		Severity:  alert.SeverityInfo,
		ClientID:  doc.ClientID(),
		SecretARN: c.arn,
		Action:    alert.ActionNone,
		VersionID: c.token,
		Message:   fmt.Sprintf("The LWA client secret of %s was rotated; AWSCURRENT of the secret now holds the new one.", doc.ClientID()),
		Did:       "Secrets Manager serves the new client secret as AWSCURRENT. The previous secret is kept as AWSPREVIOUS and Amazon accepts it for 7 more days.",
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
