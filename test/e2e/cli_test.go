package e2e

// The operator CLI (cmd/lwa-rotation) against the local stack, run as a
// user runs it: the built binary, configured by the usual AWS environment
// variables, its exit status and output checked.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/spapi-lwa/secret-rotation/internal/managed"
	"github.com/spapi-lwa/secret-rotation/internal/operator"
	"github.com/spapi-lwa/secret-rotation/test/harness"
	"github.com/spapi-lwa/secret-rotation/test/spapisim"
)

var (
	cliOnce sync.Once
	cliPath string
	cliErr  error
)

// cliBinary builds cmd/lwa-rotation once per test binary.
func cliBinary(t testing.TB) string {
	t.Helper()
	cliOnce.Do(func() {
		root, err := harness.RepoRoot()
		if err != nil {
			cliErr = err
			return
		}
		dir, err := os.MkdirTemp("", "lwa-rotation-cli-")
		if err != nil {
			cliErr = err
			return
		}
		cliPath = filepath.Join(dir, "lwa-rotation")
		cmd := exec.Command("go", "build", "-o", cliPath, "./cmd/lwa-rotation")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			cliErr = fmt.Errorf("go build ./cmd/lwa-rotation: %v: %s", err, out)
		}
	})
	if cliErr != nil {
		t.Fatal(cliErr)
	}
	return cliPath
}

// cliEnv is the environment of a user whose AWS configuration points at
// the local stack: Secrets Manager through awsRotationProxy, everything
// else at moto, LWA at the simulator. No profile, no instance metadata.
func cliEnv(t *testing.T, s *harness.Stack) []string {
	return []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + t.TempDir(),
		"AWS_REGION=" + harness.Region,
		"AWS_ACCESS_KEY_ID=testing",
		"AWS_SECRET_ACCESS_KEY=testing",
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_ENDPOINT_URL=" + s.MotoURL,
		"AWS_ENDPOINT_URL_SECRETS_MANAGER=" + awsRotationProxy(t, s),
		"LWA_TOKEN_URL=" + s.SimURL + spapisim.TokenPath,
	}
}

type cliResult struct {
	stdout, stderr string
	code           int
}

func runCLI(t *testing.T, env []string, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, cliBinary(t), args...)
	cmd.Env = env
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	r := cliResult{stdout: out.String(), stderr: errOut.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	default:
		t.Fatalf("lwa-rotation %v: %v", args, err)
	}
	t.Logf("$ lwa-rotation %s  (exit %d)\n%s%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	return r
}

func (r cliResult) want(t *testing.T, code int, contains ...string) {
	t.Helper()
	if r.code != code {
		t.Errorf("exit status = %d, want %d", r.code, code)
	}
	for _, c := range contains {
		if !strings.Contains(r.stdout+r.stderr, c) {
			t.Errorf("output lacks %q", c)
		}
	}
	if code == operator.ExitBadInput && strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("stderr = %q, want one line", r.stderr)
	}
}

// awsRotationProxy stands in front of the rotation engine's proxy and plays
// what Secrets Manager does, and moto does not, when RotateSecret only
// configures rotation (RotateImmediately false): the configuration is kept
// (moto turns rotation on only for AutomaticallyAfterDays, so a rate in
// days is passed on as that too), and the version of the configuration test
// loses AWSPENDING once the test is over.
func awsRotationProxy(t *testing.T, s *harness.Stack) string {
	t.Helper()
	u, _ := url.Parse(s.ProxyURL)
	next := httputil.NewSingleHostReverseProxy(u)
	days := regexp.MustCompile(`^rate\(([0-9]+) days?\)$`)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Amz-Target") != "secretsmanager.RotateSecret" {
			next.ServeHTTP(w, r)
			return
		}
		body, _ := io.ReadAll(r.Body)
		var in map[string]any
		json.Unmarshal(body, &in)
		configureOnly := in["RotateImmediately"] == false
		if rules, ok := in["RotationRules"].(map[string]any); ok && configureOnly {
			if m := days.FindStringSubmatch(fmt.Sprint(rules["ScheduleExpression"])); m != nil {
				var n int
				fmt.Sscan(m[1], &n)
				rules["AutomaticallyAfterDays"] = n
				body, _ = json.Marshal(in)
			}
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		if configureOnly && rec.status == http.StatusOK {
			id := fmt.Sprint(in["SecretId"])
			d, err := s.SecretsManager.DescribeSecret(r.Context(), &secretsmanager.DescribeSecretInput{SecretId: aws.String(id)})
			if err == nil {
				if p := managed.PendingVersion(d.VersionIdsToStages); p != "" {
					s.SecretsManager.UpdateSecretVersionStage(r.Context(), &secretsmanager.UpdateSecretVersionStageInput{
						SecretId: aws.String(id), VersionStage: aws.String(managed.StagePending), RemoveFromVersionId: aws.String(p)})
				}
			}
		}
	})
	srv := &http.Server{Handler: h}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

