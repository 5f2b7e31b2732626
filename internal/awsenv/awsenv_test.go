package awsenv

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sns"
)

const (
	keyID     = "AKIATESTTESTTESTTEST"
	secretKey = "wJalrXUtnFEMI-not-a-real-key-0123456789"
	token     = "session-token-not-real-0123456789"
)

func TestConfig(t *testing.T) {
	base := map[string]string{"AWS_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": keyID, "AWS_SECRET_ACCESS_KEY": secretKey}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name         string
		env          map[string]string
		wantRegion   string
		wantToken    string
		wantEndpoint string // "" for none
		wantErr      []string
	}{
		{name: "lambda environment", env: with("AWS_SESSION_TOKEN", token), wantRegion: "eu-west-1", wantToken: token},
		{name: "default region", env: with("AWS_REGION", "", "AWS_DEFAULT_REGION", "us-west-2"), wantRegion: "us-west-2"},
		{name: "AWS_REGION wins", env: with("AWS_DEFAULT_REGION", "us-west-2"), wantRegion: "eu-west-1"},
		{name: "endpoint for every service", env: with("AWS_ENDPOINT_URL", "http://127.0.0.1:4566"), wantRegion: "eu-west-1", wantEndpoint: "http://127.0.0.1:4566"},
		{name: "configured endpoints ignored", env: with("AWS_ENDPOINT_URL", "http://127.0.0.1:4566", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true"), wantRegion: "eu-west-1"},
		{name: "nothing set", env: map[string]string{}, wantErr: []string{"AWS_REGION", "AWS_ACCESS_KEY_ID"}},
		{name: "secret key missing", env: with("AWS_SECRET_ACCESS_KEY", ""), wantErr: []string{"AWS_SECRET_ACCESS_KEY"}},
		{name: "endpoint variants not booleans", env: with("AWS_USE_FIPS_ENDPOINT", "yes", "AWS_USE_DUALSTACK_ENDPOINT", "1"), wantErr: []string{"AWS_USE_FIPS_ENDPOINT", "AWS_USE_DUALSTACK_ENDPOINT"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Config(func(k string) string { return tt.env[k] })
			if len(tt.wantErr) > 0 {
				if err == nil {
					t.Fatalf("Config() = nil error, want one naming %v", tt.wantErr)
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("Config() error %q does not name %s", err, w)
					}
				}
				for _, v := range []string{keyID, secretKey} {
					if strings.Contains(err.Error(), v) {
						t.Errorf("Config() error %q carries a credential", err)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("Config() error = %v", err)
			}
			if cfg.Region != tt.wantRegion {
				t.Errorf("Region = %q, want %q", cfg.Region, tt.wantRegion)
			}
			creds, err := cfg.Credentials.Retrieve(context.Background())
			if err != nil {
				t.Fatalf("Credentials.Retrieve() error = %v", err)
			}
			if creds.AccessKeyID != keyID || creds.SecretAccessKey != secretKey || creds.SessionToken != tt.wantToken {
				t.Errorf("credentials = %q/%q/%q, want the environment's", creds.AccessKeyID, creds.SecretAccessKey, creds.SessionToken)
			}
			if got := aws.ToString(cfg.BaseEndpoint); got != tt.wantEndpoint {
				t.Errorf("BaseEndpoint = %q, want %q", got, tt.wantEndpoint)
			}
		})
	}
}

// recorder is an AWS endpoint that records who called it and answers
// every request with an empty JSON or XML success.
type recorder struct {
	mu    sync.Mutex
	calls []string // Authorization header of each request
	srv   *httptest.Server
}

func newRecorder(t *testing.T, body, contentType string) *recorder {
	r := &recorder{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		io.Copy(io.Discard, req.Body)
		r.mu.Lock()
		r.calls = append(r.calls, req.Header.Get("Authorization"))
		r.mu.Unlock()
		w.Header().Set("Content-Type", contentType)
		io.WriteString(w, body)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *recorder) called() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.calls...)
}

const snsPublishXML = `<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult><MessageId>m-1</MessageId></PublishResult></PublishResponse>`

// TestServiceEndpoints runs real SDK clients against local endpoints: a
// service's own AWS_ENDPOINT_URL_<SERVICE> wins over AWS_ENDPOINT_URL, the
// requests are signed with the environment's credentials for its region,
// and the lazy SNS client publishes.
func TestServiceEndpoints(t *testing.T) {
	sm := newRecorder(t, `{"Name":"s"}`, "application/x-amz-json-1.1")
	other := newRecorder(t, snsPublishXML, "text/xml")
	env := map[string]string{
		"AWS_REGION":                       "eu-west-1",
		"AWS_ACCESS_KEY_ID":                keyID,
		"AWS_SECRET_ACCESS_KEY":            secretKey,
		"AWS_ENDPOINT_URL":                 other.srv.URL,
		"AWS_ENDPOINT_URL_SECRETS_MANAGER": sm.srv.URL,
	}
	// The service clients look these two up in the process environment
	// themselves, to decide whether to ask the configuration sources.
	for k, v := range env {
		t.Setenv(k, v)
	}
	cfg, err := Config(os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := secretsmanager.NewFromConfig(cfg).DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("s")}); err != nil {
		t.Fatalf("DescribeSecret() error = %v", err)
	}
	built := 0
	lazy := lazySNS(sync.OnceValue(func() *sns.Client { built++; return sns.NewFromConfig(cfg) }))
	if built != 0 {
		t.Fatal("lazySNS built its client before the first Publish")
	}
	out, err := lazy.Publish(ctx, &sns.PublishInput{TopicArn: aws.String("arn:aws:sns:eu-west-1:123456789012:t"), Message: aws.String("m")})
	if err != nil || aws.ToString(out.MessageId) != "m-1" {
		t.Fatalf("Publish() = %v, %v; want message id m-1", out, err)
	}
	for _, c := range []struct {
		name    string
		r       *recorder
		service string
	}{{"Secrets Manager", sm, "secretsmanager"}, {"SNS", other, "sns"}} {
		calls := c.r.called()
		if len(calls) != 1 {
			t.Fatalf("%s endpoint got %d requests, want 1", c.name, len(calls))
		}
		if want := "Credential=" + keyID + "/"; !strings.Contains(calls[0], want) || !strings.Contains(calls[0], "/eu-west-1/"+c.service+"/aws4_request") {
			t.Errorf("%s request Authorization = %q, want a signature by %s for eu-west-1/%s", c.name, calls[0], keyID, c.service)
		}
	}
}

