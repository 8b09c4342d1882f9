package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/vcc-ingest/vcc-ingest/shared/customhandler"
	"github.com/vcc-ingest/vcc-ingest/shared/invoke/invoketest"
	"github.com/vcc-ingest/vcc-ingest/shared/message"
	"github.com/vcc-ingest/vcc-ingest/shared/pipeline/discover"
	"github.com/vcc-ingest/vcc-ingest/shared/queue"
	"github.com/vcc-ingest/vcc-ingest/shared/records"
	"github.com/vcc-ingest/vcc-ingest/shared/store"
	"github.com/vcc-ingest/vcc-ingest/shared/vcc"
	"github.com/vcc-ingest/vcc-ingest/shared/vccsim"
)

var day = time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)

func TestEndToEndDay(t *testing.T) {
	p := newPipeline(t, vccsim.Options{Seed: 7, Start: day, Days: 1, InteractionsPerDay: 120})
	run := p.enqueueDay(day)
	want := p.expectedAudio()
	if len(want) < 50 {
		t.Fatalf("sandbox generated only %d audio recordings", len(want))
	}
	// Discover sends its messages in batches (up to 500 a send, flushed at
	// the end of each chunk): this day is one chunk of fewer than 500
	// messages, so one send, where one send per message would be ~100.
	if run.Chunks != 1 || run.Enqueued < 50 || run.Enqueued > 500 || run.Sends != 1 {
		t.Errorf("run = %+v, want one chunk of 50 to 500 messages sent in one batch", run)
	}
	p.drain()
	p.checkStored(want)
	if dead := p.deadLetters(); len(dead) != 0 {
		t.Fatalf("%d dead letters: %s %s", len(dead), dead[0].DeadLetterReason, dead[0].DeadLetterDescription)
	}

	// Sidecars: direction from Stats, agents resolved.
	truth := map[string]vccsim.InteractionInfo{}
	for _, in := range p.sim.Interactions() {
		truth[in.GUID] = in
	}
	resolved := 0
	for _, r := range want {
		s := p.sidecar(r)
		in := truth[r.InteractionGUID]
		if s.InteractionID != r.InteractionGUID || !s.Start.Equal(r.Start) {
			t.Errorf("sidecar %s: id/start %s %v", r.InteractionGUID, s.InteractionID, s.Start)
		}
		if s.Direction != strings.ToLower(in.Direction) || s.DirectionSource != "stats" {
			t.Errorf("sidecar %s: direction %q (%s), want %q", r.InteractionGUID, s.Direction, s.DirectionSource, strings.ToLower(in.Direction))
		}
		if len(s.Agents) != len(in.AgentIDs) {
			t.Errorf("sidecar %s: %d agents, want %d", r.InteractionGUID, len(s.Agents), len(in.AgentIDs))
		}
		for _, a := range s.Agents {
			if a.Resolved {
				resolved++
				if a.Name == "" || a.Email == "" || a.AgentCode == "" {
					t.Errorf("sidecar %s: resolved agent %+v lacks fields", r.InteractionGUID, a)
				}
			}
		}
		found := false
		for _, rec := range s.Recordings {
			if rec.ContentKey == r.ContentKey {
				found = true
				if rec.SHA256 != r.SHA256 || rec.Bytes != r.Size {
					t.Errorf("sidecar %s/%s: %d bytes %s", r.InteractionGUID, r.ContentKey, rec.Bytes, rec.SHA256)
				}
			}
		}
		if !found {
			t.Errorf("sidecar %s lacks recording %s", r.InteractionGUID, r.ContentKey)
		}
	}
	if resolved == 0 {
		t.Error("no agent was resolved")
	}

	// Calls: one download per recording, no per-interaction lookups, one token.
	calls := p.sim.Counters()
	if got := calls.ByEndpoint["content.download"]; got != int64(len(want)) {
		t.Errorf("downloads = %d, want %d", got, len(want))
	}
	if calls.ByEndpoint["content.get"] != 0 || calls.ByEndpoint["stats.get"] != 0 {
		t.Errorf("per-interaction lookups: %v", calls.ByEndpoint)
	}
	var total int64
	for _, n := range calls.ByEndpoint {
		total += n
	}
	total -= calls.ByEndpoint["token"]
	perRecording := float64(total) / float64(len(want))
	t.Logf("VCC calls per recording: %.3f (%v), tokens %d", perRecording, calls.ByEndpoint, calls.TokenRequests)
	if perRecording > 1.05 {
		t.Errorf("VCC calls per recording = %.3f, goal ≤ 1.05", perRecording)
	}
	if calls.TokenRequests != 1 {
		t.Errorf("token requests = %d, want 1", calls.TokenRequests)
	}
	for _, scopes := range calls.TokenScopes {
		if strings.Join(scopes, " ") != vcc.Scopes {
			t.Errorf("token requested with scopes %v", scopes)
		}
	}
	if len(calls.NonGET) != 0 {
		t.Errorf("non-GET calls to VCC: %v", calls.NonGET)
	}

	// Tags carry no email.
	for _, r := range want[:3] {
		name := store.RecordingName(r.Start, r.InteractionGUID, r.ContentKey, store.ExtensionFor(r.ContentType))
		info, found, err := p.blobs.StatRecording(context.Background(), name)
		if err != nil || !found {
			t.Fatalf("stat %s: %v", name, err)
		}
		if info.Metadata["interactionid"] != r.InteractionGUID {
			t.Errorf("metadata of %s: %v", name, info.Metadata)
		}
	}
}

