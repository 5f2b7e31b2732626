package operator

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spapi-lwa/secret-rotation/internal/awsenv"
	"github.com/spapi-lwa/secret-rotation/internal/health"
	"github.com/spapi-lwa/secret-rotation/internal/managed"
	"github.com/spapi-lwa/secret-rotation/internal/secretdoc"
)

// ReasonUnreadable is the CLI's own reason for a managed secret it could not read.
const ReasonUnreadable = "UNREADABLE"

const readWorkers = 8 // secrets read at once

// row is one managed secret as status and doctor show it; the JSON keys are 'status --output json'.
type row struct {
	SecretARN           string     `json:"secretArn"`
	Name                string     `json:"name"`
	ClientID            string     `json:"clientId"`
	RotationEnabled     bool       `json:"rotationEnabled"`
	RotationFunctionARN string     `json:"rotationFunctionArn"`
	ExpiresAt           *time.Time `json:"expiresAt"`
	DaysLeft            *int       `json:"daysLeft"`
	Reasons             []string   `json:"reasons"`

	secret   health.Secret
	findings []health.Finding
	readErr  error
	doc      *secretdoc.Document // AWSCURRENT's document when usable, for doctor's LWA check
}

// fleet reads every managed secret in name order, calls ask on each row (doctor asks
// LWA), and judges the rows with the rotation function.
func (a *App) fleet(ctx context.Context, sm SecretStore, function string, ask func(*row)) ([]*row, error) {
	env := awsenv.NewVars(a.Getenv) // the variables the watchdog reads too
	keys := env.Keys()
	cfg := health.Config{RotateFunctionARN: cmp.Or(function, a.Getenv("ROTATE_SECRET_FUNCTION_ARN")),
		StuckAfter: env.Duration("STUCK_ROTATION_AFTER", "6h", 0)}
	if err := env.Err("environment"); err != nil {
		return nil, badInput("%v", err)
	}
	listed, err := health.List(ctx, sm)
	if err != nil {
		return nil, err
	}
	rows := make([]*row, len(listed))
	busy := make(chan struct{}, readWorkers)
	var wg sync.WaitGroup
	for i, l := range listed {
		busy <- struct{}{}
		wg.Go(func() {
			r := &row{SecretARN: l.ARN, Name: l.Name, ClientID: l.ClientID}
			r.secret, r.doc, r.readErr = health.Read(ctx, sm, l.ARN, keys)
			r.secret.TaggedSecrets = l.TaggedSecrets
			rows[i] = r
			<-busy
		})
	}
	wg.Wait()
	slices.SortStableFunc(rows, func(x, y *row) int { return cmp.Compare(x.Name, y.Name) })
	now := a.Now()
	for _, r := range rows {
		ask(r)
		r.judge(now, cfg)
	}
	return rows, nil
}

func (r *row) judge(now time.Time, cfg health.Config) {
	if r.readErr != nil {
		r.findings = []health.Finding{{Reason: ReasonUnreadable, Severity: "UNKNOWN",
			Message: "could not read it: " + oneLine(r.readErr.Error()),
			Fix:     "check that your credentials may call secretsmanager:DescribeSecret, ListSecretVersionIds and GetSecretValue on it."}}
	} else {
		r.RotationEnabled, r.RotationFunctionARN, r.ExpiresAt = r.secret.RotationEnabled, r.secret.RotationFunctionARN, r.secret.ExpiresAt
		if d, ok := health.DaysLeft(now, r.ExpiresAt); ok {
			r.DaysLeft = &d
		}
		r.findings = health.Judge(r.secret, now, cfg)
	}
	r.Reasons = []string{}
	for _, f := range r.findings {
		r.Reasons = append(r.Reasons, f.Reason)
	}
}

func (a *App) status(ctx context.Context, args []string) error {
	fs := flagSet("status", "status [--output table|json] [--function ARN | --stack NAME]",
		"Show every managed secret, the watchdog's reasons it is at risk and what to do (no LWA call).")
	output := fs.String("output", "table", "output `format`: table or json")
	function := fs.String("function", "", "the project's rotation function `ARN`, to flag secrets rotated by another one (default $ROTATE_SECRET_FUNCTION_ARN)")
	stack := fs.String("stack", "", "take the rotation function from the CloudFormation stack `NAME`")
	if _, err := a.parse(fs, args, 0); err != nil {
		return err
	}
	if *output != "table" && *output != "json" {
		return badInput("--output must be table or json, got %q", *output)
	}
	c, err := a.Clients(ctx)
	if err != nil {
		return err
	}
	fn, err := rotationFunction(ctx, c, *function, *stack)
	if err != nil {
		return err
	}
	rows, err := a.fleet(ctx, c.SecretsManager, fn, func(*row) {})
	if err != nil {
		return err
	}
	enc := json.NewEncoder(a.Stdout)
	enc.SetIndent("", "  ")
	if *output == "table" {
		writeTable(a.Stdout, rows)
	} else if err := enc.Encode(rows); err != nil {
		return fmt.Errorf("write JSON: %w", err)
	}
	if slices.ContainsFunc(rows, func(r *row) bool { return len(r.Reasons) > 0 }) {
		return needsPerson
	}
	return nil
}

// writeTable writes the rows, what to do for each that needs a person, and a summary; it
// returns how many need a person.
func writeTable(w io.Writer, rows []*row) int {
	if len(rows) == 0 {
		fmt.Fprintf(w, "No managed secrets (tag %s) in this account and region.\n"+
			"Run '%s enable SECRET --stack NAME' to manage one.\n", managed.TagClientID, Name)
		return 0
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tCLIENT ID\tROTATION\tLAST ROTATED\tEXPIRES\tDAYS LEFT\tREASONS\tARN")
	todo := slices.DeleteFunc(slices.Clone(rows), func(r *row) bool { return len(r.Reasons) == 0 })
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Name, r.ClientID, r.rotation(),
			day(r.secret.LastRotated, "never"), day(r.ExpiresAt, "unknown"), daysLeft(r.DaysLeft),
			cmp.Or(strings.Join(r.Reasons, ","), "OK"), r.SecretARN)
	}
	tw.Flush()
	if len(todo) > 0 {
		fmt.Fprintf(w, "\nWhat to do:\n")
	}
	for _, r := range todo {
		for _, f := range r.findings {
			fmt.Fprintf(w, "- %s: %s (%s): %s\n    Fix: %s\n", r.Name, f.Reason, f.Severity, f.Message, f.Fix)
		}
	}
	fmt.Fprintf(w, "\nManaged secrets: %d, OK: %d, needing attention: %d.\n", len(rows), len(rows)-len(todo), len(todo))
	return len(todo)
}

func (r *row) rotation() string {
	switch {
	case r.readErr != nil:
		return "?"
	case !r.RotationEnabled:
		return "off"
	case r.RotationFunctionARN == "":
		return "on"
	}
	return "on (" + functionName(r.RotationFunctionARN) + ")"
}

func day(t *time.Time, none string) string {
	if t == nil {
		return none
	}
	return t.UTC().Format("2006-01-02")
}

func daysLeft(d *int) string {
	switch {
	case d == nil:
		return "-"
	case *d < 0:
		return fmt.Sprintf("expired (%d)", *d)
	}
	return fmt.Sprint(*d)
}
