package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"github.com/spapi-lwa/secret-rotation/internal/managed"
	"github.com/spapi-lwa/secret-rotation/internal/spapisim"
)

// The local stack of the rotation and batch benchmarks. It is assembled here
// rather than taken from internal/harness because the benchmark needs a
// timing proxy of its own between each function and each of its peers, and
// the pid of every bootstrap; the pieces are the same: moto as Secrets
// Manager, SQS and SNS, the SP-API/LWA simulator, the functions as built
// bootstraps under aws-lambda-rie, and the two parts of AWS that moto does
// not play (the rotation engine and the SQS event source mapping).

const (
	region        = "us-east-1"
	rotationARN   = "arn:aws:lambda:us-east-1:123456789012:function:RotateSecretFunction"
	batchSize     = 10
	stepTimeout   = 60 * time.Second
	benchClientID = "amzn1.application-oa2-client.benchrotation0000000000"
	benchAppID    = "amzn1.sp.solution.benchrotation0000000000000000"
)

// stack is moto, the simulator, the engine and the function instances.
type stack struct {
	root, work string
	moto       *exec.Cmd
	motoDone   chan struct{}
	motoURL    string
	sm         *secretsmanager.Client // moto, not metered
	sqs        *sqs.Client
	sns        *sns.Client
	topicARN   string
	queueURL   string
	queueARN   string
	sim        *spapisim.Sim
	simURL     string
	eng        *engine
	servers    []*http.Server
	instances  map[string]*instance
	meters     map[string]*meter

	mu          sync.Mutex
	deliveredAt time.Time
}

func newStack(root, work string) *stack {
	return &stack{root: root, work: work, instances: map[string]*instance{}, meters: map[string]*meter{}}
}

// serve serves h on a free 127.0.0.1 port and returns its URL.
func (s *stack) serve(h http.Handler) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	s.servers = append(s.servers, srv)
	go srv.Serve(ln)
	return "http://" + ln.Addr().String(), nil
}

func (s *stack) close() {
	for _, in := range s.instances {
		in.stop()
	}
	for _, srv := range s.servers {
		srv.Close()
	}
	if s.moto != nil {
		syscall.Kill(-s.moto.Process.Pid, syscall.SIGTERM)
		select {
		case <-s.motoDone:
		case <-time.After(3 * time.Second):
			syscall.Kill(-s.moto.Process.Pid, syscall.SIGKILL)
			<-s.motoDone
		}
	}
}

// start runs moto and the simulator, and creates the topic and the queue.
func (s *stack) start(ctx context.Context) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	s.motoURL = fmt.Sprintf("http://127.0.0.1:%d", port)
	logs := &syncBuffer{}
	s.moto = exec.Command("python3", "-m", "moto.server", "-H", "127.0.0.1", "-p", strconv.Itoa(port))
	s.moto.Stdout, s.moto.Stderr = logs, logs
	s.moto.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.moto.Start(); err != nil {
		return fmt.Errorf("start moto: %w", err)
	}
	s.motoDone = make(chan struct{})
	go func() { s.moto.Wait(); close(s.motoDone) }()
	if err := waitHTTP(ctx, s.motoURL+"/moto-api/", s.motoDone, 30*time.Second); err != nil {
		return fmt.Errorf("moto: %w\n%s", err, tail(logs.String(), 2000))
	}
	creds := credentials.NewStaticCredentialsProvider("testing", "testing", "")
	s.sm = secretsmanager.New(secretsmanager.Options{Region: region, Credentials: creds, BaseEndpoint: aws.String(s.motoURL)})
	s.sqs = sqs.New(sqs.Options{Region: region, Credentials: creds, BaseEndpoint: aws.String(s.motoURL)})
	s.sns = sns.New(sns.Options{Region: region, Credentials: creds, BaseEndpoint: aws.String(s.motoURL)})

	t, err := s.sns.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("bench-alerts")})
	if err != nil {
		return fmt.Errorf("create topic: %w", err)
	}
	s.topicARN = aws.ToString(t.TopicArn)
	q, err := s.sqs.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("bench-new-secret")})
	if err != nil {
		return fmt.Errorf("create queue: %w", err)
	}
	s.queueURL = aws.ToString(q.QueueUrl)
	a, err := s.sqs.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		return fmt.Errorf("queue attributes: %w", err)
	}
	s.queueARN = a.Attributes[string(sqstypes.QueueAttributeNameQueueArn)]

	s.sim = spapisim.New(spapisim.Config{
		ClientID:      benchClientID,
		ApplicationID: benchAppID,
		InitialSecret: "amzn1.oa2-cs.v1.bench" + randomHex(16),
		DeliveryDelay: 500 * time.Millisecond,
		NewSecretDeliverer: spapisim.DelivererFunc(func(ctx context.Context, body []byte) error {
			_, err := s.sqs.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(s.queueURL), MessageBody: aws.String(string(body))})
			if err == nil {
				s.mu.Lock()
				if s.deliveredAt.IsZero() {
					s.deliveredAt = time.Now()
				}
				s.mu.Unlock()
			}
			return err
		}),
	})
	go s.sim.Run(ctx)
	if s.simURL, err = s.serve(s.sim.Handler()); err != nil {
		return err
	}
	s.eng = &engine{sm: s.sm, fwd: forward(s.motoURL), running: map[string]bool{}}
	return nil
}

