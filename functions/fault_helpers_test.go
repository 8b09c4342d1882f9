package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"

	"github.com/vcc-ingest/vcc-ingest/shared/azuritetest"
	"github.com/vcc-ingest/vcc-ingest/shared/message"
	"github.com/vcc-ingest/vcc-ingest/shared/queue"
	"github.com/vcc-ingest/vcc-ingest/shared/store"
	"github.com/vcc-ingest/vcc-ingest/shared/vccsim"
)

// soak reports whether the long fault suite was asked for (make soak).
func soak() bool { return os.Getenv("VCC_INGEST_SOAK") == "1" }

// issueFaults is the fault mix of the suite: 10 % 5xx, 5 % 429 (half
// without Retry-After), 2 % truncated bodies, 1 % cross-host redirects.
var issueFaults = vccsim.Faults{
	Status5xx: 0.10, Throttle: 0.025, ThrottleNoRetryAfter: 0.025, Truncate: 0.02, Redirect: 0.01,
}

// childRun is one `handler local` process against the test's sandbox and
// Azurite, with everything it printed kept for the log check.
type childRun struct {
	cmd *exec.Cmd
	out bytes.Buffer
}

// localChild prepares `handler local` for [from, to) with the sandbox's
// credential and Azurite in its environment (the child's --sandbox is not
// used: one sandbox keeps ground truth, faults and counters across runs).
func localChild(t *testing.T, sim *vccsim.Sim, az *azuritetest.Azurite, data string, from, to time.Time, extraEnv ...string) *childRun {
	t.Helper()
	env := append([]string{
		"VCC_TOKEN_URL=" + sim.TokenURL(), "VCC_API_URL=" + sim.APIURL(),
		"VCC_CLIENT_ID=" + sim.ClientID(), "VCC_CLIENT_SECRET=" + sim.ClientSecret(),
		"VCC_RATE_PER_MINUTE=6000", "RECORDINGS_CONNECTION_STRING=" + az.ConnectionString,
	}, extraEnv...)
	c := &childRun{cmd: childCommand(t, env, "local",
		"--from", from.Format(time.RFC3339), "--to", to.Format(time.RFC3339),
		"--data", data, "--workers", "4", "--lock", "2s", "--idle", "500ms")}
	c.cmd.Stdout, c.cmd.Stderr = &c.out, &c.out
	return c
}

// exitStatus runs the child to the end and returns its exit status.
func (c *childRun) exitStatus(t *testing.T) int {
	t.Helper()
	err := c.cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	if err != nil {
		t.Fatalf("child: %v", err)
	}
	return 0
}

// truth maps the blob name of every audio recording the sandbox lets the
// credential see to its ground truth.
func truth(sim *vccsim.Sim) map[string]vccsim.Recording {
	out := map[string]vccsim.Recording{}
	for _, r := range sim.Recordings() {
		if r.Visible && isAudio(r.Type) && r.Audio {
			out[store.RecordingName(r.Start, r.InteractionGUID, r.ContentKey, store.ExtensionFor(r.ContentType))] = r
		}
	}
	return out
}

// committedRecordings checks every committed blob of the recordings
// container against the ground truth — no partial, foreign or corrupt
// blob, whenever it is called — and returns how many recordings are stored.
func committedRecordings(t *testing.T, az *azuritetest.Azurite, want map[string]vccsim.Recording) int {
	t.Helper()
	ctx := context.Background()
	client, err := azblob.NewClientFromConnectionString(az.ConnectionString, nil)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	pager := client.NewListBlobsFlatPager("recordings", nil)
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			if strings.Contains(err.Error(), "ContainerNotFound") {
				return 0
			}
			t.Fatal(err)
		}
		for _, b := range page.Segment.BlobItems {
			name := *b.Name
			if strings.HasSuffix(name, "/"+store.SidecarFile) {
				continue
			}
			r, ok := want[name]
			if !ok {
				t.Errorf("unexpected blob %s", name)
				continue
			}
			if *b.Properties.ContentLength != r.Size {
				t.Errorf("%s: %d bytes committed, want %d", name, *b.Properties.ContentLength, r.Size)
				continue
			}
			resp, err := client.DownloadStream(ctx, "recordings", name, nil)
			if err != nil {
				t.Fatal(err)
			}
			h := sha256.New()
			_, err = io.Copy(h, resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			if got := hex.EncodeToString(h.Sum(nil)); got != r.SHA256 {
				t.Errorf("%s: sha256 %s, want %s", name, got, r.SHA256)
			}
			n++
		}
	}
	return n
}

