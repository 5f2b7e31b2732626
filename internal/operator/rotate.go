package operator

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/spapi-lwa/secret-rotation/internal/health"
	"github.com/spapi-lwa/secret-rotation/internal/managed"
)

const (
	progressEvery = 10 * time.Second // how often rotate --wait says it is still waiting
	pollInterval  = 2 * time.Second
)

func (a *App) rotate(ctx context.Context, args []string) error {
	fs := flagSet("rotate", "rotate SECRET --wait [--timeout D]",
		"Start a rotation of SECRET (or join the one in progress); with --wait, follow it stage by stage\n"+
			"(requested, delivered, adopted, tested and promoted) until AWSCURRENT moves or it fails.")
	wait := fs.Bool("wait", false, "follow the rotation to its end (exit 0 only when AWSCURRENT moved)")
	timeout := fs.Duration("timeout", 10*time.Minute, "give up following after `D`")
	pos, err := a.parse(fs, args, 1)
	if err != nil {
		return err
	}
	if *timeout <= 0 {
		return badInput("--timeout must be positive, got %s", *timeout)
	}
	c, d, err := a.open(ctx, pos[0])
	if err != nil {
		return err
	}
	sm := c.SecretsManager
	arn, name := aws.ToString(d.ARN), aws.ToString(d.Name)
	clientID := managed.TagMap(d.Tags)[managed.TagClientID]
	if clientID == "" {
		return badInput("secret %s is not a managed secret (no tag %s): run '%s enable %s --stack NAME' first", name, managed.TagClientID, Name, name)
	}
	if !aws.ToBool(d.RotationEnabled) {
		return badInput("rotation is not enabled on secret %s: run '%s enable %s --stack NAME' first", name, Name, name)
	}
	start := a.Now()
	token, err := a.startRotation(ctx, sm, d, clientID)
	if err != nil {
		return err
	}
	if !*wait {
		fmt.Fprintf(a.Stdout, "Run '%s rotate %s --wait' to follow it, or '%s status' to check it later.\n", Name, name, Name)
		return nil
	}
	fmt.Fprintf(a.Stdout, "Following it (timeout %s, Ctrl-C stops following, not the rotation).\n", *timeout)
	f := &follower{token: token, before: snapshotOf(d), seen: map[stage]bool{}}
	deadline := start.Add(*timeout)
	lastSaid := start
	for {
		var snap snapshot
		d, err := sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(arn)})
		if err != nil {
			err = fmt.Errorf("describe secret %s: %w", name, err)
		} else if snap = snapshotOf(d); snap.pending == token && !f.seen[stageAdopted] {
			snap.pendingFilled, err = pendingFilled(ctx, sm, arn, token)
		}
		if ctx.Err() != nil { // Ctrl-C, during these calls or the last sleep
			fmt.Fprintf(a.Stdout, "Stopped following. The rotation of %s goes on; '%s status' shows how it ends.\n", name, Name)
			return needsPerson
		} else if err != nil {
			return err
		}
		now := a.Now()
		at := now.Sub(start).Round(time.Second)
		stages, failed := f.observe(snap)
		for _, st := range stages {
			said := fmt.Sprintf(stageText[st].reached, snap.requestedAt, f.newVersion, snap.delivered[f.newVersion],
				f.token, snap.current)
			fmt.Fprintf(a.Stdout, "[%5s] %s\n", at, said)
			lastSaid = now
		}
		waiting := stageText[f.last].waiting
		switch {
		case f.last == stagePromoted:
			fmt.Fprintf(a.Stdout, "Done in %s: AWSCURRENT of %s holds the new client secret. "+
				"The previous one keeps working for 7 days.\n", at, name)
			return nil
		case failed:
			fmt.Fprintf(a.Stdout, "[%5s] failed: version %s lost AWSPENDING before it became AWSCURRENT; "+
				"AWSCURRENT is unchanged.\n", at, token)
			return a.explain(d, f, snap)
		case !now.Before(deadline):
			fmt.Fprintf(a.Stdout, "[%5s] timed out: the rotation has not finished; %s.\n", at, waiting)
			return a.explain(d, f, snap)
		case now.Sub(lastSaid) >= progressEvery:
			fmt.Fprintf(a.Stdout, "[%5s] ... %s\n", at, waiting)
			lastSaid = now
		}
		a.Sleep(ctx, min(pollInterval, deadline.Sub(now))) // cut short when ctx ends, seen above
	}
}

