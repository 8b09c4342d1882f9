package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vcc-ingest/vcc-ingest/shared/customhandler"
)

// The custom handler refuses to start without the settings Azure needs,
// naming each one.
func TestServeNamesMissingSettings(t *testing.T) {
	var stderr bytes.Buffer
	env := map[string]string{"VCC_CLIENT_ID": "id", "KEY_VAULT_URI": "https://kv.vault.azure.net"}
	status := run(context.Background(), nil, io.Discard, &stderr, func(k string) string { return env[k] })
	if status != 1 {
		t.Fatalf("status %d", status)
	}
	for _, name := range []string{"ServiceBusConnection__fullyQualifiedNamespace", "RECORDINGS_ACCOUNT_URL", "FUNCTIONS_CUSTOMHANDLER_PORT"} {
		if !strings.Contains(stderr.String(), name) {
			t.Errorf("error does not name %s:\n%s", name, stderr.String())
		}
	}
}

// On shutdown an in-flight invocation finishes within the grace period
// and its answer reaches the host.
func TestServeFinishesInFlightOnShutdown(t *testing.T) {
	started := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(started)
			time.Sleep(300 * time.Millisecond)
		}
		w.WriteHeader(http.StatusOK)
	})
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- listen(ctx, "127.0.0.1:0", h, 5*time.Second, slog.New(slog.NewTextHandler(io.Discard, nil)), func(a string) { addrc <- a })
	}()
	addr := <-addrc
	respc := make(chan int, 1)
	go func() {
		resp, err := http.Post("http://"+addr+"/slow", "application/json", nil)
		if err != nil {
			respc <- 0
			return
		}
		resp.Body.Close()
		respc <- resp.StatusCode
	}()
	<-started
	cancel() // SIGTERM
	if code := <-respc; code != http.StatusOK {
		t.Fatalf("in-flight invocation got %d, want 200", code)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get("http://" + addr + "/"); err == nil {
		t.Error("server still accepting after shutdown")
	}
}

// The events endpoint reads a webhook's body within seconds: a client that
// drips its body is answered (refused) long before it would finish, and
// the connection does not hold the server.
func TestServeEventsBodyReadWithinSeconds(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	h := customhandler.Serve(customhandler.Steps{Log: log})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addrc := make(chan string, 1)
	go func() { _ = listen(ctx, "127.0.0.1:0", h, time.Second, log, func(a string) { addrc <- a }) }()
	conn, err := net.Dial("tcp", <-addrc)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/cloudevents+json\r\nContent-Length: 400\r\n\r\n{", customhandler.EventsPath)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for i := 0; i < 399; i++ {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			if _, err := conn.Write([]byte(" ")); err != nil {
				return
			}
		}
	}()
	begin := time.Now()
	_ = conn.SetReadDeadline(begin.Add(15 * time.Second))
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "HTTP/1.1 4") {
		t.Fatalf("answer %q, %v", line, err)
	}
	if took := time.Since(begin); took > customhandler.EventBodyWithin+2*time.Second {
		t.Fatalf("a dripping body was read for %s", took)
	}
}
