package operator

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/spapi-lwa/secret-rotation/internal/awsenv"
	"github.com/spapi-lwa/secret-rotation/internal/managed"
	"github.com/spapi-lwa/secret-rotation/internal/secretdoc"
)

// Enable's default schedule, and the stack output that names the rotation function.
const (
	DefaultSchedule      = "rate(30 days)"
	OutputRotateFunction = "RotateSecretFunctionArn"
)

func (a *App) enable(ctx context.Context, args []string) error {
	fs := flagSet("enable", "enable SECRET (--function ARN | --stack NAME) [--schedule EXPR]",
		"Check SECRET's document, tag it "+managed.TagClientID+" and configure its rotation without rotating now.")
	function := fs.String("function", "", "the rotation function's `ARN` (RotateSecretFunction)")
	stack := fs.String("stack", "", "take the rotation function from the output "+OutputRotateFunction+" of the CloudFormation stack `NAME`")
	schedule := fs.String("schedule", DefaultSchedule, "the rotation schedule `expression`, rate(...) or cron(...)")
	pos, err := a.parse(fs, args, 1)
	if err != nil {
		return err
	}
	if *function == "" && *stack == "" {
		return badInput("give the rotation function with --function ARN or --stack NAME")
	} else if !scheduleRE.MatchString(*schedule) {
		return badInput("--schedule %q is not a rate(...) or cron(...) expression", *schedule)
	}
	env := awsenv.NewVars(a.Getenv) // the document's keys, as the functions read them
	keys := env.Keys()
	if err := env.Err("environment"); err != nil {
		return badInput("%v", err)
	}
	c, d, err := a.open(ctx, pos[0])
	if err != nil {
		return err
	}
	fn, err := rotationFunction(ctx, c, *function, *stack)
	if err != nil {
		return err
	}
	sm := c.SecretsManager
	arn, name := aws.ToString(d.ARN), aws.ToString(d.Name)
	v, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn)})
	if err != nil {
		return fmt.Errorf("read AWSCURRENT of %s: %w", name, err)
	}
	doc, err := secretdoc.Parse([]byte(aws.ToString(v.SecretString)), keys)
	if err != nil {
		return badInput("secret %s: AWSCURRENT is not a usable secret document (keys %q and %q): %v", name, keys.ClientID, keys.ClientSecret, err)
	}
	clientID := doc.ClientID()
	tag, tagged := managed.TagMap(d.Tags)[managed.TagClientID]
	if tagged && tag != clientID {
		return fmt.Errorf("refused: secret %s is tagged %s=%s but its document holds client id %s; "+
			"fix the tag or the document first", name, managed.TagClientID, tag, clientID)
	}
	others, err := managed.List(ctx, sm, clientID)
	if err != nil {
		return fmt.Errorf("list secrets tagged %s: %w", clientID, err)
	}
	if i := slices.IndexFunc(others, func(o managed.Secret) bool { return o.ARN != arn }); i >= 0 {
		return fmt.Errorf("refused: client id %s is already tagged on secret %s; one application "+
			"must have one managed secret (untag the other or enable that one)", clientID, others[i].Name)
	}
	sameRotation := aws.ToBool(d.RotationEnabled) && aws.ToString(d.RotationLambdaARN) == fn && sameSchedule(d.RotationRules, *schedule)
	if tagged && sameRotation {
		fmt.Fprintf(a.Stdout, "Secret %s is already enabled: tagged %s=%s, rotation with %s on %s. Nothing changed.\n",
			name, managed.TagClientID, clientID, fn, *schedule)
		return nil
	}
	if pending := managed.PendingVersion(d.VersionIdsToStages); pending != "" {
		return fmt.Errorf("refused: a rotation of %s is in progress (version %s holds AWSPENDING); "+
			"run '%s rotate %s --wait' to see it finish, then enable again", name, pending, Name, name)
	}
	fmt.Fprintf(a.Stdout, "Secret %s (%s): client id %s, current secret %s.\n",
		name, arn, clientID, fingerprint(doc.ClientSecret().Reveal()))
	if !tagged {
		if _, err := sm.TagResource(ctx, &secretsmanager.TagResourceInput{SecretId: aws.String(arn),
			Tags: []smtypes.Tag{{Key: aws.String(managed.TagClientID), Value: aws.String(clientID)}}}); err != nil {
			return fmt.Errorf("tag %s: %w", name, err)
		}
		fmt.Fprintf(a.Stdout, "Tagged %s=%s.\n", managed.TagClientID, clientID)
	}
	if !sameRotation {
		if _, err := sm.RotateSecret(ctx, &secretsmanager.RotateSecretInput{SecretId: aws.String(arn), RotationLambdaARN: aws.String(fn),
			RotationRules:     &smtypes.RotationRulesType{ScheduleExpression: aws.String(*schedule)},
			RotateImmediately: aws.Bool(false)}); err != nil {
			return fmt.Errorf("configure rotation of %s: %w", name, err)
		}
		fmt.Fprintf(a.Stdout, "Rotation configured: function %s, schedule %s, not rotated now "+
			"(Secrets Manager runs the function's testSecret step with the current secret).\n", fn, *schedule)
	}
	fmt.Fprintf(a.Stdout, "Next: '%s rotate %s --wait' rotates now and follows it; '%s status' shows the secret's state.\n",
		Name, name, Name)
	return nil
}

var (
	scheduleRE = regexp.MustCompile(`^(rate\([1-9][0-9]* (hours?|days?)\)|cron\([^()]+\))$`)
	rateDaysRE = regexp.MustCompile(`^rate\(([1-9][0-9]*) days?\)$`)
)

// sameSchedule reports whether rules say schedule; Secrets Manager may report a rate in days
// as AutomaticallyAfterDays.
func sameSchedule(rules *smtypes.RotationRulesType, schedule string) bool {
	switch m := rateDaysRE.FindStringSubmatch(schedule); {
	case rules == nil:
		return false
	case m != nil && rules.ScheduleExpression == nil:
		n, _ := strconv.ParseInt(m[1], 10, 64)
		return aws.ToInt64(rules.AutomaticallyAfterDays) == n
	}
	return aws.ToString(rules.ScheduleExpression) == schedule
}
