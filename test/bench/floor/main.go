// Command floor is a cold-start reference of test/bench, not a function: the least a Go Lambda
// built with aws-lambda-go does before it asks for its first invocation. Built with the tag
// sdkfloor, it links the SDK's secretsmanager and sns packages, never called, to show what their
// initialisation costs.
package main

import (
	"context"
	"encoding/json"

	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	lambda.Start(func(context.Context, json.RawMessage) error { return nil })
}
