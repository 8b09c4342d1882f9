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
	"sync"
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
// A temporary file left by a run that died is removed by the next write in
// its folder.
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
	defer dropTemp(tmp)
	if err := linkNew(tmp, final); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return Written{}, fmt.Errorf("store: recording %s: %w", rec.Name, ErrExists)
		}
		return Written{}, fmt.Errorf("store: commit recording %s: %w", rec.Name, err)
	}
	return src.written(), nil
}

// writeTemp copies r into a synced temporary file next to final and returns
// its path; on error nothing is left behind. The caller links the file and
// then calls dropTemp, or moves it with renameTemp. The first write in a directory removes the
// temporary files a run that died left there.
func (d *Dir) writeTemp(final string, r io.Reader) (string, error) {
	dir := filepath.Dir(final)
	if err := os.MkdirAll(dir, dirMode); err != nil {
		return "", err
	}
	sweepOnce(dir)
	f, err := createTemp(dir)
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
		dropTemp(f.Name())
		return "", err
	}
	return f.Name(), nil
}

// The temporary files this process is writing, which a sweep leaves alone,
// and the directories it has swept (forgotten past sweptMax: sweeping again
// costs one directory read). A file is registered under the lock in the
// same step as it is created, so a sweep never sees a live file it does not
// know of.
var temps = struct {
	sync.Mutex
	live  map[string]bool
	swept map[string]bool
}{live: map[string]bool{}, swept: map[string]bool{}}

const sweptMax = 4096

func createTemp(dir string) (*os.File, error) {
	temps.Lock()
	defer temps.Unlock()
	f, err := os.CreateTemp(dir, tempPrefix+"*.tmp")
	if err == nil {
		temps.live[f.Name()] = true
	}
	return f, err
}

// dropTemp removes tmp (after a link, a second name of the recording) and
// forgets it.
func dropTemp(tmp string) {
	temps.Lock()
	defer temps.Unlock()
	os.Remove(tmp)
	delete(temps.live, tmp)
}

// renameTemp moves tmp to final; tmp is forgotten, and removed if the move
// failed.
func renameTemp(tmp, final string) error {
	err := os.Rename(tmp, final)
	if err != nil {
		dropTemp(tmp)
		return err
	}
	temps.Lock()
	delete(temps.live, tmp)
	temps.Unlock()
	return nil
}

// sweepOnce removes, the first time this process writes in dir, the
// temporary files that no writer of this process holds: what a run killed
// mid-write left (the export has one writing process at a time). A failure
// to remove one is left for the next run: it never fails a write.
func sweepOnce(dir string) {
	temps.Lock()
	done := temps.swept[dir]
	if !done {
		if len(temps.swept) >= sweptMax {
			clear(temps.swept)
		}
		temps.swept[dir] = true
	}
	temps.Unlock()
	if done {
		return
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !e.Type().IsRegular() || !isTempName(e.Name()) {
			continue
		}
		p := filepath.Join(dir, e.Name())
		temps.Lock()
		if !temps.live[p] {
			os.Remove(p)
		}
		temps.Unlock()
	}
}

func isTempName(name string) bool {
	return strings.HasPrefix(name, tempPrefix) && strings.HasSuffix(name, ".tmp")
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
	if err := renameTemp(tmp, p); err != nil {
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
