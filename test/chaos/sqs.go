package chaos

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// Queue is an in-memory standard SQS queue with a dead-letter queue (after MaxReceiveCount
// receives), reached through the world's faults and crash points.
type Queue struct {
	Name string
	w    *World
	mu   sync.Mutex
	seq  int
	msgs []*message // in the dead-letter queue when dead
}

type message struct {
	id, body  string
	visibleAt time.Time
	receives  int
	dead      bool
}

// Send enqueues body, visible at once.
func (q *Queue) Send(body string, now time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.seq++
	q.msgs = append(q.msgs, &message{id: fmt.Sprintf("%s-msg-%04d", q.Name, q.seq), body: body, visibleAt: now})
}

// Receive returns up to n visible messages and hides them for Visibility; a message already
// received MaxReceiveCount times moves to the dead-letter queue instead, as SQS's redrive does.
func (q *Queue) Receive(_ context.Context, n int) ([]events.SQSMessage, error) {
	if q.w.faulty(q.w.Sched.SQSReceiveFail) {
		return nil, nil
	}
	now := q.w.Now()
	q.mu.Lock()
	var out []events.SQSMessage
	for _, m := range q.msgs {
		switch {
		case m.dead || len(out) >= n || m.visibleAt.After(now):
		case m.receives >= MaxReceiveCount:
			m.dead = true
		default:
			m.receives++
			m.visibleAt = now.Add(Visibility)
			out = append(out, events.SQSMessage{
				MessageId: m.id, ReceiptHandle: m.id + "-receipt", Body: m.body,
				Attributes: map[string]string{"ApproximateReceiveCount": fmt.Sprint(m.receives)},
			})
		}
	}
	q.mu.Unlock()
	if len(out) > 0 {
		q.w.flow()
	}
	return out, nil
}

// Delete deletes a handled message (the event source acknowledging it).
func (q *Queue) Delete(ctx context.Context, m events.SQSMessage) error {
	if err := q.w.crash(ctx, "DeleteMessage", q.Name, false); err != nil {
		return err
	}
	if q.w.faulty(q.w.Sched.SQSDeleteFail) {
		return errors.New("chaos: DeleteMessage failed")
	}
	q.mu.Lock()
	q.msgs = slices.DeleteFunc(q.msgs, func(x *message) bool { return x.id == m.MessageId && !x.dead })
	q.mu.Unlock()
	return q.w.crash(ctx, "DeleteMessage", q.Name, true)
}

// Len counts the queued messages (visible or not) and the dead-lettered ones; next is the soonest visible.
func (q *Queue) Len() (inQueue, dead int, next time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, m := range q.msgs {
		if m.dead {
			dead++
		} else if inQueue++; inQueue == 1 || m.visibleAt.Before(next) {
			next = m.visibleAt
		}
	}
	return inQueue, dead, next
}

// redrive moves every dead-lettered message back, to the end of the queue, as
// start-message-move-task does.
func (q *Queue) redrive(now time.Time) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	back := slices.DeleteFunc(slices.Clone(q.msgs), func(m *message) bool { return !m.dead })
	q.msgs = append(slices.DeleteFunc(q.msgs, func(m *message) bool { return m.dead }), back...)
	for _, m := range back {
		m.dead, m.receives, m.visibleAt = false, 0, now
	}
	return len(back)
}
