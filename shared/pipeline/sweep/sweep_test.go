package sweep

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/vcc-ingest/vcc-ingest/shared/message"
	"github.com/vcc-ingest/vcc-ingest/shared/queue"
	"github.com/vcc-ingest/vcc-ingest/shared/store"
	"github.com/vcc-ingest/vcc-ingest/shared/vcc"
)

// call is one call of the fake contact centre.
type call struct {
	guid              string
	start, end, avail time.Time
	recorded          bool // false: VCC never lists content for it
}

// fakeVCC lists the calls as VCC does at the clock's time: Stats every
// call started in the window, Interaction Content only those whose
// recording exists; each page of up to 1000 items is one call.
type fakeVCC struct {
	mu    sync.Mutex
	now   func() time.Time
	calls []*call
	api   int // listing calls
}

func pages(n int) int { return max(1, (n+999)/1000) }

func (f *fakeVCC) ListInteractions(_ context.Context, start, end time.Time, fn func(vcc.Interaction) error) error {
	f.mu.Lock()
	var out []vcc.Interaction
	for _, c := range f.calls {
		if c.recorded && !c.start.Before(start) && c.start.Before(end) && !f.now().Before(c.avail) {
			out = append(out, vcc.Interaction{GUID: c.guid, Start: c.start, Direction: vcc.DirectionInbound,
				HandlingAgents: []vcc.AgentRef{{ID: "1342"}},
				Content:        []vcc.ContentItem{{ContentKey: "callRecording", Type: "callRecording", ContentType: "audio/wav", ContentLength: 1000, LastModified: c.avail}}})
		}
	}
	f.api += pages(len(out))
	f.mu.Unlock()
	for _, in := range out {
		if err := fn(in); err != nil {
			return err
		}
	}
	return nil
}

func (f *fakeVCC) ListStats(_ context.Context, start, end time.Time, fn func(vcc.Stats) error) error {
	f.mu.Lock()
	var out []vcc.Stats
	for _, c := range f.calls {
		if !c.start.Before(start) && c.start.Before(end) {
			out = append(out, vcc.Stats{GUID: c.guid, Start: c.start, Duration: c.end.Sub(c.start), Direction: vcc.DirectionOutbound})
		}
	}
	f.api += pages(len(out))
	f.mu.Unlock()
	for _, s := range out {
		if err := fn(s); err != nil {
			return err
		}
	}
	return nil
}

// fakeQueue keeps what was sent, de-duplicated by id as the queue does.
type fakeQueue struct {
	mu   sync.Mutex
	now  func() time.Time
	ids  map[string]bool
	due  []queue.Outgoing // sweep requests not delivered yet
	sent map[string]time.Time
	msgs map[string]message.Body
}

func newFakeQueue(now func() time.Time) *fakeQueue {
	return &fakeQueue{now: now, ids: map[string]bool{}, sent: map[string]time.Time{}, msgs: map[string]message.Body{}}
}

func (q *fakeQueue) SendBatch(_ context.Context, msgs []queue.Outgoing) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, m := range msgs {
		if q.ids[m.ID] {
			continue
		}
		q.ids[m.ID] = true
		if _, ok, _ := Decode(m.Body); ok {
			q.due = append(q.due, m)
			continue
		}
		b, err := message.Decode(m.Body)
		if err != nil {
			return err
		}
		q.sent[b.InteractionID], q.msgs[b.InteractionID] = q.now(), b
	}
	return nil
}