// TestCLI walks a new user through the README: an existing secret is
// enabled, shown by status, rotated with rotate --wait, checked by doctor;
// and bad input gets one line and exit status 2.
func TestCLI(t *testing.T) {
	s := newStack(t, harness.Options{InitialExpiry: time.Now().Add(100 * 24 * time.Hour).UTC().Truncate(time.Second)})
	env := cliEnv(t, s)
	arn, err := s.Seed(t.Context(), harness.SeedOptions{NoTag: true})
	if err != nil {
		t.Fatal(err)
	}
	name := "sp-api-lwa/" + s.ApplicationID
	var outputs []string
	run := func(t *testing.T, args ...string) cliResult {
		r := runCLI(t, env, args...)
		outputs = append(outputs, r.stdout, r.stderr)
		return r
	}

	t.Run("status before enable", func(t *testing.T) {
		run(t, "status").want(t, operator.ExitOK, "No managed secrets")
	})
	t.Run("rotate an untagged secret", func(t *testing.T) {
		run(t, "rotate", name, "--wait").want(t, operator.ExitBadInput, "not a managed secret")
	})
	t.Run("enable", func(t *testing.T) {
		run(t, "enable", name, "--function", harness.RotationFunctionARN).want(t, operator.ExitOK, "Tagged", "Rotation configured", "rotate "+name+" --wait")
		tags, err := s.Tags(t.Context(), arn)
		if err != nil {
			t.Fatal(err)
		}
		if tags[managed.TagClientID] != s.ClientID {
			t.Errorf("tag %s = %q, want %q", managed.TagClientID, tags[managed.TagClientID], s.ClientID)
		}
		// Nothing rotated: one version with a value, AWSCURRENT, and no
		// AWSPENDING left (moto keeps the configuration test's empty version).
		vs := versions(t, s, arn)
		withValue := 0
		for _, v := range vs {
			if v.Value != "" {
				withValue++
			}
			if v.Has("AWSPENDING") || (v.Value != "" && !v.Has("AWSCURRENT")) {
				withValue = -1
			}
		}
		if withValue != 1 {
			t.Errorf("versions after enable: %s; want the current version only, nothing rotated", describe(vs))
		}
		run(t, "enable", name, "--function", harness.RotationFunctionARN).want(t, operator.ExitOK, "already enabled")
		if st := s.Sim.Stats(); st.RotateCalls != 0 {
			t.Errorf("enable made %d SP-API rotate calls, want 0", st.RotateCalls)
		}
	})
	t.Run("status", func(t *testing.T) {
		r := run(t, "status", "--output", "json")
		r.want(t, operator.ExitOK)
		var rows []map[string]any
		if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil {
			t.Fatalf("status --output json: %v", err)
		}
		if len(rows) != 1 || rows[0]["secretArn"] != arn || rows[0]["clientId"] != s.ClientID || rows[0]["rotationEnabled"] != true ||
			rows[0]["daysLeft"] == nil || len(rows[0]["reasons"].([]any)) != 0 {
			t.Errorf("status rows = %v; want the enabled, healthy secret", rows)
		}
		run(t, "status").want(t, operator.ExitOK, "OK", name, "Managed secrets: 1, OK: 1,")
	})
	t.Run("rotate --wait", func(t *testing.T) {
		r := run(t, "rotate", name, "--wait", "--timeout", "2m")
		r.want(t, operator.ExitOK, "started", "requested:", "delivered:", "adopted:", "tested and promoted", "Done in")
		if ok, err := s.CurrentIsNewest(t.Context(), arn); err != nil || !ok {
			t.Errorf("after rotate --wait, AWSCURRENT holds the newest secret = %v, %v; want true", ok, err)
		}
		settle(t, s)
	})
	t.Run("doctor", func(t *testing.T) {
		run(t, "doctor").want(t, operator.ExitOK, "LWA accepts the current secret", "Nothing needs a person")
	})
	t.Run("doctor --stack", func(t *testing.T) {
		stackName := createStack(t, s)
		run(t, "doctor", "--stack", stackName).want(t, operator.ExitAttention,
			"SP-API's account 437568002678 cannot send", "confirmed subscription")
		allowSPAPI(t, s, s.NewSecretQueueURL)
		allowSPAPI(t, s, s.ExpiryQueueURL)
		run(t, "doctor", "--stack", stackName).want(t, operator.ExitOK, "may send to it", "Nothing needs a person")
	})
	t.Run("rejected credentials", func(t *testing.T) {
		// A second application the simulator does not know: LWA says invalid_client.
		other := harness.SecretDocument{ClientID: "amzn1.application-oa2-client.unknown0123456789", ClientSecret: "amzn1.oa2-cs.v1.unknownsecret0123456789"}
		if _, err := s.Seed(t.Context(), harness.SeedOptions{Name: "sp-api-lwa/unknown", Document: &other, Rotation: true}); err != nil {
			t.Fatal(err)
		}
		run(t, "status").want(t, operator.ExitOK, "Managed secrets: 2, OK: 2,")
		run(t, "doctor").want(t, operator.ExitAttention, "CREDENTIALS_REJECTED")
		checkNoValue(t, outputs, other.ClientSecret)
	})
	t.Run("bad input", func(t *testing.T) {
		run(t, "rotate", "sp-api-lwa/nope", "--wait").want(t, operator.ExitBadInput, "not found")
		run(t, "status", "--output", "xml").want(t, operator.ExitBadInput, "--output")
		bad := harness.SecretDocument{ClientID: "amzn1.application-oa2-client.broken01234567"}
		if _, err := s.Seed(t.Context(), harness.SeedOptions{Name: "sp-api-lwa/broken", Document: &bad, NoTag: true}); err != nil {
			t.Fatal(err)
		}
		run(t, "enable", "sp-api-lwa/broken", "--function", harness.RotationFunctionARN).want(t, operator.ExitBadInput, "not a usable secret document")
		noCreds := slices.DeleteFunc(slices.Clone(env), func(v string) bool { return strings.HasPrefix(v, "AWS_ACCESS_KEY_ID=") })
		r := runCLI(t, noCreds, "status")
		r.want(t, operator.ExitBadInput, "credentials")
	})
	cur, _ := s.Sim.Current()
	checkNoValue(t, outputs, s.InitialSecret, cur)
}

