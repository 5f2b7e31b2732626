package operator

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go"

	"github.com/spapi-lwa/secret-rotation/internal/endpoint"
	"github.com/spapi-lwa/secret-rotation/internal/lwa"
)

// secretReader reads managed secrets.
type secretReader interface {
	DescribeSecret(ctx context.Context, in *secretsmanager.DescribeSecretInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error)
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
	ListSecrets(ctx context.Context, in *secretsmanager.ListSecretsInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.ListSecretsOutput, error)
	ListSecretVersionIds(ctx context.Context, in *secretsmanager.ListSecretVersionIdsInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.ListSecretVersionIdsOutput, error)
}

// secretWriter tags a secret and starts or configures its rotation.
type secretWriter interface {
	TagResource(ctx context.Context, in *secretsmanager.TagResourceInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.TagResourceOutput, error)
	RotateSecret(ctx context.Context, in *secretsmanager.RotateSecretInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.RotateSecretOutput, error)
}

// SecretStore is the part of Secrets Manager the CLI uses.
type SecretStore interface {
	secretReader
	secretWriter
}

// StackReader reads a CloudFormation stack's outputs and resources.
type StackReader interface {
	DescribeStacks(ctx context.Context, in *cloudformation.DescribeStacksInput, optFns ...func(*cloudformation.Options)) (*cloudformation.DescribeStacksOutput, error)
	DescribeStackResource(ctx context.Context, in *cloudformation.DescribeStackResourceInput, optFns ...func(*cloudformation.Options)) (*cloudformation.DescribeStackResourceOutput, error)
}

// QueueReader reads an SQS queue's policy.
type QueueReader interface {
	GetQueueUrl(ctx context.Context, in *sqs.GetQueueUrlInput, optFns ...func(*sqs.Options)) (*sqs.GetQueueUrlOutput, error)
	GetQueueAttributes(ctx context.Context, in *sqs.GetQueueAttributesInput, optFns ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error)
}

// TopicReader lists an SNS topic's subscriptions.
type TopicReader interface {
	ListSubscriptionsByTopic(ctx context.Context, in *sns.ListSubscriptionsByTopicInput, optFns ...func(*sns.Options)) (*sns.ListSubscriptionsByTopicOutput, error)
}

// LogReader reads a function's log events and streams.
type LogReader interface {
	FilterLogEvents(ctx context.Context, in *cloudwatchlogs.FilterLogEventsInput, optFns ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.FilterLogEventsOutput, error)
	DescribeLogStreams(ctx context.Context, in *cloudwatchlogs.DescribeLogStreamsInput, optFns ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.DescribeLogStreamsOutput, error)
}

// FunctionReader reads a Lambda function's configuration: where it logs.
type FunctionReader interface {
	GetFunctionConfiguration(ctx context.Context, in *lambda.GetFunctionConfigurationInput, optFns ...func(*lambda.Options)) (*lambda.GetFunctionConfigurationOutput, error)
}

// logGroup is the log group of function fn (a name or ARN): its
// LoggingConfig.LogGroup (the template gives each function its own), else
// Lambda's default /aws/lambda/<name>.
func logGroup(ctx context.Context, fr FunctionReader, fn string) string {
	if fr != nil {
		if out, err := fr.GetFunctionConfiguration(ctx, &lambda.GetFunctionConfigurationInput{FunctionName: aws.String(fn)}); err == nil &&
			out.LoggingConfig != nil && aws.ToString(out.LoggingConfig.LogGroup) != "" {
			return aws.ToString(out.LoggingConfig.LogGroup)
		}
	}
	if i := strings.Index(fn, ":function:"); i >= 0 {
		fn = strings.SplitN(fn[i+len(":function:"):], ":", 2)[0]
	}
	return "/aws/lambda/" + fn
}

// TokenClient asks LWA for a client-credentials token.
type TokenClient interface {
	ClientCredentials(ctx context.Context, clientID string, secret lwa.ClientSecret, scope string) (lwa.Token, error)
}

var (
	_ SecretStore = (*secretsmanager.Client)(nil)
	_ StackReader = (*cloudformation.Client)(nil)
	_ QueueReader = (*sqs.Client)(nil)
	_ TopicReader = (*sns.Client)(nil)
	_ LogReader   = (*cloudwatchlogs.Client)(nil)
	_ TokenClient = (*lwa.Client)(nil)
)

// Clients are the services the commands call.
type Clients struct {
	SecretsManager SecretStore
	CloudFormation StackReader
	SQS            QueueReader
	SNS            TopicReader
	Logs           LogReader
	Lambda         FunctionReader // optional: where a function logs
	LWA            TokenClient
}

// DefaultTokenURL is LWA's token endpoint, used when LWA_TOKEN_URL is unset.
const DefaultTokenURL = "https://api.amazon.com/auth/o2/token"

// AWSClients returns a Clients function that builds every client from the
// caller's AWS configuration (config.LoadDefaultConfig: profile, region,
// AWS_ENDPOINT_URL and the per-service endpoint variables) once.
func AWSClients(getenv func(string) string) func(ctx context.Context) (*Clients, error) {
	var (
		once sync.Once
		c    *Clients
		err  error
	)
	return func(ctx context.Context) (*Clients, error) {
		once.Do(func() {
			cfg, e := config.LoadDefaultConfig(ctx)
			if e != nil {
				err = badInput("load the AWS configuration: %v", e)
				return
			}
			if cfg.Region == "" {
				err = badInput("no AWS region configured: set AWS_REGION, or a region in your profile")
				return
			}
			if cfg.Credentials == nil {
				err = badInput("no AWS credentials found: set AWS_PROFILE (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), or run aws sso login")
				return
			}
			if _, e := cfg.Credentials.Retrieve(ctx); e != nil {
				err = badInput("no usable AWS credentials: set AWS_PROFILE (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), or run aws sso login (%v)", e)
				return
			}
			tokenURL := getenv("LWA_TOKEN_URL")
			if tokenURL == "" {
				tokenURL = DefaultTokenURL
			}
			if e := checkTokenURL(tokenURL); e != nil {
				err = e
				return
			}
			hc := &http.Client{Timeout: 30 * time.Second} // lwa.NewClient never follows a redirect
			c = &Clients{
				SecretsManager: secretsmanager.NewFromConfig(cfg),
				CloudFormation: cloudformation.NewFromConfig(cfg),
				SQS:            sqs.NewFromConfig(cfg),
				SNS:            sns.NewFromConfig(cfg),
				Logs:           cloudwatchlogs.NewFromConfig(cfg),
				Lambda:         lambda.NewFromConfig(cfg),
				LWA:            lwa.NewClient(tokenURL, hc),
			}
		})
		return c, err
	}
}

// checkTokenURL accepts https URLs, and http only on a loopback address
// (a local simulator): the token request carries the client secret.
func checkTokenURL(raw string) error {
	if err := endpoint.Check(raw); err != nil {
		return badInput("LWA_TOKEN_URL: %v", err)
	}
	return nil
}

// apiCode returns the AWS error code of err, or "".
func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// describeSecret reads a secret's metadata; an unknown secret is bad input.
func describeSecret(ctx context.Context, sm secretReader, id string) (*secretsmanager.DescribeSecretOutput, error) {
	d, err := sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: &id})
	if err != nil {
		if notFound(err) || apiCode(err) == "ResourceNotFoundException" {
			return nil, badInput("secret %s not found in this account and region", id)
		}
		return nil, fmt.Errorf("describe secret %s: %w", id, err)
	}
	return d, nil
}
