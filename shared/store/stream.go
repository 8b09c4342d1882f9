package store

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
)

// checkedReader hashes and counts what it passes on, and turns the end of
// the source into an error when the count differs from the announced
// length. Uploads commit only after a clean io.EOF, so a short, long or
// broken source can never become a stored recording. Errors are sticky.
type checkedReader struct {
	r        io.Reader
	expected int64 // -1: unknown
	n        int64
	sha, md5 hash.Hash
	hashes   io.Writer
	err      error
	// atEOF runs once, just before the clean io.EOF is returned (and so
	// before any commit): it receives the finished MD5.
	atEOF func(md5sum []byte)
}

func newCheckedReader(r io.Reader, expected int64, atEOF func([]byte)) *checkedReader {
	c := &checkedReader{r: r, expected: expected, sha: sha256.New(), md5: md5.New(), atEOF: atEOF}
	c.hashes = io.MultiWriter(c.sha, c.md5)
	return c
}

func (c *checkedReader) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.r.Read(p)
	if n > 0 {
		c.hashes.Write(p[:n]) // hash.Hash writes never fail
		c.n += int64(n)
		if c.expected >= 0 && c.n > c.expected {
			c.err = fmt.Errorf("%w: source has more than the expected %d bytes", ErrLengthMismatch, c.expected)
			return n, c.err
		}
	}
	switch {
	case err == nil:
		return n, nil
	case errors.Is(err, io.EOF):
		if c.expected >= 0 && c.n != c.expected {
			c.err = fmt.Errorf("%w: source ended after %d of %d bytes", ErrLengthMismatch, c.n, c.expected)
			return n, c.err
		}
		if c.atEOF != nil {
			c.atEOF(c.md5.Sum(nil))
			c.atEOF = nil
		}
		return n, io.EOF
	default:
		c.err = &sourceError{err}
		return n, c.err
	}
}

// written reports what passed through; meaningful after a clean EOF.
func (c *checkedReader) written() Written {
	return Written{Bytes: c.n, SHA256: hex.EncodeToString(c.sha.Sum(nil)), MD5: hex.EncodeToString(c.md5.Sum(nil))}
}
