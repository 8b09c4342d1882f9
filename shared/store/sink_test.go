package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"slices"
	"sort"
	"strings"
	"testing"
)

// sinkUnderTest is one Sink implementation plus a way to read a stored
// object back without going through the Sink.
type sinkUnderTest struct {
	sink     Sink
	readBack func(t *testing.T, name string) []byte
	// leftovers lists everything physically present (including temporary
	// files), to prove failed writes leave nothing.
	leftovers func(t *testing.T) []string
}

// runSinkSuite checks the Sink contract; Blob and Dir must both pass it.
func runSinkSuite(t *testing.T, newSink func(t *testing.T) sinkUnderTest) {
	ctx := context.Background()
	const mib = 1 << 20

	t.Run("round trip", func(t *testing.T) {
		s := newSink(t)
		sizes := []int64{0, 1000, mib, 9*mib + 17}
		for i, size := range sizes {
			name := RecordingName(testStart, testGUID, "key"+string(rune('a'+i)), "wav")
			w, err := s.sink.PutRecording(ctx, Recording{Name: name, ContentType: "audio/wav", ExpectedLength: size,
				Metadata: map[string]string{"interactionid": testGUID}, Tags: map[string]string{"direction": "inbound"}},
				newGen(int64(i), size))
			if err != nil {
				t.Fatalf("PutRecording(%d bytes): %v", size, err)
			}
			wantSHA, wantMD5 := sums(t, int64(i), size)
			if w.Bytes != size || w.SHA256 != wantSHA || w.MD5 != wantMD5 {
				t.Fatalf("Written = %+v, want %d bytes sha %s md5 %s", w, size, wantSHA, wantMD5)
			}
			got := s.readBack(t, name)
			if sum := sha256.Sum256(got); int64(len(got)) != size || hex.EncodeToString(sum[:]) != wantSHA {
				t.Fatalf("read back %d bytes with sha %x, want %d bytes sha %s", len(got), sum, size, wantSHA)
			}
			info, found, err := s.sink.StatRecording(ctx, name)
			if err != nil || !found {
				t.Fatalf("StatRecording: found=%v err=%v", found, err)
			}
			if info.Bytes != size || info.SHA256 != wantSHA {
				t.Fatalf("Info = %+v, want %d bytes sha %s", info, size, wantSHA)
			}
		}
	})

	t.Run("unknown length", func(t *testing.T) {
		s := newSink(t)
		name := RecordingName(testStart, testGUID, "u", "mp3")
		w, err := s.sink.PutRecording(ctx, Recording{Name: name, ExpectedLength: -1}, newGen(7, 3*mib+5))
		if err != nil || w.Bytes != 3*mib+5 {
			t.Fatalf("PutRecording = %+v, %v", w, err)
		}
	})

	t.Run("create only", func(t *testing.T) {
		s := newSink(t)
		name := RecordingName(testStart, testGUID, "dup", "wav")
		if _, err := s.sink.PutRecording(ctx, Recording{Name: name, ExpectedLength: 100}, newGen(1, 100)); err != nil {
			t.Fatal(err)
		}
		for _, size := range []int64{100, 2*mib + 1} { // single-request and multi-block paths
			_, err := s.sink.PutRecording(ctx, Recording{Name: name, ExpectedLength: size}, newGen(2, size))
			if !errors.Is(err, ErrExists) {
				t.Fatalf("second PutRecording(%d bytes) err = %v, want ErrExists", size, err)
			}
			if IsTransient(err) {
				t.Fatalf("ErrExists classed transient: %v", err)
			}
		}
		wantSHA, _ := sums(t, 1, 100)
		if sum := sha256.Sum256(s.readBack(t, name)); hex.EncodeToString(sum[:]) != wantSHA {
			t.Fatal("first recording was replaced")
		}
	})

	t.Run("nothing stored on failure", func(t *testing.T) {
		tests := []struct {
			name     string
			expected int64
			r        io.Reader
			want     error
		}{
			{"source fails mid-stream", 5 * mib, &failAfter{newGen(3, 5*mib), 3*mib + 10}, errSource},
			{"source fails in first block", -1, &failAfter{newGen(3, mib), 10}, errSource},
			{"short stream", 5 * mib, newGen(3, 5*mib-1), ErrLengthMismatch},
			{"short small stream", 1000, newGen(3, 999), ErrLengthMismatch},
			{"long stream", 5 * mib, newGen(3, 5*mib+1), ErrLengthMismatch},
			{"long at block boundary", mib, newGen(3, 2*mib), ErrLengthMismatch},
			{"empty but announced", 10, newGen(3, 0), ErrLengthMismatch},
		}
		s := newSink(t)
		for i, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				name := RecordingName(testStart, testGUID, "fail"+string(rune('a'+i)), "wav")
				_, err := s.sink.PutRecording(ctx, Recording{Name: name, ExpectedLength: tt.expected}, tt.r)
				if !errors.Is(err, tt.want) {
					t.Fatalf("err = %v, want %v", err, tt.want)
				}
				if _, found, err := s.sink.StatRecording(ctx, name); err != nil || found {
					t.Fatalf("after failure: found=%v err=%v", found, err)
				}
			})
		}
		if left := s.leftovers(t); len(left) != 0 {
			t.Fatalf("failed writes left %v", left)
		}
		// The names stay free for a correct copy.
		name := RecordingName(testStart, testGUID, "faila", "wav")
		if _, err := s.sink.PutRecording(ctx, Recording{Name: name, ExpectedLength: 5 * mib}, newGen(3, 5*mib)); err != nil {
			t.Fatalf("retry after failure: %v", err)
		}
	})

	t.Run("cancelled context", func(t *testing.T) {
		s := newSink(t)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		name := RecordingName(testStart, testGUID, "cancel", "wav")
		if _, err := s.sink.PutRecording(cctx, Recording{Name: name, ExpectedLength: -1}, newGen(1, 2*mib)); err == nil {
			t.Fatal("PutRecording with a cancelled context succeeded")
		}
		if _, found, _ := s.sink.StatRecording(ctx, name); found {
			t.Fatal("cancelled upload is visible")
		}
	})

	t.Run("sidecar", func(t *testing.T) {
		s := newSink(t)
		name := SidecarName(testStart, testGUID)
		if _, found, err := s.sink.GetSidecar(ctx, name); err != nil || found {
			t.Fatalf("GetSidecar before put: found=%v err=%v", found, err)
		}
		for _, doc := range []string{`{"v":1}`, `{"v":2,"longer":true}`} {
			if err := s.sink.PutSidecar(ctx, name, []byte(doc)); err != nil {
				t.Fatal(err)
			}
			got, found, err := s.sink.GetSidecar(ctx, name)
			if err != nil || !found || string(got) != doc {
				t.Fatalf("GetSidecar = %q, %v, %v; want %q", got, found, err, doc)
			}
		}
	})

	t.Run("missing", func(t *testing.T) {
		s := newSink(t)
		if _, found, err := s.sink.StatRecording(ctx, "2026/11/02/none/x.wav"); err != nil || found {
			t.Fatalf("StatRecording(missing): found=%v err=%v", found, err)
		}
	})

	t.Run("list", func(t *testing.T) {
		s := newSink(t)
		other := "0b6d1a44-1111-4222-8333-944455556666"
		names := []string{
			RecordingName(testStart, testGUID, "a", "wav"),
			RecordingName(testStart, testGUID, "b", "wav"),
			RecordingName(testStart, other, "a", "wav"),
			RecordingName(testStart.AddDate(0, 0, 1), testGUID, "c", "wav"),
		}
		for _, n := range names {
			if _, err := s.sink.PutRecording(ctx, Recording{Name: n, ExpectedLength: 10}, newGen(1, 10)); err != nil {
				t.Fatal(err)
			}
		}
		side := SidecarName(testStart, testGUID)
		if err := s.sink.PutSidecar(ctx, side, []byte("{}")); err != nil {
			t.Fatal(err)
		}
		day := strings.TrimSuffix(SidecarName(testStart, ""), "/interaction.json") // 2026/11/02/
		tests := []struct {
			prefix string
			want   []string
		}{
			{"", append(slices.Clone(names), side)},
			{day, []string{names[0], names[1], names[2], side}},
			{day + testGUID + "/", []string{names[0], names[1], side}},
			{day + testGUID[:4], []string{names[0], names[1], side}},
			{"2026/11/0", append(slices.Clone(names), side)},
			{"2025/", nil},
		}
		for _, tt := range tests {
			got := listAll(t, s.sink.List, tt.prefix)
			sort.Strings(got)
			want := slices.Clone(tt.want)
			sort.Strings(want)
			if !slices.Equal(got, want) {
				t.Errorf("List(%q) = %v, want %v", tt.prefix, got, want)
			}
		}
		stop := errors.New("stop")
		calls := 0
		err := s.sink.List(ctx, "", func(string) error { calls++; return stop })
		if !errors.Is(err, stop) || calls != 1 {
			t.Fatalf("List with failing fn: err=%v calls=%d", err, calls)
		}
		if err := s.sink.List(ctx, "../", func(string) error { return nil }); !errors.Is(err, ErrInvalid) {
			t.Fatalf("List(../) err = %v, want ErrInvalid", err)
		}
	})

	t.Run("invalid names", func(t *testing.T) {
		s := newSink(t)
		for _, name := range []string{"../escape.wav", "/abs.wav", "a/../../b.wav", ""} {
			if _, err := s.sink.PutRecording(ctx, Recording{Name: name, ExpectedLength: 1}, bytes.NewReader([]byte{1})); !errors.Is(err, ErrInvalid) {
				t.Errorf("PutRecording(%q) err = %v, want ErrInvalid", name, err)
			}
			if err := s.sink.PutSidecar(ctx, name, []byte("{}")); !errors.Is(err, ErrInvalid) {
				t.Errorf("PutSidecar(%q) err = %v, want ErrInvalid", name, err)
			}
			if _, _, err := s.sink.StatRecording(ctx, name); !errors.Is(err, ErrInvalid) {
				t.Errorf("StatRecording(%q) err = %v, want ErrInvalid", name, err)
			}
		}
		if left := s.leftovers(t); len(left) != 0 {
			t.Fatalf("invalid names wrote %v", left)
		}
	})
}