// Duplicate and replayed deliveries of complete interactions download nothing.
func TestDuplicateDeliveriesDownloadNothing(t *testing.T) {
	p := newPipeline(t, vccsim.Options{Seed: 3, Start: day, Days: 1, InteractionsPerDay: 40})
	p.enqueueDay(day)
	p.drain()
	want := p.expectedAudio()
	p.checkStored(want)
	before := p.sim.Counters().ByEndpoint["content.download"]

	// The same interactions again under new message ids (a replay), twice.
	var out []queue.Outgoing
	seen := map[string]bool{}
	for _, r := range want {
		if seen[r.InteractionGUID] {
			continue
		}
		seen[r.InteractionGUID] = true
		body, _ := message.Encode(message.Body{InteractionID: r.InteractionGUID, Source: "replay"})
		for i := 0; i < 2; i++ {
			out = append(out, queue.Outgoing{ID: r.InteractionGUID + "-replay-" + string(rune('a'+i)), Body: body, ContentType: message.ContentType})
		}
	}
	if err := p.queue.SendBatch(context.Background(), out); err != nil {
		t.Fatal(err)
	}
	p.results = nil
	p.drain()
	if got := p.sim.Counters().ByEndpoint["content.download"]; got != before {
		t.Errorf("downloads after replays = %d, want %d", got, before)
	}
	complete := 0
	for _, r := range p.results {
		var res records.Result
		_ = json.Unmarshal(r.ReturnValue, &res)
		if r.OK() && res.Outcome == records.Complete {
			complete++
		}
	}
	if complete != len(out) {
		t.Errorf("%d of %d replays completed at once", complete, len(out))
	}
	p.checkStored(want)
}

// A crash after the recordings were uploaded but before the sidecar: the
// redelivery writes the sidecar without downloading again.
func TestCrashBetweenUploadAndSidecar(t *testing.T) {
	p := newPipeline(t, vccsim.Options{Seed: 4, Start: day, Days: 1, InteractionsPerDay: 30})
	p.enqueueDay(day)
	p.drain()
	want := p.expectedAudio()
	victim := want[0]
	sidecarName := store.SidecarName(victim.Start, victim.InteractionGUID)
	deleteBlob(t, p, "recordings", sidecarName)
	before := p.sim.Counters().ByEndpoint["content.download"]

	body, _ := message.Encode(message.Body{InteractionID: victim.InteractionGUID})
	if err := p.queue.SendBatch(context.Background(), []queue.Outgoing{{ID: "redelivery-1", Body: body}}); err != nil {
		t.Fatal(err)
	}
	p.drain()
	p.checkStored(want)
	if got := p.sim.Counters().ByEndpoint["content.download"]; got != before {
		t.Errorf("downloads = %d, want %d (no re-download)", got, before)
	}
}

