package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vcc-ingest/vcc-ingest/shared/vccsim"
	"github.com/vcc-ingest/vcc-ingest/shared/webhook"
)

// handler local --sandbox --listen with the user's VCC_WEBHOOK_SECRET: the
// events function verifies with it, an event the user signs with it is
// accepted, and the sandbox signs its own live calls' webhooks with it too.
// Without one, the banner says the sandbox's own secret is in force.
func TestLocalSandboxListenKeepsTheUsersWebhookSecret(t *testing.T) {
	mine := base64.StdEncoding.EncodeToString([]byte("my own subscription secret, 32b!"))
	served := regexp.MustCompile(`Webhooks: POST (http://\S+) \(signature: ([^)]*)\)`)
	start := func(t *testing.T, env map[string]string) (url, signature string, stdout *syncBuffer, out, data string, stop func()) {
		t.Helper()
		out, data = t.TempDir(), t.TempDir()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		stdout = &syncBuffer{}
		var stderr syncBuffer
		done := make(chan int, 1)
		go func() {
			done <- run(ctx, []string{"local", "--sandbox", "--schedule", "--per-day", "3", "--every", "1h",
				"--listen", "127.0.0.1:0", "--sandbox-call-every", "300ms", "--sandbox-processing-delay", "-1s", "--out", out, "--data", data},
				stdout, &stderr, func(k string) string { return env[k] })
		}()
		stop = func() { cancel(); <-done }
		for {
			if m := served.FindStringSubmatch(stdout.String()); m != nil {
				return m[1], m[2], stdout, out, data, stop
			}
			select {
			case status := <-done:
				cancel()
				t.Fatalf("the run ended (status %d)\n%s\n%s", status, stdout.String(), stderr.String())
			case <-ctx.Done():
				stop()
				t.Fatalf("no webhook address printed\n%s", stdout.String())
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	post := func(t *testing.T, url, secret string) int {
		t.Helper()
		key, err := webhook.DecodeSecret(secret)
		if err != nil {
			t.Fatal(err)
		}
		body := []byte(`{"specversion":"1.0","id":"mine-1","type":"channel.connected","source":"/vcc",` +
			`"data":{"channel":{"interactionId":"0b0e4f2a-1c3d-4e5f-8a9b-0c1d2e3f4a5b"}}}`)
		req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/cloudevents+json")
		req.Header.Set(webhook.SignatureHeader, webhook.Sign(key, body, time.Now(), 5*time.Minute))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}

	t.Run("the user's secret", func(t *testing.T) {
		env := map[string]string{"FUNCTIONS_APP_ROOT_PATH": "..", "WEBHOOK_SETTLE": "100ms", "VCC_WEBHOOK_SECRET": mine}
		url, signature, stdout, out, data, stop := start(t, env)
		defer stop()
		if signature != "VCC_WEBHOOK_SECRET" {
			t.Errorf("banner signature %q", signature)
		}
		if status := post(t, url, mine); status != http.StatusAccepted {
			t.Errorf("an event signed with VCC_WEBHOOK_SECRET: %d, want 202", status)
		}
		if status := post(t, url, vccsim.DefaultWebhookSecret); status != http.StatusUnauthorized {
			t.Errorf("an event signed with the sandbox's default secret: %d, want 401", status)
		}
		deadline := time.Now().Add(90 * time.Second)
		for {
			n := 0
			for _, sc := range sidecarsUnder(t, out) {
				if sc.StoredVia == "event" {
					n++
				}
			}
			if n > 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no sandbox call stored via its webhook\n%s\nlog:\n%s", stdout.String(), tail(t, filepath.Join(data, "run.log")))
			}
			time.Sleep(200 * time.Millisecond)
		}
		log, _ := os.ReadFile(filepath.Join(data, "run.log"))
		if n := strings.Count(string(log), `"status":401`); n != 1 { // the one signed with the default secret
			t.Errorf("%d webhooks refused with 401, want 1:\n%s", n, tail(t, filepath.Join(data, "run.log")))
		}
		if strings.Contains(string(log)+stdout.String(), mine) {
			t.Error("the webhook secret reached the output")
		}
	})

	t.Run("the sandbox's own", func(t *testing.T) {
		env := map[string]string{"FUNCTIONS_APP_ROOT_PATH": "..", "WEBHOOK_SETTLE": "100ms"}
		url, signature, _, _, _, stop := start(t, env)
		defer stop()
		if !strings.Contains(signature, "the sandbox's own webhook secret") {
			t.Errorf("banner signature %q", signature)
		}
		if status := post(t, url, vccsim.DefaultWebhookSecret); status != http.StatusAccepted {
			t.Errorf("an event signed with the sandbox's secret: %d, want 202", status)
		}
	})
}
