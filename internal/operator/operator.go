// Package operator is the operator CLI lwa-rotation: status, enable, rotate --wait and doctor for
// every managed secret of an account and region, with the caller's own AWS credentials. No command
// prints a secret value; a short SHA-256 fingerprint tells two apart. Exit status: 0 when nothing
// needs a person, 1 when something does (a secret at risk, a failed or unfinished rotation, a
// refused enable, a doctor finding), 2 for bad input (one line on stderr says what).
package operator

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spapi-lwa/secret-rotation/internal/retry"
)

// Exit statuses.
const (
	ExitOK        = 0
	ExitAttention = 1
	ExitBadInput  = 2
)

// Name is the command's name in messages.
const Name = "lwa-rotation"

// App runs one command; Stdout, Stderr, Getenv and Clients are required.
type App struct {
	Stdout, Stderr io.Writer
	Getenv         func(string) string
	Clients        func(ctx context.Context) (*Clients, error)
	Now            func() time.Time                                // default time.Now
	Sleep          func(ctx context.Context, d time.Duration) bool // rotate --wait polls through it; default retry.Sleep
}

// exitError ends a command with exit status code, printing msg unless it is empty.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

func badInput(format string, a ...any) error {
	return &exitError{ExitBadInput, fmt.Sprintf(format, a...)}
}

// needsPerson ends a command whose output already told the person what to do.
var needsPerson = &exitError{code: ExitAttention}

var commands = []struct {
	name, summary string
	run           func(a *App, ctx context.Context, args []string) error
}{
	{"status", "show every managed secret, its expiry and what needs doing", (*App).status},
	{"enable", "tag a secret and turn on its rotation without rotating now", (*App).enable},
	{"rotate", "rotate a secret now and follow the rotation to its end", (*App).rotate},
	{"doctor", "check everything status checks, the stack's queues and topic, and LWA", (*App).doctor},
}

// Run runs the command line args (without the program name) and returns the exit status.
func (a *App) Run(ctx context.Context, args []string) int {
	if a.Now == nil {
		a.Now = time.Now
	}
	if a.Sleep == nil {
		a.Sleep = retry.Sleep
	}
	if len(args) == 0 {
		fmt.Fprintf(a.Stderr, "%s: missing command: status, enable, rotate or doctor (run '%s -h')\n", Name, Name)
		return ExitBadInput
	}
	if slices.Contains([]string{"-h", "-help", "--help", "help"}, args[0]) {
		fmt.Fprintf(a.Stdout, "Usage: %s <command> [flags]\n\nOperate the rotation of SP-API LWA client secrets kept in "+
			"AWS Secrets Manager,\nwith your usual AWS configuration (AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL, ...).\n\n", Name)
		for _, c := range commands {
			fmt.Fprintf(a.Stdout, "  %-8s %s\n", c.name, c.summary)
		}
		fmt.Fprintf(a.Stdout, "\nRun '%s <command> -h' for a command's flags.\n"+
			"Exit status: 0 nothing needs a person, 1 something does, 2 bad input.\n", Name)
		return ExitOK
	}
	for _, c := range commands {
		if c.name != args[0] {
			continue
		}
		err := c.run(a, ctx, args[1:])
		if err == nil || errors.Is(err, flag.ErrHelp) {
			return ExitOK
		}
		ee := &exitError{ExitAttention, err.Error()}
		errors.As(err, &ee)
		if ee.msg != "" {
			fmt.Fprintf(a.Stderr, "%s %s: %s\n", Name, c.name, oneLine(ee.msg))
		}
		return ee.code
	}
	fmt.Fprintf(a.Stderr, "%s: unknown command %q (run '%s -h' for the list)\n", Name, args[0], Name)
	return ExitBadInput
}

// flagSet returns a command's flag set, whose output stays io.Discard but for -h (see parse).
func flagSet(name, usage, about string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: %s %s\n\n%s\n\nFlags:\n", Name, usage, about)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses flags and positional arguments in any order and checks the positional count.
func (a *App) parse(fs *flag.FlagSet, args []string, positional int) ([]string, error) {
	var pos []string
	for ; ; args = fs.Args()[1:] {
		if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(a.Stdout)
			fs.Usage()
			return nil, err
		} else if err != nil {
			return nil, badInput("%v (run '%s %s -h')", err, Name, fs.Name())
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
	}
	if len(pos) != positional {
		want := []string{"no argument", "one secret's name or ARN"}[positional]
		return nil, badInput("expected %s, got %q (run '%s %s -h')", want, pos, Name, fs.Name())
	}
	return pos, nil
}

// fingerprint is "sha256:" and 8 hex digits: enough to tell two secrets apart, nothing to recover one.
func fingerprint(value string) string {
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
