// Command expiry-alert is ExpiryAlertFunction: the Lambda fed by the SQS
// queue of APPLICATION_OAUTH_CLIENT_SECRET_EXPIRY notifications. It publishes
// CLIENT_SECRET_EXPIRING alerts and starts a rotation when policy says so
// (docs/design.md "The expiry alert"). It reads secret
// metadata only, never a secret value. It only wires configuration, AWS
// clients and the expiry.Handler.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/spapi-lwa/secret-rotation/internal/alert"
	"github.com/spapi-lwa/secret-rotation/internal/awsenv"
	"github.com/spapi-lwa/secret-rotation/internal/expiry"
)

// config is the function's configuration, read from the environment.
type config struct {
	alertTopicARN string
	autoRotate    bool
}

// loadConfig reads the configuration through getenv and reports every problem
// at once. SECRET_CLIENT_ID_KEY and SECRET_CLIENT_SECRET_KEY are not read:
// this function never sees a secret value.
func loadConfig(getenv func(string) string) (config, error) {
	var errs []error
	cfg := config{alertTopicARN: getenv("ALERT_TOPIC_ARN"), autoRotate: true}
	if err := alert.CheckTopicARN(cfg.alertTopicARN); err != nil {
		errs = append(errs, err)
	}
	if v := getenv("AUTO_ROTATE_ON_EXPIRY_NOTICE"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("AUTO_ROTATE_ON_EXPIRY_NOTICE must be true or false, got %q", v))
		} else {
			cfg.autoRotate = b
		}
	}
	if err := errors.Join(errs...); err != nil {
		return config{}, fmt.Errorf("expiry-alert: configuration: %w", err)
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
	h := expiry.New(
		sm, sm,
		alert.NewPublisher(awsenv.NewSNS(awsCfg), cfg.alertTopicARN),
		logger,
		expiry.Config{AutoRotate: cfg.autoRotate},
	)
	lambda.Start(h.Handle)
}
