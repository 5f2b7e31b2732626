// Package e2e holds the end-to-end tests: each scenario runs the functions' bootstraps under
// aws-lambda-rie on a fresh test/harness stack. Without ./bin/aws-lambda-rie (make tools) or moto
// they are skipped, unless E2E=1 (make test) fails them.
package e2e
