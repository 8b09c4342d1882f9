package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vcc-ingest/vcc-ingest/shared/message"
	"github.com/vcc-ingest/vcc-ingest/shared/pace"
	"github.com/vcc-ingest/vcc-ingest/shared/queue"
	"github.com/vcc-ingest/vcc-ingest/shared/records"
	"github.com/vcc-ingest/vcc-ingest/shared/store"
	"github.com/vcc-ingest/vcc-ingest/shared/vcc"
)

// accountVCC is one tenant's VCC account: it serves any interaction with a
// recording whose bytes name the account.
type accountVCC struct {
	name  string
	calls int
}

func (a *accountVCC) GetInteraction(ctx context.Context, guid string) (vcc.Interaction, error) {
	a.calls++
	return vcc.Interaction{}, vcc.ErrNotFound
}
func (a *accountVCC) GetStats(ctx context.Context, guid string) (vcc.Stats, error) {
	a.calls++
	return vcc.Stats{GUID: guid, Direction: vcc.DirectionInbound}, nil
}
func (a *accountVCC) Download(ctx context.Context, guid, key string) (*vcc.Download, error) {
	a.calls++
	return &vcc.Download{Body: io.NopCloser(strings.NewReader(a.name)), ContentType: "audio/wav", Length: int64(len(a.name))}, nil
}
func (a *accountVCC) ResolveAgent(ctx context.Context, id string) (vcc.Agent, error) {
	a.calls++
	return vcc.Agent{ID: id, Name: a.name + " agent", Resolved: true}, nil
}

const tenantGUID = "2480fc2c-7a3b-4b5e-9c61-0d2f4e8a1b7c"

