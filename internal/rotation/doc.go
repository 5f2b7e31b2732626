// Package rotation implements the Secrets Manager rotation protocol for an
// SP-API application's LWA client secret (docs/design.md "The rotation
// protocol"): the steps createSecret, setSecret, testSecret and finishSecret
// for one ClientRequestToken (the new version's id). Every step is safe to
// repeat after a failure and to run twice at once. Every read names a
// VersionStage or a VersionId: a read without one may be served stale.
//
// Every step first makes AWS's entry checks (DescribeSecret): rotation is
// enabled; the token is a version; one already AWSCURRENT needs nothing (but
// see Case 11); one not AWSPENDING, or an unknown step, fails.
//
// # createSecret
//
// Case 1: The token's version already has a value: nothing to do.
//
// Case 2: AWSCURRENT must be a secret document whose client id is the tag
// sp-api-lwa:client-id, else fail (ErrMisconfigured) and publish
// ROTATION_FAILED, MANUAL_ACTION_REQUIRED, saying what to fix, quoting no value.
//
// Case 3: Read each stored version once per run (ListSecretVersionIds with
// the deprecated ones), except AWSCURRENT, AWSPREVIOUS and the token's.
// choose picks the newest that holds the current client id, another client
// secret, one not in the tag sp-api-lwa:rejected-secrets, and is newer than
// AWSCURRENT (by clientSecretExpiresAt when both have one, else CreatedDate),
// whatever its label: a secret rotated by hand, or one that came after an
// earlier run gave up, is adopted too. It is written as the token's version:
// the AWSCURRENT document with the new client secret and expiry. Two secrets
// tied at the newest expiry were issued at once, and nothing tells which
// replaced the other: neither is adopted and Case 5 asks again.
//
// Case 4: sp-api-lwa:rotation-requested-at is newer than AWSCURRENT and
// younger than Config.Cooldown: a request is outstanding; go to Case 6.
//
// Case 5: Unless the client id is tagged on this secret alone (ListSecrets),
// the receiver would reject the delivery: fail with ROTATION_FAILED. Set
// rotation-requested-at to now, wait Config.Settle and read it back; if a
// concurrent run's value replaced ours, that run asks: go to Case 6. (Runs
// further apart both ask and the receiver stores both secrets: a needless
// rotation, never a lost secret.) Call rotateApplicationClientSecret with a
// grantless LWA token of the AWSCURRENT credentials; on 204 go to Case 6. If
// Amazon refused and issued nothing (4xx, a redirect, LWA rejecting the
// credentials), remove the tag, publish ROTATION_FAILED with the fix, fail.
// On 429 or LWA unavailable, remove the tag and fail. On 5xx or a timeout a
// secret may have been issued: keep the tag (Case 4 waits for it) and fail.
//
// Case 6: Do Case 3 every Config.PollInterval until a secret is adopted;
// Config.DeadlineMargin before the deadline fail with ErrSecretNotReceived
// (a warning, no alert): Secrets Manager retries, and the receiver resumes
// the rotation when the secret arrives.
//
// # setSecret
//
// Case 7: Amazon has already set the secret. The pending value must be a
// secret document for the client id of AWSCURRENT and of the tag.
//
// # testSecret
//
// Case 8: The token's version has no value (Secrets Manager's configuration
// test): get an LWA token with the AWSCURRENT credentials; change nothing.
//
// Case 9: Get an LWA token with the pending credentials, retrying
// invalid_client every Config.TestRetryInterval for Config.TestRetryFor: a new
// secret can take a while to be accepted. Once LWA has refused it for
// Config.RejectAfter since it was first stored, reject it: add its
// Fingerprint to sp-api-lwa:rejected-secrets (so Case 3 never adopts it
// again), take LWA_RECEIVED off it, publish ROTATION_FAILED and take
// AWSPENDING off the token's version, so the next rotation starts afresh.
//
// # finishSecret
//
// Case 10: Get an LWA token with the pending credentials: a forged
// finishSecret never promotes refused credentials. Remove
// rotation-requested-at (and client-secret-expires-at if the new expiry is
// unknown) before the move, after which the next rotation may set it. Move
// AWSCURRENT to the token's version (done by a concurrent run: success);
// AWSPENDING is left for Secrets Manager. Publish CLIENT_SECRET_ROTATED, then
// set client-secret-expires-at, which records that this tail is done.
//
// Case 11: The token's version is already AWSCURRENT: if
// client-secret-expires-at disagrees with its document, redo the tail of
// Case 10 (so the alert is sent at least once). Leave rotation-requested-at:
// it may be the next rotation's.
//
// # Calls for one rotation
//
// A rotation that requests a new secret (Case 5, nothing stored yet) and
// finds it on the first poll makes:
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
// In all (20 Secrets Manager calls),
// 3 LWA token requests, 1 SP-API call, 1 SNS publish, as
// TestFullRotationCallCounts asserts. Why each is needed:
//   - DescribeSecret: the entry checks, and the tag read back (Case 5).
//   - GetSecretValue: the token's version (Case 1, 7, 9, 10), AWSCURRENT
//     (Case 2, 7) and the new version (Case 6).
//   - ListSecretVersionIds: Case 3, 6. ListSecrets, PutSecretValue: Case 5, 3.
//   - TagResource, UntagResource: Case 5, 10. UpdateSecretVersionStage: Case 10.
//   - LWA: Case 5, 9, 10. SP-API: Case 5.
package rotation
