package harness

import (
	"context"
	"encoding/json"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/spapi-lwa/secret-rotation/test/awssim"
)

// mapping is awssim's SQS event source mapping of a moto queue to a function, in real time; it is
// also the awssim.Queue it polls.
type mapping struct {
	*awssim.Mapping
	s                   *Stack
	name, url, function string
}

func (s *Stack) startMapping(ctx context.Context, queue, url, function string) *mapping {
	m := &mapping{s: s, name: queue + " queue → " + function, url: url, function: function}
	m.Mapping = &awssim.Mapping{Queue: m, QueueARN: queueARN(url), Region: Region, Invoke: m.call}
	s.wg.Go(func() {
		for ctx.Err() == nil {
			if _, err := m.Poll(ctx); err != nil && ctx.Err() == nil {
				s.emit("%s: receive failed: %v", m.name, err)
				time.Sleep(500 * time.Millisecond)
			}
		}
	})
	return m
}

func (m *mapping) call(ctx context.Context, ev events.SQSEvent) (resp events.SQSEventResponse, err error) {
	m.s.emit("%s: invoking with %d message(s)", m.name, len(ev.Records))
	out, err := m.s.pools[m.function].invoke(ctx, ev)
	if err == nil {
		err = json.Unmarshal(out, &resp)
	}
	switch n := len(resp.BatchItemFailures); {
	case err != nil && ctx.Err() == nil:
		m.s.emit("%s: invocation failed, whole batch retried: %s", m.name, oneLine(err.Error()))
	case n > 0:
		m.s.emit("%s: %d of %d message(s) failed and will be retried", m.name, n, len(ev.Records))
	case err == nil:
		m.s.emit("%s: %d message(s) processed", m.name, len(ev.Records))
	}
	return resp, err
}

// Receive is ReceiveMessage, as the mapping polls; no consumer reads message attributes.
func (m *mapping) Receive(ctx context.Context, n int) ([]events.SQSMessage, error) {
	out, err := m.s.SQS.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl:                    aws.String(m.url),
		MaxNumberOfMessages:         int32(n),
		WaitTimeSeconds:             1,
		VisibilityTimeout:           m.s.visibilityTimeout(),
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll},
	})
	if err != nil {
		return nil, err
	}
	var msgs []events.SQSMessage
	for _, msg := range out.Messages {
		msgs = append(msgs, events.SQSMessage{
			MessageId: aws.ToString(msg.MessageId), ReceiptHandle: aws.ToString(msg.ReceiptHandle),
			Body: aws.ToString(msg.Body), Md5OfBody: aws.ToString(msg.MD5OfBody), Attributes: msg.Attributes,
		})
	}
	return msgs, nil
}

// Delete is DeleteMessage of a handled message.
func (m *mapping) Delete(ctx context.Context, msg events.SQSMessage) error {
	_, err := m.s.SQS.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(m.url), ReceiptHandle: aws.String(msg.ReceiptHandle)})
	return err
}
