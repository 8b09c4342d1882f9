package store

import (
	"encoding/hex"
	"errors"
	"io"
	"testing"
	"testing/iotest"
	"time"
)

// TestCheckedReaderHashes covers sizes around the hashing chunk, more
// chunks than the set holds (so chunks are reused), and reads of odd sizes.
func TestCheckedReaderHashes(t *testing.T) {
	sizes := []int64{0, 1, hashChunkSize - 1, hashChunkSize, hashChunkSize + 1, (hashChunks+3)*hashChunkSize + 17}
	readers := map[string]func(io.Reader) io.Reader{
		"whole":    func(r io.Reader) io.Reader { return r },
		"half":     iotest.HalfReader,
		"data+EOF": iotest.DataErrReader,
	}
	for _, size := range sizes {
		for name, wrap := range readers {
			wantSHA, wantMD5 := sums(t, size, size)
			var gotMD5 []byte
			c := newCheckedReader(wrap(newGen(size, size)), size, func(md []byte) { gotMD5 = md })
			n, err := io.Copy(io.Discard, c)
			c.close()
			if err != nil || n != size {
				t.Fatalf("%d/%s: copied %d, %v", size, name, n, err)
			}
			w := c.written()
			if w.Bytes != size || w.SHA256 != wantSHA || w.MD5 != wantMD5 || hex.EncodeToString(gotMD5) != wantMD5 {
				t.Fatalf("%d/%s: written %+v, atEOF md5 %x; want %s %s", size, name, w, gotMD5, wantSHA, wantMD5)
			}
			if c.failed() != nil {
				t.Fatalf("%d/%s: failed() = %v after a clean EOF", size, name, c.failed())
			}
			if n, err := c.Read(make([]byte, 8)); n != 0 || err != io.EOF {
				t.Fatalf("%d/%s: read after EOF = %d, %v", size, name, n, err)
			}
		}
	}
}

func TestCheckedReaderRejectsWrongLengthAndBrokenSources(t *testing.T) {
	const size = 3*hashChunkSize + 5
	tests := []struct {
		name     string
		src      io.Reader
		expected int64
		want     error
	}{
		{"short", newGen(1, size-1), size, ErrLengthMismatch},
		{"long", newGen(1, size+1), size, ErrLengthMismatch},
		{"broken", &failAfter{r: newGen(1, size), n: size / 2}, size, errSource},
		{"broken, length unknown", &failAfter{r: newGen(1, size), n: size / 2}, -1, errSource},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			called := false
			c := newCheckedReader(tt.src, tt.expected, func([]byte) { called = true })
			defer c.close()
			_, err := io.Copy(io.Discard, c)
			if !errors.Is(err, tt.want) || !errors.Is(c.failed(), tt.want) {
				t.Fatalf("err = %v, failed() = %v; want %v", err, c.failed(), tt.want)
			}
			if called || c.written() != (Written{}) {
				t.Fatalf("a failed source reported sums: atEOF called %v, written %+v", called, c.written())
			}
			if _, again := c.Read(make([]byte, 8)); !errors.Is(again, tt.want) {
				t.Fatalf("error is not sticky: %v", again)
			}
		})
	}
}

// An upload that gives up halfway (the store failed) only calls close: the
// hashing goroutine must still end.
func TestCheckedReaderCloseEndsHashingWhenAbandoned(t *testing.T) {
	c := newCheckedReader(newGen(2, 64<<20), -1, nil)
	if _, err := io.CopyN(io.Discard, c, 5*hashChunkSize+3); err != nil {
		t.Fatal(err)
	}
	c.close()
	c.close() // idempotent
	select {
	case <-c.hash.done:
	case <-time.After(10 * time.Second):
		t.Fatal("hashing goroutine still running after close")
	}
}

// BenchmarkCheckedReader reports the most a store can take in, with both
// hashes on one goroutine beside the read loop.
func BenchmarkCheckedReader(b *testing.B) {
	const size = 64 << 20
	data := make([]byte, size)
	if _, err := io.ReadFull(newGen(3, size), data); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(size)
	for b.Loop() {
		c := newCheckedReader(&chunked{data: data}, size, nil)
		if _, err := io.Copy(io.Discard, c); err != nil {
			b.Fatal(err)
		}
		c.close()
	}
}

// chunked yields data in 32 KiB reads, as an HTTP body does.
type chunked struct{ data []byte }

func (c *chunked) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), 32<<10)], c.data)
	c.data = c.data[n:]
	return n, nil
}