// TestCLIRotateWaitNotEnrolled: the new-secret queue is not registered, so
// SP-API refuses the rotate call and the rotation cannot finish; rotate
// --wait gives up at its timeout with the state, the log to read and the runbook step.
func TestCLIRotateWaitNotEnrolled(t *testing.T) {
	s := newStack(t, harness.Options{NotEnrolled: true})
	env := cliEnv(t, s)
	arn := seedRotating(t, s)
	r := runCLI(t, env, "rotate", arn, "--wait", "--timeout", "12s")
	r.want(t, operator.ExitAttention, "timed out", "aws logs tail ", "What to do:")
	if ok, _ := s.CurrentIsNewest(t.Context(), arn); !ok {
		t.Errorf("AWSCURRENT changed although SP-API refused the rotation")
	}
	checkNoValue(t, []string{r.stdout, r.stderr}, s.InitialSecret)
}

func checkNoValue(t *testing.T, outputs []string, values ...string) {
	t.Helper()
	for _, o := range outputs {
		for _, v := range values {
			if v != "" && strings.Contains(o, v) {
				t.Errorf("CLI output contains a secret value")
			}
		}
	}
}

// createStack creates a CloudFormation stack in moto whose outputs name the
// local stack's queues, topic and rotation function, as the project's
// template does.
func createStack(t *testing.T, s *harness.Stack) string {
	t.Helper()
	cf := cloudformation.NewFromConfig(localConfig(), func(o *cloudformation.Options) { o.BaseEndpoint = aws.String(s.MotoURL) })
	queueARN := func(u string) string {
		return "arn:aws:sqs:" + harness.Region + ":" + harness.AccountID + ":" + u[strings.LastIndexByte(u, '/')+1:]
	}
	tmpl, _ := json.Marshal(map[string]any{
		"Resources": map[string]any{"Placeholder": map[string]any{"Type": "AWS::SNS::Topic"}},
		"Outputs": map[string]any{
			"RotateSecretFunctionArn": map[string]string{"Value": harness.RotationFunctionARN},
			"NewSecretQueueArn":       map[string]string{"Value": queueARN(s.NewSecretQueueURL)},
			"SecretExpiryQueueArn":    map[string]string{"Value": queueARN(s.ExpiryQueueURL)},
			"AlertTopicArn":           map[string]string{"Value": s.AlertTopicARN},
		},
	})
	name := "sp-api-lwa-cli-e2e"
	if _, err := cf.CreateStack(t.Context(), &cloudformation.CreateStackInput{StackName: aws.String(name), TemplateBody: aws.String(string(tmpl))}); err != nil {
		t.Fatalf("create stack: %v", err)
	}
	return name
}

