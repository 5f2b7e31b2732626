package health

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/spapi-lwa/secret-rotation/internal/managed"
	"github.com/spapi-lwa/secret-rotation/internal/secretdoc"
	"github.com/spapi-lwa/secret-rotation/test/secretsmanagertest"
)

const testSecret = "amzn1.oa2-cs.v1.readtestsecretvalue"

func doc(clientID, extra string) string {
	return fmt.Sprintf(`{"clientId":%q,"clientSecret":%q%s}`, clientID, testSecret, extra)
}

func TestList(t *testing.T) {
	f := secretsmanagertest.New()
	f.Seed("a", doc("c.a", ""), map[string]string{managed.TagClientID: "c.a"})
	f.Seed("dup-1", doc("c.d", ""), map[string]string{managed.TagClientID: "c.d"})
	f.Seed("dup-2", doc("c.d", ""), map[string]string{managed.TagClientID: "c.d"})
	// A key that starts with the tag: ListSecrets matches it by prefix.
	f.Seed("longer-key", doc("c.x", ""), map[string]string{managed.TagClientID + "-old": "c.x"})
	f.Seed("untagged", doc("c.y", ""), nil)
	for i := range 150 { // more than one page
		f.Seed(fmt.Sprintf("many-%03d", i), doc("c.m", ""), map[string]string{managed.TagClientID: fmt.Sprintf("c.m%03d", i)})
	}
	got, err := List(context.Background(), f)
	if err != nil {
		t.Fatalf("List() error = %v", err)
	}
	if len(got) != 153 {
		t.Fatalf("List() returned %d secrets, want 153", len(got))
	}
	byName := map[string]Listed{}
	for _, l := range got {
		byName[l.Name] = l
	}
	if l := byName["a"]; l.ClientID != "c.a" || l.TaggedSecrets != 1 || !strings.HasPrefix(l.ARN, "arn:") {
		t.Errorf("List()[a] = %+v, want client c.a tagged once", l)
	}
	if l := byName["dup-2"]; l.TaggedSecrets != 2 {
		t.Errorf("List()[dup-2].TaggedSecrets = %d, want 2", l.TaggedSecrets)
	}
	if _, ok := byName["longer-key"]; ok {
		t.Errorf("List() includes a secret tagged %s-old", managed.TagClientID)
	}
	if n := f.Calls("ListSecrets"); n != 2 {
		t.Errorf("ListSecrets calls = %d, want 2 pages", n)
	}
}

func TestRead(t *testing.T) {
	created := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	ctx := context.Background()
	tests := []struct {
		name       string
		value      string
		tags       map[string]string
		wantDocErr string // substring; "" for none
		wantExpiry string // RFC 3339; "" for unknown
	}{
		{"good, expiry from the tag", doc(client, `,"clientSecretExpiresAt":"2027-01-01T00:00:00Z"`),
			map[string]string{managed.TagClientSecretExpiresAt: "2027-02-02T00:00:00Z"}, "", "2027-02-02T00:00:00Z"},
		{"good, expiry from the document", doc(client, `,"clientSecretExpiresAt":"2027-01-01T00:00:00Z"`), nil, "", "2027-01-01T00:00:00Z"},
		{"good, bad tag, expiry from the document", doc(client, `,"clientSecretExpiresAt":"2027-01-01T00:00:00Z"`),
			map[string]string{managed.TagClientSecretExpiresAt: "soon"}, "", "2027-01-01T00:00:00Z"},
		{"good, expiry unknown", doc(client, ""), nil, "", ""},
		{"not JSON", "clientSecret=" + testSecret, nil, "not JSON", ""},
		{"secret missing", fmt.Sprintf(`{"clientId":%q}`, client), nil, `"clientSecret" is missing`, ""},
		{"another client id", doc("amzn1.application-oa2-client.other", ""), nil, "does not hold the client id tagged", ""},
		{"secret where the client id should be", fmt.Sprintf(`{"clientId":%q,"clientSecret":%q}`, testSecret, client), nil, "shaped like a client secret", ""},
		{"bad document, expiry from the tag", "[]", map[string]string{managed.TagClientSecretExpiresAt: "2027-02-02T00:00:00Z"}, "not a JSON object", "2027-02-02T00:00:00Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := secretsmanagertest.New()
			f.Now = func() time.Time { return created }
			tags := map[string]string{managed.TagClientID: client}
			for k, v := range tt.tags {
				tags[k] = v
			}
			arn := f.Seed("app", tt.value, tags)
			f.SetRotation(arn, true, ourFn)
			s, d, err := Read(ctx, f, "app", secretdoc.DefaultKeys)
			if err != nil {
				t.Fatalf("Read() error = %v", err)
			}
			if s.ARN != arn || s.Name != "app" || s.ClientID != client || !s.RotationEnabled || s.RotationFunctionARN != ourFn || s.TaggedSecrets != 1 {
				t.Errorf("Read() = %+v", s)
			}
			cur := managed.Holder(s.Stages, managed.StageCurrent)
			if cur == "" || !s.Created[cur].Equal(created) {
				t.Errorf("Read() stages %v, created %v; want AWSCURRENT created %v", s.Stages, s.Created, created)
			}
			switch {
			case tt.wantDocErr == "" && (s.DocErr != nil || d == nil):
				t.Errorf("Read() DocErr = %v, document %v; want a usable document", s.DocErr, d)
			case tt.wantDocErr != "" && (s.DocErr == nil || !strings.Contains(s.DocErr.Error(), tt.wantDocErr) || d != nil):
				t.Errorf("Read() DocErr = %v, document %v; want %q and no document", s.DocErr, d, tt.wantDocErr)
			}
			if s.DocErr != nil && (strings.Contains(s.DocErr.Error(), testSecret) || strings.Contains(s.DocErr.Error(), "oa2-client")) {
				t.Errorf("Read() DocErr = %q quotes a value", s.DocErr)
			}
			if d != nil && d.ClientSecret().Reveal() != testSecret {
				t.Errorf("Read() document holds another secret")
			}
			var got string
			if s.ExpiresAt != nil {
				got = s.ExpiresAt.Format(time.RFC3339)
			}
			if got != tt.wantExpiry {
				t.Errorf("Read() ExpiresAt = %q, want %q", got, tt.wantExpiry)
			}
			if n := f.Calls("GetSecretValue"); n != 1 {
				t.Errorf("GetSecretValue calls = %d, want 1", n)
			}
			if out := fmt.Sprintf("%v %+v %#v", s, s, d); strings.Contains(out, testSecret) {
				t.Errorf("printing what Read returned shows the secret: %s", out)
			}
		})
	}
}

