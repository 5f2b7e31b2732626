// Command spapi-sim serves package spapisim's simulator and its /sim/ control plane, sending
// notifications to SQS queues at -sqs-endpoint (a local SQS such as moto), never to AWS. The first
// line on stdout is "listening on http://HOST:PORT".
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/spapi-lwa/secret-rotation/test/spapisim"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	if err := run(log); err != nil {
		log.Error("spapi-sim: stopped", "error", err)
		os.Exit(1)
	}
}

func run(log *slog.Logger) error {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	clientID := flag.String("client-id", "", "LWA client id (required)")
	secret := flag.String("client-secret", "", "initial LWA client secret (required)")
	appID := flag.String("application-id", "amzn1.sp.solution.simulated", "application id in notifications")
	queueURL := flag.String("queue-url", "", "new-secret SQS queue URL; empty = not registered (rotate answers 400)")
	expiryURL := flag.String("expiry-queue-url", "", "SQS queue URL for expiry notices (POST /sim/expiry-notice)")
	endpoint := flag.String("sqs-endpoint", "", "SQS endpoint URL, required with a queue URL")
	delay := flag.Duration("delivery-delay", 2*time.Second, "delay before a new-secret notification is sent")
	flag.Parse()

	if *clientID == "" || *secret == "" {
		return fmt.Errorf("-client-id and -client-secret are required")
	}
	cfg := spapisim.Config{ClientID: *clientID, ApplicationID: *appID, InitialSecret: *secret,
		DeliveryDelay: *delay, Logger: log}
	if *queueURL != "" || *expiryURL != "" {
		if *endpoint == "" {
			return fmt.Errorf("-sqs-endpoint is required with a queue URL")
		}
		client := sqs.New(sqs.Options{Region: "us-east-1", BaseEndpoint: aws.String(*endpoint),
			Credentials: credentials.NewStaticCredentialsProvider("testing", "testing", "")})
		if *queueURL != "" {
			cfg.NewSecretDeliverer = spapisim.SQSDeliverer{Client: client, QueueURL: *queueURL}
		}
		if *expiryURL != "" {
			cfg.ExpiryDeliverer = spapisim.SQSDeliverer{Client: client, QueueURL: *expiryURL}
		}
	}
	sim := spapisim.New(cfg)

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", *addr, err)
	}
	fmt.Printf("listening on http://%s\n", ln.Addr())

	mux := http.NewServeMux()
	mux.Handle("/sim/", sim.AdminHandler())
	mux.Handle("/", sim.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go sim.Run(ctx)
	context.AfterFunc(ctx, func() {
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(shutdown)
	})
	if err := srv.Serve(ln); err != http.ErrServerClosed {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}
