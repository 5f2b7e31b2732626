// Command watchdog is WatchdogFunction: the Lambda that a daily schedule
// and Secrets Manager's rotation-failure events invoke. It checks every
// managed secret's health, publishes SECRET_AT_RISK and ROTATION_FAILED
// alerts and the DaysUntilExpiry metric, and never changes a secret
// (docs/design.md "The watchdog"). It only wires configuration, AWS clients and
// the watchdog.Handler.
package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/spapi-lwa/secret-rotation/internal/alert"
	"github.com/spapi-lwa/secret-rotation/internal/awsenv"
	"github.com/spapi-lwa/secret-rotation/internal/endpoint"
	"github.com/spapi-lwa/secret-rotation/internal/health"
	"github.com/spapi-lwa/secret-rotation/internal/lwa"
	"github.com/spapi-lwa/secret-rotation/internal/secretdoc"
	"github.com/spapi-lwa/secret-rotation/internal/watchdog"
)

// defaultLWATokenURL is LWA_TOKEN_URL's default (docs/design.md "Configuration").
const defaultLWATokenURL = "https://api.amazon.com/auth/o2/token"

// httpTimeout bounds one exchange with LWA; the client retries within the
// Lambda's deadline.
const httpTimeout = 10 * time.Second

// config is the function's configuration, read from the environment.
type config struct {
	alertTopicARN     string
	rotateFunctionARN string
	stuckAfter        time.Duration
	lwaTokenURL       string
	keys              secretdoc.Keys
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
		alertTopicARN:     getenv("ALERT_TOPIC_ARN"),
		rotateFunctionARN: getenv("ROTATE_SECRET_FUNCTION_ARN"),
		stuckAfter:        health.DefaultStuckAfter,
		lwaTokenURL:       or("LWA_TOKEN_URL", defaultLWATokenURL),
		keys: secretdoc.Keys{
			ClientID:     or("SECRET_CLIENT_ID_KEY", secretdoc.DefaultKeys.ClientID),
			ClientSecret: or("SECRET_CLIENT_SECRET_KEY", secretdoc.DefaultKeys.ClientSecret),
		},
	}
	if err := alert.CheckTopicARN(cfg.alertTopicARN); err != nil {
		errs = append(errs, err)
	}
	if err := checkFunctionARN(cfg.rotateFunctionARN); err != nil {
		errs = append(errs, err)
	}
	if v := getenv("STUCK_ROTATION_AFTER"); v != "" {
		d, err := time.ParseDuration(v)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("STUCK_ROTATION_AFTER must be a duration such as 6h, got %q", v))
		case d <= 0:
			errs = append(errs, fmt.Errorf("STUCK_ROTATION_AFTER must be positive, got %q", v))
		default:
			cfg.stuckAfter = d
		}
	}
	if err := endpoint.Check(cfg.lwaTokenURL); err != nil {
		errs = append(errs, fmt.Errorf("LWA_TOKEN_URL %w", err))
	}
	if err := cfg.keys.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("SECRET_CLIENT_ID_KEY, SECRET_CLIENT_SECRET_KEY: %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		return config{}, fmt.Errorf("watchdog: configuration: %w", err)
	}
	return cfg, nil
}

// checkFunctionARN reports whether arn (ROTATE_SECRET_FUNCTION_ARN) can be
// a Lambda function ARN.
func checkFunctionARN(arn string) error {
	if arn == "" {
		return errors.New("ROTATE_SECRET_FUNCTION_ARN is required")
	}
	if !strings.HasPrefix(arn, "arn:") || !strings.Contains(arn, ":lambda:") || !strings.Contains(arn, ":function:") {
		return fmt.Errorf("ROTATE_SECRET_FUNCTION_ARN must be a Lambda function ARN, got %q", arn)
	}
	return nil
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
	hc := &http.Client{
		Timeout: httpTimeout,
		// A redirect would carry the client secret elsewhere.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	h := watchdog.New(
		sm, sm,
		lwa.NewClient(cfg.lwaTokenURL, hc),
		alert.NewPublisher(awsenv.NewSNS(awsCfg), cfg.alertTopicARN),
		logger,
		watchdog.Config{Keys: cfg.keys, RotateFunctionARN: cfg.rotateFunctionARN, StuckAfter: cfg.stuckAfter},
	)
	lambda.Start(h.Handle)
}
