package operator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/spapi-lwa/secret-rotation/internal/lwa"
)

// SPAPIAccount is the AWS account SP-API sends notifications from.
const SPAPIAccount = "437568002678"

// check is one doctor finding: status OK, ?? (could not be checked) or FAIL.
type check struct{ status, what, fix string }

func (a *App) doctor(ctx context.Context, args []string) error {
	fs := flagSet("doctor", "doctor [--stack NAME]",
		"Check everything status checks, ask LWA whether it accepts each AWSCURRENT secret and, with --stack,\n"+
			"check the queues' policies and the alert topic's subscriptions.")
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
	var checks []check
	rows, err := a.fleet(ctx, c.SecretsManager, outs[OutputRotateFunction], func(r *row) {
		if r.doc == nil {
			return
		}
		_, err := c.LWA.ClientCredentials(ctx, r.doc.ClientID(), r.doc.ClientSecret(), lwa.ScopeRotation)
		if err != nil && !errors.Is(err, lwa.ErrInvalidClient) {
			checks = append(checks, check{"??", r.Name + ": LWA could not be asked: " + oneLine(err.Error()),
				"check the network path to LWA (LWA_TOKEN_URL, default " + DefaultTokenURL + ") and run doctor again"})
			return
		}
		accepted := err == nil
		r.secret.Credentials = &accepted
		if accepted {
			checks = append(checks, check{"OK", fmt.Sprintf("%s: LWA accepts the current secret (%s)",
				r.Name, fingerprint(r.doc.ClientSecret().Reveal())), ""})
		}
	})
	if err != nil {
		return err
	}
	w := a.Stdout
	problems := writeTable(w, rows)
	for _, q := range stackChecked {
		switch arn := outs[q.output]; {
		case *stack == "": // without --stack, doctor only says how to check these
		case arn == "":
			checks = append(checks, check{"FAIL", "the stack has no output " + q.output,
				"deploy this project's template (sam deploy) and run doctor again"})
		case q.row == "":
			checks = append(checks, topicCheck(ctx, c.SNS, arn))
		default:
			checks = append(checks, queueCheck(ctx, c.SQS, arn, q.what, q.row))
		}
	}
	fmt.Fprintln(w)
	for _, ch := range checks {
		fmt.Fprintf(w, "%-4s  %s\n", ch.status, ch.what)
		if ch.status != "OK" {
			fmt.Fprintf(w, "      Fix: %s\n", ch.fix)
			problems++
		}
	}
	if *stack == "" {
		fmt.Fprintf(w, "(Run with --stack NAME to check the queues' policies and the alert topic too.)\n")
	}
	if problems > 0 {
		fmt.Fprintf(w, "\nFindings that need a person: %d.\n", problems)
		return needsPerson
	}
	fmt.Fprintf(w, "\nNothing needs a person.\n")
	return nil
}

// stackChecked are the stack's outputs doctor --stack checks: the queues (with their row in the
// Developer Console) and the alert topic.
var stackChecked = []struct{ output, what, row string }{
	{"NewSecretQueueArn", "new-secret queue", "Application Client New Secret"},
	{"SecretExpiryQueueArn", "expiry queue", "Application Client Secret Expiry"},
	{"AlertTopicArn", "alert topic", ""},
}

func queueCheck(ctx context.Context, q QueueReader, queueARN, what, row string) check {
	parsed, _ := arn.Parse(queueARN) // a stack output: GetQueueUrl says what is wrong with it
	name := parsed.Resource
	u, err := q.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(name), QueueOwnerAWSAccountId: aws.String(parsed.AccountID)})
	var attrs *sqs.GetQueueAttributesOutput
	if err == nil {
		attrs, err = q.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: u.QueueUrl,
			AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNamePolicy}})
	}
	if err != nil {
		return check{"??", fmt.Sprintf("%s %s: its policy could not be read: %s", what, name, oneLine(err.Error())),
			"check that your credentials may call sqs:GetQueueUrl and sqs:GetQueueAttributes on it"}
	}
	if ok, why := policyAllowsSend(attrs.Attributes[string(sqstypes.QueueAttributeNamePolicy)], SPAPIAccount); !ok {
		return check{"FAIL", fmt.Sprintf("%s %s: SP-API's account %s cannot send to it (%s)", what, name, SPAPIAccount, why),
			fmt.Sprintf("the template's queue policy lets %s call sqs:SendMessage and sqs:GetQueueAttributes; "+
				"redeploy the stack (sam deploy) to restore it", SPAPIAccount)}
	}
	return check{"OK", fmt.Sprintf("%s %s: SP-API's account %s may send to it; register %s in the Developer Console "+
		"(Notification Preferences, row %q): doctor cannot see that", what, name, SPAPIAccount, queueARN, row), ""}
}

func topicCheck(ctx context.Context, s sns.ListSubscriptionsByTopicAPIClient, topic string) check {
	confirmed := 0
	pages := sns.NewListSubscriptionsByTopicPaginator(s, &sns.ListSubscriptionsByTopicInput{TopicArn: aws.String(topic)})
	for pages.HasMorePages() {
		out, err := pages.NextPage(ctx)
		if err != nil {
			return check{"??", "alert topic subscriptions could not be read: " + oneLine(err.Error()),
				"check that your credentials may call sns:ListSubscriptionsByTopic on " + topic}
		}
		for _, sub := range out.Subscriptions {
			if strings.HasPrefix(aws.ToString(sub.SubscriptionArn), "arn:") { // not PendingConfirmation
				confirmed++
			}
		}
	}
	if confirmed == 0 {
		return check{"FAIL", "the alert topic has no confirmed subscription: nobody receives alerts",
			"subscribe someone who acts on alerts (the stack's AlertEmail parameter, or aws sns subscribe --topic-arn " +
				topic + " --protocol email --notification-endpoint you@example.com) and confirm the e-mail AWS sends"}
	}
	return check{"OK", fmt.Sprint("the alert topic's confirmed subscriptions: ", confirmed), ""}
}

// policyAllowsSend reports whether an SQS queue policy lets account call sqs:SendMessage: an Allow
// names it (or "*") and no unconditional Deny takes it back. Conditions are not evaluated (the
// template's conditional deny of non-TLS access does not block SP-API).
func policyAllowsSend(policy, account string) (bool, string) {
	var doc struct {
		Statement list[struct {
			Effect    string
			Principal json.RawMessage // "*" or {"AWS": one or a list}
			Action    list[string]
			Condition map[string]any
		}]
	}
	if json.Unmarshal([]byte(policy), &doc) != nil {
		return false, "the queue has no readable policy"
	}
	allowed := false
	for _, s := range doc.Statement {
		var p struct{ AWS list[string] }
		if json.Unmarshal(s.Principal, &p) != nil { // "*"
			_ = json.Unmarshal(s.Principal, &p.AWS)
		}
		principal := slices.ContainsFunc(p.AWS, func(n string) bool {
			return n == "*" || n == account || n == "arn:aws:iam::"+account+":root"
		})
		action := slices.ContainsFunc(s.Action, func(a string) bool {
			return a == "*" || strings.EqualFold(a, "sqs:*") || strings.EqualFold(a, "sqs:SendMessage")
		})
		if !principal || !action {
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

// list is a policy value that may give a list's single value alone.
type list[T any] []T

func (l *list[T]) UnmarshalJSON(b []byte) error {
	if b[0] == '[' {
		return json.Unmarshal(b, (*[]T)(l))
	}
	var one T
	err := json.Unmarshal(b, &one)
	*l = list[T]{one}
	return err
}
