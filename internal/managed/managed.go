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
	TagClientID              = "sp-api-lwa:client-id"                // set by the operator: the LWA client id
	TagRotationRequestedAt   = "sp-api-lwa:rotation-requested-at"    // RFC 3339: a rotate call awaits its secret
	TagClientSecretExpiresAt = "sp-api-lwa:client-secret-expires-at" // RFC 3339 expiry of AWSCURRENT
	TagRejectedSecrets       = "sp-api-lwa:rejected-secrets"         // Fingerprints LWA rejected, newest last
)

// MaxRejected is how many fingerprints fit in TagRejectedSecrets (256 characters).
const MaxRejected = 19

// Staging labels.
const (
	StageCurrent    = "AWSCURRENT"
	StagePending    = "AWSPENDING"
	StagePrevious   = "AWSPREVIOUS"
	StageReceived   = "LWA_RECEIVED"   // the newest delivered client secret, for people and the watchdog
	StageSuperseded = "LWA_SUPERSEDED" // the last stored delivery that was not the newest when it arrived
)

// TagMap returns tags as a map from key to value.
func TagMap(tags []types.Tag) map[string]string {
	m := make(map[string]string, len(tags))
	for _, t := range tags {
		m[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return m
}

// Holder returns the id of the version that holds stage in VersionIdsToStages, or "".
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

// Lookup errors a caller acts on.
var (
	ErrUnknownClient = errors.New("no managed secret is tagged with this client id")
	ErrAmbiguous     = errors.New("more than one managed secret is tagged with this client id")
)

// Secret is a managed secret's metadata as ListSecrets returns it.
type Secret struct {
	ARN, Name string
	Tags      map[string]string
}

// SecretLister is the part of Secrets Manager that finds managed secrets.
type SecretLister interface {
	ListSecrets(ctx context.Context, in *secretsmanager.ListSecretsInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.ListSecretsOutput, error)
}

var _ SecretLister = (*secretsmanager.Client)(nil)

// List returns the live secrets tagged sp-api-lwa:client-id (=clientID, unless ""), in
// ListSecrets' order, its error unwrapped.
func List(ctx context.Context, c SecretLister, clientID string) ([]Secret, error) {
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
			// ListSecrets filters tag keys and values apart and by prefix: confirm the pair.
			tags := TagMap(e.Tags)
			if id, ok := tags[TagClientID]; ok && e.DeletedDate == nil && (clientID == "" || id == clientID) {
				out = append(out, Secret{ARN: aws.ToString(e.ARN), Name: aws.ToString(e.Name), Tags: tags})
			}
		}
	}
	return out, nil
}

// FindByClientID returns the one secret tagged sp-api-lwa:client-id=clientID.
func FindByClientID(ctx context.Context, c SecretLister, clientID string) (Secret, error) {
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

// Fingerprint is a one-way name for a client secret: 12 hex digits of a domain-separated SHA-256.
func Fingerprint(clientSecret string) string {
	sum := sha256.Sum256([]byte("sp-api-lwa/rejected/" + clientSecret))
	return hex.EncodeToString(sum[:6])
}

// Rejected reports whether the client secret's fingerprint is in TagRejectedSecrets' value.
func Rejected(tagValue, clientSecret string) bool {
	return slices.Contains(strings.Fields(tagValue), Fingerprint(clientSecret))
}

// WithRejected adds the client secret's fingerprint to TagRejectedSecrets' value (once),
// keeping the newest MaxRejected.
func WithRejected(tagValue, clientSecret string) string {
	fps := slices.DeleteFunc(strings.Fields(tagValue), func(f string) bool { return f == Fingerprint(clientSecret) })
	fps = append(fps, Fingerprint(clientSecret))
	return strings.Join(fps[max(0, len(fps)-MaxRejected):], " ")
}

// ReceivedToken is the version id of a notification's stored secret: derived, so that a
// redelivered notification writes nothing new.
func ReceivedToken(notificationID string) string {
	sum := sha256.Sum256([]byte("sp-api-lwa/new-secret/" + notificationID))
	return fmt.Sprintf("%x-%x-%x-%x-%x", sum[0:4], sum[4:6], sum[6:8], sum[8:10], sum[10:16])
}
