package vcc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"syscall"
	"time"

	"github.com/vcc-ingest/vcc-ingest/shared/ids"
)

// ErrNotFound is matched (errors.Is) by an *APIError with status 404: the
// interaction does not exist or has no content the credential may see.
var ErrNotFound = errors.New("vcc: not found")

// ErrInvalidID marks an interaction guid or content key that does not have the
// documented shape. Such ids are never put into a URL.
var ErrInvalidID = errors.New("vcc: invalid id")

// APIError is a non-success answer from a VCC endpoint (or from the token
// endpoint, Endpoint "token"). Message comes from the error body and never
// contains the client secret or an access token.
type APIError struct {
	Endpoint   string        // counter name of the endpoint, e.g. "content.get"
	Status     int           // HTTP status code
	Message    string        // decoded error message (may be empty)
	RetryAfter time.Duration // from Retry-After, 0 when absent
}

func (e *APIError) Error() string {
	s := fmt.Sprintf("vcc: %s: %d %s", e.Endpoint, e.Status, http.StatusText(e.Status))
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// Is lets callers test errors.Is(err, ErrNotFound) without knowing statuses.
func (e *APIError) Is(target error) bool {
	return target == ErrNotFound && e.Status == http.StatusNotFound
}

// transient reports whether repeating the request later may succeed.
//
// A 401 from an API endpoint is only returned after the client already
// fetched a new token and retried; it is still classed transient because the
// identity provider and the API can briefly disagree. From the token endpoint
// a 400/401/403 means the credential itself is rejected: permanent.
func (e *APIError) transient() bool {
	switch {
	case e.Status == http.StatusTooManyRequests, e.Status == http.StatusRequestTimeout,
		e.Status == http.StatusTooEarly, e.Status >= 500:
		return true
	case e.Status == http.StatusUnauthorized && e.Endpoint != endpointToken:
		return true
	}
	return false
}

// permanentError marks a failure that repeating cannot fix (validation,
// malformed answer for a fixed input).
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// transientError marks a failure that a later attempt may not see (a broken
// stream, an unreadable answer).
type transientError struct{ err error }

func (e *transientError) Error() string { return e.err.Error() }
func (e *transientError) Unwrap() error { return e.err }

// IsPermanent reports whether err is a failure that retrying the same request
// cannot fix: 400, 403, 404 and other 4xx answers (except 401, 408, 425, 429),
// invalid ids and validation failures, a credential rejected by the token
// endpoint. Steps dead-letter such work instead of retrying it.
func IsPermanent(err error) bool {
	if err == nil || errors.Is(err, ErrUnavailable) {
		return false
	}
	var pe *permanentError
	if errors.As(err, &pe) || errors.Is(err, ErrInvalidID) {
		return true
	}
	var te *transientError
	if errors.As(err, &te) {
		return false
	}
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Status >= 400 && ae.Status < 500 && !ae.transient()
	}
	return false
}

// IsTransient reports whether err may go away on a later attempt: 429, 5xx,
// timeouts, connection resets and refusals, streams that ended early.
// An open circuit breaker (ErrUnavailable) is transient. A cancelled
// context is neither transient nor permanent.
func IsTransient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	if errors.Is(err, ErrUnavailable) {
		return true
	}
	var pe *permanentError
	if errors.As(err, &pe) {
		return false
	}
	var te *transientError
	if errors.As(err, &te) {
		return true
	}
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.transient()
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, io.EOF) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return true // dial, read and write failures on the network
	}
	var de *net.DNSError
	return errors.As(err, &de) && (de.IsTemporary || de.IsTimeout)
}

// ValidGUID reports whether s has the 8-4-4-4-12 hexadecimal shape of a VCC
// interaction or user guid (either letter case).
func ValidGUID(s string) bool { return ids.ValidGUID(s) }

// ValidContentKey reports whether s is a content key as documented: 1-36
// characters from [0-9a-zA-Z!\-_.,*'()]. "." and ".." also match that pattern
// but are rejected: they are path segments, not keys.
func ValidContentKey(s string) bool {
	if len(s) == 0 || len(s) > 36 || s == "." || s == ".." {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case '0' <= c && c <= '9', 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case c == '!' || c == '-' || c == '_' || c == '.' || c == ',' || c == '*' || c == '\'' || c == '(' || c == ')':
		default:
			return false
		}
	}
	return true
}

// invalidID builds the error for an id that failed validation. The id is
// quoted and shortened: it came from outside and may be anything.
func invalidID(kind, id string) error {
	if len(id) > 64 {
		id = id[:64] + "..."
	}
	return fmt.Errorf("%w: %s %q", ErrInvalidID, kind, id)
}