// waitHTTP polls url until it answers, the process ends or the time is up.
func waitHTTP(ctx context.Context, url string, done <-chan struct{}, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	c := &http.Client{Timeout: time.Second}
	for {
		if resp, err := c.Get(url); err == nil {
			resp.Body.Close()
			return nil
		}
		select {
		case <-done:
			return errors.New("exited before it answered")
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no answer from %s within %s", url, timeout)
		}
	}
}

// startFunction runs function under rie with its own timing proxies in front
// of Secrets Manager (the engine), SNS and, for rotate-secret, LWA and SP-API.
func (s *stack) startFunction(rie, function, bootstrap string, extra map[string]string) error {
	m := newMeter()
	s.meters[function] = m
	smURL, err := s.serve(&timingProxy{peer: "Secrets Manager", meter: m, classify: jsonTarget, next: s.eng})
	if err != nil {
		return err
	}
	snsURL, err := s.serve(&timingProxy{peer: "SNS", meter: m, classify: queryAction, next: forward(s.motoURL)})
	if err != nil {
		return err
	}
	amazonURL, err := s.serve(&timingProxy{meter: m, classify: amazonPath, next: forward(s.simURL)})
	if err != nil {
		return err
	}
	env := functionEnv(function, "http://127.0.0.1:9", s.topicARN, extra)
	env["AWS_ENDPOINT_URL_SECRETS_MANAGER"] = smURL
	env["AWS_ENDPOINT_URL_SNS"] = snsURL
	env["LWA_TOKEN_URL"] = amazonURL + "/auth/o2/token"
	env["SP_API_ENDPOINT"] = amazonURL
	env["AWS_LAMBDA_FUNCTION_TIMEOUT"] = strconv.Itoa(int(stepTimeout / time.Second))
	home := filepath.Join(s.work, "home")
	os.MkdirAll(home, 0o755)
	in, err := startInstance(rie, function, bootstrap, sandboxEnv(home, env))
	if err != nil {
		return err
	}
	s.instances[function] = in
	return nil
}

// invocation is the measure of one invocation.
type invocation struct {
	label     string
	roundTrip time.Duration // POST to the emulator until its answer
	peer      time.Duration // time with at least one peer request in flight
	cpu       time.Duration // CPU time of the bootstrap (all threads)
	calls     map[string]int
	funcErr   string
	payload   []byte
	records   int // SQS records in the event
}

// handler is the round trip minus the peer time.
func (i invocation) handler() time.Duration { return i.roundTrip - i.peer }

// measure invokes function with event and accounts its peer time and CPU.
func (s *stack) measure(ctx context.Context, function, label string, event any) (invocation, error) {
	in, m := s.instances[function], s.meters[function]
	pid, _ := in.bootstrapPID()
	cpu0, _ := cpuTime(pid)
	before := m.snapshot()
	start := time.Now()
	res, err := in.invokeWhenUp(ctx, event, 10*time.Second)
	rt := time.Since(start)
	after := m.snapshot()
	if pid == 0 {
		pid, _ = in.bootstrapPID()
	}
	cpu1, _ := cpuTime(pid)
	if err != nil {
		return invocation{}, err
	}
	return invocation{
		label: label, roundTrip: rt, peer: after.busy - before.busy, cpu: cpu1 - cpu0,
		calls: diff(before.calls, after.calls), funcErr: res.funcErr, payload: res.payload,
	}, nil
}

