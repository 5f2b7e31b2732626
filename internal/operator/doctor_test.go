package operator

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/spapi-lwa/secret-rotation/internal/lwa"
	"github.com/spapi-lwa/secret-rotation/internal/managed"
)

// templatePolicy is a queue policy as the template writes it.
func templatePolicy(queueARN string) string {
	return fmt.Sprintf(`{"Version":"2012-10-17","Statement":[
 {"Sid":"SpApiSend","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::437568002678:root"},"Action":["sqs:SendMessage","sqs:GetQueueAttributes"],"Resource":%q},
 {"Sid":"DenyInsecure","Effect":"Deny","Principal":"*","Action":"sqs:*","Resource":%q,"Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}`, queueARN, queueARN)
}

const (
	newQueueARN    = "arn:aws:sqs:us-east-1:123456789012:lwa-NewSecretQueue"
	expiryQueueARN = "arn:aws:sqs:us-east-1:123456789012:lwa-SecretExpiryQueue"
	topicARN       = "arn:aws:sns:us-east-1:123456789012:lwa-AlertTopic"
)

// healthyDeployment is one healthy secret, a stack whose queues SP-API may
// send to, a topic with a confirmed subscription, and LWA accepting the
// secret.
func healthyDeployment(t *testing.T) *env {
	t.Helper()
	e := newEnv()
	id, secret := clientID("doc"), secretValue("doc")
	arn := e.sm.Seed("sp-api-lwa/doc", document(id, secret, testNow.Add(150*24*time.Hour)), map[string]string{managed.TagClientID: id})
	e.sm.SetRotation(arn, true, fnARN)
	e.lwa.secrets[id] = secret
	e.cf.stacks["lwa"] = map[string]string{OutputRotateFunction: fnARN, "NewSecretQueueArn": newQueueARN,
		"SecretExpiryQueueArn": expiryQueueARN, "AlertTopicArn": topicARN}
	e.sqs.policies["lwa-NewSecretQueue"] = templatePolicy(newQueueARN)
	e.sqs.policies["lwa-SecretExpiryQueue"] = templatePolicy(expiryQueueARN)
	e.sns.subs[topicARN] = []string{topicARN + ":0b1c2d3e"}
	return e
}

func TestDoctorHealthy(t *testing.T) {
	e := healthyDeployment(t)
	out, stderr, code := e.run(t, "doctor", "--stack", "lwa")
	if code != ExitOK {
		t.Errorf("doctor exit = %d, want 0; stderr %q", code, stderr)
	}
	golden(t, "doctor-healthy", out)
	checkNoSecret(t, out+stderr, secretValue("doc"))
	if e.lwa.calls != 1 {
		t.Errorf("LWA token requests = %d, want 1 per secret", e.lwa.calls)
	}
}

func TestDoctorFindings(t *testing.T) {
	e := healthyDeployment(t)
	// LWA rejects the secret; a second secret's document is broken (no LWA call).
	e.lwa.secrets[clientID("doc")] = "another"
	e.sm.Seed("sp-api-lwa/broken", `{"clientId":"`+clientID("b")+`"}`, map[string]string{managed.TagClientID: clientID("b")})
	// The expiry queue lost SP-API's permission; nobody confirmed the topic's e-mail.
	e.sqs.policies["lwa-SecretExpiryQueue"] = `{"Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"sqs:SendMessage"}}`
	e.sns.subs[topicARN] = []string{"PendingConfirmation"}
	out, stderr, code := e.run(t, "doctor", "--stack", "lwa")
	if code != ExitAttention {
		t.Errorf("doctor exit = %d, want 1; stderr %q", code, stderr)
	}
	golden(t, "doctor-findings", out)
	checkNoSecret(t, out+stderr, secretValue("doc"), "another")
	if e.lwa.calls != 1 {
		t.Errorf("LWA token requests = %d, want 1 (none for a broken document)", e.lwa.calls)
	}
}

func TestDoctorLWAUnavailable(t *testing.T) {
	e := healthyDeployment(t)
	e.lwa.errs[clientID("doc")] = fmt.Errorf("lwa: token request: %w", lwa.ErrServer)
	out, _, code := e.run(t, "doctor")
	if code != ExitAttention || !strings.Contains(out, "LWA could not be asked") || strings.Contains(out, "CREDENTIALS_REJECTED") {
		t.Errorf("doctor with LWA down = %d:\n%s\nwant 1, unknown, no CREDENTIALS_REJECTED", code, out)
	}
	if !strings.Contains(out, "--stack NAME") {
		t.Errorf("doctor without --stack does not say how to check the stack:\n%s", out)
	}
}

func TestDoctorBadInput(t *testing.T) {
	e := newEnv()
	for _, args := range [][]string{{"doctor", "--stack", "missing"}, {"doctor", "x"}, {"doctor", "--stack"}} {
		_, stderr, code := e.run(t, args...)
		if code != ExitBadInput {
			t.Errorf("%v exit = %d, want 2", args, code)
		}
		oneLineErr(t, stderr)
	}
}

func TestPolicyAllowsSend(t *testing.T) {
	tests := []struct {
		name, policy string
		want         bool
	}{
		{"template", templatePolicy(newQueueARN), true},
		{"account id principal, sqs:*", `{"Statement":[{"Effect":"Allow","Principal":{"AWS":["437568002678"]},"Action":"sqs:*"}]}`, true},
		{"single statement object", `{"Statement":{"Effect":"Allow","Principal":{"AWS":"437568002678"},"Action":"SQS:SendMessage"}}`, true},
		{"anyone", `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"sqs:SendMessage"}]}`, true},
		{"no policy", ``, false},
		{"not JSON", `{`, false},
		{"another account", `{"Statement":[{"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"sqs:SendMessage"}]}`, false},
		{"receive only", `{"Statement":[{"Effect":"Allow","Principal":{"AWS":"437568002678"},"Action":"sqs:ReceiveMessage"}]}`, false},
		{"service principal", `{"Statement":[{"Effect":"Allow","Principal":{"Service":"sns.amazonaws.com"},"Action":"sqs:SendMessage"}]}`, false},
		{"unconditional deny", `{"Statement":[{"Effect":"Allow","Principal":{"AWS":"437568002678"},"Action":"sqs:SendMessage"},{"Effect":"Deny","Principal":"*","Action":"*"}]}`, false},
	}
	for _, tt := range tests {
		if got, why := policyAllowsSend(tt.policy, SPAPIAccount); got != tt.want {
			t.Errorf("%s: policyAllowsSend() = %v (%s), want %v", tt.name, got, why, tt.want)
		}
	}
}