func crafted(t *testing.T, tenant string) []byte {
	t.Helper()
	start := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	data, err := message.Encode(message.Body{InteractionID: tenantGUID, Start: &start, Direction: "inbound", Tenant: tenant,
		Agents: []string{"7"}, Content: []message.Content{{ContentKey: "callRecording", Type: "callRecording", ContentType: "audio/wav", ContentLength: -1}}})
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// Crafted messages: each lands under its own tenant's prefix with its own
// account's data; a message for an unknown or no tenant is a permanent
// failure with that reason, and nothing is written; an Ingester given
// another tenant's message refuses it.
func TestTenantsNeverWriteUnderAnotherPrefix(t *testing.T) {
	ctx := context.Background()
	root, stateRoot := t.TempDir(), t.TempDir()
	dir, st := store.NewDir(root), store.NewDirState(stateRoot)
	accounts := map[string]*accountVCC{"acme": {name: "acme"}, "globex": {name: "globex"}}
	byID := map[string]*Ingester{}
	r := &Tenants{Lookup: ByID(byID), State: st}
	for id, a := range accounts {
		byID[id] = New(a, store.Prefixed(dir, id+"/"), store.PrefixedState(st, store.TenantStatePrefix(id)), Options{Tenant: id})
	}

	res, err := r.Handle(ctx, Delivery{MessageID: "globex:" + tenantGUID, DeliveryCount: 1, Body: crafted(t, "globex")})
	if err != nil || res.Outcome != records.Stored || res.Tenant != "globex" {
		t.Fatalf("globex: %+v, %v", res, err)
	}
	rec := filepath.Join(root, "globex", "2026", "11", "02", tenantGUID, "callRecording.wav")
	if data, err := os.ReadFile(rec); err != nil || string(data) != "globex" {
		t.Fatalf("globex's recording: %q, %v", data, err)
	}
	var sc records.Sidecar
	data, _ := os.ReadFile(filepath.Join(root, "globex", "2026", "11", "02", tenantGUID, "interaction.json"))
	if json.Unmarshal(data, &sc) != nil || sc.Tenant != "globex" || sc.Agents[0].Name != "globex agent" {
		t.Errorf("sidecar %s", data)
	}
	if _, err := os.Stat(filepath.Join(root, "acme")); !os.IsNotExist(err) {
		t.Errorf("acme's prefix was written: %v", err)
	}
	if accounts["acme"].calls != 0 {
		t.Errorf("acme's VCC was called %d times for globex's message", accounts["acme"].calls)
	}

	for _, tc := range []struct{ tenant, want string }{
		{"initech", `unknown tenant "initech"`},
		{"", "names no tenant"},
	} {
		_, err := r.Handle(ctx, Delivery{MessageID: "m-" + tc.tenant, DeliveryCount: 1, Body: crafted(t, tc.tenant)})
		var f *Failure
		if !errors.As(err, &f) || !f.Permanent || !strings.Contains(f.Reason, tc.want) {
			t.Fatalf("tenant %q: %v, want a permanent failure naming %s", tc.tenant, err, tc.want)
		}
		data, _, found, _ := st.Load(ctx, records.FailureName(tenantGUID))
		var fr records.FailureRecord
		if !found || json.Unmarshal(data, &fr) != nil || !fr.Permanent || !strings.Contains(fr.Reason, tc.want) {
			t.Errorf("tenant %q: failure record %s", tc.tenant, data)
		}
	}
	// A path in the tenant field never reaches a store.
	if _, err := r.Handle(ctx, Delivery{Body: []byte(`{"v":1,"interactionId":"` + tenantGUID + `","tenant":"../acme"}`)}); err == nil {
		t.Error("a tenant id with a path was accepted")
	}
	// Even handed directly to the wrong tenant's Ingester, nothing is written.
	_, err = byID["acme"].Handle(ctx, Delivery{MessageID: "x", DeliveryCount: 1, Body: crafted(t, "globex")})
	var f *Failure
	if !errors.As(err, &f) || !f.Permanent || !strings.Contains(f.Reason, `tenant "globex" given to tenant "acme"`) {
		t.Fatalf("wrong ingester: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "acme")); !os.IsNotExist(err) || accounts["acme"].calls != 0 {
		t.Errorf("acme's prefix or VCC was used for another tenant's message (%d calls)", accounts["acme"].calls)
	}
	// A single-tenant Ingester refuses a message naming a tenant.
	single := New(accounts["acme"], dir, st, Options{})
	if _, err := single.Handle(ctx, Delivery{MessageID: "y", DeliveryCount: 1, Body: crafted(t, "acme")}); !errors.As(err, &f) || !f.Permanent {
		t.Fatalf("single tenant given a tenant's message: %v", err)
	}
}

type pacedVCC struct {
	accountVCC
	wait time.Duration
}

func (p *pacedVCC) PacerWait() time.Duration { return p.wait }

type requeued struct{ sent []queue.Outgoing }

func (r *requeued) SendBatch(ctx context.Context, msgs []queue.Outgoing) error {
	r.sent = append(r.sent, msgs...)
	return nil
}

// A tenant whose budget is taken (a backfill) does not hold the slot: its
// delivery is put off with a scheduled copy at once, calling nothing, while
// another tenant's delivery goes ahead. No delivery count is spent.
func TestBudgetTakenPutsOffWithoutHoldingTheSlot(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 2, 12, 0, 0, 0, time.UTC)
	root, st := store.NewDir(t.TempDir()), store.NewDirState(t.TempDir())
	busy, idle := &pacedVCC{accountVCC: accountVCC{name: "acme"}, wait: 40 * time.Second}, &pacedVCC{accountVCC: accountVCC{name: "globex"}}
	q := &requeued{}
	opts := func(id string) Options {
		return Options{Tenant: id, Requeue: q, PaceLimit: DefaultPaceLimit, Now: func() time.Time { return now }}
	}
	r := &Tenants{Lookup: ByID(map[string]*Ingester{
		"acme":   New(busy, store.Prefixed(root, "acme/"), store.PrefixedState(st, store.TenantStatePrefix("acme")), opts("acme")),
		"globex": New(idle, store.Prefixed(root, "globex/"), store.PrefixedState(st, store.TenantStatePrefix("globex")), opts("globex")),
	})}
	res, err := r.Handle(ctx, Delivery{MessageID: "acme:" + tenantGUID, DeliveryCount: 1, Body: crafted(t, "acme")})
	if err != nil || res.Outcome != records.Paced || busy.calls != 0 {
		t.Fatalf("acme: %+v, %v, %d calls", res, err, busy.calls)
	}
	if len(q.sent) != 1 || q.sent[0].ID != "acme:"+tenantGUID+".paced-1" || q.sent[0].Properties[PropPaced] != "1" {
		t.Fatalf("copy %+v", q.sent)
	}
	if at, slot := q.sent[0].ScheduledAt, now.Add(40*time.Second); at.Before(slot.Add(-DefaultPaceLimit/2)) || at.After(slot.Add(DefaultPaceLimit/2)) {
		t.Errorf("copy scheduled at %v, want within half PaceLimit of the budget's next slot, 40 s on", at)
	}
	// The copy, still paced: a new id from the same base.
	_, _ = r.Handle(ctx, Delivery{MessageID: q.sent[0].ID, DeliveryCount: 1, Body: q.sent[0].Body, Properties: q.sent[0].Properties})
	if len(q.sent) != 2 || q.sent[1].ID != "acme:"+tenantGUID+".paced-2" {
		t.Fatalf("second copy %+v", q.sent[1:])
	}
	if res, err := r.Handle(ctx, Delivery{MessageID: "globex:" + tenantGUID, DeliveryCount: 1, Body: crafted(t, "globex")}); err != nil || res.Outcome != records.Stored {
		t.Fatalf("globex: %+v, %v", res, err)
	}
	// A slot further ahead than maxPaceDelay: put off that long, then
	// looked at again.
	busy.wait = time.Hour
	_, _ = r.Handle(ctx, Delivery{MessageID: q.sent[1].ID, DeliveryCount: 1, Body: q.sent[1].Body, Properties: q.sent[1].Properties})
	if len(q.sent) != 3 || !q.sent[2].ScheduledAt.Equal(now.Add(maxPaceDelay)) {
		t.Fatalf("a slot an hour ahead: %d copies, the last scheduled at %v; want one scheduled %s on", len(q.sent)-2, q.sent[len(q.sent)-1].ScheduledAt, maxPaceDelay)
	}
	q.sent = q.sent[:2]
	// Once the budget has room the work is done.
	busy.wait = time.Second
	if res, err := r.Handle(ctx, Delivery{MessageID: q.sent[1].ID, DeliveryCount: 1, Body: q.sent[1].Body, Properties: q.sent[1].Properties}); err != nil || res.Outcome != records.Stored {
		t.Fatalf("acme later: %+v, %v", res, err)
	}
	// Without PaceLimit the delivery waits for the budget.
	single := New(busy, store.NewDir(t.TempDir()), store.NewDirState(t.TempDir()), Options{Requeue: q, Tenant: "acme"})
	busy.wait = time.Hour
	if res, err := single.Handle(ctx, Delivery{MessageID: "s", DeliveryCount: 1, Body: crafted(t, "acme")}); err != nil || res.Outcome != records.Stored {
		t.Fatalf("no pace limit: %+v, %v", res, err)
	}
}

// downVCC is an account whose client's breaker is open.
type downVCC struct{ accountVCC }

func (d *downVCC) Available() error {
	return &vcc.UnavailableError{Endpoint: "content", RetryIn: time.Second}
}

// A tenant's webhook message (<tenant>:<guid>.event) keeps its tenant in
// every copy: the polls while VCC has no content yet and the deferrals
// while VCC is down carry the same body and ids from the same base, so the
// router hands each to the same tenant.
func TestEventCopiesKeepTheTenant(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 2, 12, 0, 0, 0, time.UTC)
	st := store.NewDirState(t.TempDir())
	body, _ := message.Encode(message.Body{InteractionID: tenantGUID, DiscoveredAt: now, Source: message.SourceEvent, Tenant: "acme"})
	q := &requeued{}
	opts := Options{Tenant: "acme", Requeue: q, Now: func() time.Time { return now }}
	for _, c := range []struct {
		name   string
		v      VCC
		suffix string
	}{
		{"poll", &accountVCC{name: "acme"}, ".poll-1"},
		{"deferral", &downVCC{accountVCC{name: "acme"}}, ".deferred-1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			q.sent = nil
			r := &Tenants{Lookup: ByID(map[string]*Ingester{"acme": New(c.v, store.NewDir(t.TempDir()), st, opts)})}
			if _, err := r.Handle(ctx, Delivery{MessageID: "acme:" + tenantGUID + ".event", DeliveryCount: 1, Body: body}); err != nil {
				t.Fatal(err)
			}
			if len(q.sent) != 1 || q.sent[0].ID != "acme:"+tenantGUID+".event"+c.suffix {
				t.Fatalf("copies %+v", q.sent)
			}
			b, err := message.Decode(q.sent[0].Body)
			if err != nil || b.Tenant != "acme" || b.Source != message.SourceEvent {
				t.Fatalf("copy's body %+v, %v", b, err)
			}
		})
	}
}

