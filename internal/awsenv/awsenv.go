// Package awsenv builds the AWS SDK configuration of a Lambda function from
// the variables the Lambda runtime sets, and nothing else.
//
// config.LoadDefaultConfig serves every kind of program: it reads the shared
// config and credentials files, and links a credential provider for each
// source the SDK knows (SSO, SSO-OIDC, STS web identity and assume-role,
// sign-in, processes, container endpoints, EC2 instance metadata). A Lambda
// function has none of those files and gets its credentials in its
// environment, yet pays for that code at every cold start: the packages'
// initialisation and a larger binary. Config keeps the parts of the SDK's
// standard behaviour a function relies on, read the same way the SDK reads
// them:
//
//  1. Region: AWS_REGION, else AWS_DEFAULT_REGION.
//  2. Credentials: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and, when set,
//     AWS_SESSION_TOKEN, as the SDK's environment credential provider reads
//     them (Lambda sets all three for the function's execution role).
//  3. Endpoints, for local testing: AWS_ENDPOINT_URL for every service and
//     AWS_ENDPOINT_URL_<SERVICE> (the service's SDK id in upper case, spaces
//     as underscores: AWS_ENDPOINT_URL_SECRETS_MANAGER, AWS_ENDPOINT_URL_SNS)
//     for one, the latter winning; AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true
//     ignores both.
//  4. Endpoint variants: AWS_USE_FIPS_ENDPOINT and AWS_USE_DUALSTACK_ENDPOINT
//     (true or false).
//
// Everything else keeps the SDK's defaults (the legacy defaults mode, the
// standard retryer, each client's own HTTP client), as LoadDefaultConfig
// leaves them when no file or variable says otherwise.
package awsenv

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sns"
)

// Config returns the AWS configuration described in the package doc, read
// through getenv. Its error names every missing or invalid variable at
// once, never a credential.
func Config(getenv func(string) string) (aws.Config, error) {
	var errs []error
	region := getenv("AWS_REGION")
	if region == "" {
		region = getenv("AWS_DEFAULT_REGION")
	}
	if region == "" {
		errs = append(errs, errors.New("AWS_REGION (or AWS_DEFAULT_REGION) is required"))
	}
	id, secret := getenv("AWS_ACCESS_KEY_ID"), getenv("AWS_SECRET_ACCESS_KEY")
	if id == "" || secret == "" {
		errs = append(errs, errors.New("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are required"))
	}
	src := endpoints{getenv: getenv}
	const fipsVar, dualVar = "AWS_USE_FIPS_ENDPOINT", "AWS_USE_DUALSTACK_ENDPOINT"
	switch v := getenv(fipsVar); {
	case v == "":
	case strings.EqualFold(v, "true"):
		src.fips = aws.FIPSEndpointStateEnabled
	case strings.EqualFold(v, "false"):
		src.fips = aws.FIPSEndpointStateDisabled
	default:
		errs = append(errs, fmt.Errorf("%s must be true or false, got %q", fipsVar, v))
	}
	switch v := getenv(dualVar); {
	case v == "":
	case strings.EqualFold(v, "true"):
		src.dual = aws.DualStackEndpointStateEnabled
	case strings.EqualFold(v, "false"):
		src.dual = aws.DualStackEndpointStateDisabled
	default:
		errs = append(errs, fmt.Errorf("%s must be true or false, got %q", dualVar, v))
	}
	if err := errors.Join(errs...); err != nil {
		return aws.Config{}, fmt.Errorf("AWS configuration: %w", err)
	}
	cfg := aws.Config{
		Region:        region,
		Credentials:   credentials.NewStaticCredentialsProvider(id, secret, getenv("AWS_SESSION_TOKEN")),
		DefaultsMode:  aws.DefaultsModeLegacy,
		ConfigSources: []any{src},
	}
	if url := getenv("AWS_ENDPOINT_URL"); url != "" && !src.ignored() {
		cfg.BaseEndpoint = aws.String(url)
	}
	return cfg, nil
}

// endpoints is the configuration source the service clients ask for a
// service's own endpoint (AWS_ENDPOINT_URL_<SERVICE>) and for the FIPS and
// dual-stack variants.
type endpoints struct {
	getenv func(string) string
	fips   aws.FIPSEndpointState
	dual   aws.DualStackEndpointState
}

// GetUseFIPSEndpoint reports AWS_USE_FIPS_ENDPOINT to the SDK.
func (e endpoints) GetUseFIPSEndpoint(context.Context) (aws.FIPSEndpointState, bool, error) {
	return e.fips, e.fips != aws.FIPSEndpointStateUnset, nil
}

// GetUseDualStackEndpoint reports AWS_USE_DUALSTACK_ENDPOINT to the SDK.
func (e endpoints) GetUseDualStackEndpoint(context.Context) (aws.DualStackEndpointState, bool, error) {
	return e.dual, e.dual != aws.DualStackEndpointStateUnset, nil
}

func (e endpoints) ignored() bool {
	return strings.EqualFold(e.getenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"), "true")
}

// GetServiceBaseEndpoint implements the SDK's service endpoint provider
// for the service with SDK id sdkID ("Secrets Manager", "SNS").
func (e endpoints) GetServiceBaseEndpoint(_ context.Context, sdkID string) (string, bool, error) {
	if e.ignored() {
		return "", false, nil
	}
	name := "AWS_ENDPOINT_URL_" + strings.ReplaceAll(strings.ToUpper(sdkID), " ", "_")
	if v := e.getenv(name); v != "" {
		return v, true, nil
	}
	return "", false, nil
}

// GetIgnoreConfiguredEndpoints reports AWS_IGNORE_CONFIGURED_ENDPOINT_URLS
// to the SDK.
func (e endpoints) GetIgnoreConfiguredEndpoints(context.Context) (bool, bool, error) {
	return e.ignored(), e.ignored(), nil
}

// SNS is an SNS client created on its first Publish. A function publishes
// an alert on some invocations only (a rotation step that fails or
// finishes, a batch with records, a secret at risk), so its start does not
// build a client it may never use.
type SNS struct {
	cfg    aws.Config
	once   sync.Once
	client *sns.Client
}

// NewSNS returns an SNS client for cfg that is built on first use.
func NewSNS(cfg aws.Config) *SNS { return &SNS{cfg: cfg} }

// Publish creates the client if it does not exist yet and publishes.
func (s *SNS) Publish(ctx context.Context, in *sns.PublishInput, optFns ...func(*sns.Options)) (*sns.PublishOutput, error) {
	s.once.Do(func() { s.client = sns.NewFromConfig(s.cfg) })
	return s.client.Publish(ctx, in, optFns...)
}
