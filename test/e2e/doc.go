// Package e2e holds the end-to-end tests: the functions' bootstraps under aws-lambda-rie against the
// local stack of test/harness. Each scenario runs on a fresh stack and checks the final Secrets
// Manager state, the alerts, and that no secret reaches a log or an alert. Without
// ./bin/aws-lambda-rie (make tools) or moto they are skipped, unless E2E=1 (make test) fails them.
package e2e
