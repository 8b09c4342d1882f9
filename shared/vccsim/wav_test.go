package vccsim

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"io"
	"math"
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

// fill is the bulk form of block: both kinds, from any first block, must
// give the same bytes block by block.
func TestWAVFillAgreesWithBlock(t *testing.T) {
	for _, kind := range []synthKind{kindWAV, kindWebM} {
		for seed := int64(0); seed < 40; seed++ {
			s := newSynth(kind, seed, 1<<20)
			for _, first := range []uint64{0, 1, 7, 39, 1000, 1 << 33} {
				got := make([]byte, 8*123)
				s.fill(first, got)
				var b [8]byte
				for i := 0; i < 123; i++ {
					s.block(first+uint64(i), &b)
					if !bytes.Equal(got[8*i:8*i+8], b[:]) {
						t.Fatalf("kind %d seed %d: block %d differs", kind, seed, first+uint64(i))
					}
				}
			}
		}
	}
}

// The word arithmetic is the sample formula, computed here sample by
// sample: a seed-chosen tone plus noise, each 16-bit lane of the noise word
// shifted right by 6 as an int16, the sum wrapping as int16.
func TestWAVSamplesAreTonePlusNoise(t *testing.T) {
	for seed := int64(0); seed < 20; seed++ {
		s := newSynth(kindWAV, seed, 1<<30)
		h := splitmix(uint64(seed) ^ 0x9e3779b97f4a7c15)
		period := 10 + h%31
		amp := 3000 + float64((h>>8)%5000)
		for _, n := range []uint64{0, 1, 2, 39, noiseWords - 1, noiseWords, 12345678} {
			var b [8]byte
			s.block(n, &b)
			x := s.noise(n)
			for k := uint64(0); k < 4; k++ {
				tone := int16(amp * math.Sin(2*math.Pi*float64((4*n+k)%period)/float64(period)))
				want := tone + int16(uint16(x>>(16*k)))>>6
				if got := int16(binary.LittleEndian.Uint16(b[2*k:])); got != want {
					t.Fatalf("seed %d word %d sample %d = %d, want %d", seed, n, k, got, want)
				}
			}
		}
	}
}

func BenchmarkWAVRead(b *testing.B) {
	buf := make([]byte, 32<<10)
	b.SetBytes(int64(len(buf)))
	s := newSynth(kindWAV, 5, 1<<40)
	for b.Loop() {
		if _, err := s.Read(buf); err != nil {
			b.Fatal(err)
		}
	}
}
