// Command demo runs a scheduled rotation, an expiry notice and the watchdog's sweep on the local stack
// of test/harness, with no AWS account, printed as a timeline and tables; it prints only fingerprints
// of secrets. Usage (after make tools): go run ./test/demo [-logs FILE]
package main

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spapi-lwa/secret-rotation/internal/managed"
	"github.com/spapi-lwa/secret-rotation/internal/operator"
	"github.com/spapi-lwa/secret-rotation/test/harness"
)

const extraSecret = "amzn1.oa2-cs.v1.demo-made-up-secret-of-another-application"

func main() {
	logFile := flag.String("logs", "", "also write every function log to `file`")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := run(ctx, *logFile); err != nil {
		fmt.Fprintf(os.Stderr, "\ndemo failed: %v\n", err)
		if errors.Is(err, harness.ErrMissing) {
			fmt.Fprintln(os.Stderr, "Install the missing tool (make tools installs aws-lambda-rie into ./bin) and run make demo again.")
		}
		os.Exit(1)
	}
}

// printer writes the timeline; its log.Logger serializes the lines the stack's goroutines write.
type printer struct {
	*log.Logger
	start time.Time
}

func (p *printer) line(t time.Time, what string) {
	p.Printf("  %6.1fs  %s", t.Sub(p.start).Seconds(), what)
}

func (p *printer) phase(title string) { p.Printf("\n== %s", title) }

func run(ctx context.Context, logFile string) error {
	p := &printer{Logger: log.New(os.Stdout, "", 0), start: time.Now()}
	p.phase("Starting the local stack (moto, SP-API/LWA simulator, 4 functions under aws-lambda-rie)")
	p.line(time.Now(), "building the four bootstraps...")
	s, err := harness.Start(ctx, harness.Options{
		// The notice arrives 30 days before the seeded secret expires.
		InitialExpiry: time.Now().Add(30*24*time.Hour + time.Hour).UTC().Truncate(time.Second),
		DeliveryDelay: 2 * time.Second,
		LogFile:       logFile,
		OnEvent:       func(ev harness.Event) { p.line(ev.Time, ev.What) },
	})
	if err != nil {
		return err
	}
	defer s.Close()

	// Read alerts in the background so they show in the timeline as they arrive.
	alertCtx, stopAlerts := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		for alertCtx.Err() == nil {
			s.Alerts(alertCtx)
			select {
			case <-alertCtx.Done():
			case <-time.After(300 * time.Millisecond):
			}
		}
	})
	stop := func() { stopAlerts(); wg.Wait() }
	defer stop()

	p.phase("Seeding the managed secret (tag " + managed.TagClientID + ", rotation on)")
	arn, err := s.Seed(ctx, harness.SeedOptions{Rotation: true})
	if err != nil {
		return err
	}
	p.line(time.Now(), "secret "+arn)
	p.line(time.Now(), "client id "+s.ClientID+", current secret "+harness.Fingerprint(s.InitialSecret))

	p.phase("Scheduled rotation: request -> delivery -> receive -> adopt -> test -> promote")
	token, err := s.StartRotation(ctx, arn)
	if err != nil {
		return err
	}
	p.line(time.Now(), "Secrets Manager rotation started, version "+token)
	if err := s.WaitFor(ctx, 60*time.Second, "AWSCURRENT to hold the new secret", func(ctx context.Context) (bool, error) {
		return s.CurrentIsNewest(ctx, arn)
	}); err != nil {
		return err
	}
	if err := s.Settle(ctx, 45*time.Second); err != nil {
		return err
	}

	p.phase("Amazon's expiry notice for the replaced secret (30 days before it expires)")
	if err := s.Sim.EmitExpiryNotice(ctx, nil, s.Sim.ExpiresIn(30).Add(time.Hour)); err != nil {
		return err
	}
	if err := waitAlert(ctx, s, "the expiry alert", "CLIENT_SECRET_EXPIRING"); err != nil {
		return err
	}
	if err := s.Settle(ctx, 30*time.Second); err != nil {
		return err
	}

	extra, err := sweep(ctx, s, p)
	if err != nil {
		return err
	}
	// Alerts published last need a moment to reach the subscription.
	time.Sleep(500 * time.Millisecond)
	stop()

	if err := report(ctx, s, arn, extra, p); err != nil {
		return err
	}
	return status(ctx, s, p)
}

