package health

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/spapi-lwa/secret-rotation/internal/managed"
	"github.com/spapi-lwa/secret-rotation/internal/secretdoc"
)

// SecretReader reads one secret. It has no write method: judging a secret never changes it.
type SecretReader interface {
	DescribeSecret(ctx context.Context, in *secretsmanager.DescribeSecretInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error)
	ListSecretVersionIds(ctx context.Context, in *secretsmanager.ListSecretVersionIdsInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.ListSecretVersionIdsOutput, error)
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

var _ SecretReader = (*secretsmanager.Client)(nil)

// Listed is a managed secret as List found it.
type Listed struct {
	ARN, Name     string
	ClientID      string // the value of the tag sp-api-lwa:client-id
	TaggedSecrets int    // how many listed secrets carry the same client id
}

// List returns every managed secret, counting the secrets per client id in this one listing.
func List(ctx context.Context, c managed.SecretLister) ([]Listed, error) {
	secrets, err := managed.List(ctx, c, "")
	if err != nil {
		return nil, fmt.Errorf("health: list managed secrets: %w", err)
	}
	count := map[string]int{}
	for _, s := range secrets {
		count[s.Tags[managed.TagClientID]]++
	}
	out := make([]Listed, len(secrets))
	for i, s := range secrets {
		id := s.Tags[managed.TagClientID]
		out[i] = Listed{ARN: s.ARN, Name: s.Name, ClientID: id, TaggedSecrets: count[id]}
	}
	return out, nil
}

// ErrNotManaged is returned by Read for a secret without the tag sp-api-lwa:client-id.
var ErrNotManaged = errors.New("secret is not tagged " + managed.TagClientID)

// Read reads the secret id (TaggedSecrets left at 1) and returns its AWSCURRENT document
// when usable, for a credentials check; an unusable one sets Secret.DocErr, not the error.
func Read(ctx context.Context, c SecretReader, id string, keys secretdoc.Keys) (Secret, *secretdoc.Document, error) {
	desc, err := c.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(id)})
	if err != nil {
		return Secret{}, nil, fmt.Errorf("health: describe secret %s: %w", id, err)
	}
	tags := managed.TagMap(desc.Tags)
	clientID, ok := tags[managed.TagClientID]
	if !ok {
		return Secret{}, nil, fmt.Errorf("health: read secret %s: %w", id, ErrNotManaged)
	}
	s := Secret{
		ARN: aws.ToString(desc.ARN), Name: aws.ToString(desc.Name), ClientID: clientID,
		RotationEnabled:     aws.ToBool(desc.RotationEnabled),
		RotationFunctionARN: aws.ToString(desc.RotationLambdaARN),
		LastRotated:         desc.LastRotatedDate,
		Stages:              desc.VersionIdsToStages, Created: map[string]time.Time{}, TaggedSecrets: 1,
	}
	vin := &secretsmanager.ListSecretVersionIdsInput{SecretId: aws.String(s.ARN), MaxResults: aws.Int32(100)}
	for pages := secretsmanager.NewListSecretVersionIdsPaginator(c, vin); pages.HasMorePages(); {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return Secret{}, nil, fmt.Errorf("health: list versions of %s: %w", s.ARN, err)
		}
		for _, v := range page.Versions {
			if v.CreatedDate != nil {
				s.Created[aws.ToString(v.VersionId)] = *v.CreatedDate
			}
		}
	}
	val, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(s.ARN), VersionStage: aws.String(managed.StageCurrent)})
	if err != nil {
		return Secret{}, nil, fmt.Errorf("health: read AWSCURRENT of %s: %w", s.ARN, err)
	}
	var doc *secretdoc.Document
	if val.SecretString == nil {
		s.DocErr = fmt.Errorf("%w: the value is binary, not a JSON string", secretdoc.ErrInvalid)
	} else if doc, err = secretdoc.Parse([]byte(*val.SecretString), keys); err != nil {
		s.DocErr = err
	} else if doc.ClientID() != clientID {
		// Neither id is quoted: the key might hold a secret put in the wrong place.
		s.DocErr = fmt.Errorf("%w: key %q does not hold the client id tagged %s", secretdoc.ErrInvalid, keys.ClientID, managed.TagClientID)
		doc = nil
	}
	if t, err := time.Parse(time.RFC3339Nano, tags[managed.TagClientSecretExpiresAt]); err == nil {
		s.ExpiresAt = aws.Time(t.UTC())
	} else if doc != nil {
		if t, ok := doc.ExpiresAt(); ok {
			s.ExpiresAt = &t
		}
	}
	return s, doc, nil
}
