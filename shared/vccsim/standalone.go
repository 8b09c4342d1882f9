package vccsim

import (
	"context"
	"fmt"
	"io"
	"time"
)

// RunStandalone serves a sandbox on addr (host:port) until ctx is done. It
// first prints the settings the product reads, in env-var form, so the output
// can be pasted into a shell or a settings file; then, as comments, the
// interactions added by extra.
func RunStandalone(ctx context.Context, addr string, opts Options, extra []Extra, out io.Writer) error {
	s := New(opts)
	added := make([]string, len(extra))
	for i, x := range extra {
		added[i] = s.AddInteraction(x.Start, x.Direction, x.RecordingBytes)
	}
	if err := s.StartOn(addr); err != nil {
		return err
	}
	defer s.Close()
	if _, err := fmt.Fprintf(out, "VCC_TOKEN_URL=%s\nVCC_API_URL=%s\nVCC_CLIENT_ID=%s\nVCC_CLIENT_SECRET=%s\n",
		s.TokenURL(), s.APIURL(), s.ClientID(), s.ClientSecret()); err != nil {
		return fmt.Errorf("vccsim: print settings: %w", err)
	}
	for i, x := range extra {
		if _, err := fmt.Fprintf(out, "%s %s %s %d\n", AddedPrefix, added[i], x.Start.UTC().Format(time.RFC3339), x.RecordingBytes); err != nil {
			return fmt.Errorf("vccsim: print settings: %w", err)
		}
	}
	<-ctx.Done()
	return nil
}

// Extra is an interaction added to a standalone sandbox's generated ones.
type Extra struct {
	Start          time.Time
	Direction      string // inbound, outbound or internal
	RecordingBytes int64  // its one audio recording's size
}

// AddedPrefix starts the line RunStandalone prints for each added
// interaction: the prefix, the interaction id, its start (RFC 3339) and the
// recording's bytes, separated by spaces.
const AddedPrefix = "# added interaction"
