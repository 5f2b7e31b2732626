package harness

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// mapping plays an SQS event source mapping with ReportBatchItemFailures:
// poll, invoke, delete what succeeded, redrive to the DLQ after
// maxReceiveCount receives.
type mapping struct {
	sqs        *sqs.Client
	queueURL   string
	queueARN   string
	dlqURL     string
	maxReceive int
	visibility int32
	region     string
	invoke     func(ctx context.Context, event any) ([]byte, error)
	event      func(format string, args ...any)
	name       string

	mu          sync.Mutex
	invocations int
	inflight    int
}

func (m *mapping) run(ctx context.Context) {
	for ctx.Err() == nil {
		out, err := m.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl:                    aws.String(m.queueURL),
			MaxNumberOfMessages:         10,
			WaitTimeSeconds:             1,
			VisibilityTimeout:           m.visibility,
			MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll},
			MessageAttributeNames:       []string{"All"},
		})
		if err != nil {
			if ctx.Err() == nil {
				m.event("%s: receive failed: %v", m.name, err)
				time.Sleep(500 * time.Millisecond)
			}
			continue
		}
		if len(out.Messages) == 0 {
			continue
		}
		m.mu.Lock()
		m.inflight++
		m.mu.Unlock()
		m.handle(ctx, out.Messages)
		m.mu.Lock()
		m.inflight--
		m.mu.Unlock()
	}
}

func (m *mapping) handle(ctx context.Context, msgs []types.Message) {
	var ev events.SQSEvent
	handles := map[string]string{}
	for _, msg := range msgs {
		id, rh := aws.ToString(msg.MessageId), aws.ToString(msg.ReceiptHandle)
		count, _ := strconv.Atoi(msg.Attributes[string(types.MessageSystemAttributeNameApproximateReceiveCount)])
		if m.maxReceive > 0 && count > m.maxReceive {
			// Redrive, in case the queue does not do it itself.
			_, err := m.sqs.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(m.dlqURL), MessageBody: msg.Body})
			if err == nil {
				m.sqs.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(m.queueURL), ReceiptHandle: aws.String(rh)})
				m.event("%s: message %s moved to the dead-letter queue after %d receives", m.name, short(id), count)
			}
			continue
		}
		attrs := map[string]string{}
		for k, v := range msg.Attributes {
			attrs[k] = v
		}
		ma := map[string]events.SQSMessageAttribute{}
		for k, v := range msg.MessageAttributes {
			ma[k] = events.SQSMessageAttribute{StringValue: v.StringValue, BinaryValue: v.BinaryValue, DataType: aws.ToString(v.DataType)}
		}
		ev.Records = append(ev.Records, events.SQSMessage{
			MessageId: id, ReceiptHandle: rh, Body: aws.ToString(msg.Body), Md5OfBody: aws.ToString(msg.MD5OfBody),
			Md5OfMessageAttributes: aws.ToString(msg.MD5OfMessageAttributes),
			Attributes:             attrs, MessageAttributes: ma,
			EventSource: "aws:sqs", EventSourceARN: m.queueARN, AWSRegion: m.region,
		})
		handles[id] = rh
	}
	if len(ev.Records) == 0 {
		return
	}
	m.mu.Lock()
	m.invocations++
	m.mu.Unlock()
	m.event("%s: invoking with %d message(s)", m.name, len(ev.Records))
	out, err := m.invoke(ctx, ev)
	if err != nil {
		var fe *FunctionError
		if errors.As(err, &fe) {
			m.event("%s: invocation failed, whole batch retried: %s", m.name, oneLine(fe.Message))
		} else if ctx.Err() == nil {
			m.event("%s: invocation failed: %v", m.name, err)
		}
		return
	}
	var resp events.SQSEventResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		m.event("%s: response is not an SQSEventResponse; whole batch retried", m.name)
		return
	}
	failed := map[string]bool{}
	for _, f := range resp.BatchItemFailures {
		failed[f.ItemIdentifier] = true
	}
	for id, rh := range handles {
		if failed[id] {
			continue
		}
		m.sqs.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(m.queueURL), ReceiptHandle: aws.String(rh)})
	}
	if len(failed) > 0 {
		m.event("%s: %d of %d message(s) failed and will be retried", m.name, len(failed), len(handles))
	} else {
		m.event("%s: %d message(s) processed", m.name, len(handles))
	}
}

// idle reports whether no batch is being handled.
func (m *mapping) idle() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.inflight == 0
}
