package ingest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vcc-ingest/vcc-ingest/shared/message"
	"github.com/vcc-ingest/vcc-ingest/shared/store"
	"github.com/vcc-ingest/vcc-ingest/shared/vcc"
)

// longVCC serves a recording of n bytes with no Content-Length.
type longVCC struct {
	accountVCC
	n int
}

func (l *longVCC) Download(ctx context.Context, guid, key string) (*vcc.Download, error) {
	return &vcc.Download{Body: io.NopCloser(bytes.NewReader(make([]byte, l.n))), ContentType: "audio/wav", Length: -1}, nil
}

// A download far longer than its listed contentLength is a permanent
// failure, and nothing is stored for it; one of the listed length is stored.
func TestDownloadPastListedLengthNotStored(t *testing.T) {
	ctx := context.Background()
	start := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	body := func(listed int64) []byte {
		data, err := message.Encode(message.Body{InteractionID: tenantGUID, Start: &start, Direction: "inbound",
			Agents: []string{"7"}, Content: []message.Content{{ContentKey: "callRecording", Type: "callRecording", ContentType: "audio/wav", ContentLength: listed}}})
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	root := t.TempDir()
	ing := New(&longVCC{accountVCC: accountVCC{name: "acme"}, n: 4 << 20}, store.NewDir(root), store.NewDirState(t.TempDir()), Options{})
	_, err := ing.Handle(ctx, Delivery{MessageID: tenantGUID, DeliveryCount: 1, Body: body(1000)})
	f := (*Failure)(nil)
	if err == nil || !errors.As(err, &f) || !f.Permanent {
		t.Fatalf("err = %v, want a permanent failure", err)
	}
	var files []string
	_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, p)
		}
		return nil
	})
	if len(files) != 0 {
		t.Fatalf("stored %v for a recording past its listed length", files)
	}
	if _, err := ing.Handle(ctx, Delivery{MessageID: tenantGUID, DeliveryCount: 1, Body: body(4 << 20)}); err != nil {
		t.Fatalf("the listed length: %v", err)
	}
}
