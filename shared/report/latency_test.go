package report

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vcc-ingest/vcc-ingest/shared/records"
	"github.com/vcc-ingest/vcc-ingest/shared/store"
	"github.com/vcc-ingest/vcc-ingest/shared/vcc"
)

// listed is a VCC of fixed listings.
type listed struct {
	stats []vcc.Stats
	ins   []vcc.Interaction
}

func (l listed) ListStats(_ context.Context, _, _ time.Time, fn func(vcc.Stats) error) error {
	for _, s := range l.stats {
		if err := fn(s); err != nil {
			return err
		}
	}
	return nil
}

func (l listed) ListInteractions(_ context.Context, _, _ time.Time, fn func(vcc.Interaction) error) error {
	for _, in := range l.ins {
		if err := fn(in); err != nil {
			return err
		}
	}
	return nil
}

// The latency per day and path runs from the content's lastModified (the
// call's end when VCC gives none) to the sidecar's ingestedAt.
func TestReportLatencyByPath(t *testing.T) {
	ctx := context.Background()
	sink := store.NewDir(t.TempDir())
	var v listed
	add := func(i int, via string, lastModified time.Time, stored time.Duration) {
		guid := fmt.Sprintf("%08x-0000-4000-8000-000000000000", i+1)
		start := day0.Add(9*time.Hour + time.Duration(i)*time.Minute)
		end := start.Add(2 * time.Minute)
		v.stats = append(v.stats, vcc.Stats{GUID: guid, Start: start, Duration: 2 * time.Minute, Direction: vcc.DirectionInbound})
		v.ins = append(v.ins, vcc.Interaction{GUID: guid, Start: start, Direction: vcc.DirectionInbound,
			Content: []vcc.ContentItem{{ContentKey: "callRecording", Type: "callRecording", ContentType: "audio/wav", LastModified: lastModified}}})
		from := lastModified
		if from.IsZero() {
			from = end
		}
		sc, _ := json.Marshal(records.Sidecar{InteractionID: guid, Start: start, StoredVia: via, IngestedAt: from.Add(stored),
			Recordings: []records.SidecarRecord{{ContentKey: "callRecording"}}})
		if err := sink.PutSidecar(ctx, store.SidecarName(start, guid), sc); err != nil {
			t.Fatal(err)
		}
	}
	for i, s := range []int{10, 20, 30, 40, 100} {
		add(i, "event", day0.Add(9*time.Hour+time.Duration(i)*time.Minute+150*time.Second), time.Duration(s)*time.Second)
	}
	add(5, "discover", day0.Add(10*time.Hour), time.Hour)
	add(6, "", time.Time{}, 2*time.Hour) // no lastModified: from the call's end

	// The runs' listing calls: two sweeps (3 calls) and a discover run (2);
	// a backfill's are neither path's.
	state := store.NewDirState(t.TempDir())
	for i, run := range []records.Run{{Source: "event", VCCCalls: 1}, {Source: "event", VCCCalls: 2}, {Source: "discover", VCCCalls: 2}, {Source: "backfill", VCCCalls: 50}} {
		run.StartedAt = day0.Add(time.Duration(12*60+i) * time.Minute)
		data, _ := json.Marshal(run)
		if err := state.Put(ctx, records.RunName(run.Source, run.StartedAt), data); err != nil {
			t.Fatal(err)
		}
	}
	r, err := Build(ctx, Sources{VCC: v, Sink: sink, State: state, Runs: state, IsAudio: isAudio}, day0, day0.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	want := []LatencyRow{
		{Day: "2026-11-02", Path: "event", Measured: 5, P50: 30, P95: 100, Max: 100, Recordings: 5, ListingCalls: 3, CallsPerRecording: 1.6},
		{Day: "2026-11-02", Path: "discover", Measured: 2, P50: 3600, P95: 7200, Max: 7200, FromEnd: 1, Recordings: 2, ListingCalls: 2, CallsPerRecording: 2},
		{Day: "all", Path: "event", Measured: 5, P50: 30, P95: 100, Max: 100, Recordings: 5, ListingCalls: 3, CallsPerRecording: 1.6},
		{Day: "all", Path: "discover", Measured: 2, P50: 3600, P95: 7200, Max: 7200, FromEnd: 1, Recordings: 2, ListingCalls: 2, CallsPerRecording: 2},
	}
	if fmt.Sprint(r.Latency) != fmt.Sprint(want) {
		t.Fatalf("latency\n%v\nwant\n%v", r.Latency, want)
	}
	var table strings.Builder
	if err := WriteTable(&table, r); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(table.String(), "Latency by path") || !strings.Contains(table.String(), "1 measured from the call's end") || !strings.Contains(table.String(), "1.600") {
		t.Fatalf("table:\n%s", table.String())
	}
	var page strings.Builder
	if err := WriteHTML(&page, r); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(page.String(), `<table id="latency">`) || !strings.Contains(page.String(), "<td>all</td><td>discover</td><td>2</td><td>3600</td><td>7200</td>") {
		t.Fatalf("the page lacks the latency table:\n%s", page.String())
	}
}