// startRotation asks Secrets Manager to rotate secret d now and says so. When a rotation is in
// progress (d shows its AWSPENDING), Secrets Manager refuses and reattempts that one: the CLI joins it.
func (a *App) startRotation(ctx context.Context, sm SecretStore, d *secretsmanager.DescribeSecretOutput,
	clientID string) (string, error) {
	name := aws.ToString(d.Name)
	out, err := sm.RotateSecret(ctx, &secretsmanager.RotateSecretInput{SecretId: d.ARN})
	if err == nil {
		fmt.Fprintf(a.Stdout, "Rotation of %s (client %s) started: version %s.\n", name, clientID, aws.ToString(out.VersionId))
		return aws.ToString(out.VersionId), nil
	} else if apiCode(err) != "InvalidRequestException" {
		return "", fmt.Errorf("start rotation of %s: %w", name, err)
	}
	p := managed.PendingVersion(d.VersionIdsToStages)
	if p == "" {
		return "", badInput("Secrets Manager refused to rotate %s: %s", name, oneLine(err.Error()))
	}
	fmt.Fprintf(a.Stdout, "A rotation of %s (client %s) is already in progress: following version %s.\n", name, clientID, p)
	return p, nil
}

// pendingFilled reports whether the pending version token holds a value yet.
func pendingFilled(ctx context.Context, sm SecretStore, arn, token string) (bool, error) {
	v, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn),
		VersionId: aws.String(token), VersionStage: aws.String(managed.StagePending)})
	if c := apiCode(err); c == "ResourceNotFoundException" || c == "InvalidParameterException" {
		return false, nil // no value yet, or the label moved off the version since DescribeSecret
	} else if err != nil {
		return false, fmt.Errorf("read pending version %s: %w", token, err)
	}
	return v.SecretString != nil, nil
}

type stage int

const (
	stageNone      stage = iota
	stageRequested       // sp-api-lwa:rotation-requested-at set
	stageDelivered       // a new version holds LWA_RECEIVED or LWA_SUPERSEDED
	stageAdopted         // the pending version holds a value
	stagePromoted        // AWSCURRENT moved
)

// snapshot is what DescribeSecret and one read of the pending version show of a rotation.
type snapshot struct {
	current, pending, requestedAt string
	delivered                     map[string]string // version id to its label LWA_RECEIVED or LWA_SUPERSEDED
	pendingFilled                 bool              // the pending version holds a value
}

func snapshotOf(d *secretsmanager.DescribeSecretOutput) snapshot {
	s := snapshot{
		current:     managed.Holder(d.VersionIdsToStages, managed.StageCurrent),
		pending:     managed.PendingVersion(d.VersionIdsToStages),
		requestedAt: managed.TagMap(d.Tags)[managed.TagRotationRequestedAt],
		delivered:   map[string]string{},
	}
	for id, st := range d.VersionIdsToStages {
		if i := slices.IndexFunc(st, func(l string) bool { return l == managed.StageReceived || l == managed.StageSuperseded }); i >= 0 {
			s.delivered[id] = st[i]
		}
	}
	return s
}

// follower decides from successive snapshots which stages a rotation reached and how it ended.
type follower struct {
	token       string
	before      snapshot
	seen        map[stage]bool
	last        stage // the latest stage reached
	pendingSeen bool  // the token's version held AWSPENDING: only then does its loss mean a failure
	newVersion  string
}

