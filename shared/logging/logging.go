// Package logging builds the product's structured logger as the Azure
// Functions host expects to read it from a custom handler: the host records
// every stdout line at Information and, with its default
// useStdErrorStreamForErrorsOnly, every stderr line as an Error. So records
// below Error go to stdout and only errors to stderr; otherwise every
// "ingest done" would count as a failure in Application Insights.
package logging

import (
	"context"
	"io"
	"log/slog"
)

// New returns a JSON logger at level that writes errors to errw and every
// other record to outw.
func New(outw, errw io.Writer, level slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	return slog.New(&split{
		out:   slog.NewJSONHandler(outw, opts),
		err:   slog.NewJSONHandler(errw, opts),
		level: level,
	})
}

// split sends each record to one of two handlers by its level.
type split struct {
	out, err slog.Handler
	level    slog.Level
}

func (s *split) Enabled(_ context.Context, l slog.Level) bool { return l >= s.level }

func (s *split) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelError {
		return s.err.Handle(ctx, r)
	}
	return s.out.Handle(ctx, r)
}

func (s *split) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &split{out: s.out.WithAttrs(attrs), err: s.err.WithAttrs(attrs), level: s.level}
}

func (s *split) WithGroup(name string) slog.Handler {
	return &split{out: s.out.WithGroup(name), err: s.err.WithGroup(name), level: s.level}
}
