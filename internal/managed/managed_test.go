package managed

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/spapi-lwa/secret-rotation/test/secretsmanagertest"
)

func TestFindByClientID(t *testing.T) {
	f := secretsmanagertest.New()
	a := f.Seed("app-a", `{}`, map[string]string{TagClientID: "amzn1.application-oa2-client.a"})
	// A value that starts with the wanted one: ListSecrets matches it by prefix.
	f.Seed("app-a-longer", `{}`, map[string]string{TagClientID: "amzn1.application-oa2-client.a2"})
	// The client id under another tag key: matches both filters separately.
	f.Seed("other-key", `{}`, map[string]string{"owner": "amzn1.application-oa2-client.b", TagClientID: "x"})
	f.Seed("dup-1", `{}`, map[string]string{TagClientID: "amzn1.application-oa2-client.c"})
	f.Seed("dup-2", `{}`, map[string]string{TagClientID: "amzn1.application-oa2-client.c"})

	got, err := FindByClientID(context.Background(), f, "amzn1.application-oa2-client.a")
	if err != nil {
		t.Fatalf("FindByClientID(a) error = %v", err)
	}
	if got.ARN != a || got.Name != "app-a" || got.Tags[TagClientID] != "amzn1.application-oa2-client.a" {
		t.Errorf("FindByClientID(a) = %+v", got)
	}
	for _, tc := range []struct {
		id   string
		want error
	}{
		{"amzn1.application-oa2-client.b", ErrUnknownClient},
		{"amzn1.application-oa2-client.", ErrUnknownClient},
		{"", ErrUnknownClient},
		{"amzn1.application-oa2-client.c", ErrAmbiguous},
	} {
		if _, err := FindByClientID(context.Background(), f, tc.id); !errors.Is(err, tc.want) {
			t.Errorf("FindByClientID(%q) error = %v, want %v", tc.id, err, tc.want)
		}
	}
}

type pagingLister struct {
	*secretsmanagertest.Fake
	inputs []*secretsmanager.ListSecretsInput
}

func (p *pagingLister) ListSecrets(ctx context.Context, in *secretsmanager.ListSecretsInput, opt ...func(*secretsmanager.Options)) (*secretsmanager.ListSecretsOutput, error) {
	c := *in
	c.MaxResults = nil
	one := int32(1)
	c.MaxResults = &one
	p.inputs = append(p.inputs, &c)
	return p.Fake.ListSecrets(ctx, &c, opt...)
}

func TestFindByClientIDPages(t *testing.T) {
	f := secretsmanagertest.New()
	for i := range 3 {
		f.Seed(fmt.Sprintf("near-%d", i), `{}`, map[string]string{TagClientID: fmt.Sprintf("id-9%d", i)})
	}
	f.Seed("target", `{}`, map[string]string{TagClientID: "id-9"})
	p := &pagingLister{Fake: f}
	got, err := FindByClientID(context.Background(), p, "id-9")
	if err != nil || got.Name != "target" {
		t.Fatalf("FindByClientID() = %+v, %v", got, err)
	}
	if len(p.inputs) < 2 {
		t.Errorf("ListSecrets called %d times, want paging", len(p.inputs))
	}
}

func TestFindByClientIDError(t *testing.T) {
	f := secretsmanagertest.New()
	boom := errors.New("throttled")
	f.Fail = func(_ context.Context, op string, in any) error { return boom }
	if _, err := FindByClientID(context.Background(), f, "x"); !errors.Is(err, boom) {
		t.Errorf("FindByClientID() error = %v, want %v", err, boom)
	}
}

func TestReceivedToken(t *testing.T) {
	a, b := ReceivedToken("b0805eb9-78f7-49bb-ac0e-1"), ReceivedToken("b0805eb9-78f7-49bb-ac0e-2")
	if a != ReceivedToken("b0805eb9-78f7-49bb-ac0e-1") {
		t.Error("ReceivedToken is not deterministic")
	}
	if a == b {
		t.Error("ReceivedToken gives two notifications one token")
	}
	// Secrets Manager takes 32 to 64 characters.
	if !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`).MatchString(a) {
		t.Errorf("ReceivedToken() = %q, want a UUID-shaped token", a)
	}
}

func TestStages(t *testing.T) {
	tests := []struct {
		name                 string
		stages               map[string][]string
		wantReceived, wantPd string
	}{
		{"no rotation", map[string][]string{"v1": {StageCurrent}, "v0": {StagePrevious}}, "", ""},
		{"pending on its own version", map[string][]string{"v1": {StageCurrent}, "v2": {StagePending, StageReceived}}, "v2", "v2"},
		// A completed rotation on a service that leaves AWSPENDING with
		// AWSCURRENT is not a rotation in progress.
		{"pending with current", map[string][]string{"v1": {StageCurrent, StagePending}, "v0": {StageReceived}}, "v0", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Holder(tt.stages, StageReceived); got != tt.wantReceived {
				t.Errorf("Holder(%s) = %q, want %q", StageReceived, got, tt.wantReceived)
			}
			if got := Holder(tt.stages, StageCurrent); got != "v1" {
				t.Errorf("Holder(%s) = %q, want v1", StageCurrent, got)
			}
			if got := PendingVersion(tt.stages); got != tt.wantPd {
				t.Errorf("PendingVersion() = %q, want %q", got, tt.wantPd)
			}
		})
	}
}

func TestTagMap(t *testing.T) {
	got := TagMap([]types.Tag{{Key: aws.String(TagClientID), Value: aws.String("c")}, {Key: aws.String("other"), Value: aws.String("")}})
	if len(got) != 2 || got[TagClientID] != "c" || got["other"] != "" {
		t.Errorf("TagMap() = %v", got)
	}
}
