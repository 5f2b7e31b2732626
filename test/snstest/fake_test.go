package snstest

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sns/types"

	"github.com/spapi-lwa/secret-rotation/internal/alert"
)

const topic = "arn:aws:sns:us-east-1:123456789012:alerts"

// recorder is a testing.TB that keeps its errors instead of failing.
type recorder struct {
	testing.TB
	errs []string
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func publish(t *testing.T, f *Fake, in *sns.PublishInput) {
	t.Helper()
	if _, err := f.Publish(context.Background(), in); err != nil {
		t.Fatal(err)
	}
}

func TestCheck(t *testing.T) {
	good := func() *sns.PublishInput {
		return &sns.PublishInput{TopicArn: aws.String(topic), MessageStructure: aws.String("json"), Subject: aws.String("s"),
			Message: aws.String(`{"default":"{}","email":"text"}`)}
	}
	tests := []struct {
		name    string
		edit    func(in *sns.PublishInput)
		secrets []string
		want    string // "" for no error
	}{
		{"a good alert", func(*sns.PublishInput) {}, []string{"hunter2"}, ""},
		{"subject too long", func(in *sns.PublishInput) { in.Subject = aws.String(strings.Repeat("x", alert.MaxSubject+1)) }, nil, "subject is"},
		{"message too long", func(in *sns.PublishInput) {
			in.Message = aws.String(`{"default":"` + strings.Repeat("x", alert.MaxMessage) + `"}`)
		}, nil, "message is"},
		{"another topic", func(in *sns.PublishInput) { in.TopicArn = aws.String(topic + "-2") }, nil, "MessageStructure"},
		{"no structure", func(in *sns.PublishInput) { in.MessageStructure = nil }, nil, "MessageStructure"},
		{"not JSON", func(in *sns.PublishInput) { in.Message = aws.String("text") }, nil, "not JSON"},
		{"a given secret in the email", func(in *sns.PublishInput) { in.Message = aws.String(`{"default":"{}","email":"x hunter2"}`) }, []string{"hunter2"}, "secret"},
		{"an escaped secret in the default text", func(in *sns.PublishInput) {
			in.Message = aws.String(`{"default":"{\"a\":\"hunter\u003c2\"}"}`)
		}, []string{"hunter<2"}, "secret"},
		{"an LWA client secret in the subject", func(in *sns.PublishInput) { in.Subject = aws.String("amzn1.oa2-cs.v1.abc") }, nil, "secret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &Fake{}
			in := good()
			tt.edit(in)
			publish(t, f, in)
			r := &recorder{TB: t}
			f.Check(r, topic, tt.secrets...)
			got := strings.Join(r.errs, "; ")
			if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
				t.Errorf("Check errors = %q, want one containing %q", got, tt.want)
			}
		})
	}
}

func TestAttributes(t *testing.T) {
	in := &sns.PublishInput{MessageAttributes: map[string]types.MessageAttributeValue{
		"event":  {DataType: aws.String("String"), StringValue: aws.String("E")},
		"number": {DataType: aws.String("Number"), StringValue: aws.String("1")},
	}}
	if got := Attributes(in); len(got) != 1 || got["event"] != "E" {
		t.Errorf("Attributes() = %v, want only event=E", got)
	}
}

func TestSummaries(t *testing.T) {
	f := &Fake{}
	publish(t, f, &sns.PublishInput{Message: aws.String(`{"default":"{\"event\":\"E\",\"severity\":\"INFO\",\"action\":\"NONE\"}"}`)})
	publish(t, f, &sns.PublishInput{Message: aws.String(`{"default":"{\"event\":\"F\",\"severity\":\"CRITICAL\",\"action\":\"MANUAL_ACTION_REQUIRED\"}"}`)})
	want := []string{"E INFO NONE", "F CRITICAL MANUAL_ACTION_REQUIRED"}
	if got := f.Summaries(); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("Summaries() = %q, want %q", got, want)
	}
}
