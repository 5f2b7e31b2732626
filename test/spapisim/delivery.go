package spapisim

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// PollInterval is how often Run looks for due notifications.
const PollInterval = 50 * time.Millisecond

// Deliverer sends one notification body to a destination (an SQS queue in
// production). The body holds a client secret: a Deliverer must not log it.
type Deliverer interface {
	Deliver(ctx context.Context, body []byte) error
}

// DelivererFunc adapts a function to Deliverer.
type DelivererFunc func(ctx context.Context, body []byte) error

// Deliver calls f.
func (f DelivererFunc) Deliver(ctx context.Context, body []byte) error { return f(ctx, body) }

// SQSSender is the part of the SQS client SQSDeliverer uses.
type SQSSender interface {
	SendMessage(ctx context.Context, params *sqs.SendMessageInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
}

var _ SQSSender = (*sqs.Client)(nil)

// SQSDeliverer sends each notification as one SQS message, as SP-API does.
type SQSDeliverer struct {
	Client   SQSSender
	QueueURL string
}

// Deliver sends body to the queue.
func (d SQSDeliverer) Deliver(ctx context.Context, body []byte) error {
	_, err := d.Client.SendMessage(ctx, &sqs.SendMessageInput{
		QueueUrl:    aws.String(d.QueueURL),
		MessageBody: aws.String(string(body)),
	})
	if err != nil {
		return fmt.Errorf("send message to %s: %w", d.QueueURL, err)
	}
	return nil
}

// delivery is a queued new-secret notification.
type delivery struct {
	seq  int
	due  time.Time
	id   string // notificationId
	body []byte
	to   Deliverer
	dup  bool // a duplicate of a delivered notification
}

// DeliverDue sends every queued notification due at the simulated clock's now,
// in due order, applying the Duplicate and Reorder knobs. It returns how many
// sends succeeded. Failed sends stay queued for the next call; the error joins
// their causes (with notification ids, never bodies).
func (s *Sim) DeliverDue(ctx context.Context) (int, error) {
	return s.deliver(ctx, false)
}

// Flush sends everything queued, due or not, including a notification held
// back for reordering and the duplicates this produces.
func (s *Sim) Flush(ctx context.Context) error {
	for {
		n, err := s.deliver(ctx, true)
		if err != nil {
			return err
		}
		if n == 0 || s.Stats().Pending == 0 {
			return nil
		}
	}
}

// NextDue returns the earliest simulated time at which DeliverDue has
// something to send, so a driver of a simulated clock can jump to it.
func (s *Sim) NextDue() (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var next time.Time
	ok := false
	for _, d := range s.pending {
		if !ok || d.due.Before(next) {
			next, ok = d.due, true
		}
	}
	if s.held != nil && s.faults.ReorderWindow > 0 {
		if t := s.heldAt.Add(s.faults.ReorderWindow); !ok || t.Before(next) {
			next, ok = t, true
		}
	}
	return next, ok
}

// Run calls DeliverDue every PollInterval until ctx is done, logging failures
// (they stay queued). It returns ctx.Err().
func (s *Sim) Run(ctx context.Context) error {
	t := time.NewTicker(PollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			if _, err := s.DeliverDue(ctx); err != nil && ctx.Err() == nil {
				s.log.WarnContext(ctx, "spapisim: delivery failed, will retry", "error", err)
			}
		}
	}
}

// deliver runs one delivery pass.
func (s *Sim) deliver(ctx context.Context, all bool) (int, error) {
	s.deliverMu.Lock()
	defer s.deliverMu.Unlock()

	s.mu.Lock()
	now := s.clock()
	var batch, keep []*delivery
	for _, d := range s.pending {
		if all || !d.due.After(now) {
			batch = append(batch, d)
		} else {
			keep = append(keep, d)
		}
	}
	s.pending = keep
	sort.SliceStable(batch, func(i, j int) bool {
		if !batch[i].due.Equal(batch[j].due) {
			return batch[i].due.Before(batch[j].due)
		}
		return batch[i].seq < batch[j].seq
	})
	// Build the send order: with Reorder, each original is held until the
	// next one has been sent.
	var order []*delivery
	for _, d := range batch {
		if !s.faults.Reorder || d.dup {
			order = append(order, d)
			continue
		}
		if s.held == nil {
			s.held, s.heldAt = d, now
			continue
		}
		order = append(order, d, s.held)
		s.held = nil
	}
	if s.held != nil && (all || !s.faults.Reorder ||
		(s.faults.ReorderWindow > 0 && !now.Before(s.heldAt.Add(s.faults.ReorderWindow)))) {
		order = append(order, s.held)
		s.held = nil
	}
	s.mu.Unlock()

	sent := 0
	var errs []error
	for _, d := range order {
		if err := ctx.Err(); err != nil {
			s.requeue(d)
			errs = append(errs, fmt.Errorf("spapisim: deliver notification %s: %w", d.id, err))
			continue
		}
		err := d.to.Deliver(ctx, d.body)
		s.mu.Lock()
		if err != nil {
			s.stats.DeliveryFailures++
			s.pending = append(s.pending, d)
			s.mu.Unlock()
			errs = append(errs, fmt.Errorf("spapisim: deliver notification %s: %w", d.id, err))
			continue
		}
		sent++
		s.stats.Deliveries++
		if d.dup {
			s.stats.Duplicates++
		} else if s.chanceLocked(s.faults.DuplicateRate) {
			s.seq++
			s.pending = append(s.pending, &delivery{seq: s.seq, due: now, id: d.id, body: d.body, to: d.to, dup: true})
		}
		s.mu.Unlock()
		s.log.InfoContext(ctx, "spapisim: notification delivered", "notificationId", d.id, "duplicate", d.dup)
	}
	return sent, errors.Join(errs...)
}

func (s *Sim) requeue(d *delivery) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pending = append(s.pending, d)
}
