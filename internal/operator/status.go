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

	"github.com/spapi-lwa/secret-rotation/internal/health"
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
	keys, err := a.keys("", "")
	if err != nil {
		return nil, err
	}
	cfg := health.Config{RotateFunctionARN: cmp.Or(function, a.Getenv("ROTATE_SECRET_FUNCTION_ARN"))}
	if v := a.Getenv("STUCK_ROTATION_AFTER"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return nil, badInput("STUCK_ROTATION_AFTER must be a positive duration such as 6h, got %q", v)
		}
		cfg.StuckAfter = d
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
			defer func() { <-busy }()
			rows[i] = readRow(ctx, sm, l, keys)
		})
	}
	wg.Wait()
	slices.SortStableFunc(rows, func(x, y *row) int { return cmp.Compare(x.Name, y.Name) })
	for _, r := range rows {
		ask(r)
	}
	now := a.Now()
	for _, r := range rows {
		r.judge(now, cfg)
	}
	return rows, nil
}

func readRow(ctx context.Context, sm SecretStore, l health.Listed, keys secretdoc.Keys) *row {
	s, doc, err := health.Read(ctx, sm, l.ARN, keys)
	if err != nil {
		return &row{SecretARN: l.ARN, Name: l.Name, ClientID: l.ClientID, Reasons: []string{ReasonUnreadable}, readErr: err}
	}
	s.TaggedSecrets = l.TaggedSecrets
	return &row{SecretARN: s.ARN, Name: s.Name, ClientID: s.ClientID, RotationEnabled: s.RotationEnabled,
		RotationFunctionARN: s.RotationFunctionARN, ExpiresAt: s.ExpiresAt, secret: s, doc: doc}
}

func (r *row) judge(now time.Time, cfg health.Config) {
	if r.readErr != nil {
		return
	}
	if d, ok := health.DaysLeft(now, r.ExpiresAt); ok {
		r.DaysLeft = &d
	}
	r.findings = health.Judge(r.secret, now, cfg)
	r.Reasons = []string{}
	for _, f := range r.findings {
		r.Reasons = append(r.Reasons, f.Reason)
	}
	// Worst first, for the state and the list of what to do; the reasons keep Judge's order.
	slices.SortStableFunc(r.findings, func(x, y health.Finding) int {
		return cmp.Compare(rank[string(x.Severity)], rank[string(y.Severity)])
	})
}

func (a *App) status(ctx context.Context, args []string) error {
	fs := flagSet("status", "status [--output table|json] [--function ARN | --stack NAME]",
		"Show every managed secret (tag sp-api-lwa:client-id): rotation, last rotation, expiry, days left,\n"+
			"and the watchdog's reasons it is at risk, with what to do. It reads metadata and documents\n"+
			"only; it does not ask LWA (doctor does). Exit status 1 when a secret needs a person.")
	output := fs.String("output", "table", "output `format`: table or json")
	function := fs.String("function", "", "the project's rotation function `ARN`, to flag secrets rotated by another one (default $ROTATE_SECRET_FUNCTION_ARN)")
	stack := fs.String("stack", "", "take the rotation function from the CloudFormation stack `NAME`")
	if _, err := a.parse(fs, args, 0); err != nil {
		return err
	}
	if *output != "table" && *output != "json" {
		return badInput("--output must be table or json, got %q", *output)
	}
	if *function != "" && *stack != "" {
		return badInput("give either --function or --stack, not both")
	}
	c, fn, _, err := a.open(ctx, *function, *stack, "")
	if err != nil {
		return err
	}
	rows, err := a.fleet(ctx, c.SecretsManager, fn, func(*row) {})
	if err != nil {
		return err
	}
	if *output == "json" {
		enc := json.NewEncoder(a.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rows); err != nil {
			return fmt.Errorf("write JSON: %w", err)
		}
	} else {
		writeTable(a.Stdout, rows, *stack)
	}
	if slices.ContainsFunc(rows, (*row).needsPerson) {
		return needsPerson
	}
	return nil
}

func (r *row) needsPerson() bool { return len(r.Reasons) > 0 }

