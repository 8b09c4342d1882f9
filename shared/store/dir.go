package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// File modes of the export: recordings are personal data, so they are not
// world-readable.
const (
	dirMode  = 0o750
	fileMode = 0o640
)

// Dir is a Sink on a local directory (the export): the same names as in
// Blob Storage, as files. Recordings are create-only and atomic: they are
// written to a temporary file in the target directory, checked (length,
// hashes), synced and then hard-linked under their name, which fails if the
// name exists, so no partial file is ever visible under a final name.
// Metadata, tags and content types are not kept (the directory holds only
// recordings and interaction.json files); StatRecording rehashes the file.
type Dir struct {
	root string
}

var _ Sink = (*Dir)(nil)

// NewDir returns a Dir rooted at root (created on the first write).
func NewDir(root string) *Dir { return &Dir{root: root} }

// path maps a validated slash-separated name into the root.
func (d *Dir) path(name string) (string, error) {
	if err := ValidateName(name); err != nil {
		return "", err
	}
	return filepath.Join(d.root, filepath.FromSlash(name)), nil
}

// PutRecording copies r into a new file; see Sink.
func (d *Dir) PutRecording(ctx context.Context, rec Recording, r io.Reader) (Written, error) {
	final, err := d.path(rec.Name)
	if err != nil {
		return Written{}, err
	}
	// Cheap early answer; the link below is what actually guarantees it.
	if _, err := os.Lstat(final); err == nil {
		return Written{}, fmt.Errorf("store: recording %s: %w", rec.Name, ErrExists)
	}
	src := newCheckedReader(ctxReader{ctx, r}, rec.ExpectedLength, nil)
	defer src.close()
	tmp, err := d.writeTemp(final, src)
	if err != nil {
		if serr := src.failed(); serr != nil {
			return Written{}, fmt.Errorf("store: recording %s: %w", rec.Name, serr)
		}
		return Written{}, fmt.Errorf("store: write recording %s: %w", rec.Name, err)
	}
	defer os.Remove(tmp)
	if err := linkNew(tmp, final); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return Written{}, fmt.Errorf("store: recording %s: %w", rec.Name, ErrExists)
		}
		return Written{}, fmt.Errorf("store: commit recording %s: %w", rec.Name, err)
	}
	return src.written(), nil
}

// writeTemp copies r into a synced temporary file next to final and returns
// its path; on error nothing is left behind.
func (d *Dir) writeTemp(final string, r io.Reader) (string, error) {
	dir := filepath.Dir(final)
	if err := os.MkdirAll(dir, dirMode); err != nil {
		return "", err
	}
	f, err := os.CreateTemp(dir, tempPrefix+"*.tmp")
	if err != nil {
		return "", err
	}
	_, err = io.Copy(f, r)
	if err == nil {
		err = f.Chmod(fileMode)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

// linkNew makes tmp visible as final only if final does not exist. A hard
// link is atomic and refuses an existing name; where links are not
// supported it falls back to check-then-rename, which is atomic for readers
// but can lose a race between two writers of the same name (the local export
// has one writer per name).
func linkNew(tmp, final string) error {
	err := os.Link(tmp, final)
	if err == nil || errors.Is(err, fs.ErrExist) {
		return err
	}
	if _, serr := os.Lstat(final); serr == nil {
		return fs.ErrExist
	}
	return os.Rename(tmp, final)
}

// StatRecording reports the file's size and SHA-256 (computed by reading it).
func (d *Dir) StatRecording(ctx context.Context, name string) (Info, bool, error) {
	p, err := d.path(name)
	if err != nil {
		return Info{}, false, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return Info{}, false, nil
	}
	if err != nil {
		return Info{}, false, fmt.Errorf("store: stat recording %s: %w", name, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Info{}, false, fmt.Errorf("store: stat recording %s: %w", name, err)
	}
	if !st.Mode().IsRegular() {
		return Info{}, false, fmt.Errorf("store: recording %s: %w: not a regular file", name, ErrInvalid)
	}
	h := sha256.New()
	n, err := io.Copy(h, ctxReader{ctx, f})
	if err != nil {
		return Info{}, false, fmt.Errorf("store: hash recording %s: %w", name, err)
	}
	return Info{Bytes: n, SHA256: hex.EncodeToString(h.Sum(nil))}, true, nil
}

// PutSidecar replaces the sidecar atomically (temporary file + rename).
func (d *Dir) PutSidecar(ctx context.Context, name string, data []byte) error {
	p, err := d.path(name)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	tmp, err := d.writeTemp(p, bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("store: put sidecar %s: %w", name, err)
	}
	if err := os.Rename(tmp, p); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("store: put sidecar %s: %w", name, err)
	}
	return nil
}

// GetSidecar reads a sidecar file.
func (d *Dir) GetSidecar(ctx context.Context, name string) ([]byte, bool, error) {
	p, err := d.path(name)
	if err != nil {
		return nil, false, err
	}
	data, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("store: get sidecar %s: %w", name, err)
	}
	return data, true, nil
}

// List walks the directory under prefix and reports regular files whose
// slash-separated name starts with prefix (lexical order within each
// directory). Temporary files are never reported.
func (d *Dir) List(ctx context.Context, prefix string, fn func(string) error) error {
	if err := validatePrefix(prefix); err != nil {
		return err
	}
	start := d.root
	if i := strings.LastIndex(prefix, "/"); i >= 0 {
		start = filepath.Join(d.root, filepath.FromSlash(prefix[:i]))
	}
	var fnErr error // returned as is, like Blob.List does
	err := filepath.WalkDir(start, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if p == start && errors.Is(err, fs.ErrNotExist) {
				return fs.SkipAll
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, err := filepath.Rel(d.root, p)
		if err != nil {
			return err
		}
		name := filepath.ToSlash(rel)
		if e.IsDir() {
			// Descend only where names can still start with prefix.
			if p != start && !strings.HasPrefix(name+"/", prefix) && !strings.HasPrefix(prefix, name+"/") {
				return fs.SkipDir
			}
			return nil
		}
		if !e.Type().IsRegular() || strings.HasPrefix(e.Name(), tempPrefix) ||
			!strings.HasPrefix(name, prefix) || path.Clean(name) != name {
			return nil
		}
		if err := fn(name); err != nil {
			fnErr = err
			return fs.SkipAll
		}
		return nil
	})
	if fnErr != nil {
		return fnErr
	}
	if err != nil {
		return fmt.Errorf("store: list %q: %w", prefix, err)
	}
	return nil
}

// ctxReader stops a local copy when ctx ends, as a network copy would.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