// allowSPAPI gives a queue the template's policy for SP-API.
func allowSPAPI(t *testing.T, s *harness.Stack, queueURL string) {
	t.Helper()
	arn := "arn:aws:sqs:" + harness.Region + ":" + harness.AccountID + ":" + queueURL[strings.LastIndexByte(queueURL, '/')+1:]
	policy := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::%s:root"},"Action":["sqs:SendMessage","sqs:GetQueueAttributes"],"Resource":%q},`+
		`{"Effect":"Deny","Principal":"*","Action":"sqs:*","Resource":%q,"Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}`, operator.SPAPIAccount, arn, arn)
	if _, err := s.SQS.SetQueueAttributes(t.Context(), &sqs.SetQueueAttributesInput{QueueUrl: aws.String(queueURL),
		Attributes: map[string]string{"Policy": policy}}); err != nil {
		t.Fatalf("set queue policy: %v", err)
	}
}

func localConfig() aws.Config {
	return aws.Config{Region: harness.Region, Credentials: credentials.NewStaticCredentialsProvider("testing", "testing", "")}
}

// countingStore counts the Secrets Manager calls of the CLI.
type countingStore struct {
	operator.SecretStore
	mu    sync.Mutex
	calls map[string]int
}

func (c *countingStore) count(op string) {
	c.mu.Lock()
	c.calls[op]++
	c.mu.Unlock()
}

func (c *countingStore) total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, v := range c.calls {
		n += v
	}
	return n
}

func (c *countingStore) DescribeSecret(ctx context.Context, in *secretsmanager.DescribeSecretInput, o ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error) {
	c.count("DescribeSecret")
	return c.SecretStore.DescribeSecret(ctx, in, o...)
}

func (c *countingStore) GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, o ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	c.count("GetSecretValue")
	return c.SecretStore.GetSecretValue(ctx, in, o...)
}

func (c *countingStore) ListSecrets(ctx context.Context, in *secretsmanager.ListSecretsInput, o ...func(*secretsmanager.Options)) (*secretsmanager.ListSecretsOutput, error) {
	c.count("ListSecrets")
	return c.SecretStore.ListSecrets(ctx, in, o...)
}

func (c *countingStore) ListSecretVersionIds(ctx context.Context, in *secretsmanager.ListSecretVersionIdsInput, o ...func(*secretsmanager.Options)) (*secretsmanager.ListSecretVersionIdsOutput, error) {
	c.count("ListSecretVersionIds")
	return c.SecretStore.ListSecretVersionIds(ctx, in, o...)
}

