// Command receive-secret is ReceiveSecretFunction: the Lambda fed by the SQS
// queue of APPLICATION_OAUTH_CLIENT_NEW_SECRET notifications. It stores every
// delivered client secret in Secrets Manager and makes sure a rotation adopts
// it (docs/design.md "The receiver"). It only wires
// configuration, AWS clients and the receiver.Handler.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/spapi-lwa/secret-rotation/internal/alert"
	"github.com/spapi-lwa/secret-rotation/internal/awsenv"
	"github.com/spapi-lwa/secret-rotation/internal/receiver"
	"github.com/spapi-lwa/secret-rotation/internal/secretdoc"
)

// config is the function's configuration, read from the environment.
type config struct {
	alertTopicARN string
	keys          secretdoc.Keys
}

// loadConfig reads the configuration through getenv and reports every problem at once.
func loadConfig(getenv func(string) string) (config, error) {
	var errs []error
	or := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	cfg := config{
		alertTopicARN: getenv("ALERT_TOPIC_ARN"),
		keys: secretdoc.Keys{
			ClientID:     or("SECRET_CLIENT_ID_KEY", secretdoc.DefaultKeys.ClientID),
			ClientSecret: or("SECRET_CLIENT_SECRET_KEY", secretdoc.DefaultKeys.ClientSecret),
		},
	}
	if err := alert.CheckTopicARN(cfg.alertTopicARN); err != nil {
		errs = append(errs, err)
	}
	if err := cfg.keys.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("SECRET_CLIENT_ID_KEY, SECRET_CLIENT_SECRET_KEY: %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		return config{}, fmt.Errorf("receive-secret: configuration: %w", err)
	}
	return cfg, nil
}

func main() {
	logger := lambdacontext.NewLogger()
	ctx := context.Background()
	// The AWS configuration comes from the Lambda environment alone
	// (internal/awsenv): no shared config files, no credential chain.
	cfg, err := loadConfig(os.Getenv)
	awsCfg, awsErr := awsenv.Config(os.Getenv)
	if err := errors.Join(err, awsErr); err != nil {
		logger.ErrorContext(ctx, "startup failed", "error", err)
		os.Exit(1)
	}
	sm := secretsmanager.NewFromConfig(awsCfg)
	h := receiver.New(
		sm, sm,
		alert.NewPublisher(awsenv.NewSNS(awsCfg), cfg.alertTopicARN),
		logger,
		receiver.Config{Keys: cfg.keys},
	)
	lambda.Start(h.Handle)
}
