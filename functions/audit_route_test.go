package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vcc-ingest/vcc-ingest/shared/customhandler"
	"github.com/vcc-ingest/vcc-ingest/shared/invoke/invoketest"
	"github.com/vcc-ingest/vcc-ingest/shared/pipeline/audit"
	"github.com/vcc-ingest/vcc-ingest/shared/records"
	"github.com/vcc-ingest/vcc-ingest/shared/store"
	"github.com/vcc-ingest/vcc-ingest/shared/vccsim"
)

// The audit route answers the host's timer payload with 200 and the result
// it stored (without the full report and doctor documents), and logs the
// structured event the alert rule queries.
func TestAuditRouteAnswersTimerFixture(t *testing.T) {
	p := newPipeline(t, vccsim.Options{Seed: 21, Start: day, Days: 1, InteractionsPerDay: 20})
	p.enqueueDay(day)
	p.drain()
	now := day.Add(36 * time.Hour) // audits day and the day before
	p.srv.Audit = audit.New(p.client, p.blobs, p.blobs.State(), p.queue, audit.Options{Days: 2, IsAudio: isAudio, Logger: p.srv.Log})
	p.srv.Now = func() time.Time { return now }

	rec := httptest.NewRecorder()
	customhandler.Serve(p.srv).ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/audit", bytes.NewReader(invoketest.Fixture(t, "timer.json"))))
	if rec.Code != http.StatusOK {
		t.Fatalf("audit status %d: %s", rec.Code, rec.Body)
	}
	var resp struct {
		ReturnValue records.Audit
		Logs        []string
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
		t.Fatal(err)
	}
	got := resp.ReturnValue
	to := day.Add(24 * time.Hour)
	if !got.To.Equal(to) || !got.From.Equal(day.Add(-24*time.Hour)) || !absent(got.Report) || !absent(got.Doctor) {
		t.Errorf("ReturnValue = from %v to %v (report %d bytes, doctor %d bytes), want %v..%v without the documents", got.From, got.To, len(got.Report), len(got.Doctor), day.Add(-24*time.Hour), to)
	}
	data, _, found, err := p.blobs.State().Load(context.Background(), records.AuditName(to))
	if err != nil || !found {
		t.Fatalf("no %s in the state: found=%v err=%v", records.AuditName(to), found, err)
	}
	var stored records.Audit
	if err := json.Unmarshal(data, &stored); err != nil {
		t.Fatal(err)
	}
	if absent(stored.Report) || absent(stored.Doctor) {
		t.Error("the stored audit lacks the report or the doctor document")
	}
	if stored.Gaps != got.Gaps || stored.Missing != got.Missing || stored.DeadLetters != got.DeadLetters || !stored.GeneratedAt.Equal(got.GeneratedAt) || stored.PermissionIssue != got.PermissionIssue {
		t.Errorf("answer %+v differs from the stored audit %+v", got, stored)
	}
	if got.Gaps != 0 || got.PermissionIssue {
		t.Errorf("every recording was copied and nothing is denied, yet gaps=%d permission problem=%v", got.Gaps, got.PermissionIssue)
	}
	if len(resp.Logs) != 1 || !strings.HasPrefix(resp.Logs[0], "audit: 0 gaps") {
		t.Errorf("Logs = %q", resp.Logs)
	}
	if !strings.Contains(p.logs.String(), `"msg":"`+records.AuditEvent+`"`) {
		t.Errorf("no %q event in the logs", records.AuditEvent)
	}
}

func absent(m json.RawMessage) bool { return len(m) == 0 || string(m) == "null" }

// handler local --audit runs the audit after the window: the summary line
// and audit.json in the state.
func TestLocalAuditAfterWindow(t *testing.T) {
	out, data := filepath.Join(t.TempDir(), "export"), t.TempDir()
	var stdout, stderr bytes.Buffer
	today := time.Now().UTC().Truncate(24 * time.Hour)
	status := run(context.Background(), []string{"local", "--sandbox", "--seed", "12", "--per-day", "30", "--out", out, "--data", data, "--audit"}, &stdout, &stderr, func(k string) string {
		return map[string]string{"VCC_RATE_PER_MINUTE": "100000"}[k]
	})
	if status != 0 {
		t.Fatalf("status %d\nstdout:\n%s\nstderr:\n%s", status, stdout.String(), stderr.String())
	}
	name := records.AuditName(today)
	if after := time.Now().UTC().Truncate(24 * time.Hour); !after.Equal(today) {
		t.Skip("the UTC day changed during the run")
	}
	from := today.AddDate(0, 0, -2)
	want := "Audit " + from.Format(time.DateOnly) + " → " + today.Format(time.DateOnly) + ": 0 gaps (0 lines), 0 hidden directions, 0 hidden lines, 0 hidden agents, 0 dead letters; result in the state at " + name
	if !strings.Contains(stdout.String(), want) {
		t.Errorf("stdout lacks %q:\n%s", want, stdout.String())
	}
	b, err := os.ReadFile(filepath.Join(data, "state", filepath.FromSlash(name)))
	if err != nil {
		t.Fatalf("audit.json: %v", err)
	}
	var a records.Audit
	if err := json.Unmarshal(b, &a); err != nil {
		t.Fatal(err)
	}
	if !a.To.Equal(today) || !a.From.Equal(from) || a.Gaps != 0 || absent(a.Report) {
		t.Errorf("stored audit: from %v to %v gaps %d report %d bytes", a.From, a.To, a.Gaps, len(a.Report))
	}
	if _, err := os.Stat(filepath.Join(data, "state", filepath.FromSlash(records.AuditPageName(today)))); err != nil {
		t.Errorf("coverage page: %v", err)
	}
}

// A callRecording VCC lists as video/webm (a video call) is not copied as
// audio, while the interaction's and every other audio recording is.
func TestVideoCallRecordingIsNotCopied(t *testing.T) {
	p := newPipeline(t, vccsim.Options{Seed: 23, Start: day, Days: 1, InteractionsPerDay: 200})
	var videos []vccsim.Recording
	for _, r := range p.sim.Recordings() {
		if r.Visible && r.Type == vccsim.TypeCallRecording && r.ContentType == "video/webm" {
			videos = append(videos, r)
		}
	}
	if len(videos) == 0 {
		t.Fatal("the sandbox has no video callRecording")
	}
	want := p.expectedAudio()
	if len(want) == 0 {
		t.Fatal("no audio to copy")
	}
	for _, r := range want {
		if r.ContentType == "video/webm" {
			t.Fatalf("the sandbox counts %s (video/webm) as audio", r.ContentKey)
		}
	}
	p.enqueueDay(day)
	p.drain()
	p.checkStored(want) // every audio recording, and no other blob (a copied video is one)
	ctx := context.Background()
	for _, v := range videos {
		if data, found, _ := p.blobs.GetSidecar(ctx, store.SidecarName(v.Start, v.InteractionGUID)); found {
			var sc records.Sidecar
			_ = json.Unmarshal(data, &sc)
			for _, r := range sc.Recordings {
				if r.ContentKey == v.ContentKey {
					t.Errorf("%s: the sidecar lists the video as a recording", v.InteractionGUID)
				}
			}
		}
	}
	if n := len(p.deadLetters()); n != 0 {
		t.Errorf("%d dead letters", n)
	}
}
