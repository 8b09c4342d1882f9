package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
)

// DirState is State on a local directory, for local runs and exports that
// have no Blob Storage. Documents are replaced atomically (temporary file +
// rename). The ETag is the SHA-256 of the content, so a Save guarded by a
// stale ETag fails with ErrConflict exactly when the content changed.
// Conditional saves are serialised within one process only: a directory is
// not meant to be shared by concurrent processes.
type DirState struct {
	d  Dir
	mu sync.Mutex
}

var _ State = (*DirState)(nil)

// NewDirState returns a DirState rooted at root (created on the first write).
func NewDirState(root string) *DirState { return &DirState{d: Dir{root: root}} }

func contentETag(data []byte) string {
	sum := sha256.Sum256(data)
	return `"` + hex.EncodeToString(sum[:16]) + `"`
}

// read returns the document and whether it exists.
func (s *DirState) read(name string) ([]byte, bool, error) {
	p, err := s.d.path(name)
	if err != nil {
		return nil, false, err
	}
	data, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return data, true, nil
}

// write replaces the document atomically.
func (s *DirState) write(name string, data []byte) error {
	p, err := s.d.path(name)
	if err != nil {
		return err
	}
	tmp, err := s.d.writeTemp(p, bytes.NewReader(data))
	if err != nil {
		return err
	}
	return renameTemp(tmp, p)
}

// Load reads a document and its ETag.
func (s *DirState) Load(ctx context.Context, name string) ([]byte, string, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, "", false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	data, found, err := s.read(name)
	if err != nil {
		return nil, "", false, fmt.Errorf("store: load state %s: %w", name, err)
	}
	if !found {
		return nil, "", false, nil
	}
	return data, contentETag(data), true, nil
}

// Save writes the document if its current version is etag ("" = absent).
func (s *DirState) Save(ctx context.Context, name string, data []byte, etag string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, found, err := s.read(name)
	if err != nil {
		return "", fmt.Errorf("store: save state %s: %w", name, err)
	}
	switch {
	case etag == "" && found:
		return "", fmt.Errorf("store: save state %s: %w (already exists)", name, ErrConflict)
	case etag != "" && (!found || contentETag(cur) != etag):
		return "", fmt.Errorf("store: save state %s: %w (changed since loaded)", name, ErrConflict)
	}
	if err := s.write(name, data); err != nil {
		return "", fmt.Errorf("store: save state %s: %w", name, err)
	}
	return contentETag(data), nil
}

// Put writes unconditionally.
func (s *DirState) Put(ctx context.Context, name string, data []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.write(name, data); err != nil {
		return fmt.Errorf("store: put state %s: %w", name, err)
	}
	return nil
}

// Delete removes a document; a missing one is fine.
func (s *DirState) Delete(ctx context.Context, name string) error {
	p, err := s.d.path(name)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("store: delete state %s: %w", name, err)
	}
	return nil
}

// List calls fn for every document name starting with prefix.
func (s *DirState) List(ctx context.Context, prefix string, fn func(string) error) error {
	return s.d.List(ctx, prefix, fn)
}
