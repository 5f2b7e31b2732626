// Package managed names what the project keeps on a managed secret besides
// its value (DESIGN.md "The managed secret"): the tags, the staging labels,
// and the lookup of a secret by the tag sp-api-lwa:client-id, which is how a
// notification that names only a client id finds its secret.
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
	// TagClientID is set by the operator; its value is the LWA client id.
	TagClientID = "sp-api-lwa:client-id"
	// TagRotationRequestedAt is the RFC 3339 time of the last
	// rotateApplicationClientSecret call still waiting for its new secret.
	TagRotationRequestedAt = "sp-api-lwa:rotation-requested-at"
	// TagClientSecretExpiresAt is the RFC 3339 expiry of the secret in AWSCURRENT.
	TagClientSecretExpiresAt = "sp-api-lwa:client-secret-expires-at"
)

// Staging labels.
const (
	StageCurrent  = "AWSCURRENT"
	StagePending  = "AWSPENDING"
	StagePrevious = "AWSPREVIOUS"
	// StageReceived marks the version holding the newest client secret
	// delivered by Amazon. It only moves to a later expiry.
	StageReceived = "LWA_RECEIVED"
	// StageSuperseded marks the delivered secret the receiver stored last
	// without (yet) moving StageReceived to it: one that arrived after a
	// newer one (out-of-order delivery), or one waiting for that move. It is
	// stored so that no issued secret is lost. A rotation adopts it only when
	// its document's expiry is later than both AWSCURRENT's and the
	// StageReceived secret's.
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

// Holder returns the id of the version that holds stage in stages (a
// secret's VersionIdsToStages), or "" when none does.
func Holder(stages map[string][]string, stage string) string {
	for id, st := range stages {
		if slices.Contains(st, stage) {
			return id
		}
	}
	return ""
}

// PendingVersion returns the id of a version other than AWSCURRENT that
// holds AWSPENDING, or "": a rotation is in progress exactly when there is
// one, and Secrets Manager then refuses RotateSecret.
func PendingVersion(stages map[string][]string) string {
	for id, st := range stages {
		if slices.Contains(st, StagePending) && !slices.Contains(st, StageCurrent) {
			return id
		}
	}
	return ""
}

// Lookup errors a caller acts on.
var (
	// ErrUnknownClient: no secret carries the tag with this client id.
	ErrUnknownClient = errors.New("no managed secret is tagged with this client id")
	// ErrAmbiguous: more than one secret carries it; the project will not guess.
	ErrAmbiguous = errors.New("more than one managed secret is tagged with this client id")
)

// Secret is a managed secret's metadata as ListSecrets returns it.
type Secret struct {
	ARN             string
	Name            string
	RotationEnabled bool
	Tags            map[string]string
}

// secretLister is the part of Secrets Manager the lookup needs.
type secretLister interface {
	ListSecrets(ctx context.Context, in *secretsmanager.ListSecretsInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.ListSecretsOutput, error)
}

var _ secretLister = (*secretsmanager.Client)(nil)

// FindByClientID returns the one secret tagged sp-api-lwa:client-id=clientID.
// ListSecrets filters tag keys and values separately (values by prefix), so
// the exact pair is confirmed on every result.
func FindByClientID(ctx context.Context, c secretLister, clientID string) (Secret, error) {
	if clientID == "" {
		return Secret{}, fmt.Errorf("managed: find secret: %w", ErrUnknownClient)
	}
	in := &secretsmanager.ListSecretsInput{
		Filters: []types.Filter{
			{Key: types.FilterNameStringTypeTagKey, Values: []string{TagClientID}},
			{Key: types.FilterNameStringTypeTagValue, Values: []string{clientID}},
		},
		MaxResults: aws.Int32(100),
	}
	var found []Secret
	for {
		out, err := c.ListSecrets(ctx, in)
		if err != nil {
			return Secret{}, fmt.Errorf("managed: list secrets tagged for client %s: %w", clientID, err)
		}
		for _, e := range out.SecretList {
			if e.DeletedDate != nil {
				continue
			}
			tags := TagMap(e.Tags)
			if tags[TagClientID] != clientID {
				continue
			}
			found = append(found, Secret{
				ARN:             aws.ToString(e.ARN),
				Name:            aws.ToString(e.Name),
				RotationEnabled: aws.ToBool(e.RotationEnabled),
				Tags:            tags,
			})
		}
		if aws.ToString(out.NextToken) == "" {
			break
		}
		in.NextToken = out.NextToken
	}
	switch len(found) {
	case 0:
		return Secret{}, fmt.Errorf("managed: find secret for client %s: %w", clientID, ErrUnknownClient)
	case 1:
		return found[0], nil
	default:
		names := make([]string, len(found))
		for i, s := range found {
			names[i] = s.Name
		}
		return Secret{}, fmt.Errorf("managed: find secret for client %s (%s): %w", clientID, strings.Join(names, ", "), ErrAmbiguous)
	}
}

// ReceivedToken is the ClientRequestToken (and so the version id) under which
// the receiver stores the secret of notification notificationID. It is
// derived, not random, so a redelivered notification maps to the version
// already written and writes nothing new.
func ReceivedToken(notificationID string) string {
	sum := sha256.Sum256([]byte("sp-api-lwa/new-secret/" + notificationID))
	h := hex.EncodeToString(sum[:16])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