// TestEndpointVariants: the FIPS and dual-stack switches reach the SDK's
// endpoint resolution as LoadDefaultConfig would pass them.
func TestEndpointVariants(t *testing.T) {
	env := map[string]string{"AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": keyID, "AWS_SECRET_ACCESS_KEY": secretKey}
	for _, tt := range []struct {
		fips, dual string
		wantFIPS   aws.FIPSEndpointState
		wantDual   aws.DualStackEndpointState
	}{
		{"", "", aws.FIPSEndpointStateUnset, aws.DualStackEndpointStateUnset},
		{"true", "FALSE", aws.FIPSEndpointStateEnabled, aws.DualStackEndpointStateDisabled},
		{"false", "true", aws.FIPSEndpointStateDisabled, aws.DualStackEndpointStateEnabled},
	} {
		env["AWS_USE_FIPS_ENDPOINT"], env["AWS_USE_DUALSTACK_ENDPOINT"] = tt.fips, tt.dual
		cfg, err := Config(func(k string) string { return env[k] })
		if err != nil {
			t.Fatal(err)
		}
		o := secretsmanager.NewFromConfig(cfg).Options()
		if o.EndpointOptions.UseFIPSEndpoint != tt.wantFIPS || o.EndpointOptions.UseDualStackEndpoint != tt.wantDual {
			t.Errorf("fips %q, dual-stack %q: client endpoint options = %v, %v; want %v, %v", tt.fips, tt.dual,
				o.EndpointOptions.UseFIPSEndpoint, o.EndpointOptions.UseDualStackEndpoint, tt.wantFIPS, tt.wantDual)
		}
	}
}