// killMidRun starts the child, waits until it has stored at least one more
// recording than before (so ingest workers are busy copying), waits a
// random moment more and kills it with SIGKILL.
func killMidRun(t *testing.T, c *childRun, az *azuritetest.Azurite, want map[string]vccsim.Recording, extra time.Duration) {
	t.Helper()
	before := committedRecordings(t, az, want)
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) && countBlobs(t, az) <= before {
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(extra)
	_ = c.cmd.Process.Signal(syscall.SIGKILL)
	_ = c.cmd.Wait()
}

// countBlobs counts committed recordings without reading them (cheap
// enough to poll).
func countBlobs(t *testing.T, az *azuritetest.Azurite) int {
	t.Helper()
	client, err := azblob.NewClientFromConnectionString(az.ConnectionString, nil)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	pager := client.NewListBlobsFlatPager("recordings", nil)
	for pager.More() {
		page, err := pager.NextPage(context.Background())
		if err != nil {
			return 0 // container not created yet, or storage restarting
		}
		if page.Segment == nil {
			return 0 // an answer without a listing: storage busy or restarting; polled again
		}
		for _, b := range page.Segment.BlobItems {
			if b.Name == nil {
				continue
			}
			if !strings.HasSuffix(*b.Name, "/"+store.SidecarFile) {
				n++
			}
		}
	}
	return n
}

// openQueue opens the local run's queue while no child holds it.
func openQueue(t *testing.T, data string) *queue.Embedded {
	t.Helper()
	q, err := queue.OpenEmbedded(filepath.Join(data, "queue.db"), queue.EmbeddedOptions{OpenTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// sendDuplicates queues second deliveries of interactions under new
// message ids (what a replayed or re-sent message looks like to ingest).
func sendDuplicates(t *testing.T, data string, guids []string, tag string) {
	t.Helper()
	q := openQueue(t, data)
	defer q.Close()
	var out []queue.Outgoing
	for _, g := range guids {
		body, _ := message.Encode(message.Body{InteractionID: g, Source: "duplicate"})
		out = append(out, queue.Outgoing{ID: g + "-" + tag, Body: body, ContentType: message.ContentType})
	}
	if err := q.SendBatch(context.Background(), out); err != nil {
		t.Fatal(err)
	}
}

// requeueDeadLetters replays every dead letter: the same body under a new
// message id (the original id is still inside the duplicate window), then
// removes the dead letter. It returns the dead letters it replayed.
func requeueDeadLetters(t *testing.T, data string, round int) []*queue.Message {
	t.Helper()
	q := openQueue(t, data)
	defer q.Close()
	ctx := context.Background()
	var replayed []*queue.Message
	for {
		dead, err := q.ReceiveDeadLetters(ctx, 100, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(dead) == 0 {
			return replayed
		}
		out := make([]queue.Outgoing, 0, len(dead))
		for _, m := range dead {
			out = append(out, queue.Outgoing{ID: m.ID + "-replay-" + strconv.Itoa(round), Body: m.Body, ContentType: m.ContentType})
		}
		if err := q.SendBatch(ctx, out); err != nil {
			t.Fatal(err)
		}
		for _, m := range dead {
			if err := q.Complete(ctx, m); err != nil {
				t.Fatal(err)
			}
		}
		replayed = append(replayed, dead...)
	}
}

// checkNoSecretIn fails when text holds the client secret or any token the
// sandbox issued.
func checkNoSecretIn(t *testing.T, what, text string, sim *vccsim.Sim, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if s != "" && strings.Contains(text, s) {
			t.Errorf("%s contains the client secret", what)
		}
	}
	for _, tok := range sim.IssuedTokens() {
		if strings.Contains(text, tok) {
			t.Errorf("%s contains an access token", what)
		}
	}
}
