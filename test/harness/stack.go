// Package harness runs the project's local stack on 127.0.0.1 until Close: the four functions'
// bootstraps under aws-lambda-rie, moto as Secrets Manager, SQS and SNS, the SP-API/LWA simulator,
// and, in real time, test/awssim's Secrets Manager rotation engine and SQS event source mapping.
// The functions reach Secrets Manager through the engine's proxy, which forwards every call to moto
// but RotateSecret and refuses, as the service does, a ClientRequestToken reused for another value.
package harness

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/spapi-lwa/secret-rotation/internal/managed"
	"github.com/spapi-lwa/secret-rotation/test/awssim"
	"github.com/spapi-lwa/secret-rotation/test/logsink"
	"github.com/spapi-lwa/secret-rotation/test/spapisim"
)

// Fixed values of the local account.
const (
	Region    = "us-east-1"
	AccountID = "123456789012"
	// RotationFunctionARN is the rotation function's ARN as the secrets name it.
	RotationFunctionARN = "arn:aws:lambda:" + Region + ":" + AccountID + ":function:RotateSecretFunction"
)

// Options configure a Stack. Zero values have test-friendly defaults.
type Options struct {
	BinDir             string            // prebuilt <function>/bootstrap; empty builds into a temp dir
	RotationTimeout    time.Duration     // the rotation function's deadline (20 s); the others get 30 s
	RotationRetryDelay time.Duration     // the wait before a failed rotation is retried (2 s)
	RotationAttempts   int               // bound on the attempts of a rotation (5)
	Env                map[string]string // added to every function's environment

	// The simulated application has random ids and secret, expiring in 30 days by default.
	InitialExpiry time.Time
	DeliveryDelay time.Duration   // before a new-secret notification (1 s)
	NotEnrolled   bool            // no new-secret queue registered (rotate → 400)
	Faults        spapisim.Faults // the simulator's initial fault knobs

	Instances map[string]int // instances of a function, by name (default 2 of rotate-secret, 1 of the others)
	// WrapPeer, if set, maps each endpoint a function gets (function, Peer*, URL) to the URL it gets
	// instead, e.g. a proxy.
	WrapPeer     func(function, peer, url string) string
	AroundInvoke AroundInvoke // if set, wraps every invocation of a function

	LogFile string      // if set, receives a copy of every log
	OnEvent func(Event) // called for every timeline event as it happens
}

// Peers a function reaches, as WrapPeer names them.
const (
	PeerSecretsManager = "secretsmanager" // the rotation engine's Secrets Manager proxy
	PeerSNS            = "sns"            // SNS (moto)
	PeerAmazon         = "amazon"         // the SP-API/LWA simulator (LWA_TOKEN_URL and SP_API_ENDPOINT)
)

// Event is one timeline entry; SecretARN and Rotation (RotationSucceeded or "abandoned", after
// RotationAttempts attempts) are set on the one that ends a rotation the engine ran.
type Event struct {
	Time      time.Time
	What      string
	SecretARN string
	Rotation  string
}

// RotationSucceeded ends a rotation whose four steps succeeded and whose AWSPENDING was removed.
const RotationSucceeded = "succeeded"

// Stack is a running local stack.
type Stack struct {
	Sim            *spapisim.Sim
	SecretsManager *secretsmanager.Client // straight to moto, as SQS and SNS
	SQS            *sqs.Client
	SNS            *sns.Client

	MotoURL, ProxyURL, SimURL          string
	NewSecretQueueURL, NewSecretDLQURL string
	ExpiryQueueURL, ExpiryDLQURL       string
	AlertQueueURL, AlertTopicARN       string
	ClientID, ApplicationID            string
	InitialSecret                      string

	opts    Options
	ctx     context.Context // canceled by Close
	cancel  context.CancelFunc
	closers []func() // what Close undoes, in the order it was started
	pools   map[string]*pool
	proxy   *httputil.ReverseProxy // to moto
	rot     *awssim.Engine         // Secrets Manager's rotation engine
	maps    []*awssim.Mapping
	wg      sync.WaitGroup
	logs    map[string]*logsink.Buffer // by function, "moto", and "" for all functions

	mu       sync.Mutex
	timeline []Event
	alerts   []Alert
	steps    []StepRecord // every rotation step the engine invoked
}

