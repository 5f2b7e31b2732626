package operator

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go"

	"github.com/spapi-lwa/secret-rotation/internal/lwa"
	"github.com/spapi-lwa/secret-rotation/test/secretsmanagertest"
)

var update = flag.Bool("update", false, "rewrite the testdata/*.golden files")

// golden compares got with testdata/name.golden, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run go test -update to create it): %v", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (run go test ./internal/operator -update to accept):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// smFake is the Secrets Manager fake with what the service does for a
// RotateSecret with RotateImmediately false: it keeps the rotation
// configuration (function and rules) and runs no rotation.
type smFake struct {
	*secretsmanagertest.Fake
	mu        sync.Mutex
	rules     map[string]*smtypes.RotationRulesType
	configure int
}

func newSM() *smFake {
	return &smFake{Fake: secretsmanagertest.New(), rules: map[string]*smtypes.RotationRulesType{}}
}

func (f *smFake) RotateSecret(ctx context.Context, in *secretsmanager.RotateSecretInput, o ...func(*secretsmanager.Options)) (*secretsmanager.RotateSecretOutput, error) {
	if in.RotateImmediately == nil || *in.RotateImmediately {
		return f.Fake.RotateSecret(ctx, in, o...)
	}
	d, err := f.Fake.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: in.SecretId})
	if err != nil {
		return nil, err
	}
	arn := aws.ToString(d.ARN)
	f.SetRotation(arn, true, aws.ToString(in.RotationLambdaARN))
	f.mu.Lock()
	f.rules[arn] = in.RotationRules
	f.configure++
	f.mu.Unlock()
	return &secretsmanager.RotateSecretOutput{ARN: d.ARN, Name: d.Name}, nil
}

func (f *smFake) DescribeSecret(ctx context.Context, in *secretsmanager.DescribeSecretInput, o ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error) {
	d, err := f.Fake.DescribeSecret(ctx, in, o...)
	if err == nil {
		f.mu.Lock()
		d.RotationRules = f.rules[aws.ToString(d.ARN)]
		f.mu.Unlock()
	}
	return d, err
}

// writes counts the calls that change a secret.
func (f *smFake) writes() int {
	f.mu.Lock()
	n := f.configure
	f.mu.Unlock()
	for _, op := range []string{"TagResource", "UntagResource", "RotateSecret", "PutSecretValue", "UpdateSecretVersionStage"} {
		n += f.Calls(op)
	}
	return n
}

type cfFake struct{ stacks map[string]map[string]string }

func (f *cfFake) DescribeStacks(_ context.Context, in *cloudformation.DescribeStacksInput, _ ...func(*cloudformation.Options)) (*cloudformation.DescribeStacksOutput, error) {
	outs, ok := f.stacks[aws.ToString(in.StackName)]
	if !ok {
		return nil, &smithy.GenericAPIError{Code: "ValidationError", Message: "Stack with id " + aws.ToString(in.StackName) + " does not exist"}
	}
	st := cftypes.Stack{StackName: in.StackName}
	for k, v := range outs {
		st.Outputs = append(st.Outputs, cftypes.Output{OutputKey: aws.String(k), OutputValue: aws.String(v)})
	}
	return &cloudformation.DescribeStacksOutput{Stacks: []cftypes.Stack{st}}, nil
}

type sqsFake struct{ policies map[string]string } // queue name -> policy

func (f *sqsFake) GetQueueUrl(_ context.Context, in *sqs.GetQueueUrlInput, _ ...func(*sqs.Options)) (*sqs.GetQueueUrlOutput, error) {
	if _, ok := f.policies[aws.ToString(in.QueueName)]; !ok {
		return nil, &smithy.GenericAPIError{Code: "AWS.SimpleQueueService.NonExistentQueue", Message: "no such queue"}
	}
	return &sqs.GetQueueUrlOutput{QueueUrl: aws.String("https://sqs.local/" + aws.ToString(in.QueueOwnerAWSAccountId) + "/" + aws.ToString(in.QueueName))}, nil
}

func (f *sqsFake) GetQueueAttributes(_ context.Context, in *sqs.GetQueueAttributesInput, _ ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error) {
	u := aws.ToString(in.QueueUrl)
	name := u[strings.LastIndexByte(u, '/')+1:]
	attrs := map[string]string{}
	if p := f.policies[name]; p != "" {
		attrs["Policy"] = p
	}
	return &sqs.GetQueueAttributesOutput{Attributes: attrs}, nil
}

type snsFake struct{ subs map[string][]string } // topic -> subscription ARNs

func (f *snsFake) ListSubscriptionsByTopic(_ context.Context, in *sns.ListSubscriptionsByTopicInput, _ ...func(*sns.Options)) (*sns.ListSubscriptionsByTopicOutput, error) {
	out := &sns.ListSubscriptionsByTopicOutput{}
	for _, s := range f.subs[aws.ToString(in.TopicArn)] {
		out.Subscriptions = append(out.Subscriptions, snstypes.Subscription{SubscriptionArn: aws.String(s), TopicArn: in.TopicArn})
	}
	return out, nil
}

