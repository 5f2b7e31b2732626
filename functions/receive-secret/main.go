// Command receive-secret is ReceiveSecretFunction: it stores every APPLICATION_OAUTH_CLIENT_NEW_SECRET
// delivered on its SQS queue and makes sure a rotation adopts it (internal/receiver).
package main

import (
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/spapi-lwa/secret-rotation/internal/awsenv"
	"github.com/spapi-lwa/secret-rotation/internal/receiver"
	"github.com/spapi-lwa/secret-rotation/internal/secretdoc"
)

type config struct {
	alertTopicARN string
	keys          secretdoc.Keys
}

func loadConfig(getenv func(string) string) (config, error) {
	v := awsenv.NewVars(getenv)
	cfg := config{alertTopicARN: v.TopicARN(), keys: v.Keys()}
	return cfg, v.Err("receive-secret")
}

func main() {
	cfg, err := loadConfig(os.Getenv)
	logger, sm, alerts := awsenv.Setup(os.Getenv, cfg.alertTopicARN, err)
	h := receiver.New(sm, sm, alerts, logger, receiver.Config{Keys: cfg.keys})
	lambda.Start(h.Handle)
}