// Start starts a stack. On error everything started so far is stopped.
func Start(ctx context.Context, opts Options) (_ *Stack, err error) {
	started := time.Now()
	opts.InitialExpiry = cmp.Or(opts.InitialExpiry, time.Now().Add(30*24*time.Hour).UTC().Truncate(time.Second))
	s := &Stack{opts: opts, pools: map[string]*pool{},
		ClientID:      "amzn1.application-oa2-client." + randomHex(16),
		ApplicationID: "amzn1.sp.solution." + randomHex(8),
		InitialSecret: spapisim.SecretPrefix + randomHex(32)}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	rie, err := RIEPath(root)
	if err != nil {
		return nil, err
	}
	if err := CheckMoto(ctx); err != nil {
		return nil, err
	}
	if err := s.openLogs(); err != nil {
		return nil, err
	}
	binDir, err := s.bootstraps(ctx, root)
	if err != nil {
		return nil, err
	}
	moto, url, err := startMoto(ctx, s.logs["moto"])
	if err != nil {
		return nil, err
	}
	s.closers = append(s.closers, moto.Stop)
	s.MotoURL = url
	s.emit("moto is up at %s", s.MotoURL)
	cfg := awsConfig(s.MotoURL)
	s.SecretsManager, s.SQS, s.SNS = secretsmanager.NewFromConfig(cfg), sqs.NewFromConfig(cfg), sns.NewFromConfig(cfg)
	if err := s.createQueues(ctx); err != nil {
		return nil, err
	}
	if err := s.startSim(s.ctx); err != nil {
		return nil, err
	}
	if err := s.startEngine(); err != nil {
		return nil, err
	}
	if err := s.startFunctions(ctx, rie, binDir); err != nil {
		return nil, err
	}
	s.emit("functions running under aws-lambda-rie")
	s.maps = []*awssim.Mapping{
		s.startMapping(s.ctx, "new-secret", s.NewSecretQueueURL, FunctionReceive),
		s.startMapping(s.ctx, "expiry", s.ExpiryQueueURL, FunctionExpiry),
	}
	s.emit("stack ready in %s", time.Since(started).Round(time.Millisecond))
	return s, nil
}

// openLogs makes the log buffers; every function's log also goes to the "" buffer, and every log to LogFile.
func (s *Stack) openLogs() error {
	var file io.Writer
	if s.opts.LogFile != "" {
		f, err := os.Create(s.opts.LogFile)
		if err != nil {
			return fmt.Errorf("harness: create log file: %w", err)
		}
		s.closers = append(s.closers, func() { f.Close() })
		file = f
	}
	s.logs = map[string]*logsink.Buffer{"": {Tee: file}, "moto": {Tee: file}}
	for _, n := range Functions {
		s.logs[n] = &logsink.Buffer{Tee: s.logs[""]}
	}
	return nil
}

// bootstraps returns BinDir, or a temp dir it builds the bootstraps into.
func (s *Stack) bootstraps(ctx context.Context, root string) (string, error) {
	if s.opts.BinDir != "" {
		return s.opts.BinDir, nil
	}
	dir, err := os.MkdirTemp("", "sp-api-lwa-stack-")
	if err != nil {
		return "", fmt.Errorf("harness: temp dir: %w", err)
	}
	s.closers = append(s.closers, func() { os.RemoveAll(dir) })
	t0 := time.Now()
	if err := Build(ctx, root, dir); err != nil {
		return "", err
	}
	s.emit("built the four bootstraps in %s", time.Since(t0).Round(time.Millisecond))
	return dir, nil
}