// lwaFake answers token requests: a known client id and secret get a
// token, a wrong secret invalid_client, errs[clientID] any other error.
type lwaFake struct {
	mu      sync.Mutex
	secrets map[string]string
	errs    map[string]error
	calls   int
}

func (f *lwaFake) ClientCredentials(_ context.Context, clientID string, secret lwa.ClientSecret, scope string) (lwa.Token, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if scope != lwa.ScopeRotation {
		return lwa.Token{}, &lwa.Error{StatusCode: 400, Code: "invalid_scope"}
	}
	if err := f.errs[clientID]; err != nil {
		return lwa.Token{}, err
	}
	if f.secrets[clientID] != secret.Reveal() {
		return lwa.Token{}, &lwa.Error{StatusCode: 401, Code: "invalid_client", Description: "Client authentication failed"}
	}
	return lwa.Token{AccessToken: "Atza|token", TokenType: "bearer", ExpiresIn: time.Hour}, nil
}

// env is a test environment: the fakes and a fixed clock.
type env struct {
	sm   *smFake
	cf   *cfFake
	sqs  *sqsFake
	sns  *snsFake
	lwa  *lwaFake
	now  time.Time
	vars map[string]string
	// onSleep, when set, runs at each poll of rotate --wait, after the
	// clock moved on.
	onSleep func(n int)
	sleeps  int
}

var testNow = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func newEnv() *env {
	e := &env{sm: newSM(), cf: &cfFake{stacks: map[string]map[string]string{}}, sqs: &sqsFake{policies: map[string]string{}},
		sns: &snsFake{subs: map[string][]string{}}, lwa: &lwaFake{secrets: map[string]string{}, errs: map[string]error{}},
		now: testNow, vars: map[string]string{}}
	e.sm.Now = func() time.Time { return e.now }
	return e
}

// run runs the CLI with args and returns stdout, stderr and the exit status.
func (e *env) run(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	app := &App{
		Stdout: &out, Stderr: &errOut,
		Getenv: func(k string) string { return e.vars[k] },
		Clients: func(context.Context) (*Clients, error) {
			return &Clients{SecretsManager: e.sm, CloudFormation: e.cf, SQS: e.sqs, SNS: e.sns, LWA: e.lwa}, nil
		},
		Now: func() time.Time { return e.now },
		Sleep: func(ctx context.Context, d time.Duration) bool {
			e.now = e.now.Add(d)
			e.sleeps++
			if e.onSleep != nil {
				e.onSleep(e.sleeps)
			}
			return ctx.Err() == nil
		},
	}
	code := app.Run(context.Background(), args)
	return out.String(), errOut.String(), code
}

const (
	fnARN      = "arn:aws:lambda:us-east-1:123456789012:function:lwa-RotateSecretFunction-abc"
	otherFnARN = "arn:aws:lambda:us-east-1:123456789012:function:legacy-rotator"
)

func clientID(n string) string { return "amzn1.application-oa2-client." + n }

// secretValue is a client secret: it must never appear in any output.
func secretValue(n string) string { return "amzn1.oa2-cs.v1.secret-" + n + "-0123456789abcdef" }

func document(id, secret string, expires time.Time) string {
	if expires.IsZero() {
		return fmt.Sprintf(`{"clientId":%q,"clientSecret":%q,"refreshToken":"Atzr|refresh-%s"}`, id, secret, id)
	}
	return fmt.Sprintf(`{"clientId":%q,"clientSecret":%q,"clientSecretExpiresAt":%q,"refreshToken":"Atzr|refresh-%s"}`,
		id, secret, expires.UTC().Format(time.RFC3339), id)
}

// checkNoSecret fails when any of the values appears in out.
func checkNoSecret(t *testing.T, out string, values ...string) {
	t.Helper()
	for _, v := range values {
		if strings.Contains(out, v) {
			t.Errorf("output contains the secret value %q:\n%s", v, out)
		}
	}
}

// oneLineErr checks that stderr is exactly one line.
func oneLineErr(t *testing.T, stderr string) {
	t.Helper()
	if strings.Count(stderr, "\n") != 1 || !strings.HasSuffix(stderr, "\n") {
		t.Errorf("stderr = %q, want exactly one line", stderr)
	}
}

func describeIn(id string) *secretsmanager.DescribeSecretInput {
	return &secretsmanager.DescribeSecretInput{SecretId: aws.String(id)}
}

func rotateIn(id string) *secretsmanager.RotateSecretInput {
	return &secretsmanager.RotateSecretInput{SecretId: aws.String(id)}
}

func tags(kv ...string) []smtypes.Tag {
	var out []smtypes.Tag
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, smtypes.Tag{Key: aws.String(kv[i]), Value: aws.String(kv[i+1])})
	}
	return out
}