// peakRSS returns VmHWM of function's bootstrap, in KiB.
func (s *stack) peakRSS(function string) (int64, bool) {
	pid, ok := s.instances[function].bootstrapPID()
	if !ok {
		return 0, false
	}
	return statusKB(pid, "VmHWM")
}

// seed creates a managed secret for clientID with rotation enabled and
// returns its ARN.
func (s *stack) seed(ctx context.Context, name, clientID, secret string) (string, error) {
	doc, _ := json.Marshal(map[string]string{
		"clientId": clientID, "clientSecret": secret, "refreshToken": "Atzr|bench-refresh-" + randomHex(8),
	})
	out, err := s.sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name: aws.String(name), SecretString: aws.String(string(doc)),
		Tags: []smtypes.Tag{{Key: aws.String(managed.TagClientID), Value: aws.String(clientID)}},
	})
	if err != nil {
		return "", fmt.Errorf("seed %s: %w", name, err)
	}
	arn := aws.ToString(out.ARN)
	token, err := s.eng.motoRotate(ctx, arn, "")
	if err != nil {
		return "", fmt.Errorf("enable rotation of %s: %w", name, err)
	}
	if _, err := s.sm.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{
		SecretId: aws.String(arn), VersionStage: aws.String("AWSPENDING"), RemoveFromVersionId: aws.String(token),
	}); err != nil {
		return "", fmt.Errorf("enable rotation of %s: %w", name, err)
	}
	return arn, nil
}

// engine plays Secrets Manager's rotation engine in front of moto: every
// call goes to moto except RotateSecret, which creates the empty AWSPENDING
// version as the service does and then either runs the four steps (the
// secret of the rotation benchmark) or stops there (the batch benchmarks,
// whose subject is the function that called RotateSecret).
type engine struct {
	sm  *secretsmanager.Client
	fwd http.Handler

	mu      sync.Mutex
	running map[string]bool
	run     func(arn, token string) // set for the rotation benchmark
	runFor  string                  // the ARN run applies to
	started int                     // RotateSecret calls that started a rotation
	refused int                     // RotateSecret calls refused: a rotation is incomplete
}

func (e *engine) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("X-Amz-Target") != "secretsmanager.RotateSecret" {
		e.fwd.ServeHTTP(w, r)
		return
	}
	var in struct{ SecretId, ClientRequestToken string }
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err := json.Unmarshal(body, &in); err != nil {
		writeAWSError(w, "InvalidParameterException", "malformed request")
		return
	}
	arn, token, err := e.rotate(r.Context(), in.SecretId, in.ClientRequestToken)
	if err != nil {
		var ae smithy.APIError
		if errors.As(err, &ae) {
			writeAWSError(w, ae.ErrorCode(), ae.ErrorMessage())
			return
		}
		writeAWSError(w, "InternalServiceError", "the local rotation engine failed")
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	json.NewEncoder(w).Encode(map[string]string{"ARN": arn, "VersionId": token})
}

func writeAWSError(w http.ResponseWriter, code, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-ErrorType", code)
	w.WriteHeader(http.StatusBadRequest)
	json.NewEncoder(w).Encode(map[string]string{"__type": code, "message": msg})
}

// rotate is RotateSecret: refused while a rotation is incomplete.
func (e *engine) rotate(ctx context.Context, secretID, token string) (string, string, error) {
	d, err := e.sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(secretID)})
	if err != nil {
		return "", "", err
	}
	arn := aws.ToString(d.ARN)
	pending := false
	for _, stages := range d.VersionIdsToStages {
		hasPending, hasCurrent := false, false
		for _, st := range stages {
			hasPending = hasPending || st == "AWSPENDING"
			hasCurrent = hasCurrent || st == "AWSCURRENT"
		}
		pending = pending || (hasPending && !hasCurrent)
	}
	e.mu.Lock()
	if e.running[arn] || pending {
		e.refused++
		e.mu.Unlock()
		return "", "", &smithy.GenericAPIError{Code: "InvalidRequestException",
			Message: "A previous rotation isn't complete. That rotation will be reattempted."}
	}
	e.started++
	run := e.run != nil && e.runFor == arn
	if run {
		e.running[arn] = true
	}
	e.mu.Unlock()
	token, err = e.motoRotate(ctx, arn, token)
	if err != nil {
		e.mu.Lock()
		e.running[arn] = false
		e.mu.Unlock()
		return "", "", err
	}
	if run {
		go e.run(arn, token)
	}
	return arn, token, nil
}