func (s *Stack) startSim(ctx context.Context) (err error) {
	cfg := spapisim.Config{
		ClientID: s.ClientID, ApplicationID: s.ApplicationID,
		InitialSecret: s.InitialSecret, InitialExpiry: s.opts.InitialExpiry,
		ExpiryDeliverer: spapisim.SQSDeliverer{Client: s.SQS, QueueURL: s.ExpiryQueueURL},
		DeliveryDelay:   cmp.Or(s.opts.DeliveryDelay, time.Second), Faults: s.opts.Faults,
	}
	if !s.opts.NotEnrolled {
		cfg.NewSecretDeliverer = spapisim.SQSDeliverer{Client: s.SQS, QueueURL: s.NewSecretQueueURL}
	}
	s.Sim = spapisim.New(cfg)
	if s.SimURL, err = s.serve(retryAfter(s.Sim.Handler())); err != nil {
		return err
	}
	s.closers = append(s.closers, s.wg.Wait) // the simulator and the mappings, once canceled
	s.wg.Go(func() { s.Sim.Run(ctx) })
	s.emit("SP-API/LWA simulator is up at %s", s.SimURL)
	return nil
}

// startFunctions starts each function's instances, one after the other.
func (s *Stack) startFunctions(ctx context.Context, rie, binDir string) error {
	for _, name := range Functions {
		n, timeout := 1, 30*time.Second
		if name == FunctionRotate {
			n, timeout = 2, cmp.Or(s.opts.RotationTimeout, 20*time.Second)
		}
		n = cmp.Or(max(s.opts.Instances[name], 0), n)
		p := &pool{free: make(chan *instance, n)}
		s.pools[name] = p
		for range n {
			bootstrap := filepath.Join(binDir, name, "bootstrap")
			in, err := startInstance(ctx, rie, name, bootstrap, timeout, s.env(name), s.logs[name])
			if err != nil {
				return err
			}
			s.closers = append(s.closers, in.proc.Stop)
			p.all = append(p.all, in)
			p.free <- in
		}
	}
	return nil
}

// env returns function's environment, its endpoints as WrapPeer rewrites them.
func (s *Stack) env(function string) map[string]string {
	wrap := s.opts.WrapPeer
	if wrap == nil {
		wrap = func(_, _, url string) string { return url }
	}
	amazon := wrap(function, PeerAmazon, s.SimURL)
	env := map[string]string{
		"AWS_REGION":                       Region,
		"AWS_DEFAULT_REGION":               Region,
		"AWS_ACCESS_KEY_ID":                "testing",
		"AWS_SECRET_ACCESS_KEY":            "testing",
		"AWS_EC2_METADATA_DISABLED":        "true",
		"AWS_ENDPOINT_URL":                 s.MotoURL,
		"AWS_ENDPOINT_URL_SECRETS_MANAGER": wrap(function, PeerSecretsManager, s.ProxyURL),
		"AWS_ENDPOINT_URL_SNS":             wrap(function, PeerSNS, s.MotoURL),
		"ALERT_TOPIC_ARN":                  s.AlertTopicARN,
		"LWA_TOKEN_URL":                    amazon + spapisim.TokenPath,
		"SP_API_ENDPOINT":                  amazon,
		// The watchdog's: a secret rotated by any other function is FOREIGN_ROTATION_FUNCTION.
		"ROTATE_SECRET_FUNCTION_ARN": RotationFunctionARN,
	}
	maps.Copy(env, s.opts.Env)
	return env
}

// BootstrapPID returns the pid of the bootstrap under function's first aws-lambda-rie.
func (s *Stack) BootstrapPID(function string) (int, bool) {
	return childPID(s.pools[function].all[0].proc.Pid())
}

func randomHex(n int) string {
	b := make([]byte, (n+1)/2)
	rand.Read(b)
	return hex.EncodeToString(b)[:n]
}