// observe returns the stages first seen in s, in order (AWSCURRENT moved when f.last is
// stagePromoted), and whether the rotation failed: the token's version lost AWSPENDING first.
func (f *follower) observe(s snapshot) (out []stage, failed bool) {
	mark := func(st stage) {
		if !f.seen[st] {
			f.seen[st], f.last = true, max(f.last, st)
			out = append(out, st)
		}
	}
	if s.pending == f.token {
		f.pendingSeen = true
	}
	if s.requestedAt != "" { // removed when a rotation finishes
		mark(stageRequested)
	}
	for id := range s.delivered {
		if _, old := f.before.delivered[id]; !old && id != f.token {
			f.newVersion = id
			mark(stageDelivered)
		}
	}
	moved := s.current != "" && s.current != f.before.current
	if (s.pending == f.token && s.pendingFilled) || (moved && s.current == f.token) {
		mark(stageAdopted)
	}
	if moved { // to the followed version, or by another rotation or by hand
		mark(stagePromoted)
	}
	return out, !moved && f.pendingSeen && s.pending != f.token
}

// stageText is, for each stage, what rotate --wait says when it is reached (%[1]s is the time
// requested, %[2]s the delivered version, %[3]s its label, %[4]s the followed version, %[5]s
// AWSCURRENT), what the rotation waits for after it, and what a person does when it failed or
// timed out there (%[1]s is the command, %[2]s the secret).
var stageText = map[stage]struct{ reached, waiting, runbook string }{
	stageNone: {"", "waiting for the rotation function to request or adopt a new secret",
		"the rotation function stopped before asking SP-API: read the error in its log, fix the cause, " +
			"then run '%[1]s rotate %[2]s --wait' again."},
	stageRequested: {
		"requested: a new client secret was requested from SP-API at %[1]s; Amazon delivers it to the new-secret queue",
		"waiting for Amazon to deliver the new secret to the new-secret queue",
		"Amazon's new secret has not arrived: check the queue's registration in the Developer Console and the " +
			"receiver's dead-letter queue ('%[1]s doctor --stack NAME'); the rotation resumes when it arrives."},
	stageDelivered: {"delivered: Amazon's new secret is stored as version %[2]s (%[3]s)",
		"waiting for the rotation to adopt the delivered secret",
		"the new secret is stored but was not adopted: read the error in its log, then run '%[1]s rotate %[2]s --wait' again."},
	stageAdopted: {"adopted: version %[4]s holds the new client secret",
		"waiting for the new secret to be tested with LWA and promoted",
		"LWA did not accept the new secret or the promotion failed: read the error in its log, run '%[1]s doctor', " +
			"then '%[1]s rotate %[2]s --wait' again; the delivered secret is kept."},
	stagePromoted: {reached: "tested and promoted: LWA accepted the new secret and AWSCURRENT is now version %[5]s"},
}

// explain says where the rotation stands, where the rotation function logs its errors and what to do.
func (a *App) explain(d *secretsmanager.DescribeSecretOutput, f *follower, s snapshot) error {
	fmt.Fprintf(a.Stdout, "State: AWSCURRENT version %s, AWSPENDING %s, %s %s.\n",
		cmp.Or(s.current, "none"), cmp.Or(s.pending, "none"), managed.TagRotationRequestedAt, cmp.Or(s.requestedAt, "none"))
	if fn := aws.ToString(d.RotationLambdaARN); fn != "" {
		fmt.Fprintf(a.Stdout, "Log: each step's error is in the rotation function's log (a failed step also alerts "+
			"ROTATION_FAILED): %s\n", health.LogsCommand(fn))
	}
	fmt.Fprintf(a.Stdout, "What to do: "+stageText[f.last].runbook+"\n", Name, aws.ToString(d.Name))
	return needsPerson
}
