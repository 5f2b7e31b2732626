// Package operator is the operator CLI lwa-rotation (docs/design.md "The operator
// CLI"): status, enable, rotate --wait and doctor for every managed secret
// of an AWS account and region, with the caller's own AWS credentials.
//
// The exit status is the contract a pipeline relies on:
//
//  1. 0: the command did what was asked and nothing needs a person.
//  2. 1: something needs a person (a secret at risk, a rotation that failed
//     or did not finish in time, a refused enable, a doctor finding).
//  3. 2: the input is wrong (bad flags, unknown or untagged secret, a
//     broken secret document, no credentials or region); one line on
//     stderr says what.
//
// No command ever prints a secret value: where a person needs to tell two
// secrets apart, a short SHA-256 fingerprint is shown instead.
package operator

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/spapi-lwa/secret-rotation/internal/secretdoc"
)

// Exit statuses.
const (
	ExitOK        = 0
	ExitAttention = 1
	ExitBadInput  = 2
)

// Name is the command's name in messages.
const Name = "lwa-rotation"

// App runs one command. Its fields are the dependencies; per-call values
// travel as arguments.
type App struct {
	Stdout, Stderr io.Writer
	// Getenv reads the environment (SECRET_CLIENT_ID_KEY,
	// SECRET_CLIENT_SECRET_KEY, ROTATE_SECRET_FUNCTION_ARN,
	// STUCK_ROTATION_AFTER, LWA_TOKEN_URL).
	Getenv func(string) string
	// Clients returns the AWS and LWA clients, built from the caller's
	// AWS configuration on first use.
	Clients func(ctx context.Context) (*Clients, error)
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Sleep waits d or until ctx is done; default a timer. rotate --wait
	// polls through it.
	Sleep func(ctx context.Context, d time.Duration) error
	// PollInterval is rotate --wait's DescribeSecret period (default 2 s).
	PollInterval time.Duration

	usages map[string]func()
}

// inputError is bad input: exit status 2 with one line.
type inputError struct{ msg string }

func (e *inputError) Error() string { return e.msg }

func badInput(format string, a ...any) error { return &inputError{msg: fmt.Sprintf(format, a...)} }

// attentionError means the command ran but something needs a person: exit
// status 1. Its message has been printed already when quiet is set.
type attentionError struct {
	msg   string
	quiet bool
}

func (e *attentionError) Error() string { return e.msg }

// needsPerson is the error of a command whose output already told the
// person what to do.
var needsPerson = &attentionError{msg: "something needs a person", quiet: true}

type command struct {
	name, usage, summary string
	run                  func(a *App, ctx context.Context, args []string) error
}

func (a *App) commands() []command {
	return []command{
		{"status", "status [--output table|json]", "show every managed secret, its expiry and what needs doing", (*App).status},
		{"enable", "enable SECRET (--function ARN | --stack NAME) [--schedule EXPR]", "tag a secret and turn on its rotation without rotating now", (*App).enable},
		{"rotate", "rotate SECRET --wait [--timeout D]", "rotate a secret now and follow the rotation to its end", (*App).rotate},
		{"doctor", "doctor [--stack NAME]", "check everything status checks, the stack's queues and topic, and LWA", (*App).doctor},
	}
}

func (a *App) usage(w io.Writer) {
	fmt.Fprintf(w, "Usage: %s <command> [flags]\n\n", Name)
	fmt.Fprintf(w, "Operate the automatic rotation of SP-API LWA client secrets kept in AWS Secrets Manager.\n")
	fmt.Fprintf(w, "Uses your usual AWS configuration (AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL, ...).\n\nCommands:\n")
	for _, c := range a.commands() {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "\nRun '%s <command> -h' for a command's flags.\n", Name)
	fmt.Fprintf(w, "Exit status: 0 nothing needs a person, 1 something does, 2 bad input.\n")
}

// Run runs the command line args (without the program name) and returns
// the exit status.
func (a *App) Run(ctx context.Context, args []string) int {
	a.defaults()
	if len(args) == 0 {
		fmt.Fprintf(a.Stderr, "%s: missing command: status, enable, rotate or doctor (run '%s -h')\n", Name, Name)
		return ExitBadInput
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		a.usage(a.Stdout)
		return ExitOK
	}
	for _, c := range a.commands() {
		if c.name != args[0] {
			continue
		}
		err := c.run(a, ctx, args[1:])
		return a.exit(c.name, err)
	}
	fmt.Fprintf(a.Stderr, "%s: unknown command %q (run '%s -h' for the list)\n", Name, args[0], Name)
	return ExitBadInput
}