func (s *Stack) serve(h http.Handler) (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("harness: listen: %w", err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	s.closers = append(s.closers, func() { srv.Close() })
	go srv.Serve(l)
	return "http://" + l.Addr().String(), nil
}

func queueARN(url string) string {
	return "arn:aws:sqs:" + Region + ":" + AccountID + ":" + filepath.Base(url)
}

// createQueues creates the queues, each after its dead-letter queue, and the alert topic.
func (s *Stack) createQueues(ctx context.Context) error {
	for _, q := range []struct {
		name     string
		url, dlq *string
	}{
		{"sp-api-lwa-new-secret-dlq", &s.NewSecretDLQURL, nil},
		{"sp-api-lwa-new-secret", &s.NewSecretQueueURL, &s.NewSecretDLQURL},
		{"sp-api-lwa-secret-expiry-dlq", &s.ExpiryDLQURL, nil},
		{"sp-api-lwa-secret-expiry", &s.ExpiryQueueURL, &s.ExpiryDLQURL},
		{"sp-api-lwa-alerts", &s.AlertQueueURL, nil},
	} {
		in := &sqs.CreateQueueInput{QueueName: aws.String(q.name)}
		if q.dlq != nil {
			// Three receives, two seconds apart: redrives are quick.
			redrive, _ := json.Marshal(map[string]any{"deadLetterTargetArn": queueARN(*q.dlq), "maxReceiveCount": 3})
			in.Attributes = map[string]string{"RedrivePolicy": string(redrive), "VisibilityTimeout": "2"}
		}
		out, err := s.SQS.CreateQueue(ctx, in)
		if err != nil {
			return fmt.Errorf("harness: create queue %s: %w", q.name, err)
		}
		*q.url = aws.ToString(out.QueueUrl)
	}
	t, err := s.SNS.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("sp-api-lwa-alerts")})
	if err != nil {
		return fmt.Errorf("harness: create topic: %w", err)
	}
	s.AlertTopicARN = aws.ToString(t.TopicArn)
	if _, err := s.SNS.Subscribe(ctx, &sns.SubscribeInput{TopicArn: t.TopicArn, Protocol: aws.String("sqs"),
		Endpoint: aws.String(queueARN(s.AlertQueueURL))}); err != nil {
		return fmt.Errorf("harness: subscribe alert queue: %w", err)
	}
	return nil
}

func (s *Stack) emit(format string, args ...any) { s.record(Event{What: fmt.Sprintf(format, args...)}) }

func (s *Stack) record(ev Event) {
	ev.Time = time.Now()
	s.mu.Lock()
	s.timeline = append(s.timeline, ev)
	s.mu.Unlock()
	if s.opts.OnEvent != nil {
		s.opts.OnEvent(ev)
	}
}

// Timeline returns every event so far.
func (s *Stack) Timeline() []Event { return locked(s, &s.timeline) }

// Steps returns every rotation step the engine invoked, with its result.
func (s *Stack) Steps() []StepRecord { return locked(s, &s.steps) }

// locked returns a copy of *v, one of s's lists.
func locked[T any](s *Stack, v *[]T) []T {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(*v)
}

// Logs returns the output of one function (or "moto"), or of all functions when name is "".
func (s *Stack) Logs(name string) string { return s.logs[name].String() }

// Close stops everything. It is safe to call more than once.
func (s *Stack) Close() {
	s.cancel()
	for _, c := range slices.Backward(s.closers) {
		c()
	}
	s.closers = nil
}

// SecretDocument is the managed secret's value.
type SecretDocument struct {
	ClientID              string `json:"clientId"`
	ClientSecret          string `json:"clientSecret"`
	ClientSecretExpiresAt string `json:"clientSecretExpiresAt,omitempty"`
	RefreshToken          string `json:"refreshToken,omitempty"`
}

// SeedOptions describe a managed secret to create.
type SeedOptions struct {
	Name             string          // default "sp-api-lwa/<application id>"
	Document         *SecretDocument // default the simulator's client id and initial secret
	Rotation         bool            // enables rotation without rotating, as a schedule does
	RotationFunction string          // the rotation Lambda (default RotationFunctionARN)
	NoTag            bool            // leaves out the sp-api-lwa:client-id tag
}

