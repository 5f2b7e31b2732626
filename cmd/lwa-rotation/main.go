// Command lwa-rotation is the operator CLI (internal/operator): status, enable, rotate --wait and
// doctor for every managed secret, with the caller's usual AWS configuration. Run it with -h.
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
	app := operator.App{Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv,
		Clients: operator.AWSClients(os.Getenv)}
	code := app.Run(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}
