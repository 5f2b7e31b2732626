// Command floor is the cold-start floor of test/bench, not a function of the
// project: the least a Go Lambda built with aws-lambda-go does before it
// asks the runtime API for its first invocation (lambda.Start with a handler
// that does nothing). The bench builds it in the same run and with the same
// flags as the functions, and times it the same way.
package main

import (
	"context"
	"encoding/json"

	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	lambda.Start(func(context.Context, json.RawMessage) error { return nil })
}