// Seed creates a managed secret and returns its ARN.
func (s *Stack) Seed(ctx context.Context, o SeedOptions) (string, error) {
	o.Name = cmp.Or(o.Name, "sp-api-lwa/"+s.ApplicationID)
	doc := cmp.Or(o.Document, &SecretDocument{ClientID: s.ClientID, ClientSecret: s.InitialSecret,
		ClientSecretExpiresAt: s.opts.InitialExpiry.UTC().Format(time.RFC3339), RefreshToken: "Atzr|local-refresh-token"})
	b, _ := json.Marshal(doc)
	in := &secretsmanager.CreateSecretInput{Name: aws.String(o.Name), SecretString: aws.String(string(b))}
	if !o.NoTag {
		in.Tags = []smtypes.Tag{{Key: aws.String(managed.TagClientID), Value: aws.String(doc.ClientID)}}
	}
	out, err := s.SecretsManager.CreateSecret(ctx, in)
	if err != nil {
		return "", fmt.Errorf("harness: create secret %s: %w", o.Name, err)
	}
	arn := aws.ToString(out.ARN)
	if o.Rotation { // moto keeps the rules of a RotateSecret naming a Lambda it does not know, and AWSPENDING
		rot, err := s.rotateSecret(ctx, &secretsmanager.RotateSecretInput{SecretId: out.ARN, RotateImmediately: aws.Bool(false),
			RotationLambdaARN: aws.String(cmp.Or(o.RotationFunction, RotationFunctionARN)),
			RotationRules:     &smtypes.RotationRulesType{AutomaticallyAfterDays: aws.Int64(30)}})
		if err == nil {
			err = s.finish(arn, aws.ToString(rot.VersionId))
		}
		if err != nil {
			return "", fmt.Errorf("harness: enable rotation of %s: %w", o.Name, err)
		}
	}
	s.emit("seeded secret %s (tagged %v, rotation %v)", o.Name, !o.NoTag, o.Rotation)
	return arn, nil
}

// StartRotation is a scheduled rotation: RotateSecret through the engine; it returns the new version id.
func (s *Stack) StartRotation(ctx context.Context, secretID string) (string, error) {
	out, err := s.rotateSecret(ctx, &secretsmanager.RotateSecretInput{SecretId: aws.String(secretID)})
	if err != nil {
		return "", fmt.Errorf("harness: start rotation of %s: %w", secretID, err)
	}
	return aws.ToString(out.VersionId), nil
}

// Version is one version of a secret.
type Version struct {
	ID      string
	Stages  []string
	Created time.Time // moto: seconds; for a version without a value, the time of the listing
	Value   string    // "" for a version without a value
}

// Fingerprint returns "sha256:" and 8 hex digits of value's digest.
func Fingerprint(value string) string {
	if value == "" {
		return "-"
	}
	h := sha256.Sum256([]byte(value))
	return "sha256:" + hex.EncodeToString(h[:4])
}

// Document parses the value.
func (v Version) Document() (d SecretDocument, err error) {
	err = json.Unmarshal([]byte(v.Value), &d)
	return d, err
}

// Has reports whether the version carries stage.
func (v Version) Has(stage string) bool { return slices.Contains(v.Stages, stage) }

// Versions returns every version of the secret, oldest first.
func (s *Stack) Versions(ctx context.Context, secretID string) ([]Version, error) {
	var out []Version
	pages := secretsmanager.NewListSecretVersionIdsPaginator(s.SecretsManager,
		&secretsmanager.ListSecretVersionIdsInput{SecretId: aws.String(secretID), IncludeDeprecated: aws.Bool(true)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("harness: list versions of %s: %w", secretID, err)
		}
		for _, e := range page.Versions {
			v := Version{ID: aws.ToString(e.VersionId), Stages: e.VersionStages, Created: aws.ToTime(e.CreatedDate)}
			got, err := s.SecretsManager.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{
				SecretId: aws.String(secretID), VersionId: e.VersionId})
			if err == nil {
				v.Value, v.Created = aws.ToString(got.SecretString), cmp.Or(aws.ToTime(got.CreatedDate), v.Created)
			}
			out = append(out, v)
		}
	}
	slices.SortStableFunc(out, func(a, b Version) int { return a.Created.Compare(b.Created) })
	return out, nil
}

// Stage returns the version holding stage.
func (s *Stack) Stage(ctx context.Context, secretID, stage string) (Version, bool, error) {
	vs, err := s.Versions(ctx, secretID)
	if i := slices.IndexFunc(vs, func(v Version) bool { return v.Has(stage) }); i >= 0 {
		return vs[i], true, nil
	}
	return Version{}, false, err
}

// Tags returns the secret's tags.
func (s *Stack) Tags(ctx context.Context, secretID string) (map[string]string, error) {
	d, err := s.SecretsManager.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(secretID)})
	if err != nil {
		return nil, fmt.Errorf("harness: describe %s: %w", secretID, err)
	}
	return managed.TagMap(d.Tags), nil
}

