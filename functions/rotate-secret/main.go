// Command rotate-secret is RotateSecretFunction: the Lambda that Secrets
// Manager invokes for the four steps of a rotation (createSecret, setSecret,
// testSecret, finishSecret) of a managed SP-API LWA client secret. It only
// wires configuration, AWS clients and the rotation.Rotator handler.
package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/spapi-lwa/secret-rotation/internal/alert"
	"github.com/spapi-lwa/secret-rotation/internal/awsenv"
	"github.com/spapi-lwa/secret-rotation/internal/endpoint"
	"github.com/spapi-lwa/secret-rotation/internal/lwa"
	"github.com/spapi-lwa/secret-rotation/internal/rotation"
	"github.com/spapi-lwa/secret-rotation/internal/secretdoc"
	"github.com/spapi-lwa/secret-rotation/internal/spapi"
)

// Defaults of docs/design.md "Configuration".
const (
	defaultLWATokenURL   = "https://api.amazon.com/auth/o2/token"
	defaultSPAPIEndpoint = "https://sellingpartnerapi-na.amazon.com"
)

// httpTimeout bounds one HTTP exchange with LWA or SP-API; the clients retry
// within the Lambda's deadline.
const httpTimeout = 30 * time.Second

// config is the function's configuration, read from the environment.
type config struct {
	alertTopicARN string
	lwaTokenURL   string
	spAPIEndpoint string
	keys          secretdoc.Keys
	cooldown      time.Duration
	rejectAfter   time.Duration
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
		lwaTokenURL:   or("LWA_TOKEN_URL", defaultLWATokenURL),
		spAPIEndpoint: or("SP_API_ENDPOINT", defaultSPAPIEndpoint),
		keys: secretdoc.Keys{
			ClientID:     or("SECRET_CLIENT_ID_KEY", secretdoc.DefaultKeys.ClientID),
			ClientSecret: or("SECRET_CLIENT_SECRET_KEY", secretdoc.DefaultKeys.ClientSecret),
		},
		cooldown:    rotation.DefaultCooldown,
		rejectAfter: rotation.DefaultRejectAfter,
	}
	if err := alert.CheckTopicARN(cfg.alertTopicARN); err != nil {
		errs = append(errs, err)
	}
	for _, v := range []struct{ name, value string }{
		{"LWA_TOKEN_URL", cfg.lwaTokenURL},
		{"SP_API_ENDPOINT", cfg.spAPIEndpoint},
	} {
		// https only, plain http on a loopback address for local
		// testing; the error names the URL without user information or
		// query.
		if err := endpoint.Check(v.value); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", v.name, err))
		}
	}
	if err := cfg.keys.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("SECRET_CLIENT_ID_KEY, SECRET_CLIENT_SECRET_KEY: %w", err))
	}
	for _, v := range []struct {
		name, example string
		d             *time.Duration
	}{
		{"ROTATION_REQUEST_COOLDOWN", "30m", &cfg.cooldown},
		{"SECRET_REJECT_AFTER", "1h", &cfg.rejectAfter},
	} {
		if s := getenv(v.name); s != "" {
			d, err := time.ParseDuration(s)
			switch {
			case err != nil:
				errs = append(errs, fmt.Errorf("%s must be a duration such as %s, got %q", v.name, v.example, s))
			case d <= 0:
				errs = append(errs, fmt.Errorf("%s must be positive, got %q", v.name, s))
			default:
				*v.d = d
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return config{}, fmt.Errorf("rotate-secret: configuration: %w", err)
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
	// The clients use copies of hc that never follow a redirect.
	hc := &http.Client{Timeout: httpTimeout}
	r := rotation.New(
		sm, sm,
		lwa.NewClient(cfg.lwaTokenURL, hc),
		spapi.NewClient(cfg.spAPIEndpoint, hc),
		alert.NewPublisher(awsenv.NewSNS(awsCfg), cfg.alertTopicARN),
		logger,
		rotation.Config{Keys: cfg.keys, Cooldown: cfg.cooldown, RejectAfter: cfg.rejectAfter},
	)
	lambda.Start(r.Handle)
}