// status runs the operator CLI's status as a person would; it must exit 1 for the secret without rotation.
func status(ctx context.Context, s *harness.Stack, p *printer) error {
	p.phase("Operator CLI: go run ./cmd/lwa-rotation status")
	for k, v := range map[string]string{
		"AWS_REGION": harness.Region, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
		"AWS_ENDPOINT_URL": s.MotoURL, "ROTATE_SECRET_FUNCTION_ARN": harness.RotationFunctionARN,
	} {
		if err := os.Setenv(k, v); err != nil {
			return err
		}
	}
	var out bytes.Buffer
	app := &operator.App{Stdout: io.MultiWriter(os.Stdout, &out), Stderr: os.Stderr, Getenv: os.Getenv, Clients: operator.AWSClients(os.Getenv)}
	if code := app.Run(ctx, []string{"status"}); code != operator.ExitAttention {
		return fmt.Errorf("lwa-rotation status exited %d, want %d (the secret without rotation needs a person)", code, operator.ExitAttention)
	}
	if !strings.Contains(out.String(), "ROTATION_DISABLED") {
		return errors.New("lwa-rotation status did not report the secret without rotation")
	}
	p.line(time.Now(), "lwa-rotation status exited 1: the secret without rotation needs a person, as the watchdog said")
	return nil
}

// sweep seeds a tagged secret of another application without rotation, runs the watchdog, returns the ARN.
func sweep(ctx context.Context, s *harness.Stack, p *printer) (string, error) {
	p.phase("Watchdog: one more tagged secret without rotation, then the daily sweep")
	extra, err := s.Seed(ctx, harness.SeedOptions{Name: "sp-api-lwa/forgotten-application", Document: &harness.SecretDocument{
		ClientID:              "amzn1.application-oa2-client.demoforgotten",
		ClientSecret:          extraSecret,
		ClientSecretExpiresAt: time.Now().Add(20 * 24 * time.Hour).UTC().Format(time.RFC3339),
	}})
	if err != nil {
		return "", err
	}
	p.line(time.Now(), "secret "+extra+": tagged, rotation off, expires in 20 days; its made-up application is unknown to LWA")
	out, err := s.Invoke(ctx, harness.FunctionWatchdog, map[string]any{
		"source": "aws.scheduler", "detail-type": "Scheduled Event", "detail": map[string]any{},
	})
	if err != nil {
		return "", fmt.Errorf("watchdog sweep: %w", err)
	}
	p.line(time.Now(), "sweep result "+strings.TrimSpace(string(out)))
	for _, l := range strings.Split(s.Logs(harness.FunctionWatchdog), "\n") {
		if strings.Contains(l, `"Namespace":"SpApiLwaRotation"`) {
			p.line(time.Now(), "metric "+strings.TrimSuffix(l[strings.LastIndex(l, `"ClientId"`):], "}"))
		}
	}
	return extra, waitAlert(ctx, s, "the watchdog's alerts", "SECRET_AT_RISK")
}

func waitAlert(ctx context.Context, s *harness.Stack, what, event string) error {
	return s.WaitFor(ctx, 30*time.Second, what, func(ctx context.Context) (bool, error) {
		as, err := s.Alerts(ctx)
		return hasAlert(as, event), err
	})
}

func hasAlert(as []harness.Alert, event string) bool {
	return slices.ContainsFunc(as, func(a harness.Alert) bool { return a.Field("event") == event })
}