// CurrentIsNewest reports whether AWSCURRENT holds the newest secret the simulator issued.
func (s *Stack) CurrentIsNewest(ctx context.Context, secretID string) (bool, error) {
	v, _, err := s.Stage(ctx, secretID, managed.StageCurrent)
	d, _ := v.Document()
	cur, _ := s.Sim.Current()
	return err == nil && d.ClientSecret == cur, err
}

// WaitFor polls cond every 500 ms until it is true, it fails, or timeout.
func (s *Stack) WaitFor(ctx context.Context, timeout time.Duration, what string, cond func(context.Context) (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		ok, err := cond(ctx)
		if err != nil && ctx.Err() == nil {
			return fmt.Errorf("harness: wait for %s: %w", what, err)
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("harness: wait for %s: timed out after %s", what, timeout)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// Settle waits until no rotation runs or waits for a retry and both queues are empty and idle.
func (s *Stack) Settle(ctx context.Context, timeout time.Duration) error {
	return s.WaitFor(ctx, timeout, "the stack to settle", func(ctx context.Context) (bool, error) {
		if s.busy() || s.Sim.Stats().Pending > 0 {
			return false, nil
		}
		for _, m := range s.maps {
			out, err := s.SQS.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
				QueueUrl: aws.String(m.Queue.(sqsQueue).url), AttributeNames: []sqstypes.QueueAttributeName{
					"ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"}})
			if err != nil {
				return false, fmt.Errorf("harness: queue attributes: %w", err)
			}
			if !m.Idle() || out.Attributes["ApproximateNumberOfMessages"] != "0" ||
				out.Attributes["ApproximateNumberOfMessagesNotVisible"] != "0" {
				return false, nil
			}
		}
		return true, nil
	})
}

// Alert is one alert read from the topic's SQS subscription.
type Alert struct {
	Subject    string
	Attributes map[string]string
	Default    string         // the "default" document as received
	Doc        map[string]any // Default decoded
}

// Field returns a string field of the document.
func (a Alert) Field(k string) string { s, _ := a.Doc[k].(string); return s }

// Alerts drains the alert subscription queue and returns every alert so far, in order of arrival.
func (s *Stack) Alerts(ctx context.Context) ([]Alert, error) {
	q := sqsQueue{s.SQS, s.AlertQueueURL, 30, 0}
	for {
		msgs, err := q.Receive(ctx, 10)
		if err != nil || len(msgs) == 0 {
			return locked(s, &s.alerts), err
		}
		for _, m := range msgs {
			var env struct {
				Subject, Message  string
				MessageAttributes map[string]struct{ Value string }
			}
			if err := json.Unmarshal([]byte(m.Body), &env); err != nil {
				return nil, fmt.Errorf("harness: decode SNS envelope: %w", err)
			}
			a := Alert{Subject: env.Subject, Default: env.Message, Attributes: map[string]string{}}
			for k, v := range env.MessageAttributes {
				a.Attributes[k] = v.Value
			}
			json.Unmarshal([]byte(env.Message), &a.Doc)
			s.mu.Lock()
			s.alerts = append(s.alerts, a)
			s.mu.Unlock()
			s.emit("alert: %s", a.Subject)
			q.Delete(ctx, m)
		}
	}
}

// retryAfter adds "Retry-After: 1" to 429 answers without one, so that clients retry within the
// stack's short deadlines instead of waiting a whole rate interval.
func retryAfter(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(retryAfterWriter{w}, r) })
}

type retryAfterWriter struct{ http.ResponseWriter }

func (w retryAfterWriter) WriteHeader(status int) {
	if status == http.StatusTooManyRequests && w.Header().Get("Retry-After") == "" {
		w.Header().Set("Retry-After", "1")
	}
	w.ResponseWriter.WriteHeader(status)
}

func awsConfig(url string) aws.Config {
	return aws.Config{Region: Region, BaseEndpoint: aws.String(url),
		Credentials: credentials.NewStaticCredentialsProvider("testing", "testing", "")}
}
