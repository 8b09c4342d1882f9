package inbound

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// start serves h as Server does, with the body read within d.
func start(t *testing.T, h http.Handler, max int64, d time.Duration) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(Limit(h, max, d))
	srv.Config.ReadHeaderTimeout, srv.Config.IdleTimeout, srv.Config.ReadTimeout = ReadHeaderTimeout, IdleTimeout, d
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// A body that drips is given up at the deadline, not read for as long as
// the client likes; a body past max is refused.
func TestBodyBoundedInTimeAndSize(t *testing.T) {
	got := make(chan error, 4)
	addr := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		got <- err
	}), 1000, 300*time.Millisecond)

	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n")
	begin := time.Now()
	go func() {
		for i := 0; i < 100; i++ {
			if _, err := conn.Write([]byte("x")); err != nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	select {
	case err := <-got:
		if err == nil || time.Since(begin) > 3*time.Second {
			t.Fatalf("a dripping body: err %v after %s", err, time.Since(begin))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a dripping body held the handler")
	}

	resp, err := http.Post("http://"+addr, "text/plain", strings.NewReader(strings.Repeat("y", 2000)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var mbe *http.MaxBytesError
	if err := <-got; !errors.As(err, &mbe) {
		t.Fatalf("a body past max: %v", err)
	}
}

// Once the body is read (or when there is none), the handler runs as long
// as it needs: the read deadline (ReadTimeout too) does not cancel its
// context.
func TestHandlerOutlivesTheBodyDeadline(t *testing.T) {
	addr := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		select {
		case <-time.After(600 * time.Millisecond):
			io.WriteString(w, "done")
		case <-r.Context().Done():
			http.Error(w, "cancelled", 500)
		}
	}), 1000, 200*time.Millisecond)
	for _, body := range []io.Reader{strings.NewReader("payload"), nil} {
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, "http://"+addr, body)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "done" {
			t.Fatalf("body %v: the handler got %q", body != nil, b)
		}
	}
}

// Server sets the header and idle timeouts and bounds bodies.
func TestServerLimits(t *testing.T) {
	s := Server(http.NotFoundHandler())
	if s.ReadHeaderTimeout != ReadHeaderTimeout || s.IdleTimeout != IdleTimeout || s.ReadTimeout != BodyWithin {
		t.Fatalf("ReadHeaderTimeout %s, IdleTimeout %s, ReadTimeout %s", s.ReadHeaderTimeout, s.IdleTimeout, s.ReadTimeout)
	}
	// Headers that never end are cut off.
	srv := httptest.NewUnstartedServer(s.Handler)
	srv.Config.ReadHeaderTimeout = 200 * time.Millisecond
	srv.Start()
	defer srv.Close()
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: x\r\n")
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := bufio.NewReader(conn).ReadString('\n'); err != nil && !errors.Is(err, io.EOF) {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatal("the server waited for the headers past ReadHeaderTimeout")
		}
	}
}
