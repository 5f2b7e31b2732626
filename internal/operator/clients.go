package operator

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go"

	"github.com/spapi-lwa/secret-rotation/internal/awsenv"
	"github.com/spapi-lwa/secret-rotation/internal/health"
	"github.com/spapi-lwa/secret-rotation/internal/lwa"
	"github.com/spapi-lwa/secret-rotation/internal/managed"
)

// SecretStore is the part of Secrets Manager the CLI uses.
type SecretStore interface {
	health.SecretReader
	managed.SecretLister
	TagResource(ctx context.Context, in *secretsmanager.TagResourceInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.TagResourceOutput, error)
	RotateSecret(ctx context.Context, in *secretsmanager.RotateSecretInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.RotateSecretOutput, error)
}

// StackReader reads a CloudFormation stack's outputs.
type StackReader interface {
	DescribeStacks(ctx context.Context, in *cloudformation.DescribeStacksInput, optFns ...func(*cloudformation.Options)) (*cloudformation.DescribeStacksOutput, error)
}

// QueueReader reads an SQS queue's policy.
type QueueReader interface {
	GetQueueUrl(ctx context.Context, in *sqs.GetQueueUrlInput, optFns ...func(*sqs.Options)) (*sqs.GetQueueUrlOutput, error)
	GetQueueAttributes(ctx context.Context, in *sqs.GetQueueAttributesInput, optFns ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error)
}

// TokenClient asks LWA for a client-credentials token.
type TokenClient interface {
	ClientCredentials(ctx context.Context, clientID string, secret lwa.ClientSecret, scope string) (lwa.Token, error)
}

var (
	_ SecretStore = (*secretsmanager.Client)(nil)
	_ StackReader = (*cloudformation.Client)(nil)
	_ QueueReader = (*sqs.Client)(nil)
	_ TokenClient = (*lwa.Client)(nil)
)

// Clients are the services the commands call.
type Clients struct {
	SecretsManager SecretStore
	CloudFormation StackReader
	SQS            QueueReader
	SNS            sns.ListSubscriptionsByTopicAPIClient
	LWA            TokenClient
}

// functionName is the name in a Lambda function ARN, without qualifier; anything else as it is.
func functionName(fn string) string {
	if _, name, ok := strings.Cut(fn, ":function:"); ok {
		fn, _, _ = strings.Cut(name, ":")
	}
	return fn
}

// DefaultTokenURL is LWA's token endpoint, used when LWA_TOKEN_URL is unset.
const DefaultTokenURL = "https://api.amazon.com/auth/o2/token"

// AWSClients returns a Clients function that builds every client from the caller's AWS configuration.
func AWSClients(getenv func(string) string) func(ctx context.Context) (*Clients, error) {
	return func(ctx context.Context) (*Clients, error) {
		env := awsenv.NewVars(getenv) // read as the functions read it
		tokenURL := env.Endpoint("LWA_TOKEN_URL", DefaultTokenURL)
		if err := env.Err("environment"); err != nil {
			return nil, badInput("%v", err)
		}
		cfg, err := config.LoadDefaultConfig(ctx)
		switch {
		case err != nil:
			return nil, badInput("load the AWS configuration: %v", err)
		case cfg.Region == "":
			return nil, badInput("no AWS region configured: set AWS_REGION, or a region in your profile")
		}
		if _, err := cfg.Credentials.Retrieve(ctx); err != nil { // LoadDefaultConfig always sets a provider chain
			return nil, badInput("no usable AWS credentials: set AWS_PROFILE (or AWS_ACCESS_KEY_ID and "+
				"AWS_SECRET_ACCESS_KEY), or run aws sso login (%v)", err)
		}
		return &Clients{
			SecretsManager: secretsmanager.NewFromConfig(cfg),
			CloudFormation: cloudformation.NewFromConfig(cfg),
			SQS:            sqs.NewFromConfig(cfg),
			SNS:            sns.NewFromConfig(cfg),
			LWA:            lwa.NewClient(tokenURL, &http.Client{Timeout: 30 * time.Second}),
		}, nil
	}
}

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// rotationFunction is function, else the output RotateSecretFunctionArn of stack, else "".
func rotationFunction(ctx context.Context, c *Clients, function, stack string) (string, error) {
	if function != "" && stack != "" {
		return "", badInput("give either --function or --stack, not both")
	} else if stack == "" {
		return function, nil
	}
	outs, err := stackOutputs(ctx, c.CloudFormation, stack)
	if fn := outs[OutputRotateFunction]; err != nil || fn != "" {
		return fn, err
	}
	return "", badInput("stack %s has no output %s: is it this project's stack?", stack, OutputRotateFunction)
}

// open returns the clients and the metadata of secret id.
func (a *App) open(ctx context.Context, id string) (*Clients, *secretsmanager.DescribeSecretOutput, error) {
	c, err := a.Clients(ctx)
	if err != nil {
		return nil, nil, err
	}
	d, err := c.SecretsManager.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: &id})
	if apiCode(err) == "ResourceNotFoundException" {
		return nil, nil, badInput("secret %s not found in this account and region", id)
	} else if err != nil {
		return nil, nil, fmt.Errorf("describe secret %s: %w", id, err)
	}
	return c, d, nil
}

func stackOutputs(ctx context.Context, cf StackReader, stack string) (map[string]string, error) {
	out, err := cf.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(stack)})
	if apiCode(err) == "ValidationError" || (err == nil && len(out.Stacks) == 0) {
		return nil, badInput("stack %s not found in this account and region", stack)
	} else if err != nil {
		return nil, fmt.Errorf("describe stack %s: %w", stack, err)
	}
	m := map[string]string{}
	for _, o := range out.Stacks[0].Outputs {
		m[aws.ToString(o.OutputKey)] = aws.ToString(o.OutputValue)
	}
	return m, nil
}
