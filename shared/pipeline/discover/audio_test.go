package discover

import (
	"context"
	"testing"
	"time"

	"github.com/vcc-ingest/vcc-ingest/shared/store"
	"github.com/vcc-ingest/vcc-ingest/shared/vcc"
)

// videoVCC lists two interactions with a callRecording each: one audio, one
// a video (VCC records video calls under the same type).
type videoVCC struct{ fakeVCC }

func (f *videoVCC) ListInteractions(_ context.Context, start, _ time.Time, fn func(vcc.Interaction) error) error {
	for i, ct := range []string{"audio/wav", "video/webm", ""} {
		t := start.Add(time.Duration(i) * time.Minute)
		in := vcc.Interaction{GUID: guidAt(t), Start: t, Direction: vcc.DirectionInbound,
			Content: []vcc.ContentItem{{ContentKey: "callRecording", Type: "callRecording", ContentType: ct, ContentLength: 10}}}
		if err := fn(in); err != nil {
			return err
		}
	}
	return nil
}

func TestAudioIsChosenByContentType(t *testing.T) {
	v, q, st := &videoVCC{}, &fakeQueue{}, store.NewDirState(t.TempDir())
	d := New(v, q, st, Options{IsAudio: isAudio})
	run, err := d.Enqueue(context.Background(), now.Add(-time.Hour), now, "backfill", now)
	if err != nil {
		t.Fatal(err)
	}
	// The video callRecording is not audio; one without a contentType is
	// judged by its type.
	if run.Enqueued != 2 || run.NoAudio != 1 {
		t.Errorf("enqueued %d, without audio %d; want 2 and 1", run.Enqueued, run.NoAudio)
	}
}
