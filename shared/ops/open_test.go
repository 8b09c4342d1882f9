package ops

import (
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vcc-ingest/vcc-ingest/shared/queue"
)

// A command that calls no VCC starts without VCC's settings; one that
// does is stopped by them, naming the setting.
func TestBeginReadsTheSettingsTheCommandUses(t *testing.T) {
	none := func(string) string { return "" }
	env, err := begin(Flags{}, false, io.Discard, io.Discard, none)
	env.Close()
	if err != nil || env.Client != nil {
		t.Fatalf("without VCC: client %v, error %v", env.Client, err)
	}
	env, err = begin(Flags{}, true, io.Discard, io.Discard, none)
	env.Close()
	if err == nil || !strings.Contains(err.Error(), "configuration:\nVCC_CLIENT_ID: required") {
		t.Fatalf("with VCC: %v", err)
	}
	vcc := map[string]string{"VCC_CLIENT_ID": "id", "VCC_CLIENT_SECRET": "s"}
	env, err = begin(Flags{}, true, io.Discard, io.Discard, func(k string) string { return vcc[k] })
	if err == nil {
		err = env.openAccounts(context.Background(), Flags{}, true, false)
	}
	env.Close()
	if err != nil || env.Client == nil || env.VCCConfig.ClientID != "id" || env.VCCConfig.Secret == nil {
		t.Fatalf("with VCC settings: client %v, config %+v, error %v", env.Client, env.VCCConfig, err)
	}
}

// Without a store configured, a command that only keeps state keeps it
// under --data; one that reads or writes recordings is told what to give.
func TestOpenStoreWithoutAStore(t *testing.T) {
	data := t.TempDir()
	env, err := begin(Flags{Data: data}, false, io.Discard, io.Discard, func(string) string { return "" })
	defer env.Close()
	if err != nil {
		t.Fatal(err)
	}
	for use, want := range map[storeUse]string{readRecordings: "no recordings to read", writeRecordings: "nowhere to store recordings"} {
		if err := env.openStore(context.Background(), Flags{Data: data}, use); err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("use %d: %v, want %q", use, err, want)
		}
	}
	if err := env.openStore(context.Background(), Flags{Data: data}, stateOnly); err != nil || env.State == nil || env.Sink != nil || env.Where != filepath.Join(data, "state") {
		t.Fatalf("state only: state %v, sink %v, where %q, error %v", env.State, env.Sink, env.Where, err)
	}
}

// The queue a command opens is closed with its Env: the embedded queue's
// file is free for the next process (report opens it beside its store).
func TestOpenQueueClosesWithTheEnv(t *testing.T) {
	data := t.TempDir()
	f := Flags{Data: data}
	env, err := begin(f, false, io.Discard, io.Discard, func(string) string { return "" })
	if err == nil {
		err = env.openQueue(context.Background(), f, nil)
	}
	if err != nil {
		env.Close()
		t.Fatal(err)
	}
	if env.Embedded == nil || env.Queue == nil {
		t.Fatal("no embedded queue")
	}
	env.Close()
	q, err := queue.OpenEmbedded(filepath.Join(data, "queue.db"), queue.EmbeddedOptions{OpenTimeout: time.Second})
	if err != nil {
		t.Fatalf("queue still held after Close: %v", err)
	}
	_ = q.Close()
}
