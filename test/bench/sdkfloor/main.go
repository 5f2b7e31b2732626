// Command sdkfloor is a reference of test/bench, not a function of the
// project: the floor (test/bench/floor) with the two AWS SDK service
// packages every function uses linked in but never called. Its cold start
// over the floor's is what initialising those packages costs (their
// schemas and endpoint tables are built at package initialisation), a cost
// no change to a function's wiring can remove.
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
