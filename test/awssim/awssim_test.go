package awssim

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// world is a clock and a store for the engine: one secret whose pending
// token is pending, and a step that fails while failSteps is positive.
type world struct {
	mu        sync.Mutex
	now       time.Time
	pending   string
	failSteps int
	steps     []string
	outcomes  []Outcome
}

func (w *world) engine(maxAttempts int) *Engine {
	return &Engine{
		Now:         func() time.Time { w.mu.Lock(); defer w.mu.Unlock(); return w.now },
		RetryDelay:  time.Hour,
		MaxAttempts: maxAttempts,
		Invoke: func(a Attempt, step string) error {
			w.mu.Lock()
			defer w.mu.Unlock()
			w.steps = append(w.steps, step)
			if w.failSteps > 0 {
				w.failSteps--
				return errors.New("step failed")
			}
			return nil
		},
		Finish: func(arn, token string) error {
			w.mu.Lock()
			defer w.mu.Unlock()
			w.pending = ""
			return nil
		},
		Pending: func(string) (string, bool) { w.mu.Lock(); defer w.mu.Unlock(); return w.pending, w.pending != "" },
		OnDone:  func(a Attempt, o Outcome) { w.mu.Lock(); defer w.mu.Unlock(); w.outcomes = append(w.outcomes, o) },
	}
}

func TestEngineReattemptsAfterRetryDelay(t *testing.T) {
	w := &world{now: time.Unix(0, 0), pending: "t1", failSteps: 1}
	e := w.engine(0)
	e.Start("arn", "t1", false)
	e.Wait()
	if at, ok := e.NextRetry(); !ok || !at.Equal(w.now.Add(time.Hour)) {
		t.Fatalf("NextRetry() = %v, %v, want an hour later", at, ok)
	}
	e.StartDue(w.now.Add(time.Minute))
	e.Wait()
	if runs, waiting := e.Stats(); runs != 1 || waiting != 1 {
		t.Fatalf("Stats() before the delay = %d, %d, want 1, 1", runs, waiting)
	}
	e.StartDue(w.now.Add(time.Hour))
	e.Wait()
	if runs, waiting := e.Stats(); runs != 2 || waiting != 0 {
		t.Errorf("Stats() after the delay = %d, %d, want 2, 0", runs, waiting)
	}
	want := append([]string{"createSecret"}, Steps...)
	if !slices.Equal(w.steps, want) {
		t.Errorf("steps = %v, want %v", w.steps, want)
	}
	if !slices.Equal(w.outcomes, []Outcome{WillRetry, Succeeded}) {
		t.Errorf("outcomes = %v, want WillRetry, Succeeded", w.outcomes)
	}
}

func TestEngineAbandonsAfterMaxAttempts(t *testing.T) {
	w := &world{now: time.Unix(0, 0), pending: "t1", failSteps: 100}
	e := w.engine(2)
	e.Start("arn", "t1", false)
	e.Wait()
	e.StartDue(w.now.Add(time.Hour))
	e.Wait()
	if !slices.Equal(w.outcomes, []Outcome{WillRetry, Abandoned}) {
		t.Errorf("outcomes = %v, want WillRetry, Abandoned", w.outcomes)
	}
	if _, ok := e.NextRetry(); ok {
		t.Error("an abandoned rotation is still scheduled")
	}
}

func TestEngineSkipsRotationNoLongerPending(t *testing.T) {
	w := &world{now: time.Unix(0, 0), pending: "t1", failSteps: 1}
	e := w.engine(0)
	e.Start("arn", "t1", false)
	e.Wait()
	w.pending = "t2"
	e.StartDue(w.now.Add(time.Hour))
	e.Wait()
	if runs, waiting := e.Stats(); runs != 1 || waiting != 0 {
		t.Errorf("Stats() = %d, %d, want 1, 0: t1 no longer holds AWSPENDING", runs, waiting)
	}
}

func TestEngineReattemptAskedWhileRunning(t *testing.T) {
	w := &world{now: time.Unix(0, 0), pending: "t1", failSteps: 1}
	e := w.engine(0)
	release := make(chan struct{})
	invoke := e.Invoke
	e.Invoke = func(a Attempt, step string) error {
		if a.N == 1 {
			<-release
		}
		return invoke(a, step)
	}
	e.Start("arn", "t1", false)
	e.Start("arn", "t1", true) // refused RotateSecret: reattempt once this run ends
	if !e.Running("arn") {
		t.Fatal("Running() = false during a run")
	}
	close(release)
	e.Wait()
	if at, ok := e.NextRetry(); !ok || !at.Equal(w.now) {
		t.Errorf("NextRetry() = %v, %v, want now", at, ok)
	}
}

// queue is an in-memory Queue.
type queue struct {
	msgs    []events.SQSMessage
	deleted []string
}

func (q *queue) Receive(_ context.Context, n int) ([]events.SQSMessage, error) {
	n = min(n, len(q.msgs))
	out := q.msgs[:n]
	q.msgs = q.msgs[n:]
	return out, nil
}

func (q *queue) Delete(_ context.Context, m events.SQSMessage) error {
	q.deleted = append(q.deleted, m.MessageId)
	return nil
}

func TestMappingDeletesWhatSucceeded(t *testing.T) {
	q := &queue{}
	for _, id := range []string{"a", "b", "c"} {
		q.msgs = append(q.msgs, events.SQSMessage{MessageId: id})
	}
	var got []events.SQSEvent
	m := &Mapping{Queue: q, QueueARN: "arn:q", Region: "r", BatchSize: 2,
		Invoke: func(_ context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
			got = append(got, ev)
			return events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{{ItemIdentifier: "b"}}}, nil
		}}
	if n, err := m.Poll(context.Background()); n != 2 || err != nil {
		t.Fatalf("Poll() = %d, %v, want 2, nil", n, err)
	}
	if len(got) != 1 || len(got[0].Records) != 2 || got[0].Records[0].EventSourceARN != "arn:q" || got[0].Records[0].EventSource != "aws:sqs" {
		t.Fatalf("invocations = %+v, want one batch of 2 from arn:q", got)
	}
	if !slices.Equal(q.deleted, []string{"a"}) {
		t.Errorf("deleted = %v, want [a]", q.deleted)
	}
	m.Invoke = func(context.Context, events.SQSEvent) (events.SQSEventResponse, error) {
		return events.SQSEventResponse{}, errors.New("invocation failed")
	}
	m.Poll(context.Background())
	if !slices.Equal(q.deleted, []string{"a"}) {
		t.Errorf("deleted = %v after a failed invocation, want [a]", q.deleted)
	}
}