// seedFleet creates managed secrets from index from to to-1 on moto.
func seedFleet(tb testing.TB, s *harness.Stack, from, to int) {
	tb.Helper()
	for i := from; i < to; i++ {
		id := fmt.Sprintf("amzn1.application-oa2-client.fleet%05d", i)
		doc, _ := json.Marshal(harness.SecretDocument{ClientID: id, ClientSecret: fmt.Sprintf("amzn1.oa2-cs.v1.fleet-secret-%05d", i),
			ClientSecretExpiresAt: time.Now().Add(120 * 24 * time.Hour).UTC().Format(time.RFC3339)})
		if _, err := s.SecretsManager.CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{
			Name: aws.String(fmt.Sprintf("fleet/app-%05d", i)), SecretString: aws.String(string(doc)),
			Tags: []smtypes.Tag{{Key: aws.String(managed.TagClientID), Value: aws.String(id)}},
		}); err != nil {
			tb.Fatalf("seed fleet: %v", err)
		}
	}
}

// statusInProcess runs 'status --output json' against moto in this process
// and returns the Secrets Manager calls it made and how long it took.
func statusInProcess(tb testing.TB, s *harness.Stack) (*countingStore, time.Duration) {
	tb.Helper()
	cfg := localConfig()
	sm := &countingStore{SecretStore: secretsmanager.NewFromConfig(cfg, func(o *secretsmanager.Options) { o.BaseEndpoint = aws.String(s.MotoURL) }),
		calls: map[string]int{}}
	var out, errOut bytes.Buffer
	app := &operator.App{Stdout: &out, Stderr: &errOut, Getenv: func(string) string { return "" },
		Clients: func(context.Context) (*operator.Clients, error) { return &operator.Clients{SecretsManager: sm}, nil }}
	start := time.Now()
	code := app.Run(context.Background(), []string{"status", "--output", "json"})
	took := time.Since(start)
	if code != operator.ExitAttention && code != operator.ExitOK {
		tb.Fatalf("status exit %d: %s", code, errOut.String())
	}
	return sm, took
}

// TestCLIStatusFleet: status over 100 managed secrets on moto makes the same
// Secrets Manager calls per secret at 50 and 100 secrets (DescribeSecret,
// ListSecretVersionIds, GetSecretValue, and one ListSecrets per 100). How
// long it takes is BenchmarkCLIStatus100's to measure, not a test's.
func TestCLIStatusFleet(t *testing.T) {
	s := newStack(t, harness.Options{})
	seedFleet(t, s, 0, 50)
	at50, _ := statusInProcess(t, s)
	seedFleet(t, s, 50, 100)
	at100, took := statusInProcess(t, s)
	t.Logf("status over 100 managed secrets on moto: %s, %d Secrets Manager calls %v", took.Round(time.Millisecond), at100.total(), at100.calls)
	for _, c := range []struct {
		n     int
		store *countingStore
	}{{50, at50}, {100, at100}} {
		pages := (c.n + 99) / 100
		if c.store.calls["ListSecrets"] != pages || c.store.total()-pages != 3*c.n {
			t.Errorf("%d secrets: calls %v; want %d ListSecrets and 3 calls per secret", c.n, c.store.calls, pages)
		}
	}
}

// BenchmarkCLIStatus100 is status over 100 managed secrets on moto.
func BenchmarkCLIStatus100(b *testing.B) {
	prerequisitesB(b)
	binOnce.Do(func() {
		root, err := harness.RepoRoot()
		if err != nil {
			binErr = err
			return
		}
		if binDir, binErr = os.MkdirTemp("", "sp-api-lwa-e2e-"); binErr != nil {
			return
		}
		binErr = harness.Build(context.Background(), root, binDir)
	})
	if binErr != nil {
		b.Fatal(binErr)
	}
	s, err := harness.Start(b.Context(), harness.Options{BinDir: binDir})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	seedFleet(b, s, 0, 100)
	b.ResetTimer()
	var calls int
	for b.Loop() {
		sm, _ := statusInProcess(b, s)
		calls = sm.total()
	}
	b.ReportMetric(float64(calls)/100, "calls/secret")
}

func prerequisitesB(b *testing.B) {
	root, err := harness.RepoRoot()
	if err == nil {
		_, err = harness.RIEPath(root)
	}
	if err == nil {
		err = harness.CheckMoto(b.Context())
	}
	if err != nil {
		b.Skipf("end-to-end prerequisites missing: %v", err)
	}
}
