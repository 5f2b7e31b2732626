package chaos

import (
	"fmt"
	"slices"
	"sync"
	"time"
)

// Queue is an in-memory standard SQS queue with a dead-letter queue: a
// received message is invisible for the visibility timeout, its receive count
// grows with every receive, and a message received MaxReceive times already
// moves to the dead-letter queue on its next receive, as SQS's redrive policy
// does.
type Queue struct {
	Name       string
	Visibility time.Duration
	MaxReceive int

	mu   sync.Mutex
	seq  int
	msgs []*Message
	dlq  []*Message
}

// Message is one queued message.
type Message struct {
	ID           string
	Body         string
	SentAt       time.Time
	ReceiveCount int
	VisibleAt    time.Time
}

// Send enqueues body, visible at once.
func (q *Queue) Send(body string, now time.Time) string {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.seq++
	id := fmt.Sprintf("%s-msg-%04d", q.Name, q.seq)
	q.msgs = append(q.msgs, &Message{ID: id, Body: body, SentAt: now, VisibleAt: now})
	return id
}

// Receive returns up to max visible messages and hides them for the
// visibility timeout. Messages over the receive limit move to the
// dead-letter queue instead.
func (q *Queue) Receive(now time.Time, max int) []Message {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []Message
	keep := q.msgs[:0:0]
	for _, m := range q.msgs {
		switch {
		case len(out) >= max || m.VisibleAt.After(now):
			keep = append(keep, m)
		case m.ReceiveCount >= q.MaxReceive:
			q.dlq = append(q.dlq, m)
		default:
			m.ReceiveCount++
			m.VisibleAt = now.Add(q.Visibility)
			out = append(out, *m)
			keep = append(keep, m)
		}
	}
	q.msgs = keep
	return out
}

// Delete removes the message id; it reports whether it was there.
func (q *Queue) Delete(id string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := len(q.msgs)
	q.msgs = slices.DeleteFunc(q.msgs, func(m *Message) bool { return m.ID == id })
	return len(q.msgs) < n
}

// Len returns how many messages are in the queue (visible or not) and in its
// dead-letter queue.
func (q *Queue) Len() (inQueue, dead int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.msgs), len(q.dlq)
}

// NextVisible returns when the next hidden message becomes visible.
func (q *Queue) NextVisible() (time.Time, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	var t time.Time
	ok := false
	for _, m := range q.msgs {
		if !ok || m.VisibleAt.Before(t) {
			t, ok = m.VisibleAt, true
		}
	}
	return t, ok
}

// Dead returns copies of the dead-lettered messages.
func (q *Queue) Dead() []Message {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := make([]Message, len(q.dlq))
	for i, m := range q.dlq {
		out[i] = *m
	}
	return out
}

// Redrive moves every dead-lettered message back to the queue with a fresh
// receive count (start-message-move-task) and returns how many moved.
func (q *Queue) Redrive(now time.Time) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := len(q.dlq)
	for _, m := range q.dlq {
		m.ReceiveCount, m.VisibleAt = 0, now
		q.msgs = append(q.msgs, m)
	}
	q.dlq = nil
	return n
}