// finished marks the rotation of arn as over.
func (e *engine) finished(arn string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.running[arn] = false
}

// motoRotate makes moto create an empty AWSPENDING version under token and
// enable rotation. moto then fails to find the (nonexistent) rotation Lambda,
// after it has done both: that error is the expected answer.
func (e *engine) motoRotate(ctx context.Context, arn, token string) (string, error) {
	if token == "" {
		token = newUUID()
	}
	_, err := e.sm.RotateSecret(ctx, &secretsmanager.RotateSecretInput{
		SecretId: aws.String(arn), ClientRequestToken: aws.String(token),
		RotationLambdaARN: aws.String(rotationARN),
		RotationRules:     &smtypes.RotationRulesType{AutomaticallyAfterDays: aws.Int64(30)},
	})
	var nf *smtypes.ResourceNotFoundException
	if err != nil && !errors.As(err, &nf) {
		return "", err
	}
	return token, nil
}

// rotationRun is the measure of one full rotation.
type rotationRun struct {
	steps    []invocation
	receives []invocation // receive-secret invocations while the rotation ran
	err      error
	start    time.Time
	end      time.Time // AWSPENDING removed
	promoted time.Time // finishSecret's UpdateSecretVersionStage answered
	delivery time.Time // the simulator sent the new-secret notification
	lwa, sp  int       // calls the simulator saw
	refused  int       // RotateSecret calls of the functions the engine refused
	current  bool      // AWSCURRENT holds the simulator's newest secret at the end
}

// rotation runs one full scheduled rotation of a freshly seeded secret:
// RotateSecret → the four steps, with the new-secret notification delivered
// through SQS to receive-secret by the event source loop.
func (s *stack) rotation(ctx context.Context) (*rotationRun, error) {
	initial, _ := s.sim.Current()
	seeded := time.Now()
	arn, err := s.seed(ctx, "bench/rotation", benchClientID, initial)
	if err != nil {
		return nil, err
	}
	// moto dates versions to the second; the new version must be dated after
	// AWSCURRENT for createSecret to adopt it.
	if d := time.Until(seeded.Add(1100 * time.Millisecond)); d > 0 {
		time.Sleep(d)
	}
	run := &rotationRun{}
	done := make(chan struct{})
	s.eng.mu.Lock()
	s.eng.runFor = arn
	s.eng.run = func(arn, token string) {
		defer close(done)
		defer s.eng.finished(arn)
		for _, step := range []string{"createSecret", "setSecret", "testSecret", "finishSecret"} {
			inv, err := s.measure(ctx, "rotate-secret", step, events.SecretsManagerSecretRotationEvent{Step: step, SecretID: arn, ClientRequestToken: token})
			if err == nil && inv.funcErr != "" {
				err = fmt.Errorf("%s failed: %s", step, inv.funcErr)
			}
			if err != nil {
				run.err = err
				return
			}
			run.steps = append(run.steps, inv)
		}
		_, run.err = s.sm.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{
			SecretId: aws.String(arn), VersionStage: aws.String("AWSPENDING"), RemoveFromVersionId: aws.String(token)})
		run.end = time.Now()
	}
	s.eng.mu.Unlock()

	before := s.sim.Stats()
	s.eng.mu.Lock()
	refused0 := s.eng.refused
	s.eng.mu.Unlock()
	esmCtx, stopESM := context.WithCancel(ctx)
	esmDone := make(chan struct{})
	go func() { defer close(esmDone); s.eventSource(esmCtx, run) }()

	run.start = time.Now()
	if _, _, err := s.eng.rotate(ctx, arn, ""); err != nil {
		stopESM()
		<-esmDone
		return nil, fmt.Errorf("start rotation: %w", err)
	}
	select {
	case <-done:
	case <-time.After(3 * stepTimeout):
		run.err = errors.New("rotation did not finish in time")
	}
	stopESM()
	<-esmDone

	after := s.sim.Stats()
	s.eng.mu.Lock()
	run.refused = s.eng.refused - refused0
	s.eng.mu.Unlock()
	run.lwa = after.TokenCalls - before.TokenCalls
	run.sp = after.RotateCalls - before.RotateCalls
	s.mu.Lock()
	run.delivery = s.deliveredAt
	s.mu.Unlock()
	run.promoted, _ = s.meters["rotate-secret"].lastEnd("Secrets Manager UpdateSecretVersionStage")
	newest, _ := s.sim.Current()
	if v, err := s.sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn), VersionStage: aws.String("AWSCURRENT")}); err == nil {
		var doc map[string]any
		json.Unmarshal([]byte(aws.ToString(v.SecretString)), &doc)
		run.current = doc["clientSecret"] == newest && newest != initial
	}
	return run, nil
}

