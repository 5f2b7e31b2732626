package spapisim

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// Deliverer sends one notification body, which holds a client secret: it must not log it.
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

// SQSDeliverer sends each notification as one SQS message, as SP-API does.
type SQSDeliverer struct {
	Client   SQSSender
	QueueURL string
}

// Deliver sends body to the queue.
func (d SQSDeliverer) Deliver(ctx context.Context, body []byte) error {
	in := &sqs.SendMessageInput{QueueUrl: aws.String(d.QueueURL), MessageBody: aws.String(string(body))}
	if _, err := d.Client.SendMessage(ctx, in); err != nil {
		return fmt.Errorf("send message to %s: %w", d.QueueURL, err)
	}
	return nil
}

// formatTime is RFC 3339 in UTC with milliseconds, as in the official examples.
func formatTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z07:00") }

// notification is the body of a notification of typ whose payload, under key, is fields and the
// client id. Its keys are in key order (the official examples' order carries no meaning).
func (s *Sim) notification(typ, key, id string, event, publish time.Time, fields map[string]string) []byte {
	fields["clientId"] = s.cfg.ClientID
	meta := map[string]string{"applicationId": s.cfg.ApplicationID, "subscriptionId": s.subscriptionID,
		"publishTime": formatTime(publish), "notificationId": id}
	b, _ := json.Marshal(map[string]any{"notificationVersion": "1.0", "notificationType": typ,
		"payloadVersion": "2023-11-30", "eventTime": formatTime(event),
		"payload": map[string]any{key: fields}, "notificationMetadata": meta})
	return b
}

type delivery struct {
	seq  int
	due  time.Time
	id   string // notificationId
	body []byte
	to   Deliverer
	dup  bool // a duplicate of a delivered notification
}

// NextDue returns the earliest time at which DeliverDue has something to send.
func (s *Sim) NextDue() (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var times []time.Time
	for _, d := range s.pending {
		times = append(times, d.due)
	}
	if s.held != nil && s.cfg.Faults.ReorderWindow > 0 {
		times = append(times, s.held.due.Add(s.cfg.Faults.ReorderWindow))
	}
	if len(times) == 0 {
		return time.Time{}, false
	}
	return slices.MinFunc(times, time.Time.Compare), true
}

// Run calls DeliverDue every 50 ms until ctx is done, logging failures; it returns ctx.Err().
func (s *Sim) Run(ctx context.Context) error {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			if _, err := s.DeliverDue(ctx); err != nil && ctx.Err() == nil {
				s.cfg.Logger.WarnContext(ctx, "spapisim: delivery failed, will retry", "error", err)
			}
		}
	}
}

// DeliverDue sends every queued notification due now, in due order, with the Duplicate and Reorder
// knobs, and returns how many sends succeeded; failed ones stay queued, their causes joined.
func (s *Sim) DeliverDue(ctx context.Context) (int, error) {
	s.deliverMu.Lock()
	defer s.deliverMu.Unlock()

	s.mu.Lock()
	now, f := s.cfg.Clock(), s.cfg.Faults
	due := func(d *delivery) bool { return !d.due.After(now) }
	batch := slices.DeleteFunc(slices.Clone(s.pending), func(d *delivery) bool { return !due(d) })
	s.pending = slices.DeleteFunc(s.pending, due)
	slices.SortFunc(batch, func(a, b *delivery) int {
		return cmp.Or(a.due.Compare(b.due), cmp.Compare(a.seq, b.seq))
	})
	// The send order: with Reorder, each original is held until the next one has been sent.
	var order []*delivery
	for _, d := range batch {
		switch {
		case !f.Reorder || d.dup:
			order = append(order, d)
		case s.held == nil:
			d.due, s.held = now, d
		default:
			order = append(order, d, s.held)
			s.held = nil
		}
	}
	h := s.held
	if h != nil && (!f.Reorder || (f.ReorderWindow > 0 && !now.Before(h.due.Add(f.ReorderWindow)))) {
		order = append(order, h)
		s.held = nil
	}
	s.mu.Unlock()

	var errs []error
	for _, d := range order {
		err := d.to.Deliver(ctx, d.body)
		s.mu.Lock()
		switch {
		case err != nil:
			s.pending = append(s.pending, d)
			errs = append(errs, fmt.Errorf("spapisim: deliver notification %s: %w", d.id, err))
		case d.dup:
			s.stats.Duplicates++
		case s.chanceLocked(s.cfg.Faults.DuplicateRate):
			s.seq++
			s.pending = append(s.pending, &delivery{seq: s.seq, due: now, id: d.id, body: d.body, to: d.to, dup: true})
		}
		if err == nil {
			s.stats.Deliveries++
			s.cfg.Logger.InfoContext(ctx, "spapisim: notification delivered",
				"notificationId", d.id, "duplicate", d.dup)
		}
		s.mu.Unlock()
	}
	return len(order) - len(errs), errors.Join(errs...)
}