func TestReadVersionDates(t *testing.T) {
	f := secretsmanagertest.New()
	clock := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	f.Now = func() time.Time { return clock }
	arn := f.Seed("app", doc(client, ""), map[string]string{managed.TagClientID: client})
	clock = clock.Add(3 * time.Hour)
	if _, err := f.PutSecretValue(context.Background(), &secretsmanager.PutSecretValueInput{
		SecretId: aws.String(arn), SecretString: aws.String(doc(client, `,"n":2`)),
		ClientRequestToken: aws.String("received-1"), VersionStages: []string{managed.StageReceived},
	}); err != nil {
		t.Fatal(err)
	}
	s, _, err := Read(context.Background(), f, arn, secretdoc.DefaultKeys)
	if err != nil {
		t.Fatalf("Read() error = %v", err)
	}
	if got := s.Created["received-1"]; !got.Equal(clock) {
		t.Errorf("Created[received-1] = %v, want %v", got, clock)
	}
	if managed.Holder(s.Stages, managed.StageReceived) != "received-1" {
		t.Errorf("Stages = %v, want LWA_RECEIVED on received-1", s.Stages)
	}
	findings := Judge(s, clock.Add(7*time.Hour), Config{})
	if len(findings) < 1 || findings[len(findings)-1].Reason != ReasonReceivedNotAdopted {
		t.Errorf("Judge(read secret) = %+v, want RECEIVED_NOT_ADOPTED last", findings)
	}
}

func TestReadErrors(t *testing.T) {
	ctx := context.Background()
	f := secretsmanagertest.New()
	f.Seed("untagged", doc(client, ""), nil)
	if _, _, err := Read(ctx, f, "untagged", secretdoc.DefaultKeys); !errors.Is(err, ErrNotManaged) {
		t.Errorf("Read(untagged) error = %v, want ErrNotManaged", err)
	}
	if f.Calls("GetSecretValue") != 0 {
		t.Errorf("Read(untagged) read the value")
	}
	f.Seed("app", doc(client, ""), map[string]string{managed.TagClientID: client})
	boom := errors.New("access denied")
	for _, op := range []string{"DescribeSecret", "ListSecretVersionIds", "GetSecretValue"} {
		f.Fail = func(_ context.Context, o string, _ any) error {
			if o == op {
				return boom
			}
			return nil
		}
		if _, _, err := Read(ctx, f, "app", secretdoc.DefaultKeys); !errors.Is(err, boom) {
			t.Errorf("Read() with %s failing: error = %v, want it wrapped", op, err)
		}
	}
	if _, _, err := Read(ctx, f, "missing", secretdoc.DefaultKeys); err == nil {
		t.Errorf("Read(missing) error = nil")
	}
}