func writeTable(w io.Writer, rows []*row, stack string) {
	if len(rows) == 0 {
		fmt.Fprintf(w, "No managed secrets (tag sp-api-lwa:client-id) in this account and region.\n"+
			"Run '%s enable SECRET --stack NAME' to manage one.\n", Name)
		return
	}
	// Worst first, then soonest expiry, then name.
	slices.SortStableFunc(rows, func(x, y *row) int {
		return cmp.Or(cmp.Compare(rank[x.state()], rank[y.state()]), cmp.Compare(daysKey(x.DaysLeft), daysKey(y.DaysLeft)))
	})
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "STATE\tNAME\tCLIENT ID\tROTATION\tLAST ROTATED\tEXPIRES\tDAYS LEFT\tREASONS\tARN")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
			r.state(), r.Name, r.ClientID, r.rotation(), day(r.secret.LastRotated, "never"), day(r.ExpiresAt, "unknown"),
			daysLeft(r.DaysLeft), cmp.Or(strings.Join(r.Reasons, ","), "OK"), r.SecretARN)
	}
	tw.Flush()

	todo := 0
	for _, r := range rows {
		if r.needsPerson() {
			if todo++; todo == 1 {
				fmt.Fprintf(w, "\nWhat to do:\n")
			}
			writeTodo(w, "", r, stack)
		}
	}
	fmt.Fprintf(w, "\n%d managed %s: %d OK, %d %s attention.\n", len(rows), plural(len(rows), "secret", "secrets"),
		len(rows)-todo, todo, plural(todo, "needs", "need"))
}

func writeTodo(w io.Writer, indent string, r *row, stack string) {
	if r.readErr != nil {
		fmt.Fprintf(w, "%s- %s: %s: could not read it: %s\n%s    Fix: check that your credentials may call "+
			"secretsmanager:DescribeSecret, ListSecretVersionIds and GetSecretValue on it.\n",
			indent, r.Name, ReasonUnreadable, oneLine(r.readErr.Error()), indent)
		return
	}
	for _, f := range r.findings {
		fmt.Fprintf(w, "%s- %s: %s (%s): %s\n%s    Fix: %s\n", indent, r.Name, f.Reason, f.Severity, f.Message, indent, f.Fix)
		if hint := cliHint(r, f.Reason, stack); hint != "" {
			fmt.Fprintf(w, "%s    Or:  %s\n", indent, hint)
		}
	}
}

// cliHint is the lwa-rotation command that does a finding's fix, if any.
func cliHint(r *row, reason, stack string) string {
	enable := fmt.Sprintf("%s enable %s --stack %s", Name, r.Name, cmp.Or(stack, "STACK"))
	rotate := fmt.Sprintf("%s rotate %s --wait", Name, r.Name)
	switch reason {
	case health.ReasonRotationDisabled, health.ReasonForeignRotationFunction:
		return enable
	case health.ReasonRotationStuck, health.ReasonReceivedNotAdopted:
		return rotate
	case health.ReasonExpiringSoon:
		if r.RotationEnabled {
			return rotate
		}
		return enable + ", then " + rotate
	}
	return ""
}

// rank orders the table's states and the findings' severities, worst first.
var rank = map[string]int{"CRITICAL": 0, "UNKNOWN": 1, "WARNING": 2, "INFO": 3, "OK": 4}

func daysKey(d *int) int {
	if d == nil {
		return 1 << 30
	}
	return *d
}

func (r *row) state() string {
	if r.readErr != nil {
		return "UNKNOWN"
	}
	if len(r.findings) == 0 {
		return "OK"
	}
	return string(r.findings[0].Severity)
}

func (r *row) rotation() string {
	fn := r.RotationFunctionARN
	if i := strings.LastIndex(fn, ":function:"); i >= 0 {
		fn = fn[i+len(":function:"):]
	}
	switch {
	case r.readErr != nil:
		return "?"
	case !r.RotationEnabled:
		return "off"
	case fn == "":
		return "on"
	}
	return "on (" + fn + ")"
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

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
