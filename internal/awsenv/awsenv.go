// Package awsenv gives every function's main what it starts with: its own
// configuration variables (Vars), its logger and its AWS clients (Setup).
//
// Config reads the AWS configuration from the Lambda environment alone, as the SDK reads
// these variables, without the shared-config loader (whose code costs every cold start):
//
//  1. Region: AWS_REGION, else AWS_DEFAULT_REGION.
//  2. Credentials: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN.
//  3. Endpoints: AWS_ENDPOINT_URL, or AWS_ENDPOINT_URL_<SERVICE> (SDK id in upper
//     case, spaces as underscores), ignored when AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true.
//  4. Variants: AWS_USE_FIPS_ENDPOINT, AWS_USE_DUALSTACK_ENDPOINT (true or false).
package awsenv

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/spapi-lwa/secret-rotation/internal/alert"
	"github.com/spapi-lwa/secret-rotation/internal/endpoint"
	"github.com/spapi-lwa/secret-rotation/internal/secretdoc"
)

// Config reads the AWS configuration of the package doc; its error names every problem, no credential.
func Config(getenv func(string) string) (aws.Config, error) {
	var errs []error
	region := cmp.Or(getenv("AWS_REGION"), getenv("AWS_DEFAULT_REGION"))
	if region == "" {
		errs = append(errs, errors.New("AWS_REGION (or AWS_DEFAULT_REGION) is required"))
	}
	id, secret := getenv("AWS_ACCESS_KEY_ID"), getenv("AWS_SECRET_ACCESS_KEY")
	if id == "" || secret == "" {
		errs = append(errs, errors.New("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are required"))
	}
	ignore := strings.EqualFold(getenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"), "true")
	src := endpoints{getenv: getenv, ignore: ignore}
	src.fips = variant(getenv, "AWS_USE_FIPS_ENDPOINT", &errs,
		aws.FIPSEndpointStateEnabled, aws.FIPSEndpointStateDisabled)
	src.dual = variant(getenv, "AWS_USE_DUALSTACK_ENDPOINT", &errs,
		aws.DualStackEndpointStateEnabled, aws.DualStackEndpointStateDisabled)
	if err := errors.Join(errs...); err != nil {
		return aws.Config{}, fmt.Errorf("AWS configuration: %w", err)
	}
	cfg := aws.Config{
		Region:        region,
		Credentials:   credentials.NewStaticCredentialsProvider(id, secret, getenv("AWS_SESSION_TOKEN")),
		DefaultsMode:  aws.DefaultsModeLegacy,
		ConfigSources: []any{src},
	}
	if url := getenv("AWS_ENDPOINT_URL"); url != "" && !src.ignore {
		cfg.BaseEndpoint = aws.String(url)
	}
	return cfg, nil
}

func variant[S ~uint](getenv func(string) string, name string, errs *[]error, enabled, disabled S) S {
	switch v := getenv(name); {
	case v == "":
	case strings.EqualFold(v, "true"):
		return enabled
	case strings.EqualFold(v, "false"):
		return disabled
	default:
		*errs = append(*errs, fmt.Errorf("%s must be true or false, got %q", name, v))
	}
	return 0
}

// endpoints is the configuration source the SDK's clients ask, by these method names, for endpoints.
type endpoints struct {
	getenv func(string) string
	ignore bool
	fips   aws.FIPSEndpointState
	dual   aws.DualStackEndpointState
}

func (e endpoints) GetUseFIPSEndpoint(context.Context) (aws.FIPSEndpointState, bool, error) {
	return e.fips, e.fips != aws.FIPSEndpointStateUnset, nil
}

func (e endpoints) GetUseDualStackEndpoint(context.Context) (aws.DualStackEndpointState, bool, error) {
	return e.dual, e.dual != aws.DualStackEndpointStateUnset, nil
}

func (e endpoints) GetServiceBaseEndpoint(_ context.Context, sdkID string) (string, bool, error) {
	v := e.getenv("AWS_ENDPOINT_URL_" + strings.ReplaceAll(strings.ToUpper(sdkID), " ", "_"))
	return v, v != "", nil
}

func (e endpoints) GetIgnoreConfiguredEndpoints(context.Context) (bool, bool, error) {
	return e.ignore, e.ignore, nil
}

// lazySNS builds its client on the first Publish, which most invocations never make.
type lazySNS func() *sns.Client

func (s lazySNS) Publish(ctx context.Context, in *sns.PublishInput, optFns ...func(*sns.Options)) (*sns.PublishOutput, error) {
	return s().Publish(ctx, in, optFns...)
}

// Setup returns the logger, the Secrets Manager client and the publisher to topicARN (its SNS client is
// built on first use); when Config or configErr fails it logs every problem and exits 1.
func Setup(getenv func(string) string, topicARN string, configErr error) (*slog.Logger, *secretsmanager.Client, *alert.Publisher) {
	logger := lambdacontext.NewLogger()
	cfg, err := Config(getenv)
	if err := errors.Join(configErr, err); err != nil {
		logger.ErrorContext(context.Background(), "startup failed", "error", err)
		os.Exit(1)
	}
	topic := lazySNS(sync.OnceValue(func() *sns.Client { return sns.NewFromConfig(cfg) }))
	return logger, secretsmanager.NewFromConfig(cfg), alert.NewPublisher(topic, topicARN)
}

// Vars reads a function's own variables and collects every problem for its loadConfig.
type Vars struct {
	getenv func(string) string
	errs   []error
}

// NewVars returns Vars that read through getenv.
func NewVars(getenv func(string) string) *Vars { return &Vars{getenv: getenv} }

// Check records err; nil is no problem.
func (v *Vars) Check(err error) { v.errs = append(v.errs, err) }

// TopicARN returns ALERT_TOPIC_ARN, which alert.CheckTopicARN must accept.
func (v *Vars) TopicARN() string {
	arn := v.getenv("ALERT_TOPIC_ARN")
	v.Check(alert.CheckTopicARN(arn))
	return arn
}

// Endpoint returns the URL in name (def when empty), which endpoint.Check must accept.
func (v *Vars) Endpoint(name, def string) string {
	u := cmp.Or(v.getenv(name), def)
	if err := endpoint.Check(u); err != nil {
		v.Check(fmt.Errorf("%s %w", name, err))
	}
	return u
}

// Keys returns SECRET_CLIENT_ID_KEY and SECRET_CLIENT_SECRET_KEY (default secretdoc.DefaultKeys), validated.
func (v *Vars) Keys() secretdoc.Keys {
	k := secretdoc.Keys{
		ClientID:     cmp.Or(v.getenv("SECRET_CLIENT_ID_KEY"), secretdoc.DefaultKeys.ClientID),
		ClientSecret: cmp.Or(v.getenv("SECRET_CLIENT_SECRET_KEY"), secretdoc.DefaultKeys.ClientSecret),
	}
	if err := k.Validate(); err != nil {
		v.Check(fmt.Errorf("SECRET_CLIENT_ID_KEY, SECRET_CLIENT_SECRET_KEY: %w", err))
	}
	return k
}

// Duration returns the positive duration in name, def when empty; example shows the format in the error.
func (v *Vars) Duration(name, example string, def time.Duration) time.Duration {
	s := v.getenv(name)
	d, err := time.ParseDuration(s)
	switch {
	case s == "":
	case err != nil:
		v.Check(fmt.Errorf("%s must be a duration such as %s, got %q", name, example, s))
	case d <= 0:
		v.Check(fmt.Errorf("%s must be positive, got %q", name, s))
	default:
		return d
	}
	return def
}

// Bool returns the boolean in name (strconv.ParseBool), def when empty.
func (v *Vars) Bool(name string, def bool) bool {
	s := v.getenv(name)
	if s == "" {
		return def
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		v.Check(fmt.Errorf("%s must be true or false, got %q", name, s))
		return def
	}
	return b
}

// Err returns every problem recorded, for the function named fn, or nil.
func (v *Vars) Err(fn string) error {
	if err := errors.Join(v.errs...); err != nil {
		return fmt.Errorf("%s: configuration: %w", fn, err)
	}
	return nil
}
