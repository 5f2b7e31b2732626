// Package rotation implements the Secrets Manager rotation protocol for an
// SP-API application's LWA client secret (DESIGN.md "The rotation protocol"):
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
// Case 3: A stored secret is adoptable: the version labelled LWA_RECEIVED, or
// the one labelled LWA_SUPERSEDED, holds the same client id as AWSCURRENT, a
// different client secret, and is newer than AWSCURRENT: a later
// clientSecretExpiresAt when both documents have one, otherwise a CreatedDate
// after the AWSCURRENT version's. (Creation dates alone mislead: the receiver
// stores a secret before it moves LWA_RECEIVED to it, so a rotation that
// promoted an older secret in between leaves an AWSCURRENT version created
// after the newer secret's. Expiries keep the notification's fraction of a
// second, so that two secrets issued within one second are ordered too.) Its
// secret is written as the token's version with AWSPENDING: the AWSCURRENT
// document with the received client secret and clientSecretExpiresAt, so
// every other key is the current one. No SP-API call. This is how a secret
// rotated by hand in the portal, or a secret that arrived after an earlier
// run gave up waiting, is adopted.
//
// LWA_SUPERSEDED is where the receiver stores every new secret before it
// moves LWA_RECEIVED to it by compare-and-swap; when that move fails, the
// secret waits there until the message is delivered again (the SQS
// visibility timeout, minutes). A run that looked at LWA_RECEIVED alone
// would miss it and, once the cooldown has passed, ask Amazon for another
// secret. So LWA_SUPERSEDED is a candidate too, but stricter: only with an
// expiry, and when both candidates are adoptable it wins only if it expires
// strictly later than LWA_RECEIVED's. (The label also marks secrets that
// arrived after a newer one; those are older than AWSCURRENT or than
// LWA_RECEIVED and are never adopted.)
//
// A candidate with the same expiry as AWSCURRENT, to the millisecond, is
// not newer: Amazon issued both at once and nothing orders them, so it is
// never adopted over AWSCURRENT (adopting it by every run would swap the two
// back and forth). The receiver starts a rotation when it stores such a
// secret (receiver Case 7e), and that run, finding nothing adoptable, asks
// Amazon for a secret known to be the newest (Case 5).
//
// A stale candidate (older than AWSCURRENT, or holding the current secret)
// is never adopted; one for another client id is never adopted and is
// logged as an error.
//
// Case 4: The tag sp-api-lwa:rotation-requested-at is newer than the
// AWSCURRENT version and younger than Config.Cooldown: a request is
// outstanding and its secret is on its way. Go to Case 6 without asking again.
//
// Case 5: Set sp-api-lwa:rotation-requested-at to now, wait Config.Settle and
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
// Case 6: Poll every Config.PollInterval (DescribeSecret; GetSecretValue only
// when another version holds LWA_RECEIVED or LWA_SUPERSEDED) until one of
// them holds an adoptable secret, then do Case 3. Give up Config.DeadlineMargin before the
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
// retried 5xx).
//
// # finishSecret
//
// Case 10: Remove sp-api-lwa:rotation-requested-at (and
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
// A successful rotation that requests a new secret (Case 5, first ever: no
// LWA_RECEIVED yet) and finds it on the first poll makes:
//
//	step          Secrets Manager                                   LWA  SP-API  SNS
//	createSecret  DescribeSecret 3, GetSecretValue 3, TagResource 1,  1     1       0
//	              PutSecretValue 1
//	setSecret     DescribeSecret 1, GetSecretValue 2                  0     0       0
//	testSecret    DescribeSecret 1, GetSecretValue 1                  1     0       0
//	finishSecret  DescribeSecret 1, GetSecretValue 1,                 0     0       1
//	              UpdateSecretVersionStage 1, TagResource 1,
//	              UntagResource 1
//
// Exactly: DescribeSecret 6, GetSecretValue 7, PutSecretValue 1, TagResource
// 2, UntagResource 1, UpdateSecretVersionStage 1 (18 Secrets Manager calls),
// 2 LWA token requests, 1 SP-API call, 1 SNS publish. Why each is needed:
//   - DescribeSecret once per step: the entry checks (rotation enabled,
//     version stages) and the tags. Twice more in createSecret: the re-read of
//     the tags after setting rotation-requested-at (Case 5, so that
//     concurrent runs agree on one caller) and one poll (Case 6, to see which
//     versions hold LWA_RECEIVED and LWA_SUPERSEDED).
//   - GetSecretValue: createSecret reads the token's version (Case 1),
//     AWSCURRENT (Case 2) and the new version found by the poll (Case 6;
//     one more for each older secret left under LWA_SUPERSEDED); setSecret
//     reads the pending version and AWSCURRENT (Case 7); testSecret the
//     pending version (Case 9); finishSecret the pending
//     version, for the client id and expiry it reports (Case 10).
//   - PutSecretValue: the pending version (Case 3).
//   - TagResource: rotation-requested-at (Case 5), client-secret-expires-at
//     (Case 10). UntagResource: rotation-requested-at (Case 10).
//   - UpdateSecretVersionStage: the promotion (Case 10).
//   - LWA: the grantless token for the rotate call (Case 5) and the test of
//     the new secret (Case 9). SP-API: the rotate call (Case 5).
//
// TestFullRotationCallCounts asserts these numbers.
package rotation