func (a *App) exit(cmd string, err error) int {
	if err == nil {
		return ExitOK
	}
	if errors.Is(err, flag.ErrHelp) {
		return ExitOK
	}
	var att *attentionError
	if errors.As(err, &att) {
		if !att.quiet {
			fmt.Fprintf(a.Stderr, "%s %s: %s\n", Name, cmd, oneLine(att.msg))
		}
		return ExitAttention
	}
	var in *inputError
	if errors.As(err, &in) {
		fmt.Fprintf(a.Stderr, "%s %s: %s\n", Name, cmd, oneLine(in.msg))
		return ExitBadInput
	}
	if msg, ok := setupProblem(err); ok {
		fmt.Fprintf(a.Stderr, "%s %s: %s\n", Name, cmd, msg)
		return ExitBadInput
	}
	fmt.Fprintf(a.Stderr, "%s %s: %s\n", Name, cmd, oneLine(err.Error()))
	return ExitAttention
}

// setupProblem recognises the errors of a caller without credentials or
// region, which are bad input rather than something at risk.
func setupProblem(err error) (string, bool) {
	var mr *aws.MissingRegionError
	if errors.As(err, &mr) {
		return "no AWS region configured: set AWS_REGION or a region in your profile", true
	}
	return "", false
}

func (a *App) defaults() {
	if a.Stdout == nil {
		a.Stdout = io.Discard
	}
	if a.Stderr == nil {
		a.Stderr = io.Discard
	}
	if a.Getenv == nil {
		a.Getenv = func(string) string { return "" }
	}
	if a.Now == nil {
		a.Now = time.Now
	}
	if a.Sleep == nil {
		a.Sleep = sleep
	}
	a.usages = map[string]func(){}
	if a.PollInterval <= 0 {
		a.PollInterval = 2 * time.Second
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// flagSet returns a command's flag set; -h prints its usage on stdout.
func (a *App) flagSet(name, usage, about string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {} // parse prints the usage for -h, and one line for a bad flag
	a.usages[name] = func() {
		fmt.Fprintf(a.Stdout, "Usage: %s %s\n\n%s\n\nFlags:\n", Name, usage, about)
		fs.SetOutput(a.Stdout)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	return fs
}

// parse parses args, flags and positional arguments in any order, and
// checks the number of positional arguments.
func (a *App) parse(fs *flag.FlagSet, args []string, positional int) ([]string, error) {
	pos, err := parse(fs, args, positional)
	if errors.Is(err, flag.ErrHelp) {
		a.usages[fs.Name()]()
	}
	return pos, err
}

func parse(fs *flag.FlagSet, args []string, positional int) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, badInput("%v (run '%s %s -h')", err, Name, fs.Name())
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	if len(pos) != positional {
		switch positional {
		case 0:
			return nil, badInput("unexpected argument %q (run '%s %s -h')", pos[0], Name, fs.Name())
		default:
			if len(pos) == 0 {
				return nil, badInput("missing the secret's name or ARN (run '%s %s -h')", Name, fs.Name())
			}
			return nil, badInput("expected one secret, got %d arguments (run '%s %s -h')", len(pos), Name, fs.Name())
		}
	}
	return pos, nil
}

// keys returns the document key names: flags, else the environment, else
// the defaults.
func (a *App) keys(idFlag, secretFlag string) (secretdoc.Keys, error) {
	k := secretdoc.DefaultKeys
	if v := a.Getenv("SECRET_CLIENT_ID_KEY"); v != "" {
		k.ClientID = v
	}
	if v := a.Getenv("SECRET_CLIENT_SECRET_KEY"); v != "" {
		k.ClientSecret = v
	}
	if idFlag != "" {
		k.ClientID = idFlag
	}
	if secretFlag != "" {
		k.ClientSecret = secretFlag
	}
	if err := k.Validate(); err != nil {
		return k, badInput("%v", err)
	}
	return k, nil
}

// Fingerprint returns "sha256:" and the first 8 hex digits of value's
// SHA-256: enough to tell two secrets apart, nothing to recover one.
func Fingerprint(value string) string {
	h := sha256.Sum256([]byte(value))
	return "sha256:" + hex.EncodeToString(h[:4])
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 400 {
		s = s[:397] + "..."
	}
	return s
}

// notFound reports whether err is Secrets Manager's ResourceNotFoundException.
func notFound(err error) bool {
	var nf *smtypes.ResourceNotFoundException
	return errors.As(err, &nf)
}
