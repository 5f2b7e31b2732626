// Command watchdog is WatchdogFunction: a daily schedule and Secrets Manager's rotation-failure
// events invoke it to check every managed secret, alert and write metrics (internal/watchdog).
package main

import (
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

type config struct {
	alertTopicARN, rotateFunctionARN, lwaTokenURL string
	stuckAfter                                    time.Duration
	keys                                          secretdoc.Keys
}

func loadConfig(getenv func(string) string) (config, error) {
	v := awsenv.NewVars(getenv)
	cfg := config{alertTopicARN: v.TopicARN(), rotateFunctionARN: getenv("ROTATE_SECRET_FUNCTION_ARN")}
	switch arn := cfg.rotateFunctionARN; {
	case arn == "":
		v.Check(fmt.Errorf("ROTATE_SECRET_FUNCTION_ARN is required"))
	case !strings.HasPrefix(arn, "arn:") || !strings.Contains(arn, ":lambda:") || !strings.Contains(arn, ":function:"):
		v.Check(fmt.Errorf("ROTATE_SECRET_FUNCTION_ARN must be a Lambda function ARN, got %q", arn))
	}
	cfg.stuckAfter = v.Duration("STUCK_ROTATION_AFTER", "6h", health.DefaultStuckAfter)
	cfg.lwaTokenURL = v.Endpoint("LWA_TOKEN_URL", "https://api.amazon.com/auth/o2/token")
	cfg.keys = v.Keys()
	return cfg, v.Err("watchdog")
}

func main() {
	cfg, err := loadConfig(os.Getenv)
	logger, sm, alerts := awsenv.Setup(os.Getenv, cfg.alertTopicARN, err)
	// One exchange's timeout: the client retries within the deadline and never follows a redirect.
	hc := &http.Client{Timeout: 10 * time.Second}
	h := watchdog.New(sm, sm, lwa.NewClient(cfg.lwaTokenURL, hc), alerts, logger,
		watchdog.Config{Keys: cfg.keys, RotateFunctionARN: cfg.rotateFunctionARN, StuckAfter: cfg.stuckAfter})
	lambda.Start(h.Handle)
}
