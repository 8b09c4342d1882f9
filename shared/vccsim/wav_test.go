package vccsim

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"io"
	"runtime"
	"testing"
)

func TestWAVHeaderAndSize(t *testing.T) {
	for _, size := range []int64{44, 46, 1000, 16 << 10, 256<<10 + 2, 1<<20 + 1} {
		b, err := io.ReadAll(WAV(int64(size), size))
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(b)) != size {
			t.Fatalf("size %d: got %d bytes", size, len(b))
		}
		le := binary.LittleEndian
		checks := []struct {
			name      string
			got, want any
		}{
			{"RIFF", string(b[0:4]), "RIFF"},
			{"riff size", int64(le.Uint32(b[4:])), size - 8},
			{"WAVE", string(b[8:12]), "WAVE"},
			{"fmt", string(b[12:16]), "fmt "},
			{"fmt size", le.Uint32(b[16:]), uint32(16)},
			{"PCM", le.Uint16(b[20:]), uint16(1)},
			{"channels", le.Uint16(b[22:]), uint16(1)},
			{"rate", le.Uint32(b[24:]), uint32(8000)},
			{"byte rate", le.Uint32(b[28:]), uint32(16000)},
			{"block align", le.Uint16(b[32:]), uint16(2)},
			{"bits", le.Uint16(b[34:]), uint16(16)},
			{"data", string(b[36:40]), "data"},
			{"data size", int64(le.Uint32(b[40:])), size - 44},
		}
		for _, c := range checks {
			if c.got != c.want {
				t.Errorf("size %d: %s = %v, want %v", size, c.name, c.got, c.want)
			}
		}
	}
	if b, _ := io.ReadAll(WAV(1, 10)); len(b) != 10 || string(b[:4]) != "RIFF" {
		t.Fatalf("tiny WAV %q", b)
	}
}

func TestWAVDeterministicAndSeekable(t *testing.T) {
	a, _ := io.ReadAll(WAV(42, 100_003))
	b, _ := io.ReadAll(WAV(42, 100_003))
	c, _ := io.ReadAll(WAV(43, 100_003))
	if !bytes.Equal(a, b) || bytes.Equal(a, c) {
		t.Fatal("WAV is not a function of its seed")
	}
	// Samples are not silence.
	var nonzero int
	for i := 44; i+1 < len(a); i += 2 {
		if a[i] != 0 || a[i+1] != 0 {
			nonzero++
		}
	}
	if nonzero < (len(a)-44)/4 {
		t.Fatalf("only %d non-zero samples", nonzero)
	}
	// Reading at any offset agrees with the sequential stream, whatever the
	// alignment and buffer size.
	s := newSynth(kindWAV, 42, 100_003)
	for _, tc := range []struct{ off, n int }{{0, 3}, {40, 9}, {43, 1}, {44, 8}, {45, 17}, {99_990, 13}, {99_999, 4}} {
		buf := make([]byte, tc.n)
		n, err := s.ReadAt(buf, int64(tc.off))
		if n != tc.n || (err != nil && err != io.EOF) {
			t.Fatalf("ReadAt(%d,%d) = %d, %v", tc.off, tc.n, n, err)
		}
		if !bytes.Equal(buf, a[tc.off:tc.off+tc.n]) {
			t.Fatalf("ReadAt(%d,%d) differs from the stream", tc.off, tc.n)
		}
	}
	sum := sha256.Sum256(a)
	if got := WAVSHA256(42, 100_003); got != hex.EncodeToString(sum[:]) {
		t.Fatal("WAVSHA256 disagrees with the bytes")
	}
}

func TestWAVHashingAllocatesLittle(t *testing.T) {
	const size = 64 << 20
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	sum := WAVSHA256(7, size)
	runtime.ReadMemStats(&after)
	if len(sum) != 64 {
		t.Fatalf("hash %q", sum)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<20 {
		t.Fatalf("hashing a 64 MiB WAV allocated %d bytes", alloc)
	}
}