// takeDue removes and returns the sweep requests due at now.
func (q *fakeQueue) takeDue(now time.Time) []Body {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []Body
	keep := q.due[:0]
	for _, m := range q.due {
		if m.ScheduledAt.After(now) {
			keep = append(keep, m)
			continue
		}
		b, _, _ := Decode(m.Body)
		out = append(out, b)
	}
	q.due = keep
	return out
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func guid(i int) string { return fmt.Sprintf("%08x-0000-4000-8000-%012x", i+1, i+1) }

// A round enqueues each interaction whose content is listed with what
// discover's message carries (start, Stats' direction, content keys,
// agents; MessageId the guid), counts what ended without listed content as
// pending and asks for the next round; a round with nothing pending asks
// for none.
func TestRoundEnqueuesListedAndAsksAgainWhilePending(t *testing.T) {
	now := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	v := &fakeVCC{now: clock, calls: []*call{
		{guid: guid(0), start: now.Add(-3 * time.Minute), end: now.Add(-time.Minute), avail: now.Add(-30 * time.Second), recorded: true},
		{guid: guid(1), start: now.Add(-3 * time.Minute), end: now.Add(-40 * time.Second), avail: now.Add(15 * time.Second), recorded: true},
	}}
	q := newFakeQueue(clock)
	s := New(v, q, store.NewDirState(t.TempDir()), Options{Tenant: "acme", Logger: quiet})

	// Delivered a little after its slot, as a queue does.
	out, err := s.Sweep(context.Background(), Body{V: 1, Kind: Kind, Tenant: "acme", At: now}, now.Add(700*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if out.Enqueued != 1 || out.Pending != 1 || v.api != 2 {
		t.Fatalf("round %+v with %d VCC calls; want 1 enqueued, 1 pending, 2 calls", out, v.api)
	}
	b, ok := q.msgs[guid(0)]
	if !ok || b.Source != message.SourceEvent || b.Tenant != "acme" || b.Direction != "outbound" ||
		len(b.Content) != 1 || b.Content[0].ContentKey != "callRecording" || b.Start == nil || len(b.Agents) != 1 {
		t.Fatalf("message %+v (found %v): not shaped as discover's", b, ok)
	}
	if !q.ids["acme:"+guid(0)] {
		t.Fatalf("message ids %v: want acme:<guid>, absorbing discover's", q.ids)
	}
	want := RequestID("acme", now.Add(DefaultEvery))
	if out.Next != want || len(q.due) != 1 || q.due[0].ID != want {
		t.Fatalf("next round %q, queued %v; want %s", out.Next, q.due, want)
	}

	now = now.Add(DefaultEvery)
	q.takeDue(now)
	out, err = s.Sweep(context.Background(), Body{V: 1, Kind: Kind, Tenant: "acme", At: now, Round: 1}, now)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := q.msgs[guid(1)]; !ok || out.Pending != 0 || out.Next != "" || len(q.due) != 0 {
		t.Fatalf("second round %+v, queued %v: want the late recording enqueued and no next round", out, q.due)
	}
}

// Every event of a slot, and a round's request for it, is one message.
func TestRequestsOfASlotAreOne(t *testing.T) {
	at := time.Date(2026, 3, 2, 10, 0, 3, 0, time.UTC)
	a, _ := Request("acme", at, 20*time.Second, 0)
	b, _ := Request("acme", at.Add(16*time.Second), 20*time.Second, 3)
	c, _ := Request("acme", at.Add(18*time.Second), 20*time.Second, 0)
	other, _ := Request("globex", at, 20*time.Second, 0)
	if a.ID != b.ID || a.ID == c.ID || a.ID == other.ID {
		t.Fatalf("ids %s %s %s %s", a.ID, b.ID, c.ID, other.ID)
	}
	if want := time.Date(2026, 3, 2, 10, 0, 20, 0, time.UTC); !a.ScheduledAt.Equal(want) {
		t.Fatalf("scheduled %s, want the slot's end %s", a.ScheduledAt, want)
	}
	if body, ok, err := Decode(a.Body); !ok || err != nil || body.Tenant != "acme" {
		t.Fatalf("Decode = %+v %v %v", body, ok, err)
	}
	if _, ok, _ := Decode([]byte(`{"v":1,"interactionId":"` + guid(0) + `"}`)); ok {
		t.Fatal("an interaction's message taken for a sweep request")
	}
	if _, ok, err := Decode([]byte(`{"v":7,"kind":"sweep"}`)); !ok || err == nil {
		t.Fatalf("a bad sweep request: ok %v, err %v", ok, err)
	}
}

// run is a stretch of calls ending one every 60/perMinute seconds, each
// recording appearing 5 to 150 s after its call (evenly spread), swept as
// the events ask, in virtual time.
type run struct {
	perMinute, calls int
	unrecorded       int // every unrecorded-th call never gets a recording (0: none)
}

type runResult struct {
	recordings, listed int
	api                int
	perRecording       float64
	p95, max           float64 // s from the recording's appearance to its message enqueued
	lastRequest        time.Time
	lastEnd            time.Time
	lost               []string
}

func simulate(t *testing.T, r run) runResult {
	t.Helper()
	t0 := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	now := t0
	clock := func() time.Time { return now }
	v := &fakeVCC{now: clock}
	q := newFakeQueue(clock)
	s := New(v, q, store.NewDirState(t.TempDir()), Options{Logger: quiet})
	const settle = 10 * time.Second
	every := 60 * time.Second / time.Duration(r.perMinute)
	var res runResult
	for step := time.Duration(0); ; step += time.Second {
		now = t0.Add(step)
		for i := len(v.calls); i < r.calls && !t0.Add(time.Duration(i)*every).After(now); i++ {
			end := t0.Add(time.Duration(i) * every)
			delay := 5*time.Second + time.Duration(i*7%r.calls)*(145*time.Second)/time.Duration(r.calls-1)
			c := &call{guid: guid(i), start: end.Add(-2 * time.Minute), end: end, avail: end.Add(delay),
				recorded: r.unrecorded == 0 || i%r.unrecorded != 0}
			v.mu.Lock()
			v.calls = append(v.calls, c)
			v.mu.Unlock()
			res.lastEnd = end
			req, err := Request("", end.Add(settle), DefaultEvery, 0) // what the event asks for
			if err != nil {
				t.Fatal(err)
			}
			if err := q.SendBatch(context.Background(), []queue.Outgoing{req}); err != nil {
				t.Fatal(err)
			}
		}
		for _, b := range q.takeDue(now) {
			res.lastRequest = now
			if _, err := s.Sweep(context.Background(), b, now); err != nil {
				t.Fatal(err)
			}
		}
		if len(v.calls) == r.calls && len(q.due) == 0 {
			break
		}
		if step > 6*time.Hour {
			t.Fatal("the sweeps never stop")
		}
	}
	var lat []float64
	for _, c := range v.calls {
		if !c.recorded {
			continue
		}
		res.recordings++
		at, ok := q.sent[c.guid]
		if !ok {
			res.lost = append(res.lost, c.guid)
			continue
		}
		lat = append(lat, at.Sub(c.avail).Seconds())
	}
	sort.Float64s(lat)
	res.listed = len(lat)
	if len(lat) > 0 {
		res.p95 = lat[min(len(lat)-1, int(float64(len(lat))*0.95+0.999999)-1)]
		res.max = lat[len(lat)-1]
	}
	// One download per recording: the message carries its content key.
	res.api = v.api + res.listed
	res.perRecording = float64(res.api) / float64(max(res.recordings, 1))
	return res
}

// The event path's cost: at 120 calls ending a minute and above, at most
// 1.2 VCC calls per recording (the listings are shared by every call of a
// round; at 40 a minute the same few listing calls a minute weigh more),
// every recording enqueued within a round of its appearance, and the
// rounds stop once nothing is pending.
func TestSweepCostsAboutOneCallPerRecording(t *testing.T) {
	for perMinute, most := range map[int]float64{40: 1.3, 120: 1.2, 200: 1.2} {
		t.Run(fmt.Sprintf("%d a minute", perMinute), func(t *testing.T) {
			r := simulate(t, run{perMinute: perMinute, calls: perMinute * 5})
			t.Logf("%d recordings, %d VCC calls (%.3f per recording), enqueued after appearing: p95 %.0fs, max %.0fs",
				r.recordings, r.api, r.perRecording, r.p95, r.max)
			if len(r.lost) > 0 {
				t.Fatalf("%d recordings never enqueued: %v", len(r.lost), r.lost[:min(len(r.lost), 5)])
			}
			if r.perRecording > most {
				t.Errorf("%.3f VCC calls per recording, want at most %.1f", r.perRecording, most)
			}
			if r.max > (DefaultEvery + time.Second).Seconds() {
				t.Errorf("a recording waited %.0fs after appearing, want at most one round (%s)", r.max, DefaultEvery)
			}
			// The last recording appears 150 s after its call at most: the
			// rounds end within a round or two after that.
			if stop := r.lastRequest.Sub(r.lastEnd); stop > 150*time.Second+3*DefaultEvery {
				t.Errorf("the last round ran %s after the last call", stop)
			}
		})
	}
}

// A call VCC never records keeps the rounds going only for the horizon
// after it ended, then they stop.
func TestUnrecordedCallsStopTheRoundsAtTheHorizon(t *testing.T) {
	r := simulate(t, run{perMinute: 30, calls: 60, unrecorded: 10})
	if len(r.lost) > 0 {
		t.Fatalf("lost %v", r.lost)
	}
	if stop := r.lastRequest.Sub(r.lastEnd); stop < DefaultHorizon-2*DefaultEvery || stop > DefaultHorizon+2*DefaultEvery {
		t.Fatalf("the last round ran %s after the last call ended; want about the horizon (%s)", stop, DefaultHorizon)
	}
}
