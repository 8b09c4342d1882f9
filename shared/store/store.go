// Package store keeps what the pipeline produces: recordings and their
// interaction.json sidecars (the Sink), and the pipeline's own small state
// such as the discovery checkpoint, run records and failure records (the
// State). Blob Storage is the production implementation; Dir writes the same
// names into a local directory for exports.
//
// Recordings are create-only and committed whole: a stream is hashed while it
// is copied and is committed only when it ended cleanly with the announced
// length, so a name that exists always holds a complete recording.
//
// The blob names of the recordings container (names.go) stay here rather
// than in shared/records: both stores validate every name against that
// layout and the fuzz targets pinning it live here. What the documents under
// those names hold is shared/records.
package store

import (
	"context"
	"io"
)

// Recording describes a recording to store.
type Recording struct {
	Name        string // see RecordingName
	ContentType string
	// ExpectedLength is the announced size; -1 when unknown. When >= 0 a
	// source with a different byte count is an error and nothing is stored.
	ExpectedLength int64
	Metadata       map[string]string // blob metadata (names: letters, digits, _)
	Tags           map[string]string // blob index tags, at most 10, queryable
}

// Written is what PutRecording stored. Hashes are lowercase hex.
type Written struct {
	Bytes       int64
	SHA256, MD5 string
}

// Info describes a stored recording. Metadata names are lower case (Blob
// Storage treats them case-insensitively and returns them in varying case).
// SHA256 is "" when unknown; ContentType is "" when the store does not keep it.
type Info struct {
	Bytes       int64
	SHA256      string
	ContentType string
	Metadata    map[string]string
}

// Sink is where recordings and sidecars go: Blob Storage, or a local directory (export).
type Sink interface {
	// PutRecording streams r into a new recording. It is create-only: an
	// existing name gives ErrExists. SHA-256 and MD5 are computed while
	// streaming; the MD5 is set as Content-MD5 and the SHA-256 is stored in
	// metadata "sha256". A read error or a length mismatch stores nothing.
	PutRecording(ctx context.Context, rec Recording, r io.Reader) (Written, error)
	// StatRecording reports a stored recording; found is false when absent.
	StatRecording(ctx context.Context, name string) (info Info, found bool, err error)
	// PutSidecar writes (or overwrites) a sidecar; it is written last.
	PutSidecar(ctx context.Context, name string, data []byte) error
	// GetSidecar reads a sidecar; found is false when absent.
	GetSidecar(ctx context.Context, name string) (data []byte, found bool, err error)
	// List calls fn for every stored name starting with prefix; an error
	// from fn stops the listing and is returned.
	List(ctx context.Context, prefix string, fn func(name string) error) error
}

// State is the pipeline's own small state: a separate Blob container, or
// a local directory (DirState) for local runs.
type State interface {
	// Load reads a document; etag identifies the version for Save.
	Load(ctx context.Context, name string) (data []byte, etag string, found bool, err error)
	// Save replaces the version etag of a document (etag "": the document
	// must not exist yet) and returns the new version. Another writer's
	// change in between gives ErrConflict.
	Save(ctx context.Context, name string, data []byte, etag string) (newETag string, err error)
	// Put writes unconditionally (run records, failure records).
	Put(ctx context.Context, name string, data []byte) error
	// Delete removes a document; a missing one is fine.
	Delete(ctx context.Context, name string) error
	// List calls fn for every document name starting with prefix.
	List(ctx context.Context, prefix string, fn func(name string) error) error
}
