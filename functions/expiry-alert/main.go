// Command expiry-alert is ExpiryAlertFunction: it turns APPLICATION_OAUTH_CLIENT_SECRET_EXPIRY
// notifications into alerts and rotations (internal/expiry). It never reads a secret value.
package main

import (
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/spapi-lwa/secret-rotation/internal/awsenv"
	"github.com/spapi-lwa/secret-rotation/internal/expiry"
)

type config struct {
	alertTopicARN string
	autoRotate    bool
}

func loadConfig(getenv func(string) string) (config, error) {
	v := awsenv.NewVars(getenv)
	cfg := config{alertTopicARN: v.TopicARN(), autoRotate: v.Bool("AUTO_ROTATE_ON_EXPIRY_NOTICE", true)}
	return cfg, v.Err("expiry-alert")
}

func main() {
	cfg, err := loadConfig(os.Getenv)
	logger, sm, alerts := awsenv.Setup(os.Getenv, cfg.alertTopicARN, err)
	h := expiry.New(sm, sm, alerts, logger, expiry.Config{AutoRotate: cfg.autoRotate})
	lambda.Start(h.Handle)
}
