package operator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	logtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/spapi-lwa/secret-rotation/internal/lwa"
)

// SPAPIAccount is the AWS account SP-API sends notifications from.
const SPAPIAccount = "437568002678"

// The stack outputs and resource doctor reads.
const (
	OutputNewSecretQueue = "NewSecretQueueArn"
	OutputExpiryQueue    = "SecretExpiryQueueArn"
	OutputAlertTopic     = "AlertTopicArn"
	WatchdogResource     = "WatchdogFunction"
	watchdogOverdue      = 26 * time.Hour // after the daily watchdog's last log event
)

// check is one doctor finding: status OK, NOTE (a reminder), ?? (could not be checked) or FAIL.
type check struct{ status, what, fix string }

func (a *App) doctor(ctx context.Context, args []string) error {
	fs := flagSet("doctor", "doctor [--stack NAME]",
		"Check everything status checks, ask LWA whether it accepts each AWSCURRENT secret (one token\n"+
			"request each), and with --stack check the deployment: SP-API's account "+SPAPIAccount+" may send\n"+
			"to both queues, and the alert topic has a confirmed subscription. Every finding comes with\n"+
			"its fix. Exit status 1 when anything needs a person.")
	stack := fs.String("stack", "", "also check the CloudFormation stack `NAME` of this project")
	if _, err := a.parse(fs, args, 0); err != nil {
		return err
	}
	c, err := a.Clients(ctx)
	if err != nil {
		return err
	}
	var outs map[string]string
	if *stack != "" {
		if outs, err = stackOutputs(ctx, c.CloudFormation, *stack); err != nil {
			return err
		}
	}
	lwaChecks := map[string]check{}
	rows, err := a.fleet(ctx, c.SecretsManager, outs[OutputRotateFunction], func(r *row) {
		if r.doc == nil {
			return
		}
		_, err := c.LWA.ClientCredentials(ctx, r.doc.ClientID(), r.doc.ClientSecret(), lwa.ScopeRotation)
		accepted := err == nil
		switch {
		case accepted:
			lwaChecks[r.SecretARN] = check{"OK", fmt.Sprintf("LWA accepts the current secret (%s)", fingerprint(r.doc.ClientSecret().Reveal())), ""}
		case !errors.Is(err, lwa.ErrInvalidClient):
			lwaChecks[r.SecretARN] = check{"??", "LWA could not be asked: " + oneLine(err.Error()),
				"check the network path to LWA (LWA_TOKEN_URL, default " + DefaultTokenURL + ") and run doctor again"}
			return
		}
		r.secret.Credentials = &accepted
	})
	if err != nil {
		return err
	}
	problems := 0
	w := a.Stdout
	fmt.Fprintf(w, "Managed secrets (%d):\n", len(rows))
	if len(rows) == 0 {
		fmt.Fprintf(w, "  none: no secret carries the tag sp-api-lwa:client-id. Fix: %s enable SECRET --stack NAME\n", Name)
	}
	for _, r := range rows {
		if len(r.Reasons) == 0 {
			fmt.Fprintf(w, "  OK    %s (client %s, %s days left)\n", r.Name, r.ClientID, daysLeft(r.DaysLeft))
		} else {
			problems++
			fmt.Fprintf(w, "  FAIL  %s (client %s)\n", r.Name, r.ClientID)
			writeTodo(w, "        ", r, *stack)
		}
		if ch, ok := lwaChecks[r.SecretARN]; ok {
			problems += writeCheck(w, "        ", ch)
		}
	}
	if *stack != "" {
		fmt.Fprintf(w, "\nStack %s:\n", *stack)
		for _, ch := range a.stackChecks(ctx, c, *stack, outs) {
			problems += writeCheck(w, "  ", ch)
		}
	} else {
		fmt.Fprintf(w, "\n(Run with --stack NAME to check the queues' policies and the alert topic too.)\n")
	}
	if problems > 0 {
		fmt.Fprintf(w, "\n%d %s a person.\n", problems, plural(problems, "finding needs", "findings need"))
		return needsPerson
	}
	fmt.Fprintf(w, "\nNothing needs a person.\n")
	return nil
}

// writeCheck prints a check and returns 1 when it needs a person.
func writeCheck(w io.Writer, indent string, ch check) int {
	fmt.Fprintf(w, "%s%-4s  %s\n", indent, ch.status, ch.what)
	if ch.status == "OK" || ch.status == "NOTE" {
		return 0
	}
	fmt.Fprintf(w, "%s      Fix: %s\n", indent, ch.fix)
	return 1
}

