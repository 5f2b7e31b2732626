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
	"text/tabwriter"
	"time"

	"github.com/spapi-lwa/secret-rotation/internal/managed"
	"github.com/spapi-lwa/secret-rotation/internal/operator"
	"github.com/spapi-lwa/secret-rotation/test/harness"
)

const extraSecret = "amzn1.oa2-cs.v1.demo-made-up-secret-of-another-application"

var (
	out   = log.New(os.Stdout, "", 0) // serializes the timeline lines the stack's goroutines write
	start = time.Now()
)

func line(t time.Time, what string) { out.Printf("  %6.1fs  %s", t.Sub(start).Seconds(), what) }

func say(what string) { line(time.Now(), what) }

func phase(title string) { out.Printf("\n== %s", title) }

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

func run(ctx context.Context, logFile string) error {
	phase("Starting the local stack (moto, SP-API/LWA simulator, 4 functions under aws-lambda-rie)")
	say("building the four bootstraps...")
	s, err := harness.Start(ctx, harness.Options{
		// The notice arrives 30 days before the seeded secret expires.
		InitialExpiry: time.Now().Add(30*24*time.Hour + time.Hour).UTC().Truncate(time.Second),
		DeliveryDelay: 2 * time.Second,
		LogFile:       logFile,
		OnEvent:       func(ev harness.Event) { line(ev.Time, ev.What) },
	})
	if err != nil {
		return err
	}
	defer s.Close()

	phase("Seeding the managed secret (tag " + managed.TagClientID + ", rotation on)")
	arn, err := s.Seed(ctx, harness.SeedOptions{Rotation: true})
	if err != nil {
		return err
	}
	say("client id " + s.ClientID + ", current secret " + harness.Fingerprint(s.InitialSecret))

	phase("Scheduled rotation: request -> delivery -> receive -> adopt -> test -> promote")
	token, err := s.StartRotation(ctx, arn)
	if err != nil {
		return err
	}
	say("Secrets Manager rotation started, version " + token)
	if err := settle(ctx, s, "NEW_CLIENT_SECRET_RECEIVED", "CLIENT_SECRET_ROTATED"); err != nil {
		return err
	}

	phase("Amazon's expiry notice for the replaced secret (30 days before it expires)")
	if err := s.Sim.EmitExpiryNotice(ctx, nil, s.Sim.ExpiresIn(30).Add(time.Hour)); err != nil {
		return err
	}
	if err := settle(ctx, s, "CLIENT_SECRET_EXPIRING"); err != nil {
		return err
	}

	phase("Watchdog: one more tagged secret without rotation, then the daily sweep")
	extra, err := s.Seed(ctx, harness.SeedOptions{Name: "sp-api-lwa/forgotten-application", Document: &harness.SecretDocument{
		ClientID:              "amzn1.application-oa2-client.demoforgotten",
		ClientSecret:          extraSecret,
		ClientSecretExpiresAt: time.Now().Add(20 * 24 * time.Hour).UTC().Format(time.RFC3339),
	}})
	if err != nil {
		return err
	}
	say("secret " + extra + ": tagged, rotation off, expires in 20 days; its made-up application is unknown to LWA")
	scheduled := map[string]string{"source": "aws.scheduler", "detail-type": "Scheduled Event"}
	res, err := s.Invoke(ctx, harness.FunctionWatchdog, scheduled)
	if err != nil {
		return fmt.Errorf("watchdog sweep: %w", err)
	}
	say("sweep result " + strings.TrimSpace(string(res)))
	for _, l := range strings.Split(s.Logs(harness.FunctionWatchdog), "\n") {
		if strings.Contains(l, `"Namespace":"SpApiLwaRotation"`) {
			say("metric " + strings.TrimSuffix(l[strings.LastIndex(l, `"ClientId"`):], "}"))
		}
	}
	if err := settle(ctx, s, "SECRET_AT_RISK"); err != nil {
		return err
	}
	time.Sleep(500 * time.Millisecond) // alerts published last need a moment to reach the subscription
	if err := report(ctx, s, arn, extra); err != nil {
		return err
	}
	return status(ctx, s)
}

// settle waits for the alerts of each event, reading them into the timeline as they arrive, then
// for the stack to settle.
func settle(ctx context.Context, s *harness.Stack, events ...string) error {
	if err := s.WaitFor(ctx, 45*time.Second, "alerts "+strings.Join(events, ", "), func(ctx context.Context) (bool, error) {
		as, err := s.Alerts(ctx)
		return !slices.ContainsFunc(events, func(ev string) bool {
			return !slices.ContainsFunc(as, func(a harness.Alert) bool { return a.Field("event") == ev })
		}), err
	}); err != nil {
		return err
	}
	return s.Settle(ctx, 45*time.Second)
}

