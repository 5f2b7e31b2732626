// Command watchdog is WatchdogFunction: the Lambda that a daily schedule
// and Secrets Manager's rotation-failure events invoke. It checks every
// managed secret's health, publishes SECRET_AT_RISK and ROTATION_FAILED
// alerts and the DaysUntilExpiry metric, and never changes a secret
// (docs/design.md "The watchdog"). It only wires configuration, AWS clients
// and the watchdog.Handler.
package main

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/spapi-lwa/secret-rotation/internal/awsenv"
	"github.com/spapi-lwa/secret-rotation/internal/health"
	"github.com/spapi-lwa/secret-rotation/internal/lwa"
	"github.com/spapi-lwa/secret-rotation/internal/secretdoc"
	"github.com/spapi-lwa/secret-rotation/internal/watchdog"
)

// config is the function's configuration, read from the environment.
type config struct {
	alertTopicARN     string
	rotateFunctionARN string
	stuckAfter        time.Duration
	lwaTokenURL       string
	keys              secretdoc.Keys
}

// loadConfig reads the configuration through getenv and reports every
// problem at once. The defaults are docs/design.md's "Configuration".
func loadConfig(getenv func(string) string) (config, error) {
	v := awsenv.NewVars(getenv)
	cfg := config{
		alertTopicARN:     v.TopicARN(),
		rotateFunctionARN: functionARN(v, getenv("ROTATE_SECRET_FUNCTION_ARN")),
		stuckAfter:        v.Duration("STUCK_ROTATION_AFTER", "6h", health.DefaultStuckAfter),
		lwaTokenURL:       v.Endpoint("LWA_TOKEN_URL", "https://api.amazon.com/auth/o2/token"),
		keys:              v.Keys(),
	}
	return cfg, v.Err("watchdog")
}

// functionARN returns arn (ROTATE_SECRET_FUNCTION_ARN), recording a problem
// in v unless it can be a Lambda function ARN.
func functionARN(v *awsenv.Vars, arn string) string {
	switch {
	case arn == "":
		v.Check(errors.New("ROTATE_SECRET_FUNCTION_ARN is required"))
	case !strings.HasPrefix(arn, "arn:") || !strings.Contains(arn, ":lambda:") || !strings.Contains(arn, ":function:"):
		v.Check(fmt.Errorf("ROTATE_SECRET_FUNCTION_ARN must be a Lambda function ARN, got %q", arn))
	}
	return arn
}

func main() {
	cfg, err := loadConfig(os.Getenv)
	fn := awsenv.Setup(os.Getenv, err)
	// The timeout bounds one exchange; the client retries within the Lambda's deadline, over
	// a copy of hc that never follows a redirect.
	hc := &http.Client{Timeout: 10 * time.Second}
	h := watchdog.New(
		fn.SecretsManager, fn.SecretsManager,
		lwa.NewClient(cfg.lwaTokenURL, hc),
		fn.Alerts(cfg.alertTopicARN),
		fn.Logger,
		watchdog.Config{Keys: cfg.keys, RotateFunctionARN: cfg.rotateFunctionARN, StuckAfter: cfg.stuckAfter},
	)
	lambda.Start(h.Handle)
}