// eventSource plays the SQS event source mapping of the new-secret queue:
// poll, invoke receive-secret with the batch, delete what succeeded.
func (s *stack) eventSource(ctx context.Context, run *rotationRun) {
	for ctx.Err() == nil {
		out, err := s.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(s.queueURL), MaxNumberOfMessages: batchSize, WaitTimeSeconds: 1,
			MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAll},
		})
		if err != nil || len(out.Messages) == 0 {
			continue
		}
		ev := events.SQSEvent{}
		for _, m := range out.Messages {
			ev.Records = append(ev.Records, events.SQSMessage{
				MessageId: aws.ToString(m.MessageId), ReceiptHandle: aws.ToString(m.ReceiptHandle),
				Body: aws.ToString(m.Body), Md5OfBody: aws.ToString(m.MD5OfBody), Attributes: m.Attributes,
				EventSource: "aws:sqs", EventSourceARN: s.queueARN, AWSRegion: region,
			})
		}
		inv, err := s.measure(ctx, "receive-secret", "delivery", ev)
		if err != nil {
			continue
		}
		inv.records = len(ev.Records)
		run.receives = append(run.receives, inv)
		var resp events.SQSEventResponse
		json.Unmarshal(inv.payload, &resp)
		failed := map[string]bool{}
		for _, f := range resp.BatchItemFailures {
			failed[f.ItemIdentifier] = true
		}
		for _, m := range out.Messages {
			if inv.funcErr == "" && !failed[aws.ToString(m.MessageId)] {
				s.sqs.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(s.queueURL), ReceiptHandle: m.ReceiptHandle})
			}
		}
	}
}

// batchRun is the measure of one SQS batch.
type batchRun struct {
	inv      invocation
	failures int
}

// notification returns the official example of type typ from
// internal/notification/testdata, decoded.
func (s *stack) notification(typ string) (map[string]any, error) {
	b, err := os.ReadFile(filepath.Join(s.root, "internal", "notification", "testdata", typ+".example.json"))
	if err != nil {
		return nil, err
	}
	var m map[string]any
	return m, json.Unmarshal(b, &m)
}

func sqsRecord(body []byte, queueARN string) events.SQSMessage {
	return events.SQSMessage{
		MessageId: newUUID(), ReceiptHandle: "bench-" + randomHex(8), Body: string(body),
		Attributes:  map[string]string{"ApproximateReceiveCount": "1", "SentTimestamp": strconv.FormatInt(time.Now().UnixMilli(), 10)},
		EventSource: "aws:sqs", EventSourceARN: queueARN, AWSRegion: region,
	}
}