func report(ctx context.Context, s *harness.Stack, arn, extra string, p *printer) error {
	vs, errV := s.Versions(ctx, arn)
	as, errA := s.Alerts(ctx)
	tags, errT := s.Tags(ctx, arn)
	if err := errors.Join(errV, errA, errT); err != nil {
		return err
	}
	p.phase("Result")
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "\nVERSION\tLABELS\tCREATED\tVALUE\tCLIENT SECRET EXPIRES")
	var current harness.Version
	hidden := 0
	for _, v := range vs {
		if v.Value == "" && len(v.Stages) == 0 {
			hidden++ // left by turning rotation on in moto; no label, no value
			continue
		}
		exp, fp := "-", "(no value)"
		if v.Value != "" {
			d, _ := v.Document()
			exp, fp = cmp.Or(d.ClientSecretExpiresAt, "-"), harness.Fingerprint(d.ClientSecret)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", v.ID, cmp.Or(strings.Join(v.Stages, ","), "-"),
			v.Created.Local().Format("15:04:05"), fp, exp)
		if v.Has(managed.StageCurrent) {
			current = v
		}
	}
	w.Flush()
	if hidden > 0 {
		fmt.Printf("(%d unlabeled version(s) without a value not shown: left by turning rotation on in moto)\n", hidden)
	}

	w = tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "\nALERT\tSEVERITY\tACTION\tREASON\tSUBJECT")
	found, texts := map[string][]string{}, []string{s.Logs("")}
	for _, a := range as {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", a.Field("event"), a.Field("severity"), a.Field("action"),
			cmp.Or(a.Field("reason"), "-"), a.Subject)
		if a.Field("event") == "SECRET_AT_RISK" {
			found[a.Field("secretArn")] = append(found[a.Field("secretArn")], a.Field("reason"))
		}
		texts = append(texts, a.Subject+a.Default)
	}
	w.Flush()

	st := s.Sim.Stats()
	d, _ := current.Document()
	fmt.Printf("\nAWSCURRENT: version %s, client secret %s, expires %s (tag %s = %s)\n",
		current.ID, harness.Fingerprint(d.ClientSecret), d.ClientSecretExpiresAt, managed.TagClientSecretExpiresAt, tags[managed.TagClientSecretExpiresAt])
	fmt.Printf("SP-API rotate calls: %d; LWA tokens granted: %d; rotation steps invoked: %d\n",
		st.RotateCalls, st.TokenClientCredentials, len(s.Steps()))

	var problems []string
	check := func(ok bool, problem string) {
		if !ok {
			problems = append(problems, problem)
		}
	}
	newest, _ := s.Sim.Current()
	check(d.ClientSecret == newest && s.Sim.Accepts(d.ClientSecret), "AWSCURRENT does not hold the newest secret LWA accepts")
	check(!slices.ContainsFunc(vs, func(v harness.Version) bool { return v.Has(managed.StagePending) }),
		"AWSPENDING was not removed")
	for _, want := range []string{"NEW_CLIENT_SECRET_RECEIVED", "CLIENT_SECRET_ROTATED", "CLIENT_SECRET_EXPIRING"} {
		check(hasAlert(as, want), "no "+want+" alert")
	}
	check(len(found[arn]) == 0, "the watchdog found the rotated secret at risk: "+strings.Join(found[arn], ", "))
	check(slices.Contains(found[extra], "ROTATION_DISABLED"), "the watchdog did not find the secret without rotation")
	fmt.Printf("Watchdog: rotated secret healthy: %v; secret without rotation: %s\n", len(found[arn]) == 0, strings.Join(found[extra], ", "))
	leaks := 0
	for _, sec := range append(s.Sim.Issued(), extraSecret) {
		for _, t := range texts {
			if strings.Contains(t, sec) {
				leaks++
			}
		}
	}
	check(leaks == 0, fmt.Sprintf("%d client secret occurrence(s) in function logs or alerts", leaks))
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	fmt.Printf("Client secrets found in function logs and alerts: none (checked %d issued secrets).\n", len(s.Sim.Issued()))
	fmt.Printf("\nDone in %.1fs: the new client secret is in AWSCURRENT and no secret value left Secrets Manager.\n", time.Since(p.start).Seconds())
	return nil
}
