package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/vcc-ingest/vcc-ingest/shared/records"
	"github.com/vcc-ingest/vcc-ingest/shared/secrets"
	"github.com/vcc-ingest/vcc-ingest/shared/store"
	"github.com/vcc-ingest/vcc-ingest/shared/vcc"
	"github.com/vcc-ingest/vcc-ingest/shared/vccsim"
)

// The audit carries each path's latency over its days, in its result and
// in its event: content available in VCC → sidecar stored.
func TestAuditCarriesTheLatencyByPath(t *testing.T) {
	sim := vccsim.New(vccsim.Options{Seed: 5, Start: day0, Days: 2, InteractionsPerDay: 40})
	if err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	client, err := vcc.New(vcc.Config{TokenURL: sim.TokenURL(), APIURL: sim.APIURL(), ClientID: sim.ClientID(),
		Secret: secrets.Static(secrets.New(sim.ClientSecret())), RatePerMinute: 600000})
	if err != nil {
		t.Fatal(err)
	}
	sink := store.NewDir(t.TempDir())
	ctx := context.Background()
	withContent := map[string]bool{}
	for _, r := range sim.Recordings() {
		if r.Visible {
			withContent[r.InteractionGUID] = true
		}
	}
	stored := map[string]int{}
	for _, in := range sim.Interactions() {
		if !withContent[in.GUID] {
			continue
		}
		via := map[bool]string{true: "event", false: "discover"}[stored["event"] <= stored["discover"]]
		stored[via]++
		// Long after the content, whenever VCC says it appeared.
		sc, _ := json.Marshal(records.Sidecar{InteractionID: in.GUID, Start: in.Start, StoredVia: via, IngestedAt: day0.Add(72 * time.Hour)})
		if err := sink.PutSidecar(ctx, store.SidecarName(in.Start, in.GUID), sc); err != nil {
			t.Fatal(err)
		}
	}
	if stored["event"] == 0 || stored["discover"] == 0 {
		t.Fatalf("stored %v: the sandbox lists too little", stored)
	}
	var logs bytes.Buffer
	a := New(client, sink, store.NewDirState(t.TempDir()), nil, Options{Days: 2, IsAudio: func(string) bool { return true },
		Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	res, err := a.Run(ctx, day0.Add(50*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"event", "discover"} {
		p50, p95 := res.LatencyP50[path], res.LatencyP95[path]
		if p50 < 24*3600 || p95 < p50 {
			t.Errorf("%s: p50 %.0fs, p95 %.0fs; want a day or more, p95 at least p50", path, p50, p95)
		}
	}
	var event map[string]any
	if err := json.Unmarshal(bytes.TrimSpace(logs.Bytes()), &event); err != nil {
		t.Fatalf("event %s: %v", logs.String(), err)
	}
	if event["eventP95Seconds"] != res.LatencyP95["event"] || event["discoverP50Seconds"] != res.LatencyP50["discover"] {
		t.Fatalf("event %v, result %v %v", event, res.LatencyP50, res.LatencyP95)
	}
}
