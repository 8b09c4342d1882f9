package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"
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