func (a *App) stackChecks(ctx context.Context, c *Clients, stack string, outs map[string]string) []check {
	missing := func(output string) check {
		return check{"FAIL", "the stack has no output " + output, "deploy this project's template (sam deploy) and run doctor again"}
	}
	var checks []check
	for _, q := range []struct{ output, what, row string }{
		{OutputNewSecretQueue, "new-secret queue", "Application Client New Secret"},
		{OutputExpiryQueue, "expiry queue", "Application Client Secret Expiry"},
	} {
		arn := outs[q.output]
		if arn == "" {
			checks = append(checks, missing(q.output))
			continue
		}
		ch := queueCheck(ctx, c.SQS, arn, q.what)
		checks = append(checks, ch)
		if ch.status == "OK" {
			checks = append(checks, check{"NOTE", fmt.Sprintf("register %s by hand in the Developer Console, "+
				"Notification Preferences, row %q (doctor cannot see that)", arn, q.row), ""})
		}
	}
	if topic := outs[OutputAlertTopic]; topic == "" {
		checks = append(checks, missing(OutputAlertTopic))
	} else {
		checks = append(checks, topicCheck(ctx, c.SNS, topic))
	}
	return append(checks, a.watchdogCheck(ctx, c, stack))
}

// watchdogCheck reports when the watchdog last ran, from its log group's newest event.
func (a *App) watchdogCheck(ctx context.Context, c *Clients, stack string) check {
	res, err := c.CloudFormation.DescribeStackResource(ctx, &cloudformation.DescribeStackResourceInput{
		StackName: aws.String(stack), LogicalResourceId: aws.String(WatchdogResource)})
	if err != nil || res.StackResourceDetail == nil || aws.ToString(res.StackResourceDetail.PhysicalResourceId) == "" {
		return check{"NOTE", "the stack has no " + WatchdogResource +
			" (an older template?): nothing checks the secrets daily; deploy the current template", ""}
	}
	fn := aws.ToString(res.StackResourceDetail.PhysicalResourceId)
	group := logGroup(ctx, c.Lambda, fn)
	out, err := c.Logs.DescribeLogStreams(ctx, &cloudwatchlogs.DescribeLogStreamsInput{LogGroupName: aws.String(group),
		OrderBy: logtypes.OrderByLastEventTime, Descending: aws.Bool(true), Limit: aws.Int32(1)})
	if err != nil && apiCode(err) == "ResourceNotFoundException" {
		out, err = &cloudwatchlogs.DescribeLogStreamsOutput{}, nil // no log group: the function never ran
	}
	if err != nil {
		return check{"??", "the watchdog's last run could not be read from " + group + ": " + oneLine(err.Error()),
			"check that your credentials may call logs:DescribeLogStreams on it"}
	}
	var last int64
	for _, st := range out.LogStreams {
		last = max(last, aws.ToInt64(st.LastEventTimestamp), aws.ToInt64(st.LastIngestionTime))
	}
	invoke := fmt.Sprintf("aws lambda invoke --function-name %s --payload '{}' /dev/stdout", fn)
	if last == 0 {
		return check{"FAIL", "the watchdog has never run (" + group + " has no events)", "check its schedule in the stack, or run it now: " + invoke}
	}
	at := time.UnixMilli(last).UTC()
	if ago := a.Now().Sub(at); ago > watchdogOverdue {
		return check{"FAIL", fmt.Sprintf("the watchdog last ran %d hours ago (%s); it runs daily", int(ago.Hours()), at.Format(time.RFC3339)),
			"check its schedule and its errors in " + group + ", or run it now: " + invoke}
	}
	return check{"OK", "the watchdog last ran at " + at.Format(time.RFC3339), ""}
}

func queueCheck(ctx context.Context, q QueueReader, arn, what string) check {
	parts := strings.Split(arn, ":")
	if len(parts) != 6 || parts[2] != "sqs" {
		return check{"FAIL", fmt.Sprintf("%s: %q is not an SQS queue ARN", what, arn), "check the stack's outputs"}
	}
	name := parts[5]
	u, err := q.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(name), QueueOwnerAWSAccountId: aws.String(parts[4])})
	if err != nil {
		return check{"??", fmt.Sprintf("%s %s could not be read: %s", what, name, oneLine(err.Error())),
			"check that your credentials may call sqs:GetQueueUrl and sqs:GetQueueAttributes on it"}
	}
	attrs, err := q.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: u.QueueUrl,
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNamePolicy}})
	if err != nil {
		return check{"??", fmt.Sprintf("%s %s policy could not be read: %s", what, name, oneLine(err.Error())),
			"check that your credentials may call sqs:GetQueueAttributes on it"}
	}
	if ok, why := policyAllowsSend(attrs.Attributes[string(sqstypes.QueueAttributeNamePolicy)], SPAPIAccount); !ok {
		return check{"FAIL", fmt.Sprintf("%s %s: SP-API's account %s cannot send to it (%s)", what, name, SPAPIAccount, why),
			fmt.Sprintf("the template's queue policy lets %s call sqs:SendMessage and sqs:GetQueueAttributes; "+
				"redeploy the stack (sam deploy) to restore it", SPAPIAccount)}
	}
	return check{"OK", fmt.Sprintf("%s %s: SP-API's account %s may send to it", what, name, SPAPIAccount), ""}
}

