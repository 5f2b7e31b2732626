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

// setSecret checks the pending version; Amazon has already set the secret
// on its side, so nothing is changed.
func (r *Rotator) setSecret(ctx context.Context, c *call) error {
	// Case 7: a valid document for the client of AWSCURRENT and of the tag.
	pending, ok, err := r.readPending(ctx, c)
	if err != nil {
		return err
	}
	if !ok {
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

// testSecret proves the pending credentials work, or the current ones during
// the configuration test.
func (r *Rotator) testSecret(ctx context.Context, c *call) error {
	pending, ok, err := r.readPending(ctx, c)
	if err != nil {
		return err
	}
	if !ok {
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
		if !errors.Is(err, lwa.ErrInvalidClient) {
			return c.errorf("obtain LWA token with the pending credentials (%d attempts): %w", attempt, err)
		}
		if time.Now().Add(r.cfg.TestRetryInterval).After(until) {
			err = c.errorf("obtain LWA token with the pending credentials (%d attempts): %w", attempt, err)
			delivered, derr := r.deliveredAt(ctx, c, pending)
			if derr != nil {
				return errors.Join(err, derr)
			}
			if age := r.cfg.Now().Sub(delivered); age >= r.cfg.RejectAfter {
				return r.reject(ctx, c, pending, fmt.Errorf("%w; LWA has refused it since it was stored %s ago", err, age.Round(time.Second)))
			}
			return err
		}
		c.log.DebugContext(ctx, "pending client secret not accepted yet; retrying", "attempts", attempt)
		if !retry.Sleep(ctx, r.cfg.TestRetryInterval) {
			return c.errorf("obtain LWA token with the pending credentials (%d attempts): %w", attempt, errors.Join(err, ctx.Err()))
		}
	}
}

// deliveredAt is when the pending secret was first stored: the earliest
// created date of the other versions holding it (the receiver's version of
// the delivery), else the pending version's own (which RotateSecret may have
// created long before the secret arrived). Read only when LWA keeps
// refusing the secret.
func (r *Rotator) deliveredAt(ctx context.Context, c *call, pending *version) (time.Time, error) {
	stored, err := r.stored(ctx, c, "", map[string]*version{})
	if err != nil {
		return time.Time{}, err
	}
	var at time.Time
	for _, v := range stored {
		if v.doc.ClientSecret() == pending.doc.ClientSecret() && (at.IsZero() || v.created.Before(at)) {
			at = v.created
		}
	}
	if at.IsZero() {
		at = pending.created // the pending version was created before the secret came
	}
	return at, nil
}

// reject is the end of Case 9 for a secret LWA keeps rejecting: list it in
// sp-api-lwa:rejected-secrets (so no rotation adopts it again), take
// LWA_RECEIVED off it, alert, and take AWSPENDING off the token's version, so
// the next rotation starts afresh. Each step is safe to repeat when
// Secrets Manager retries the step after a failure in between.
func (r *Rotator) reject(ctx context.Context, c *call, pending *version, cause error) error {
	secret := pending.doc.ClientSecret().Reveal()
	if _, err := r.tagger.TagResource(ctx, &secretsmanager.TagResourceInput{
		SecretId: aws.String(c.secretID),
		Tags: []types.Tag{{Key: aws.String(managed.TagRejectedSecrets),
			Value: aws.String(managed.WithRejected(c.tags[managed.TagRejectedSecrets], secret))}},
	}); err != nil {
		return errors.Join(cause, c.errorf("tag %s: %w", managed.TagRejectedSecrets, err))
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
	// Case 10: move AWSCURRENT, then alert and update the tags.
	pending, ok, err := r.readPending(ctx, c)
	if err != nil {
		return err
	}
	if !ok {
		return c.errorf("pending version has no value: createSecret has not completed")
	}
	if err := r.checkClient(c, pending.doc); err != nil {
		return fmt.Errorf("pending version: %w", err)
	}
	c.log = c.log.With("clientId", pending.doc.ClientID())
	// A forged finishSecret invocation must not promote untested
	// credentials: LWA must accept them first.
	if _, err := r.tokens.ClientCredentials(ctx, pending.doc.ClientID(), pending.doc.ClientSecret(), lwa.ScopeRotation); err != nil {
		return c.errorf("check the pending credentials with LWA before promoting them: %w", err)
	}
	currentID := managed.Holder(c.stages, managed.StageCurrent)
	if currentID == "" {
		return c.errorf("no version holds AWSCURRENT")
	}
	// The request this rotation made (if any) is fulfilled: remove its tag
	// now, while no other rotation can start. Once AWSCURRENT has moved,
	// RotateSecret starts the next one, whose createSecret may set the tag
	// at once; removing it then would make that rotation's next run ask
	// Amazon again (chaos runs under CPU load). client-secret-expires-at
	// goes too when the new secret's expiry is unknown.
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
	if err != nil {
		var ip *types.InvalidParameterException
		if !errors.As(err, &ip) || !r.isCurrent(ctx, c) {
			return c.errorf("move AWSCURRENT from version %s: %w", currentID, err)
		}
		c.log.InfoContext(ctx, "a concurrent run already moved AWSCURRENT")
	} else {
		c.log.InfoContext(ctx, "moved AWSCURRENT", "previousVersionId", currentID)
	}
	return r.finishTail(ctx, c, pending.doc)
}

// isCurrent reports whether the token's version holds AWSCURRENT now.
func (r *Rotator) isCurrent(ctx context.Context, c *call) bool {
	out, err := r.store.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(c.secretID)})
	return err == nil && managed.Holder(out.VersionIdsToStages, managed.StageCurrent) == c.token
}

// finishRetried handles finishSecret for a version that is already AWSCURRENT (Case 11).
func (r *Rotator) finishRetried(ctx context.Context, c *call) error {
	// Case 11: redo the tail of Case 10 unless the tags show it was done.
	out, ok, err := r.getValue(ctx, c, c.token, managed.StageCurrent)
	if err != nil {
		return c.errorf("read AWSCURRENT: %w", err)
	}
	if !ok {
		return c.errorf("AWSCURRENT has no value")
	}
	cur, err := r.parse(out)
	if err != nil {
		return c.errorf("AWSCURRENT: %w", err)
	}
	c.log = c.log.With("clientId", cur.doc.ClientID())
	if tailDone(c.tags, cur.doc) {
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

// tailDone reports whether the tags show the tail of Case 10 finished.
// rotation-requested-at says nothing here: it was removed before the move,
// and once AWSCURRENT has moved it may be the next rotation's.
func tailDone(tags map[string]string, doc *secretdoc.Document) bool {
	got, ok := tags[managed.TagClientSecretExpiresAt]
	want := expiresTag(doc)
	return got == want && ok == (want != "")
}

// finishTail publishes CLIENT_SECRET_ROTATED and then updates the tags, which
// record that it is done. A failure returns the error so the step is retried
// (Case 11 redoes the tail).
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

	// An unknown expiry's tag was removed before the move (finishSecret).
	if exp := expiresTag(doc); exp != "" {
		_, err := r.tagger.TagResource(ctx, &secretsmanager.TagResourceInput{
			SecretId: aws.String(c.secretID),
			Tags:     []types.Tag{{Key: aws.String(managed.TagClientSecretExpiresAt), Value: aws.String(exp)}},
		})
		if err != nil {
			return c.errorf("tag %s: %w", managed.TagClientSecretExpiresAt, err)
		}
	}
	return nil
}
