package awssim

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// Queue is the SQS queue a Mapping polls; visibility, receive counts and redrive are the queue's.
type Queue interface {
	Receive(ctx context.Context, max int) ([]events.SQSMessage, error) // ReceiveMessage
	Delete(ctx context.Context, m events.SQSMessage) error             // DeleteMessage by receipt handle
}

// Mapping is a Lambda event source mapping of an SQS queue with ReportBatchItemFailures: each poll
// receives up to BatchSize·Concurrency messages, invokes the function with batches of at most
// BatchSize at once, and deletes the messages of a batch not listed in BatchItemFailures. The
// messages of a failed invocation reappear after the visibility timeout.
type Mapping struct {
	Queue       Queue
	QueueARN    string
	Region      string
	BatchSize   int                                                  // 10 when 0
	Concurrency int                                                  // MaximumConcurrency; 1 when 0
	Split       func(msgs []events.SQSMessage) [][]events.SQSMessage // if set, cuts a poll into batches
	Invoke      func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error)
	Timeout     time.Duration                             // the deadline of each invocation; none when 0
	Invocation  func(ctx context.Context) context.Context // if set, an invocation's (and deletes') ctx

	inflight atomic.Int32 // polls whose batches are being handled
}

// Poll is one poll: it returns how many messages it received, and the receive error.
func (m *Mapping) Poll(ctx context.Context) (int, error) {
	size := cmp.Or(max(m.BatchSize, 0), 10)
	msgs, err := m.Queue.Receive(ctx, size*max(m.Concurrency, 1))
	n := len(msgs)
	if err != nil || n == 0 {
		return 0, err
	}
	m.inflight.Add(1)
	defer m.inflight.Add(-1)
	batches := slices.Collect(slices.Chunk(msgs, size))
	if m.Split != nil {
		batches = m.Split(msgs)
	}
	var wg sync.WaitGroup
	for _, b := range batches {
		wg.Go(func() { m.deliver(ctx, b) })
	}
	wg.Wait()
	return n, nil
}

func (m *Mapping) deliver(ctx context.Context, batch []events.SQSMessage) {
	ev := events.SQSEvent{Records: make([]events.SQSMessage, len(batch))}
	for i, msg := range batch {
		msg.EventSource, msg.EventSourceARN, msg.AWSRegion = "aws:sqs", m.QueueARN, m.Region
		ev.Records[i] = msg
	}
	if m.Invocation != nil {
		ctx = m.Invocation(ctx)
	}
	if m.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, m.Timeout)
		defer cancel()
	}
	resp, err := m.Invoke(ctx, ev)
	if err != nil {
		return
	}
	for _, msg := range ev.Records {
		failed := func(f events.SQSBatchItemFailure) bool { return f.ItemIdentifier == msg.MessageId }
		if !slices.ContainsFunc(resp.BatchItemFailures, failed) {
			_ = m.Queue.Delete(ctx, msg) // an undeleted message comes back: SQS delivers at least once
		}
	}
}

// Idle reports whether no batch is being handled.
func (m *Mapping) Idle() bool { return m.inflight.Load() == 0 }