// While the tenants document cannot be read, a delivery is put off with a
// scheduled copy (no delivery spent); past the horizon it is a permanent
// failure with that reason. Without Requeue it fails transiently.
func TestTenantsDeferWhileTheDocumentCannotBeRead(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 2, 12, 0, 0, 0, time.UTC)
	st := store.NewDirState(t.TempDir())
	q := &requeued{}
	unreadable := func(context.Context, string) (*Ingester, error) {
		return nil, errors.New("state container unreachable")
	}
	r := &Tenants{Lookup: unreadable, State: st, Requeue: q, DeferralHorizon: time.Hour, Now: func() time.Time { return now }}
	res, err := r.Handle(ctx, Delivery{MessageID: "acme:" + tenantGUID, DeliveryCount: 1, Body: crafted(t, "acme")})
	if err != nil || res.Outcome != records.Deferred || !strings.Contains(res.Reason, "tenants document unreadable") {
		t.Fatalf("%+v, %v", res, err)
	}
	if len(q.sent) != 1 || q.sent[0].ID != "acme:"+tenantGUID+".deferred-1" || !q.sent[0].ScheduledAt.After(now) {
		t.Fatalf("copy %+v", q.sent)
	}
	// The copy, an hour after the first deferral: dead-lettered, saying why.
	now = now.Add(time.Hour)
	_, err = r.Handle(ctx, Delivery{MessageID: q.sent[0].ID, DeliveryCount: 1, Body: q.sent[0].Body, Properties: q.sent[0].Properties})
	var f *Failure
	if !errors.As(err, &f) || !f.Permanent || !strings.Contains(f.Reason, "tenants document unreadable for longer than the deferral horizon") || !strings.Contains(f.Reason, "state container unreachable") {
		t.Fatalf("past the horizon: %v", err)
	}
	if _, _, found, _ := st.Load(ctx, records.FailureName(tenantGUID)); !found {
		t.Error("no failure record past the horizon")
	}
	// Without a queue to put it off on: a transient failure.
	r.Requeue = nil
	if _, err := r.Handle(ctx, Delivery{MessageID: "x", DeliveryCount: 1, Body: crafted(t, "acme")}); !errors.As(err, &f) || f.Permanent {
		t.Fatalf("without Requeue: %v", err)
	}
}

