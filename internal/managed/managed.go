// Package managed names what the project keeps on a managed secret besides its value
// (docs/design.md "The managed secret"): the tags, the staging labels, and the lookup by
// the tag sp-api-lwa:client-id that finds the secret a notification's client id names.
package managed

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
)

// Tags kept on a managed secret. None ever holds a secret value.
const (
	TagClientID = "sp-api-lwa:client-id" // set by the operator: the LWA client id
	// TagRotationRequestedAt is the RFC 3339 time of the last rotateApplicationClientSecret
	// call still waiting for its new secret.
	TagRotationRequestedAt   = "sp-api-lwa:rotation-requested-at"
	TagClientSecretExpiresAt = "sp-api-lwa:client-secret-expires-at" // RFC 3339 expiry of AWSCURRENT
	// TagRejectedSecrets lists the Fingerprints of the client secrets testSecret gave up
	// on (LWA kept rejecting them), newest last, at most MaxRejected; never adopted again.
	TagRejectedSecrets = "sp-api-lwa:rejected-secrets"
)

// MaxRejected is how many fingerprints fit in TagRejectedSecrets (256 characters).
const MaxRejected = 19

// Staging labels.
const (
	StageCurrent  = "AWSCURRENT"
	StagePending  = "AWSPENDING"
	StagePrevious = "AWSPREVIOUS"
	// StageReceived marks the newest client secret Amazon delivered: the receiver puts it
	// on a delivery that expires later than AWSCURRENT and its current holder, and
	// testSecret takes it off a secret LWA keeps rejecting. It tells people (and the
	// watchdog) where the newest delivery is; the rotation does not rely on it.
	StageReceived = "LWA_RECEIVED"
	// StageSuperseded marks the last stored delivery that was not the newest when it
	// arrived (a version needs a label, or it becomes AWSCURRENT). It is on one version at
	// a time; the versions it leaves keep their values.
	StageSuperseded = "LWA_SUPERSEDED"
)

// TagMap returns tags as a map from key to value.
func TagMap(tags []types.Tag) map[string]string {
	m := make(map[string]string, len(tags))
	for _, t := range tags {
		m[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return m
}

// Holder returns the id of the version that holds stage in stages (a secret's
// VersionIdsToStages), or "" when none does.
func Holder(stages map[string][]string, stage string) string {
	for id, st := range stages {
		if slices.Contains(st, stage) {
			return id
		}
	}
	return ""
}

// PendingVersion returns the id of a version other than AWSCURRENT that holds AWSPENDING,
// or "": a rotation is in progress exactly when there is one (RotateSecret is refused).
func PendingVersion(stages map[string][]string) string {
	if id := Holder(stages, StagePending); !slices.Contains(stages[id], StageCurrent) {
		return id
	}
	return ""
}

// Lookup errors a caller acts on (for ErrAmbiguous, the project will not guess).
var (
	ErrUnknownClient = errors.New("no managed secret is tagged with this client id")
	ErrAmbiguous     = errors.New("more than one managed secret is tagged with this client id")
)

// Secret is a managed secret's metadata as ListSecrets returns it.
type Secret struct {
	ARN, Name string
	Tags      map[string]string
}

// secretLister is the part of Secrets Manager that List needs.
type secretLister interface {
	ListSecrets(ctx context.Context, in *secretsmanager.ListSecretsInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.ListSecretsOutput, error)
}

var _ secretLister = (*secretsmanager.Client)(nil)

// List returns the secrets not scheduled for deletion tagged sp-api-lwa:client-id (with
// the value clientID, unless ""), in ListSecrets' order and with its error unwrapped.
// ListSecrets filters tag keys and values apart and by prefix: each pair is confirmed.
func List(ctx context.Context, c secretLister, clientID string) ([]Secret, error) {
	filters := []types.Filter{{Key: types.FilterNameStringTypeTagKey, Values: []string{TagClientID}}}
	if clientID != "" {
		filters = append(filters, types.Filter{Key: types.FilterNameStringTypeTagValue, Values: []string{clientID}})
	}
	in := &secretsmanager.ListSecretsInput{Filters: filters, MaxResults: aws.Int32(100)}
	var out []Secret
	for pages := secretsmanager.NewListSecretsPaginator(c, in); pages.HasMorePages(); {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, e := range page.SecretList {
			tags := TagMap(e.Tags)
			if id, ok := tags[TagClientID]; ok && e.DeletedDate == nil && (clientID == "" || id == clientID) {
				out = append(out, Secret{ARN: aws.ToString(e.ARN), Name: aws.ToString(e.Name), Tags: tags})
			}
		}
	}
	return out, nil
}

// FindByClientID returns the one secret tagged sp-api-lwa:client-id=clientID.
func FindByClientID(ctx context.Context, c secretLister, clientID string) (Secret, error) {
	if clientID == "" {
		return Secret{}, fmt.Errorf("managed: find secret: %w", ErrUnknownClient)
	}
	found, err := List(ctx, c, clientID)
	if err != nil {
		return Secret{}, fmt.Errorf("managed: list secrets tagged for client %s: %w", clientID, err)
	}
	switch len(found) {
	case 0:
		return Secret{}, fmt.Errorf("managed: find secret for client %s: %w", clientID, ErrUnknownClient)
	case 1:
		return found[0], nil
	}
	var names []string
	for _, s := range found {
		names = append(names, s.Name)
	}
	return Secret{}, fmt.Errorf("managed: find secret for client %s (%s): %w", clientID, strings.Join(names, ", "), ErrAmbiguous)
}

// Fingerprint is a short, one-way name for a client secret in TagRejectedSecrets: 12 hex
// digits of a domain-separated SHA-256.
func Fingerprint(clientSecret string) string {
	sum := sha256.Sum256([]byte("sp-api-lwa/rejected/" + clientSecret))
	return hex.EncodeToString(sum[:6])
}

// Rejected reports whether the client secret's fingerprint is in TagRejectedSecrets' value.
func Rejected(tagValue, clientSecret string) bool {
	return slices.Contains(strings.Fields(tagValue), Fingerprint(clientSecret))
}

// WithRejected returns TagRejectedSecrets' value with the client secret's fingerprint
// added (once), keeping the newest MaxRejected.
func WithRejected(tagValue, clientSecret string) string {
	fps := slices.DeleteFunc(strings.Fields(tagValue), func(f string) bool { return f == Fingerprint(clientSecret) })
	fps = append(fps, Fingerprint(clientSecret))
	return strings.Join(fps[max(0, len(fps)-MaxRejected):], " ")
}

// ReceivedToken is the ClientRequestToken (so the version id) under which the receiver
// stores the secret of a notification: derived, not random, so a redelivered
// notification maps to the version already written and writes nothing new.
func ReceivedToken(notificationID string) string {
	sum := sha256.Sum256([]byte("sp-api-lwa/new-secret/" + notificationID))
	h := hex.EncodeToString(sum[:16])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
