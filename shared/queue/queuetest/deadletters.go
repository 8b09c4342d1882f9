package queuetest

import (
	"context"

	"github.com/vcc-ingest/vcc-ingest/shared/queue"
)

// PeekPage is how many dead letters Service Bus returns at most per peek
// here, whatever is asked for: it "may return fewer than max".
const PeekPage = 250

// DeadLetters is a dead-letter sub-queue served as Service Bus serves it:
// from a sequence number, at most PeekPage a peek. Add appends a message
// with the next sequence number.
type DeadLetters struct{ Msgs []*queue.Message }

// Add appends m with the next sequence number.
func (d *DeadLetters) Add(m *queue.Message) {
	m.SequenceNumber = int64(len(d.Msgs) + 1)
	d.Msgs = append(d.Msgs, m)
}

// PeekDeadLetters is one page from the start.
func (d *DeadLetters) PeekDeadLetters(ctx context.Context, max int) ([]*queue.Message, error) {
	return d.PeekDeadLettersFrom(ctx, 0, max)
}

// PeekDeadLettersFrom is one page from sequence number from.
func (d *DeadLetters) PeekDeadLettersFrom(_ context.Context, from int64, max int) ([]*queue.Message, error) {
	var out []*queue.Message
	for _, m := range d.Msgs {
		if m.SequenceNumber >= from && len(out) < min(max, PeekPage) {
			out = append(out, m)
		}
	}
	return out, nil
}