// limitedVCC's budget is booked until next, which its client learns only
// when it books the first call's slot: the precheck finds room.
type limitedVCC struct {
	accountVCC
	now    time.Time
	next   time.Time
	limits []time.Duration // the limit each Download saw (0: none)
}

func (l *limitedVCC) PacerWait() time.Duration { return 0 }

func (l *limitedVCC) Download(ctx context.Context, guid, key string) (*vcc.Download, error) {
	d, ok := pace.Limit(ctx)
	if !ok {
		d = 0
	}
	l.limits = append(l.limits, d)
	if ok && l.next.Sub(l.now) > d {
		return nil, fmt.Errorf("vcc: download: request budget: %w", &pace.TakenError{Next: l.next, Limit: d})
	}
	return l.accountVCC.Download(ctx, guid, key)
}

// A budget found taken when the first call's slot is booked puts the work
// off to the slot it named, records no failure and stores nothing; once
// there is room, the work is done, and only its first call was bounded.
func TestBudgetTakenWhenBookingPutsOff(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 2, 12, 0, 0, 0, time.UTC)
	sink, st := store.NewDir(t.TempDir()), store.NewDirState(t.TempDir())
	v := &limitedVCC{accountVCC: accountVCC{name: "acme"}, now: now, next: now.Add(30 * time.Second)}
	q := &requeued{}
	in := New(v, sink, st, Options{Tenant: "acme", Requeue: q, PaceLimit: DefaultPaceLimit, Now: func() time.Time { return now }})
	res, err := in.Handle(ctx, Delivery{MessageID: "acme:" + tenantGUID, DeliveryCount: 1, Body: crafted(t, "acme")})
	if err != nil || res.Outcome != records.Paced {
		t.Fatalf("budget taken when booking: %+v, %v; want put off", res, err)
	}
	if len(q.sent) != 1 || q.sent[0].Properties[PropPaced] != "1" {
		t.Fatalf("copies %+v", q.sent)
	}
	if at := q.sent[0].ScheduledAt; at.Before(v.next.Add(-DefaultPaceLimit/2)) || at.After(v.next.Add(DefaultPaceLimit/2)) {
		t.Errorf("copy scheduled at %v, want within half PaceLimit of the slot named, %v", at, v.next)
	}
	if _, _, found, _ := st.Load(ctx, records.FailureName(tenantGUID)); found {
		t.Error("a put-off recorded as a failure")
	}
	var names []string
	if err := sink.List(ctx, "", func(n string) error { names = append(names, n); return nil }); err != nil || len(names) != 0 {
		t.Errorf("stored while put off: %v, %v", names, err)
	}
	if len(v.limits) != 1 || v.limits[0] != DefaultPaceLimit {
		t.Errorf("limits seen %v, want one, PaceLimit", v.limits)
	}
	v.next = now
	c := q.sent[0]
	if res, err := in.Handle(ctx, Delivery{MessageID: c.ID, DeliveryCount: 1, Body: c.Body, Properties: c.Properties}); err != nil || res.Outcome != records.Stored {
		t.Fatalf("with room: %+v, %v", res, err)
	}
	if err := sink.List(ctx, "", func(n string) error { names = append(names, n); return nil }); err != nil || len(names) == 0 {
		t.Errorf("nothing listed once stored: %v", err)
	}
}
