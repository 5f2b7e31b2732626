// Command expiry-alert is ExpiryAlertFunction: the Lambda fed by the SQS
// queue of APPLICATION_OAUTH_CLIENT_SECRET_EXPIRY notifications. It publishes
// CLIENT_SECRET_EXPIRING alerts and starts a rotation when policy says so
// (docs/design.md "The expiry alert"). It reads secret metadata only, never a
// secret value. It only wires configuration, AWS clients and the
// expiry.Handler.
package main

import (
	"os"

	"github.com/aws/aws-lambda-go/lambda"

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
	v := awsenv.NewVars(getenv)
	cfg := config{alertTopicARN: v.TopicARN(), autoRotate: v.Bool("AUTO_ROTATE_ON_EXPIRY_NOTICE", true)}
	return cfg, v.Err("expiry-alert")
}

func main() {
	cfg, err := loadConfig(os.Getenv)
	fn := awsenv.Setup(os.Getenv, err)
	h := expiry.New(fn.SecretsManager, fn.SecretsManager, fn.Alerts(cfg.alertTopicARN), fn.Logger,
		expiry.Config{AutoRotate: cfg.autoRotate})
	lambda.Start(h.Handle)
}
