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

	"github.com/spapi-lwa/secret-rotation/test/awssim"
)

// mapping is an SQS event source mapping (awssim's) of a queue in moto to a
// function under the runtime interface emulator, in real time.
type mapping struct {
	*awssim.Mapping
	queueURL string
	name     string
	event    func(format string, args ...any)
	invoke   func(ctx context.Context, event any) ([]byte, error)

	mu          sync.Mutex
	invocations int
}

func newMapping(c *sqs.Client, queueURL, dlqURL string, maxReceive int, visibility int32, name string,
	invoke func(ctx context.Context, event any) ([]byte, error), event func(format string, args ...any)) *mapping {
	m := &mapping{queueURL: queueURL, name: name, event: event, invoke: invoke}
	q := &motoQueue{sqs: c, url: queueURL, dlq: dlqURL, maxReceive: maxReceive, visibility: visibility, m: m}
	m.Mapping = &awssim.Mapping{Queue: q, QueueARN: queueARN(queueURL), Region: Region, Invoke: m.call}
	return m
}

func (m *mapping) run(ctx context.Context) {
	for ctx.Err() == nil {
		if _, err := m.Poll(ctx); err != nil && ctx.Err() == nil {
			m.event("%s: receive failed: %v", m.name, err)
			time.Sleep(500 * time.Millisecond)
		}
	}
}

// call invokes the function through the emulator with one batch.
func (m *mapping) call(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	m.mu.Lock()
	m.invocations++
	m.mu.Unlock()
	m.event("%s: invoking with %d message(s)", m.name, len(ev.Records))
	var resp events.SQSEventResponse
	out, err := m.invoke(ctx, ev)
	if err != nil {
		var fe *FunctionError
		if errors.As(err, &fe) {
			m.event("%s: invocation failed, whole batch retried: %s", m.name, oneLine(fe.Message))
		} else if ctx.Err() == nil {
			m.event("%s: invocation failed: %v", m.name, err)
		}
		return resp, err
	}
	if err := json.Unmarshal(out, &resp); err != nil {
		m.event("%s: response is not an SQSEventResponse; whole batch retried", m.name)
		return resp, err
	}
	if n := len(resp.BatchItemFailures); n > 0 {
		m.event("%s: %d of %d message(s) failed and will be retried", m.name, n, len(ev.Records))
	} else {
		m.event("%s: %d message(s) processed", m.name, len(ev.Records))
	}
	return resp, nil
}

// motoQueue is a queue in moto as the mapping polls it. It redrives a
// message received more than maxReceive times itself, in case moto does not.
type motoQueue struct {
	sqs        *sqs.Client
	url, dlq   string
	maxReceive int
	visibility int32
	m          *mapping
}

func (q *motoQueue) Receive(ctx context.Context, n int) ([]events.SQSMessage, error) {
	out, err := q.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl:                    aws.String(q.url),
		MaxNumberOfMessages:         int32(n),
		WaitTimeSeconds:             1,
		VisibilityTimeout:           q.visibility,
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll},
		MessageAttributeNames:       []string{"All"},
	})
	if err != nil {
		return nil, err
	}
	var msgs []events.SQSMessage
	for _, msg := range out.Messages {
		id, rh := aws.ToString(msg.MessageId), aws.ToString(msg.ReceiptHandle)
		count, _ := strconv.Atoi(msg.Attributes[string(types.MessageSystemAttributeNameApproximateReceiveCount)])
		if q.maxReceive > 0 && count > q.maxReceive {
			_, err := q.sqs.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(q.dlq), MessageBody: msg.Body})
			if err == nil {
				q.sqs.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(q.url), ReceiptHandle: aws.String(rh)})
				q.m.event("%s: message %s moved to the dead-letter queue after %d receives", q.m.name, short(id), count)
			}
			continue
		}
		ma := map[string]events.SQSMessageAttribute{}
		for k, v := range msg.MessageAttributes {
			ma[k] = events.SQSMessageAttribute{StringValue: v.StringValue, BinaryValue: v.BinaryValue, DataType: aws.ToString(v.DataType)}
		}
		msgs = append(msgs, events.SQSMessage{
			MessageId: id, ReceiptHandle: rh, Body: aws.ToString(msg.Body), Md5OfBody: aws.ToString(msg.MD5OfBody),
			Md5OfMessageAttributes: aws.ToString(msg.MD5OfMessageAttributes),
			Attributes:             msg.Attributes, MessageAttributes: ma,
		})
	}
	return msgs, nil
}

func (q *motoQueue) Delete(ctx context.Context, m events.SQSMessage) error {
	_, err := q.sqs.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(q.url), ReceiptHandle: aws.String(m.ReceiptHandle)})
	return err
}
