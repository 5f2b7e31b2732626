// Command sdkfloor is a cold-start reference of test/bench, not a function: the floor with the
// secretsmanager and sns packages linked but never called, to show what their initialisation costs.
package main

import (
	"context"
	"encoding/json"

	"github.com/aws/aws-lambda-go/lambda"
	_ "github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	_ "github.com/aws/aws-sdk-go-v2/service/sns"
)

func main() {
	lambda.Start(func(context.Context, json.RawMessage) error { return nil })
}
