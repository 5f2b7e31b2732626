// Package rotation implements the Secrets Manager rotation protocol (docs/design.md) for an SP-API
// application's LWA client secret. Every step is safe to repeat and to run twice at once, and every
// read names a VersionStage or a VersionId: a read without one may be served stale.
//
// Every step first makes AWS's entry checks (DescribeSecret): rotation is enabled; the token is a
// version; one already AWSCURRENT needs nothing (but see Case 11); one not AWSPENDING fails.
//
// createSecret:
//   - Case 1: The token's version already has a value, or it is the AWSCURRENT that Case 2 reads (a
//     concurrent run finished the rotation after the entry checks): nothing to do.
//   - Case 2: AWSCURRENT must be a secret document for the client id of the tag sp-api-lwa:client-id,
//     else fail (ErrMisconfigured) and publish ROTATION_FAILED, MANUAL_ACTION_REQUIRED.
//   - Case 3: choose picks the newest stored secret for that client id that is newer than AWSCURRENT
//     and not in sp-api-lwa:rejected-secrets (none on a tie); it is written as the token's version.
//   - Case 4: rotation-requested-at is newer than AWSCURRENT and younger than Config.Cooldown: go to Case 6.
//   - Case 5: If the client id is tagged on this secret alone, set rotation-requested-at and, unless a
//     concurrent run replaced it, call rotateApplicationClientSecret (untag unless a secret may be issued).
//   - Case 6: Do Case 3 every Config.PollInterval; near the deadline fail with ErrSecretNotReceived.
//
// setSecret:
//   - Case 7: The pending value must be a secret document for the client id of AWSCURRENT and the tag.
//
// testSecret:
//   - Case 8: The token's version has no value (a configuration test): test the AWSCURRENT credentials.
//   - Case 9: Test the pending credentials with LWA, retrying invalid_client; once LWA has refused them
//     for Config.RejectAfter, list the secret as rejected and take AWSPENDING off the token's version.
//
// finishSecret:
//   - Case 10: Test the pending credentials, untag, move AWSCURRENT, publish CLIENT_SECRET_ROTATED,
//     then set client-secret-expires-at, which records that this tail is done.
//   - Case 11: Already AWSCURRENT: redo the tail of Case 10 if client-secret-expires-at disagrees with it.
//
// # Calls for one rotation
//
// A rotation that requests a new secret (Case 5) and finds it on the first poll makes:
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
// 3 LWA token requests, 1 SP-API call, 1 SNS publish (TestFullRotationCallCounts). Why each is needed:
//   - DescribeSecret: the entry checks, and the tag read back (Case 5).
//   - GetSecretValue: the token's version (Case 1, 7, 9, 10), AWSCURRENT (Case 2, 7), the new one (Case 6).
//   - ListSecretVersionIds: Case 3, 6. ListSecrets, PutSecretValue: Case 5, 3.
//   - TagResource, UntagResource: Case 5, 10. UpdateSecretVersionStage: Case 10.
//   - LWA: Case 5, 9, 10. SP-API: Case 5.
package rotation