func topicCheck(ctx context.Context, s sns.ListSubscriptionsByTopicAPIClient, topic string) check {
	confirmed, pending := 0, 0
	pages := sns.NewListSubscriptionsByTopicPaginator(s, &sns.ListSubscriptionsByTopicInput{TopicArn: aws.String(topic)})
	for i := 0; i < 50 && pages.HasMorePages(); i++ {
		out, err := pages.NextPage(ctx)
		if err != nil {
			return check{"??", "alert topic subscriptions could not be read: " + oneLine(err.Error()),
				"check that your credentials may call sns:ListSubscriptionsByTopic on " + topic}
		}
		for _, sub := range out.Subscriptions {
			switch arn := aws.ToString(sub.SubscriptionArn); {
			case arn == "PendingConfirmation":
				pending++
			case strings.HasPrefix(arn, "arn:"):
				confirmed++
			}
		}
	}
	if confirmed > 0 {
		return check{"OK", fmt.Sprintf("the alert topic has %d confirmed %s", confirmed, plural(confirmed, "subscription", "subscriptions")), ""}
	}
	fix := "subscribe someone who acts on alerts: set the stack's AlertEmail parameter, or aws sns subscribe --topic-arn " +
		topic + " --protocol email --notification-endpoint you@example.com, then confirm the e-mail"
	if pending > 0 {
		fix = fmt.Sprintf("%d subscription(s) wait for confirmation: open the confirmation e-mail from AWS Notifications and click the link", pending)
	}
	return check{"FAIL", "the alert topic has no confirmed subscription: nobody receives alerts", fix}
}

// policyAllowsSend reports whether an SQS queue policy lets account call sqs:SendMessage: an Allow
// names it (or "*") and no unconditional Deny takes it back. Conditions are not evaluated (the
// template's conditional deny of non-TLS access does not block SP-API).
func policyAllowsSend(policy, account string) (bool, string) {
	if policy == "" {
		return false, "the queue has no policy"
	}
	var doc struct{ Statement json.RawMessage }
	if err := json.Unmarshal([]byte(policy), &doc); err != nil {
		return false, "the policy is not JSON"
	}
	stmts, ok := oneOrMany[policyStatement](doc.Statement)
	if !ok {
		return false, "the policy has no readable Statement"
	}
	allowed := false
	for _, s := range stmts {
		if !s.principal(account) || !s.action("sqs:SendMessage") {
			continue
		}
		if strings.EqualFold(s.Effect, "Deny") && len(s.Condition) == 0 {
			return false, "a Deny statement without condition blocks it"
		}
		allowed = allowed || strings.EqualFold(s.Effect, "Allow")
	}
	if !allowed {
		return false, "no Allow statement for sqs:SendMessage names the account"
	}
	return true, ""
}

type policyStatement struct {
	Effect    string
	Principal json.RawMessage
	Action    json.RawMessage
	Condition map[string]json.RawMessage
}

// oneOrMany decodes a policy value that is a T or a list of them.
func oneOrMany[T any](raw json.RawMessage) ([]T, bool) {
	var many []T
	if json.Unmarshal(raw, &many) == nil {
		return many, true
	}
	var one T
	if json.Unmarshal(raw, &one) == nil {
		return []T{one}, true
	}
	return nil, false
}

func (s policyStatement) principal(account string) bool {
	var m map[string]json.RawMessage
	names, _ := oneOrMany[string](s.Principal)
	if json.Unmarshal(s.Principal, &m) == nil {
		names, _ = oneOrMany[string](m["AWS"])
	}
	return slices.ContainsFunc(names, func(n string) bool { return n == "*" || n == account || n == "arn:aws:iam::"+account+":root" })
}

func (s policyStatement) action(want string) bool {
	actions, _ := oneOrMany[string](s.Action)
	return slices.ContainsFunc(actions, func(a string) bool {
		return a == "*" || strings.EqualFold(a, "sqs:*") || strings.EqualFold(a, want)
	})
}
