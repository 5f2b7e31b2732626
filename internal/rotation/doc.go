// Package rotation implements the Secrets Manager rotation protocol for an
// SP-API application's LWA client secret (docs/design.md "The rotation protocol"):
// the four steps createSecret, setSecret, testSecret and finishSecret that
// Secrets Manager runs, in that order, for one ClientRequestToken (the
// version id of the new secret version).
//
// Every step is safe to run again after a failure at any point, and to run
// twice at once, for the same token. Every read names a VersionStage or a
// VersionId, because a read without one may be served stale.
//
// # Entry checks
//
// Every step first does what AWS's own rotation templates do: DescribeSecret;
// the secret must have rotation enabled; the token must be one of its
// versions; a version that is already AWSCURRENT needs nothing (the step
// succeeds, see Case 11 for the one exception); a version that is not
// AWSPENDING fails the step. An unknown step fails.
//
// # createSecret
//
// Case 1: The token's version already has a value (an earlier or concurrent
// run wrote it): nothing to do.
//
// Case 2: AWSCURRENT must parse as a secret document with a client id and a
// client secret, and its client id must equal the tag sp-api-lwa:client-id.
// Otherwise the step fails with an error (wrapping ErrMisconfigured) that says
// what to fix, and a ROTATION_FAILED alert with action MANUAL_ACTION_REQUIRED
// is published. No value is ever quoted.
//
// Case 3: Choose among every stored secret. ListSecretVersionIds (with the
// deprecated, unlabelled versions) lists the secret's versions; each one not
// read yet by this run is read (a version's value never changes), except
// AWSCURRENT, AWSPREVIOUS and the token's own. choose, a pure function,
// picks the version to adopt: the newest of those that hold the client id
// of AWSCURRENT, another client secret, one not listed in the tag
// sp-api-lwa:rejected-secrets, and are newer than AWSCURRENT (a later
// clientSecretExpiresAt when both documents have one, to the fraction of a
// second the notification gave; otherwise a CreatedDate after the
// AWSCURRENT version's). Labels play no part: the receiver only appends, so
// a secret stored under LWA_SUPERSEDED, or one whose label moved on, is
// found as well as the one on LWA_RECEIVED. The chosen secret is written as
// the token's version with AWSPENDING: the AWSCURRENT document with its
// client secret and clientSecretExpiresAt, so every other key is the
// current one. No SP-API call. This is how a secret rotated by hand in the
// portal, or one that arrived after an earlier run gave up waiting, is
// adopted.
//
// When two different secrets share the newest expiry, to the millisecond,
// neither is adopted: Amazon issued both at once (a rotate call and a
// rotation by hand) and nothing tells which one it replaced, which LWA stops
// accepting after its grace period. The run goes on to Case 4 and 5 and asks
// Amazon for a secret known to be the newest.
//
// Case 4: The tag sp-api-lwa:rotation-requested-at is newer than the
// AWSCURRENT version and younger than Config.Cooldown: a request is
// outstanding and its secret is on its way. Go to Case 6 without asking again.
//
// Case 5: First, the client id must be tagged on this secret alone
// (ListSecrets): a delivery for a client id tagged on two secrets is rejected
// by the receiver and would wait in the dead-letter queue, so the step fails
// with a ROTATION_FAILED alert and asks nothing. Then set
// sp-api-lwa:rotation-requested-at to now, wait Config.Settle and
// read the tags again. If another run's value replaced ours, that run makes
// the call: go to Case 6. Otherwise obtain a grantless LWA token with the
// AWSCURRENT credentials (scope lwa.ScopeRotation) and call
// rotateApplicationClientSecret (the SP-API client retries 429 and 5xx inside
// the time left). Then:
//   - 204: go to Case 6.
//   - Amazon refused and issued nothing (400 not enrolled, 403, another 4xx,
//     or LWA rejecting the current credentials, e.g. invalid_client): remove
//     the tag, publish ROTATION_FAILED (CRITICAL, MANUAL_ACTION_REQUIRED, with
//     the exact fix), fail.
//   - 429 after the retries, or LWA unavailable: nothing was issued; remove
//     the tag, fail. Secrets Manager retries the rotation.
//   - 5xx or a timeout after the retries: ambiguous, Amazon may have issued a
//     secret. Keep the tag (Case 4 then waits for it instead of asking
//     again), fail.
//
// Any failure between setting the tag and the call removes the tag again:
// nothing was requested. The settle-and-reread makes two concurrent runs
// agree on one caller; should both still call (their tag writes further
// apart than the settle time), Amazon issues two secrets, the receiver stores
// both and LWA_RECEIVED keeps the newer one: a needless rotation, never a
// lost secret.
//
// Case 6: Every Config.PollInterval do Case 3 again (one
// ListSecretVersionIds, and a GetSecretValue for each version not read
// before) until it adopts a secret. Give up Config.DeadlineMargin before the
// context's deadline with an error wrapping ErrSecretNotReceived, logged as a
// warning and not alerted: Secrets Manager retries the rotation, the receiver
// resumes it as soon as the secret arrives, and the RotationFailed rule
// reports a rotation that keeps failing.
//
// # setSecret
//
// Case 7: Amazon has already set the secret on its side. The pending value
// must be a valid secret document for the client id of AWSCURRENT and of the
// tag; a pending version for another client id, or without a value, fails.
// Nothing is changed.
//
// # testSecret
//
// Case 8: The token's version has no value: this is Secrets Manager's
// configuration test, run alone when a schedule is created with
// RotateImmediatelyOnUpdate false. Test the AWSCURRENT credentials (an LWA
// token with lwa.ScopeRotation) and change nothing.
//
// Case 9: Otherwise obtain an LWA token with the pending credentials. A new
// secret can take a little while to be accepted: invalid_client is retried
// every Config.TestRetryInterval for up to Config.TestRetryFor (never past
// the deadline margin). Other errors fail at once (the LWA client has already
// retried 5xx). When the retries run out, the step fails; Secrets Manager
// reattempts the rotation. Once LWA has refused the secret for
// Config.RejectAfter since it was stored (the earliest version holding it;
// looked up only on this path; default 15
// minutes: a genuine secret is accepted within minutes, and a delivery that
// waits for this rotation is still being redelivered), the secret is
// rejected: its
// Fingerprint is added to the tag sp-api-lwa:rejected-secrets (the newest
// managed.MaxRejected are kept), LWA_RECEIVED is taken off a version that
// holds it, ROTATION_FAILED is published, and AWSPENDING is taken off the
// token's version so that the next rotation starts afresh with a new token.
// The rejected value stays stored; Case 3 never adopts it again, whatever
// expiry it claims, so a later genuine secret is adopted. Every part is safe
// to repeat when the step is retried after a failure in between.
//
// # finishSecret
//
// Case 10: Obtain an LWA token with the pending credentials: a finishSecret
// invoked by anyone but Secrets Manager, for a version that never passed
// testSecret, does not promote credentials LWA refuses. Remove
// sp-api-lwa:rotation-requested-at (and
// sp-api-lwa:client-secret-expires-at when the new secret's expiry is
// unknown). This comes before the move: the request is fulfilled, and until
// AWSCURRENT moves no other rotation can start. Once it has moved, the next
// rotation (an expiry notice, a receiver) can start and set the tag at once;
// removing it after the move would erase that rotation's outstanding
// request, and its next run would ask Amazon again. Then move AWSCURRENT to
// the token's version with RemoveFromVersionId set to the version holding
// it. AWSPENDING is left for Secrets Manager to remove (removing it early
// tells the service the rotation did not complete). If the move fails
// because a concurrent run already made it, that is success. Then publish
// CLIENT_SECRET_ROTATED (INFO, action NONE) and set
// sp-api-lwa:client-secret-expires-at to the new expiry. That tag is written
// last: it records that the tail is done.
//
// Case 11: The token's version is already AWSCURRENT (finishSecret retried
// after a failure after the move). If client-secret-expires-at disagrees
// with the AWSCURRENT document, the tail of Case 10 did not finish: publish
// the alert and set the tag again. The alert is therefore delivered at least
// once, possibly twice (when the new secret's expiry is unknown, a failed
// publish is not retried: nothing records it). rotation-requested-at is left
// alone: it may be the next rotation's. Otherwise nothing is done.
//
// # Calls for one rotation
//
// A successful rotation that requests a new secret (Case 5, first ever:
// nothing stored yet) and finds it on the first poll makes:
//
//	step          Secrets Manager                                   LWA  SP-API  SNS
//	createSecret  DescribeSecret 2, GetSecretValue 3,                 1     1       0
//	              ListSecretVersionIds 2, ListSecrets 1,
//	              TagResource 1, PutSecretValue 1
//	setSecret     DescribeSecret 1, GetSecretValue 2                  0     0       0
//	testSecret    DescribeSecret 1, GetSecretValue 1                  1     0       0
//	finishSecret  DescribeSecret 1, GetSecretValue 1,                 1     0       1
//	              UpdateSecretVersionStage 1, TagResource 1,
//	              UntagResource 1
//
// Exactly: DescribeSecret 5, GetSecretValue 7, ListSecretVersionIds 2,
// ListSecrets 1, PutSecretValue 1, TagResource 2, UntagResource 1,
// UpdateSecretVersionStage 1 (20 Secrets Manager calls),
// 3 LWA token requests, 1 SP-API call, 1 SNS publish. Why each is needed:
//   - DescribeSecret once per step: the entry checks (rotation enabled,
//     version stages) and the tags; once more in createSecret to read the tag
//     back after setting rotation-requested-at (Case 5, so that concurrent
//     runs agree on one caller).
//   - ListSecretVersionIds: Case 3, and one poll (Case 6). ListSecrets: the
//     client id is tagged on this secret alone (Case 5).
//   - GetSecretValue: createSecret reads the token's version (Case 1),
//     AWSCURRENT (Case 2) and the new version found by the poll (Case 6; each
//     stored version is read once per run); setSecret reads the pending
//     version and AWSCURRENT (Case 7); testSecret the pending version
//     (Case 9); finishSecret the pending version (Case 10).
//   - PutSecretValue: the pending version (Case 3).
//   - TagResource: rotation-requested-at (Case 5), client-secret-expires-at
//     (Case 10). UntagResource: rotation-requested-at (Case 10).
//   - UpdateSecretVersionStage: the promotion (Case 10).
//   - LWA: the grantless token for the rotate call (Case 5), the test of the
//     new secret (Case 9) and the check before promoting it (Case 10).
//     SP-API: the rotate call (Case 5).
//
// TestFullRotationCallCounts asserts these numbers.
package rotation