// Truncated bodies (with and without Content-Length), 5xx and 429 answers and
// cross-host redirects that refuse the token: every recording still ends
// stored whole, never as a partial blob.
func TestFaultsEndInCompleteRecordings(t *testing.T) {
	p := newPipeline(t, vccsim.Options{Seed: 5, Start: day, Days: 1, InteractionsPerDay: 60})
	p.enqueueDay(day)
	p.sim.SetFaults(vccsim.Faults{
		Status5xx: 0.1, Throttle: 0.05, ThrottleNoRetryAfter: 0.05,
		Truncate: 0.1, TruncateNoLength: 0.1, Redirect: 0.2, RetryAfter: time.Millisecond,
	})
	p.drain()
	p.sim.SetFaults(vccsim.Faults{})
	p.checkStored(p.expectedAudio())
	if dead := p.deadLetters(); len(dead) != 0 {
		t.Fatalf("%d dead letters: %s", len(dead), dead[0].DeadLetterDescription)
	}
}

// An interaction VCC does not know fails permanently: its reason is recorded,
// later deliveries do not call VCC again, and the message is dead-lettered.
func TestUnknownInteractionIsDeadLetteredWithReason(t *testing.T) {
	p := newPipeline(t, vccsim.Options{Seed: 6, Start: day, Days: 1, InteractionsPerDay: 5})
	guid := "0b0b0b0b-1c1c-4d4d-8e8e-9f9f9f9f9f9f"
	body, _ := message.Encode(message.Body{InteractionID: guid})
	bad := []queue.Outgoing{{ID: guid, Body: body}, {ID: "malformed", Body: []byte(`{"v":1,"interactionId":"../etc/passwd"}`)}, {ID: "v9", Body: []byte(`{"v":9,"interactionId":"` + guid + `"}`)}}
	if err := p.queue.SendBatch(context.Background(), bad); err != nil {
		t.Fatal(err)
	}
	p.drain()
	dead := p.deadLetters()
	if len(dead) != 3 {
		t.Fatalf("%d dead letters, want 3", len(dead))
	}
	if got := p.sim.Counters().ByEndpoint["content.get"]; got != 1 {
		t.Errorf("content.get calls = %d, want 1 (no hammering on redelivery)", got)
	}
	data, _, found, err := p.blobs.State().Load(context.Background(), records.FailureName(guid))
	if err != nil || !found {
		t.Fatalf("failure record: found=%v err=%v", found, err)
	}
	var rec records.FailureRecord
	_ = json.Unmarshal(data, &rec)
	if !rec.Permanent || !strings.Contains(rec.Reason, "unknown interaction") {
		t.Errorf("failure record = %+v", rec)
	}
}

// The rotated secret is re-read once when the token endpoint rejects the
// client; no recording fails.
func TestRotatedSecret(t *testing.T) {
	p := newPipeline(t, vccsim.Options{Seed: 8, Start: day, Days: 1, InteractionsPerDay: 40, TokenLifetime: 2 * time.Second})
	p.enqueueDay(day)
	p.sim.RotateSecret("rotated-secret-value")
	p.secret.set("rotated-secret-value")
	time.Sleep(2 * time.Second) // the first token expires: the next one needs the new secret
	p.drain()
	p.checkStored(p.expectedAudio())
	if len(p.deadLetters()) != 0 {
		t.Fatal("dead letters after rotation")
	}
	if p.secret.freshReads != 1 {
		t.Errorf("fresh secret reads = %d, want 1", p.secret.freshReads)
	}
}

