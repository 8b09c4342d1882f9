// Package inbound bounds what the HTTP servers read from a client: headers
// and request bodies within a time, bodies within a size, and idle
// keep-alive connections closed. An invocation may run for many minutes
// after its request is read; only the reading is timed.
package inbound

import (
	"io"
	"net/http"
	"time"
)

// Server limits.
const (
	// ReadHeaderTimeout bounds the wait for a request's headers.
	ReadHeaderTimeout = 10 * time.Second
	// IdleTimeout closes a keep-alive connection idle that long.
	IdleTimeout = 2 * time.Minute
	// BodyWithin bounds the reading of a request body (an invocation's
	// payload, from the host on the same machine).
	BodyWithin = 30 * time.Second
	// MaxBody bounds a request body (a Service Bus message is at most
	// 256 KiB in the standard tier, 100 MiB in premium: the payloads here
	// carry one interaction's message).
	MaxBody = 4 << 20
)

// Server is an http.Server for h with ReadHeaderTimeout, IdleTimeout and
// ReadTimeout BodyWithin (the whole request, body included, is read within
// it; net/http lifts that deadline once the body is read, so the handler
// runs as long as it needs), each request body at most MaxBody.
func Server(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           Limit(h, MaxBody, BodyWithin),
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       BodyWithin,
		IdleTimeout:       IdleTimeout,
	}
}

// Limit makes every request body h reads at most max bytes (then an
// *http.MaxBytesError), read within d of the request's start.
func Limit(h http.Handler, max int64, d time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = Body(w, r, max, d)
		h.ServeHTTP(w, r)
	})
}

// Body is r's body bounded: at most max bytes (then an
// *http.MaxBytesError), read within d from now (then a timeout error). A
// request without a body is left as it is.
func Body(w http.ResponseWriter, r *http.Request, max int64, d time.Duration) io.ReadCloser {
	if r.Body == nil || r.Body == http.NoBody {
		return r.Body
	}
	// A writer without deadlines (a test's recorder) keeps the size bound.
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(d))
	return http.MaxBytesReader(w, r.Body, max)
}
