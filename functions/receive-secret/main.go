// Command receive-secret is ReceiveSecretFunction: the Lambda fed by the SQS
// queue of APPLICATION_OAUTH_CLIENT_NEW_SECRET notifications. It stores every
// delivered client secret in Secrets Manager and makes sure a rotation adopts
// it (docs/design.md "The receiver"). It only wires configuration, AWS
// clients and the receiver.Handler.
package main

import (
	"os"

	"github.com/aws/aws-lambda-go/lambda"

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
	v := awsenv.NewVars(getenv)
	cfg := config{alertTopicARN: v.TopicARN(), keys: v.Keys()}
	return cfg, v.Err("receive-secret")
}

func main() {
	cfg, err := loadConfig(os.Getenv)
	fn := awsenv.Setup(os.Getenv, err)
	h := receiver.New(fn.SecretsManager, fn.SecretsManager, fn.Alerts(cfg.alertTopicARN), fn.Logger,
		receiver.Config{Keys: cfg.keys})
	lambda.Start(h.Handle)
}
