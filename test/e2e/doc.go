// Package e2e holds the project's end-to-end tests: the three functions run
// as built bootstrap binaries under aws-lambda-rie, against moto as Secrets
// Manager, SQS and SNS, the SP-API/LWA simulator, and the local rotation
// engine and SQS event source mapping of test/harness. Each scenario of
// the local-stack issue runs against a fresh stack and asserts the final
// Secrets Manager state, the alerts read from the topic's SQS subscription,
// and that no client secret or access token appears in any function log or
// alert.
//
// The tests need ./bin/aws-lambda-rie (make tools) and python3 -m
// moto.server. Without them they are skipped, unless E2E=1 is set (make test
// sets it), in which case they fail.
package e2e
