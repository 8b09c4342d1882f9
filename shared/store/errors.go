package store

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"syscall"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
)

var (
	// ErrExists: a recording with this name is already stored. Recordings
	// are create-only, so a stored one is complete and is reused.
	ErrExists = errors.New("store: already exists")
	// ErrLengthMismatch: the source gave a different number of bytes than
	// announced; nothing was committed.
	ErrLengthMismatch = errors.New("store: length mismatch")
	// ErrConflict: a state document changed (or appeared) since it was
	// loaded; the caller reloads and decides again.
	ErrConflict = errors.New("store: conflict")
	// ErrInvalid: a name, prefix, metadata or tag that storage would reject
	// or that could escape the store's namespace.
	ErrInvalid = errors.New("store: invalid")
)

// sourceError marks a failure to read the caller's stream (as opposed to a
// storage failure), so callers and IsTransient can tell them apart.
type sourceError struct{ err error }

func (e *sourceError) Error() string { return "read source: " + e.err.Error() }
func (e *sourceError) Unwrap() error { return e.err }

// IsTransient reports whether a later attempt of the same operation may
// succeed: 5xx, 429 and 408 answers, network errors, timeouts, a source
// stream that broke or ended early. 4xx answers, ErrExists, ErrConflict and
// ErrInvalid are not transient; neither is a cancelled context (the caller
// gave up). Steps use it to retry or give up without knowing status codes.
func IsTransient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	if errors.Is(err, ErrExists) || errors.Is(err, ErrConflict) || errors.Is(err, ErrInvalid) {
		return false
	}
	if errors.Is(err, ErrLengthMismatch) {
		return true
	}
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		return transientStatus(re.StatusCode)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, syscall.ETIMEDOUT) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne)
}

// IsPermanent reports whether repeating the operation cannot help: a 4xx
// answer other than 408/429 (missing permission, bad request) or an invalid
// name. ErrExists and ErrConflict are outcomes, not failures: neither class.
func IsPermanent(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ErrInvalid) {
		return true
	}
	if errors.Is(err, ErrExists) || errors.Is(err, ErrConflict) {
		return false
	}
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		return re.StatusCode >= 400 && re.StatusCode < 500 && !transientStatus(re.StatusCode)
	}
	return false
}

func transientStatus(code int) bool {
	return code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500
}
