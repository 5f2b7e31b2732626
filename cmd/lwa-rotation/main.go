// Command lwa-rotation is the operator CLI of the project (docs/design.md "The
// operator CLI"): status, enable, rotate --wait and doctor for every managed
// secret, with the caller's usual AWS configuration (profile, region,
// AWS_ENDPOINT_URL). It only wires the process to internal/operator.
//
// Usage:
//
//	go run ./cmd/lwa-rotation <command> [flags]
//	go run ./cmd/lwa-rotation -h
//
// Exit status: 0 when nothing needs a person, 1 when something does, 2 for
// bad input.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/spapi-lwa/secret-rotation/internal/operator"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	app := &operator.App{
		Stdout:  os.Stdout,
		Stderr:  os.Stderr,
		Getenv:  os.Getenv,
		Clients: operator.AWSClients(os.Getenv),
	}
	code := app.Run(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}