// receiveBatch seeds batchSize applications and invokes receive-secret with
// one new-secret notification for each (one batch, as the event source
// mapping delivers at most 10).
func (s *stack) receiveBatch(ctx context.Context) (batchRun, error) {
	tmpl, err := s.notification("APPLICATION_OAUTH_CLIENT_NEW_SECRET")
	if err != nil {
		return batchRun{}, err
	}
	now := time.Now().UTC()
	ev := events.SQSEvent{}
	for i := range batchSize {
		clientID := fmt.Sprintf("amzn1.application-oa2-client.benchreceive%02d", i)
		if _, err := s.seed(ctx, fmt.Sprintf("bench/receive-%02d", i), clientID, "amzn1.oa2-cs.v1.old"+randomHex(16)); err != nil {
			return batchRun{}, err
		}
		n := cloneJSON(tmpl)
		n["eventTime"] = now.Format(time.RFC3339Nano)
		p := n["payload"].(map[string]any)["applicationOAuthClientNewSecret"].(map[string]any)
		p["clientId"] = clientID
		p["newClientSecret"] = "amzn1.oa2-cs.v1.new" + randomHex(16)
		p["newClientSecretExpiryTime"] = now.Add(180 * 24 * time.Hour).Format(time.RFC3339Nano)
		p["oldClientSecretExpiryTime"] = now.Add(7 * 24 * time.Hour).Format(time.RFC3339Nano)
		md := n["notificationMetadata"].(map[string]any)
		md["notificationId"] = newUUID()
		md["publishTime"] = now.Format(time.RFC3339Nano)
		body, _ := json.Marshal(n)
		ev.Records = append(ev.Records, sqsRecord(body, s.queueARN))
	}
	// Versions are dated to the second: keep the received ones after AWSCURRENT.
	time.Sleep(1100 * time.Millisecond)
	return s.batch(ctx, "receive-secret", ev)
}

// expiryBatch seeds batchSize applications and invokes expiry-alert with one
// expiry notice for each, at the days of Amazon's schedule.
func (s *stack) expiryBatch(ctx context.Context) (batchRun, error) {
	tmpl, err := s.notification("APPLICATION_OAUTH_CLIENT_SECRET_EXPIRY")
	if err != nil {
		return batchRun{}, err
	}
	days := []int{90, 60, 30, 15, 7, 1, 90, 30, 7, 1}
	now := time.Now().UTC()
	ev := events.SQSEvent{}
	for i := range batchSize {
		clientID := fmt.Sprintf("amzn1.application-oa2-client.benchexpiry%02d", i)
		if _, err := s.seed(ctx, fmt.Sprintf("bench/expiry-%02d", i), clientID, "amzn1.oa2-cs.v1.cur"+randomHex(16)); err != nil {
			return batchRun{}, err
		}
		n := cloneJSON(tmpl)
		n["eventTime"] = now.Format(time.RFC3339Nano)
		p := n["payload"].(map[string]any)["applicationOAuthClientSecretExpiry"].(map[string]any)
		p["clientId"] = clientID
		p["clientSecretExpiryTime"] = now.Add(time.Duration(days[i])*24*time.Hour + time.Hour).Format(time.RFC3339Nano)
		md := n["notificationMetadata"].(map[string]any)
		md["notificationId"] = newUUID()
		md["publishTime"] = now.Format(time.RFC3339Nano)
		body, _ := json.Marshal(n)
		ev.Records = append(ev.Records, sqsRecord(body, s.queueARN))
	}
	return s.batch(ctx, "expiry-alert", ev)
}

func (s *stack) batch(ctx context.Context, function string, ev events.SQSEvent) (batchRun, error) {
	inv, err := s.measure(ctx, function, "batch", ev)
	if err != nil {
		return batchRun{}, err
	}
	if inv.funcErr != "" {
		return batchRun{}, fmt.Errorf("%s batch failed: %s", function, inv.funcErr)
	}
	var resp events.SQSEventResponse
	if err := json.Unmarshal(inv.payload, &resp); err != nil {
		return batchRun{}, fmt.Errorf("%s batch answer: %w", function, err)
	}
	inv.records = len(ev.Records)
	return batchRun{inv: inv, failures: len(resp.BatchItemFailures)}, nil
}

// warmUp invokes each function once with an empty batch or a step for a
// missing secret, so the measured invocations are warm (the cold start is
// measured on its own).
func (s *stack) warmUp(ctx context.Context) error {
	for f := range s.instances {
		ev, _ := minimalEvent(f)
		if _, err := s.measure(ctx, f, "warm-up", ev); err != nil {
			return err
		}
	}
	return nil
}

func cloneJSON(m map[string]any) map[string]any {
	b, _ := json.Marshal(m)
	var out map[string]any
	json.Unmarshal(b, &out)
	return out
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func newUUID() string {
	b := make([]byte, 16)
	rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// sumCalls adds call maps.
func sumCalls(ms ...map[string]int) map[string]int {
	out := map[string]int{}
	for _, m := range ms {
		for k, v := range m {
			out[k] += v
		}
	}
	return out
}
