package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"

	"github.com/vcc-ingest/vcc-ingest/shared/azuritetest"
	"github.com/vcc-ingest/vcc-ingest/shared/invoke/invoketest"
	"github.com/vcc-ingest/vcc-ingest/shared/vccsim"
)

// The Functions host records every stderr line of a custom handler as an
// Error: `handler serve` answering a host-shaped invocation successfully
// writes its logs to stdout and nothing to stderr.
func TestServeLogsNothingInformationalToStderr(t *testing.T) {
	sim := vccsim.New(vccsim.Options{Seed: 18, Start: day, Days: 1, InteractionsPerDay: 5})
	if err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	az := azuritetest.Start(t)
	blob, err := azblob.NewClientFromConnectionString(az.ConnectionString, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"recordings", "vcc-ingest-state"} {
		if _, err := blob.CreateContainer(context.Background(), c, nil); err != nil {
			t.Fatal(err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	env := map[string]string{
		"FUNCTIONS_CUSTOMHANDLER_PORT":                  strconv.Itoa(port),
		"ServiceBusConnection__fullyQualifiedNamespace": "example.servicebus.windows.net",
		"RECORDINGS_CONNECTION_STRING":                  az.ConnectionString,
		"VCC_TOKEN_URL":                                 sim.TokenURL(),
		"VCC_API_URL":                                   sim.APIURL(),
		"VCC_CLIENT_ID":                                 sim.ClientID(),
		"VCC_CLIENT_SECRET":                             sim.ClientSecret(),
	}
	var stdout, stderr syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"serve"}, &stdout, &stderr, func(k string) string { return env[k] }) }()
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	ready := false
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline) && !ready; time.Sleep(25 * time.Millisecond) {
		if r, err := http.Get(base + "/"); err == nil {
			r.Body.Close()
			ready = true
		}
	}
	if !ready {
		cancel()
		t.Fatalf("not ready; stderr:\n%s", stderr.String())
	}

	guid := ""
	for _, r := range sim.Recordings() {
		if r.Visible && isAudio(r.Type) && r.Audio {
			guid = r.InteractionGUID
			break
		}
	}
	// The host's captured payload, for an interaction the sandbox has.
	payload := strings.ReplaceAll(string(invoketest.Fixture(t, "servicebus.json")), "2480fc2c-7a3b-4b5e-9c61-0d2f4e8a1b7c", guid)
	req, _ := http.NewRequest(http.MethodPost, base+"/ingest", bytes.NewReader([]byte(payload)))
	req.Header.Set("X-Azure-Functions-InvocationId", "0f4c2c55-3c6e-4a7b-9d8d-3f0c1f0b6c2e")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cancel()
	if status := <-done; status != 0 {
		t.Errorf("serve exited %d", status)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("ingest answered %d; stderr:\n%s", resp.StatusCode, stderr.String())
	}
	if !strings.Contains(stdout.String(), `"msg":"ingest done"`) {
		t.Errorf("stdout lacks the ingest log:\n%s", stdout.String())
	}
	if s := stderr.String(); s != "" {
		t.Errorf("stderr is not empty (each line would be an Error in Application Insights):\n%s", s)
	}
}
