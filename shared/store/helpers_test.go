package store

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"testing"
)

// genReader yields size deterministic pseudo-random bytes using O(1) memory.
type genReader struct {
	state, left uint64
}

func newGen(seed, size int64) *genReader {
	return &genReader{state: uint64(seed)*0x9E3779B97F4A7C15 + 1, left: uint64(size)}
}

func (g *genReader) Read(p []byte) (int, error) {
	if g.left == 0 {
		return 0, io.EOF
	}
	if uint64(len(p)) > g.left {
		p = p[:g.left]
	}
	for i := range p {
		// xorshift64*
		g.state ^= g.state >> 12
		g.state ^= g.state << 25
		g.state ^= g.state >> 27
		p[i] = byte((g.state * 2685821657736338717) >> 56)
	}
	g.left -= uint64(len(p))
	return len(p), nil
}

// sums hashes what genReader(seed, size) yields.
func sums(t testing.TB, seed, size int64) (sha, md string) {
	t.Helper()
	h1, h2 := sha256.New(), md5.New()
	if _, err := io.Copy(io.MultiWriter(h1, h2), newGen(seed, size)); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h1.Sum(nil)), hex.EncodeToString(h2.Sum(nil))
}

var errSource = errors.New("connection to source broke")

// failAfter yields n bytes of r, then fails.
type failAfter struct {
	r io.Reader
	n int64
}

func (f *failAfter) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errSource
	}
	if int64(len(p)) > f.n {
		p = p[:f.n]
	}
	n, err := f.r.Read(p)
	f.n -= int64(n)
	return n, err
}

func listAll(t testing.TB, list func(context.Context, string, func(string) error) error, prefix string) []string {
	t.Helper()
	var names []string
	if err := list(context.Background(), prefix, func(n string) error {
		names = append(names, n)
		return nil
	}); err != nil {
		t.Fatalf("List(%q): %v", prefix, err)
	}
	return names
}
