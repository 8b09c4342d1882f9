package store

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"sync"
)

// checkedReader counts and hashes what it passes on, and turns the end of
// the source into an error when the count differs from the announced
// length. Uploads commit only after a clean io.EOF, so a short, long or
// broken source can never become a stored recording. Errors are sticky.
//
// Hashing runs on its own goroutine (see backgroundHash), so the upload's
// read loop only copies; close must be called once the reader is done with.
type checkedReader struct {
	r        io.Reader
	expected int64 // -1: unknown
	n        int64
	hash     *backgroundHash
	sums     Written // set at the clean EOF
	err      error
	// atEOF runs once, just before the clean io.EOF is returned (and so
	// before any commit): it receives the finished MD5.
	atEOF func(md5sum []byte)
}

func newCheckedReader(r io.Reader, expected int64, atEOF func([]byte)) *checkedReader {
	return &checkedReader{r: r, expected: expected, hash: newBackgroundHash(), atEOF: atEOF}
}

func (c *checkedReader) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.r.Read(p)
	if n > 0 {
		c.hash.Write(p[:n])
		c.n += int64(n)
		if c.expected >= 0 && c.n > c.expected {
			return n, c.fail(fmt.Errorf("%w: source has more than the expected %d bytes", ErrLengthMismatch, c.expected))
		}
	}
	switch {
	case err == nil:
		return n, nil
	case errors.Is(err, io.EOF):
		if c.expected >= 0 && c.n != c.expected {
			return n, c.fail(fmt.Errorf("%w: source ended after %d of %d bytes", ErrLengthMismatch, c.n, c.expected))
		}
		sha, md := c.hash.Sum()
		c.sums = Written{Bytes: c.n, SHA256: hex.EncodeToString(sha), MD5: hex.EncodeToString(md)}
		if c.atEOF != nil {
			c.atEOF(md)
			c.atEOF = nil
		}
		// Sticky too: a reader that reads again after EOF gets EOF.
		c.err = io.EOF
		return n, io.EOF
	default:
		return n, c.fail(&sourceError{err})
	}
}

func (c *checkedReader) fail(err error) error {
	c.err = err
	c.hash.Close()
	return err
}

// failed reports the source's error (a read error or a length mismatch),
// nil after a clean EOF or while still reading.
func (c *checkedReader) failed() error {
	if errors.Is(c.err, io.EOF) {
		return nil
	}
	return c.err
}

// written reports what passed through; zero unless the source ended cleanly.
func (c *checkedReader) written() Written { return c.sums }

// close releases the hashing goroutine; safe to call at any time, repeatedly.
func (c *checkedReader) close() { c.hash.Close() }

// Hashing chunks: hashChunks × hashChunkSize is the most one upload holds
// in copies waiting to be hashed.
const (
	hashChunkSize = 256 << 10
	hashChunks    = 8
)

// backgroundHash computes SHA-256 and MD5 on a goroutine of its own, over
// copies of the bytes written to it, so that hashing overlaps with the
// network instead of lengthening the read loop. The two hashes together run
// at about 500 MB/s on one core; inline, they cost a 140 MB/s copy about 9 %
// of its speed (make bench's copy scenario: 0.885 of the raw copy inline,
// 0.969 beside it). Copies go through a fixed set of reused chunks, so
// memory stays bounded and a writer faster than the hashing waits.
type backgroundHash struct {
	cur       []byte      // chunk being filled by Write
	full      chan []byte // filled chunks, to the hashing goroutine
	free      chan []byte // hashed chunks, back to Write
	allocated int
	done      chan struct{}
	closeOnce sync.Once
	sha, md5  hash.Hash
}

func newBackgroundHash() *backgroundHash {
	h := &backgroundHash{
		full: make(chan []byte, hashChunks),
		free: make(chan []byte, hashChunks),
		done: make(chan struct{}),
		sha:  sha256.New(),
		md5:  md5.New(),
	}
	go h.run()
	return h
}

func (h *backgroundHash) run() {
	defer close(h.done)
	for c := range h.full {
		h.sha.Write(c) // hash.Hash writes never fail
		h.md5.Write(c)
		h.free <- c[:0]
	}
}

// Write copies p into chunks and hands each full one to the hashing
// goroutine. It must not be called after Sum or Close.
func (h *backgroundHash) Write(p []byte) {
	for len(p) > 0 {
		if h.cur == nil {
			h.cur = h.chunk()
		}
		n := copy(h.cur[len(h.cur):cap(h.cur)], p)
		h.cur, p = h.cur[:len(h.cur)+n], p[n:]
		if len(h.cur) == cap(h.cur) {
			h.full <- h.cur
			h.cur = nil
		}
	}
}

// chunk returns a free chunk, allocating lazily so that small recordings
// do not pay for the whole set.
func (h *backgroundHash) chunk() []byte {
	select {
	case c := <-h.free:
		return c
	default:
	}
	if h.allocated < hashChunks {
		h.allocated++
		return make([]byte, 0, hashChunkSize)
	}
	return <-h.free
}

// Sum hashes what is left, waits for the goroutine and returns the SHA-256
// and the MD5 of everything written.
func (h *backgroundHash) Sum() (sha, md []byte) {
	if len(h.cur) > 0 {
		h.full <- h.cur
		h.cur = nil
	}
	h.Close()
	<-h.done
	return h.sha.Sum(nil), h.md5.Sum(nil)
}

// Close stops the goroutine once it has hashed what it was given; the sums
// are then only available through Sum.
func (h *backgroundHash) Close() { h.closeOnce.Do(func() { close(h.full) }) }