// Scheduled runs with missed runs and late recordings leave no gap.
func TestCheckpointWithLateRecordingsAndMissedRuns(t *testing.T) {
	var now time.Time
	clock := func() time.Time { return now }
	p := newPipeline(t, vccsim.Options{Seed: 9, Start: day, Days: 1, InteractionsPerDay: 80, LateRecording: 20 * time.Minute, Now: clock})
	d := discover.New(p.client, p.queue, p.blobs.State(), discover.Options{
		Lookback: 2 * time.Hour, Overlap: time.Hour, Settle: 10 * time.Minute, IsAudio: isAudio,
	})
	ctx := context.Background()
	// First run two hours into the day, then every 15 minutes with a few
	// runs missed, until the day is over and settled.
	now = day.Add(2 * time.Hour)
	runs := 0
	for now.Before(day.Add(26 * time.Hour)) {
		if runs%7 != 3 { // every 7th run is missed
			if _, err := d.Run(ctx, now, runs%7 == 4); err != nil {
				t.Fatal(err)
			}
		}
		runs++
		now = now.Add(15 * time.Minute)
	}
	p.drain()
	p.checkStored(p.expectedAudio())

	data, _, found, err := p.blobs.State().Load(ctx, discover.CheckpointName)
	if err != nil || !found {
		t.Fatal("no checkpoint")
	}
	var cp discover.Checkpoint
	_ = json.Unmarshal(data, &cp)
	if cp.Through.Before(day.Add(25 * time.Hour)) {
		t.Errorf("checkpoint %v did not advance", cp.Through)
	}
}

// The handler answers the host's captured Service Bus payload, and a
// permanent failure is a non-2xx answer (so the host abandons the message).
func TestHandlerAnswersHostFixture(t *testing.T) {
	p := newPipeline(t, vccsim.Options{Seed: 10, Start: day, Days: 1, InteractionsPerDay: 5})
	data := invoketest.Fixture(t, "servicebus.json")
	rec := httptest.NewRecorder()
	customhandler.Serve(p.srv).ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/ingest", bytes.NewReader(data)))
	if rec.Code != http.StatusInternalServerError {
		t.Fatalf("status %d, want 500 for an interaction the sandbox does not know", rec.Code)
	}
	var resp struct {
		ReturnValue records.InvocationFailure
		Logs        []string
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
		t.Fatal(err)
	}
	if !resp.ReturnValue.Permanent || !strings.Contains(resp.ReturnValue.Error, "2480fc2c-7a3b-4b5e-9c61-0d2f4e8a1b7c") {
		t.Errorf("ReturnValue = %+v", resp.ReturnValue)
	}

	timer := invoketest.Fixture(t, "timer.json")
	rec = httptest.NewRecorder()
	customhandler.Serve(p.srv).ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/discover", bytes.NewReader(timer)))
	if rec.Code != http.StatusOK {
		t.Fatalf("discover status %d: %s", rec.Code, rec.Body)
	}
	rec = httptest.NewRecorder()
	customhandler.Serve(p.srv).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("readiness status %d", rec.Code)
	}
}

// A recording that appears after the interaction was completed (its
// sidecar written without it) is copied by the next delivery, and the
// sidecar is rewritten to list it.
func TestRecordingAddedAfterCompletion(t *testing.T) {
	p := newPipeline(t, vccsim.Options{Seed: 15, Start: day, Days: 1, InteractionsPerDay: 20})
	p.enqueueDay(day)
	p.drain()
	want := p.expectedAudio()
	victim := want[0]
	ctx := context.Background()
	sc := p.sidecar(victim)
	var kept []records.SidecarRecord
	for _, r := range sc.Recordings {
		if r.ContentKey != victim.ContentKey {
			kept = append(kept, r)
		}
	}
	sc.Recordings = kept
	data, _ := json.Marshal(sc)
	if err := p.blobs.PutSidecar(ctx, store.SidecarName(victim.Start, victim.InteractionGUID), data); err != nil {
		t.Fatal(err)
	}
	deleteBlob(t, p, "recordings", store.RecordingName(victim.Start, victim.InteractionGUID, victim.ContentKey, store.ExtensionFor(victim.ContentType)))
	before := p.sim.Counters().ByEndpoint["content.download"]

	body, _ := message.Encode(message.Body{InteractionID: victim.InteractionGUID, Source: "backfill"})
	if err := p.queue.SendBatch(ctx, []queue.Outgoing{{ID: "later-1", Body: body}}); err != nil {
		t.Fatal(err)
	}
	p.drain()
	p.checkStored(want)
	if got := p.sim.Counters().ByEndpoint["content.download"]; got != before+1 {
		t.Errorf("downloads = %d, want %d (only the missing recording)", got, before+1)
	}
	found := false
	for _, r := range p.sidecar(victim).Recordings {
		found = found || r.ContentKey == victim.ContentKey
	}
	if !found {
		t.Error("sidecar does not list the added recording")
	}
}
