package vccsim

import (
	"context"
	"fmt"
	"io"
)

// RunStandalone serves a sandbox on addr (host:port) until ctx is done. It
// first prints the settings the product reads, in env-var form, so the output
// can be pasted into a shell or a settings file.
func RunStandalone(ctx context.Context, addr string, opts Options, out io.Writer) error {
	s := New(opts)
	if err := s.StartOn(addr); err != nil {
		return err
	}
	defer s.Close()
	if _, err := fmt.Fprintf(out, "VCC_TOKEN_URL=%s\nVCC_API_URL=%s\nVCC_CLIENT_ID=%s\nVCC_CLIENT_SECRET=%s\n",
		s.TokenURL(), s.APIURL(), s.ClientID(), s.ClientSecret()); err != nil {
		return fmt.Errorf("vccsim: print settings: %w", err)
	}
	<-ctx.Done()
	return nil
}
