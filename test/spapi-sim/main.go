// Command spapi-sim serves package spapisim's simulator and its /sim/ control plane, sending
// notifications to SQS queues at -sqs-endpoint (a local SQS such as moto), never to AWS. The first
// line on stdout is "listening on http://HOST:PORT".
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/spapi-lwa/secret-rotation/test/spapisim"
)

func main() {
	cfg := spapisim.Config{Logger: slog.New(slog.NewJSONHandler(os.Stderr, nil))}
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	flag.StringVar(&cfg.ClientID, "client-id", "", "LWA client id (required)")
	flag.StringVar(&cfg.InitialSecret, "client-secret", "", "initial LWA client secret (required)")
	flag.StringVar(&cfg.ApplicationID, "application-id", "amzn1.sp.solution.simulated",
		"applicationId of notifications")
	queueURL := flag.String("queue-url", "", "new-secret SQS queue URL; empty = not registered (rotate answers 400)")
	expiryURL := flag.String("expiry-queue-url", "", "SQS queue URL for expiry notices (POST /sim/expiry-notice)")
	endpoint := flag.String("sqs-endpoint", "", "SQS endpoint URL, required with a queue URL")
	flag.DurationVar(&cfg.DeliveryDelay, "delivery-delay", 2*time.Second, "from a rotation to its notification")
	flag.Parse()
	stop := func(err error) {
		cfg.Logger.Error("spapi-sim: stopped", "error", err)
		os.Exit(1)
	}
	switch {
	case cfg.ClientID == "" || cfg.InitialSecret == "":
		stop(errors.New("-client-id and -client-secret are required"))
	case *endpoint == "" && *queueURL+*expiryURL != "":
		stop(errors.New("-sqs-endpoint is required with a queue URL"))
	}
	client := sqs.New(sqs.Options{Region: "us-east-1", BaseEndpoint: aws.String(*endpoint),
		Credentials: credentials.NewStaticCredentialsProvider("testing", "testing", "")})
	if *queueURL != "" {
		cfg.NewSecretDeliverer = spapisim.SQSDeliverer{Client: client, QueueURL: *queueURL}
	}
	if *expiryURL != "" {
		cfg.ExpiryDeliverer = spapisim.SQSDeliverer{Client: client, QueueURL: *expiryURL}
	}
	sim := spapisim.New(cfg)
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		stop(err)
	}
	fmt.Printf("listening on http://%s\n", ln.Addr())
	mux := http.NewServeMux()
	mux.Handle("/sim/", sim.AdminHandler())
	mux.Handle("/", sim.Handler())
	go sim.Run(context.Background())
	stop((&http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}).Serve(ln))
}