func report(ctx context.Context, s *harness.Stack, arn, extra string) error {
	vs, errV := s.Versions(ctx, arn)
	as, errA := s.Alerts(ctx)
	tags, errT := s.Tags(ctx, arn)
	if err := errors.Join(errV, errA, errT); err != nil {
		return err
	}
	phase("Result")
	// One writer for both tables: the empty line between them ends every column block.
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "\nVERSION\tLABELS\tCREATED\tVALUE\tCLIENT SECRET EXPIRES")
	var current harness.Version
	for _, v := range vs {
		if v.Value == "" && len(v.Stages) == 0 {
			continue // left by turning rotation on in moto; no label, no value
		}
		d, _ := v.Document() // without a value: "-" for the fingerprint and the expiry
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", v.ID, cmp.Or(strings.Join(v.Stages, ","), "-"),
			v.Created.Local().Format("15:04:05"), harness.Fingerprint(d.ClientSecret), cmp.Or(d.ClientSecretExpiresAt, "-"))
		if v.Has(managed.StageCurrent) {
			current = v
		}
	}
	fmt.Fprintln(w, "\nALERT\tSEVERITY\tACTION\tREASON\tSUBJECT")
	found := map[string][]string{}
	for _, a := range as {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", a.Field("event"), a.Field("severity"), a.Field("action"),
			cmp.Or(a.Field("reason"), "-"), a.Subject)
		if a.Field("event") == "SECRET_AT_RISK" {
			found[a.Field("secretArn")] = append(found[a.Field("secretArn")], a.Field("reason"))
		}
	}
	w.Flush()

	st := s.Sim.Stats()
	d, _ := current.Document()
	fmt.Printf("\nAWSCURRENT: version %s, client secret %s, expires %s (tag %s = %s)\n", current.ID,
		harness.Fingerprint(d.ClientSecret), d.ClientSecretExpiresAt, managed.TagClientSecretExpiresAt,
		tags[managed.TagClientSecretExpiresAt])
	fmt.Printf("SP-API rotate calls: %d; LWA tokens granted: %d; rotation steps invoked: %d\n",
		st.RotateCalls, st.TokenClientCredentials, len(s.Steps()))
	fmt.Printf("Watchdog: rotated secret healthy: %v; secret without rotation: %s\n",
		len(found[arn]) == 0, strings.Join(found[extra], ", "))
	leaks, texts := 0, s.Logs("")+fmt.Sprint(as) // every function log line and every alert
	for _, sec := range append(s.Sim.Issued(), extraSecret) {
		leaks += strings.Count(texts, sec)
	}
	newest, _ := s.Sim.Current()
	switch {
	case d.ClientSecret != newest || !s.Sim.Accepts(d.ClientSecret):
		return errors.New("AWSCURRENT does not hold the newest secret LWA accepts")
	case slices.ContainsFunc(vs, func(v harness.Version) bool { return v.Has(managed.StagePending) }):
		return errors.New("AWSPENDING was not removed")
	case len(found[arn]) > 0:
		return errors.New("the watchdog found the rotated secret at risk: " + strings.Join(found[arn], ", "))
	case !slices.Contains(found[extra], "ROTATION_DISABLED"):
		return errors.New("the watchdog did not find the secret without rotation")
	case leaks > 0:
		return fmt.Errorf("%d client secret occurrence(s) in function logs or alerts", leaks)
	}
	fmt.Printf("Client secrets found in function logs and alerts: none (checked %d issued secrets).\n", len(s.Sim.Issued()))
	fmt.Printf("\nDone in %.1fs: the new client secret is in AWSCURRENT and no secret value left Secrets Manager.\n",
		time.Since(start).Seconds())
	return nil
}

// status runs the operator CLI's status as a person would; it must exit 1 for the secret without rotation.
func status(ctx context.Context, s *harness.Stack) error {
	phase("Operator CLI: go run ./cmd/lwa-rotation status")
	for k, v := range map[string]string{
		"AWS_REGION": harness.Region, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
		"AWS_ENDPOINT_URL": s.MotoURL, "ROTATE_SECRET_FUNCTION_ARN": harness.RotationFunctionARN,
	} {
		os.Setenv(k, v)
	}
	var buf bytes.Buffer
	app := &operator.App{Stdout: io.MultiWriter(os.Stdout, &buf), Stderr: os.Stderr, Getenv: os.Getenv,
		Clients: operator.AWSClients(os.Getenv)}
	code := app.Run(ctx, []string{"status"})
	if code != operator.ExitAttention || !strings.Contains(buf.String(), "ROTATION_DISABLED") {
		return fmt.Errorf("lwa-rotation status exited %d, want %d with ROTATION_DISABLED for the secret without rotation",
			code, operator.ExitAttention)
	}
	say("lwa-rotation status exited 1: the secret without rotation needs a person, as the watchdog said")
	return nil
}
