// Package events holds no code: its test checks the sample events in the
// repository's events/ folder, the inputs of `sam local invoke -e`.
//
// Every file there must decode strictly (no unknown field) into the
// aws-lambda-go type of the trigger it stands for, chosen by its name:
// rotate-<step>.json is a Secrets Manager rotation event
// (events.SecretsManagerSecretRotationEvent) for that step, and
// sqs-new-secret*.json and sqs-secret-expiry*.json are SQS batches
// (events.SQSEvent) whose message bodies are SP-API notifications
// APPLICATION_OAUTH_CLIENT_NEW_SECRET and APPLICATION_OAUTH_CLIENT_SECRET_EXPIRY
// that the project's own parser accepts. A sample whose name matches no
// trigger fails the test, so a new sample cannot go unchecked.
package events
