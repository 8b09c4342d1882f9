package budget

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
)

// maxSlots bounds the document: a budget of more calls than this per
// minute is not one VCC grants.
const maxSlots = 100_000

// doc is the budget document: the send times of booked slots (unix ms,
// ascending) and the latest 429's pause. Only the latest budget-many slots
// and those still inside the window are kept: older ones constrain nothing.
type doc struct {
	Slots       []int64 `json:"slots"`
	PausedUntil int64   `json:"pausedUntil,omitempty"`
	SpacedUntil int64   `json:"spacedUntil,omitempty"` // after a pause, slots at least interval apart
}

func (d *doc) parse(data []byte) error {
	if err := json.Unmarshal(data, d); err != nil {
		return err
	}
	if len(d.Slots) > maxSlots {
		return fmt.Errorf("%d slots, more than %d", len(d.Slots), maxSlots)
	}
	if !slices.IsSorted(d.Slots) {
		return errors.New("slots out of order")
	}
	return nil
}

func (d doc) clone() doc {
	d.Slots = slices.Clone(d.Slots)
	return d
}

// merge carries a pause into the document.
func (d *doc) merge(pausedUntil, spacedUntil int64) {
	d.PausedUntil = max(d.PausedUntil, pausedUntil)
	d.SpacedUntil = max(d.SpacedUntil, spacedUntil)
}

// prune drops slots that cannot constrain a slot at or after now.
func (d *doc) prune(now int64, limit int, span int64) {
	cut := 0
	for cut < len(d.Slots) && d.Slots[cut]+span <= now {
		cut++
	}
	cut = max(cut, len(d.Slots)-limit)
	if cut > 0 {
		d.Slots = slices.Delete(d.Slots, 0, cut)
	}
}

// next is the earliest slot at or after now that keeps every span within
// limit: after the latest booked slot (slots stay in order, whoever booked
// them), after a pause, spaced by interval for a window after a pause or
// while the budget is booked ahead, and at least span after the limit-th
// latest slot, so that no limit+1 consecutive slots fall inside one span.
func (d *doc) next(now int64, limit int, span, interval int64) int64 {
	t := max(now, d.PausedUntil)
	n := len(d.Slots)
	if n > 0 {
		last := d.Slots[n-1]
		t = max(t, last)
		if t < d.SpacedUntil {
			t = max(t, last+interval)
		}
	}
	if n >= limit {
		t = max(t, d.Slots[n-limit]+span)
	}
	if n > 0 && t > now {
		// Booked ahead: space the slots evenly instead of replaying the
		// last window's bursts. A burst booked ahead is handed out in
		// blocks to callers that cannot all go at that instant, and what
		// they cannot use in time is lost.
		t = max(t, d.Slots[n-1]+interval)
	}
	return t
}
