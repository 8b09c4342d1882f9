package local

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// HandlerProcess runs the custom handler's server inside this process for
// "handler local", standing for the process the Functions host starts and,
// after a timeout, kills and starts again.
type HandlerProcess struct {
	Handler http.Handler
	Log     *slog.Logger

	srv    *http.Server
	cancel context.CancelFunc // of the invocations' base context
	done   chan struct{}
}

// Start serves on a new loopback port and returns its base URL.
func (p *HandlerProcess) Start() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	base, cancel := context.WithCancel(context.Background())
	p.cancel, p.done = cancel, make(chan struct{})
	p.srv = &http.Server{
		Handler:           p.Handler,
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return base },
	}
	go func() {
		defer close(p.done)
		_ = p.srv.Serve(ln)
	}()
	return "http://" + ln.Addr().String(), nil
}

// Stop ends the server: grace lets in-flight invocations finish (a
// shutdown); past it, or with zero, they are cut as in a killed process:
// their work is cancelled and commits nothing.
func (p *HandlerProcess) Stop(grace time.Duration) {
	if p.srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := p.srv.Shutdown(ctx); err != nil {
		if grace > 0 {
			p.Log.Warn("in-flight invocations abandoned", "error", err)
		}
		p.cancel()
		_ = p.srv.Close()
	}
	p.cancel()
	<-p.done
	p.srv = nil
}
