package store

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"

	"github.com/vcc-ingest/vcc-ingest/shared/azuritetest"
)

const testGUID = "2480fc2c-7c1d-4b6e-9d8a-0123456789ab"

var testStart = time.Date(2026, 11, 2, 9, 15, 0, 0, time.UTC)

// blobEnv is one Azurite plus unique containers per Blob.
type blobEnv struct {
	az  *azuritetest.Azurite
	sdk *azblob.Client
	n   atomic.Int64
}

func newBlobEnv(t *testing.T, persistent bool) *blobEnv {
	t.Helper()
	start := azuritetest.Start
	if persistent {
		start = azuritetest.StartPersistent
	}
	az := start(t)
	sdk, err := azblob.NewClientFromConnectionString(az.ConnectionString, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &blobEnv{az: az, sdk: sdk}
}

// open returns a Blob on fresh containers (1 MiB blocks so that a few MiB
// already take the multi-block path).
func (e *blobEnv) open(t *testing.T, mutate ...func(*BlobConfig)) *Blob {
	t.Helper()
	n := e.n.Add(1)
	cfg := BlobConfig{
		ConnectionString: e.az.ConnectionString,
		Container:        fmt.Sprintf("rec-%d", n),
		StateContainer:   fmt.Sprintf("state-%d", n),
		CreateContainers: true,
		BlockSize:        1 << 20,
		Concurrency:      2,
	}
	for _, m := range mutate {
		m(&cfg)
	}
	b, err := NewBlob(context.Background(), cfg)
	if err != nil {
		t.Fatalf("NewBlob: %v", err)
	}
	return b
}

func (e *blobEnv) container(b *Blob) string {
	return strings.TrimPrefix(b.recordings.URL(), e.az.BlobURL+"/")
}

func (e *blobEnv) blobClient(b *Blob, name string) *blob.Client {
	return e.sdk.ServiceClient().NewContainerClient(e.container(b)).NewBlobClient(name)
}

func (e *blobEnv) download(t *testing.T, b *Blob, name string) []byte {
	t.Helper()
	resp, err := e.blobClient(b, name).DownloadStream(context.Background(), nil)
	if err != nil {
		t.Fatalf("download %s: %v", name, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestBlobSink(t *testing.T) {
	env := newBlobEnv(t, false)
	runSinkSuite(t, func(t *testing.T) sinkUnderTest {
		b := env.open(t)
		return sinkUnderTest{
			sink:     b,
			readBack: func(t *testing.T, name string) []byte { return env.download(t, b, name) },
			leftovers: func(t *testing.T) []string {
				// Committed blobs only: staged blocks of a failed upload are
				// invisible and the service discards them after a week.
				return listAll(t, b.List, "")
			},
		}
	})
}

func TestBlobPropertiesTagsMetadata(t *testing.T) {
	env := newBlobEnv(t, false)
	b := env.open(t)
	ctx := context.Background()
	for i, size := range []int64{1000, 9 << 20} { // one Put Blob; nine staged blocks
		name := RecordingName(testStart, testGUID, fmt.Sprintf("k%d", i), "wav")
		tags := map[string]string{"interactionId": testGUID, "direction": "inbound", "agentCode": "A 1", "date": "2026-11-02"}
		meta := map[string]string{"interactionid": testGUID, "Direction": "inbound", "agentcode": "", "sha256": "caller value ignored"}
		w, err := b.PutRecording(ctx, Recording{Name: name, ContentType: "audio/x-wav", ExpectedLength: size, Metadata: meta, Tags: tags}, newGen(int64(i), size))
		if err != nil {
			t.Fatal(err)
		}
		wantSHA, wantMD5 := sums(t, int64(i), size)
		props, err := env.blobClient(b, name).GetProperties(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := hex.EncodeToString(props.ContentMD5); got != wantMD5 || w.MD5 != wantMD5 {
			t.Errorf("%d bytes: Content-MD5 %s (written %s), want %s", size, got, w.MD5, wantMD5)
		}
		if props.ContentType == nil || *props.ContentType != "audio/x-wav" {
			t.Errorf("content type %v", props.ContentType)
		}
		if props.ContentLength == nil || *props.ContentLength != size {
			t.Errorf("content length %v, want %d", props.ContentLength, size)
		}
		info, found, err := b.StatRecording(ctx, name)
		if err != nil || !found {
			t.Fatalf("StatRecording: %v %v", found, err)
		}
		wantMeta := map[string]string{"interactionid": testGUID, "direction": "inbound", "sha256": wantSHA}
		if !maps.Equal(info.Metadata, wantMeta) || info.SHA256 != wantSHA || info.ContentType != "audio/x-wav" {
			t.Errorf("Info = %+v, want metadata %v", info, wantMeta)
		}
		gt, err := env.blobClient(b, name).GetTags(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, tag := range gt.BlobTagSet {
			got[*tag.Key] = *tag.Value
		}
		if !maps.Equal(got, tags) {
			t.Errorf("tags = %v, want %v", got, tags)
		}
		if data := env.download(t, b, name); md5Hex(data) != wantMD5 {
			t.Errorf("downloaded content differs")
		}
	}
}

func md5Hex(b []byte) string {
	s := md5.Sum(b)
	return hex.EncodeToString(s[:])
}

func TestBlobRejectsBadMetadataAndTagsBeforeUploading(t *testing.T) {
	env := newBlobEnv(t, false)
	b := env.open(t)
	manyTags := map[string]string{}
	for i := 0; i < 11; i++ {
		manyTags[fmt.Sprintf("t%d", i)] = "v"
	}
	tests := []struct {
		name string
		rec  Recording
	}{
		{"11 tags", Recording{Tags: manyTags}},
		{"tag value chars", Recording{Tags: map[string]string{"email": "a@b.c"}}},
		{"tag name empty", Recording{Tags: map[string]string{"": "x"}}},
		{"metadata name", Recording{Metadata: map[string]string{"agent-id": "x"}}},
		{"metadata value", Recording{Metadata: map[string]string{"name": "Zoë"}}},
		{"metadata newline", Recording{Metadata: map[string]string{"name": "a\r\nx-ms-meta-evil: 1"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.rec.Name = RecordingName(testStart, testGUID, "bad", "wav")
			tt.rec.ExpectedLength = -1
			src := newGen(1, 100)
			_, err := b.PutRecording(context.Background(), tt.rec, src)
			if !errors.Is(err, ErrInvalid) || !IsPermanent(err) {
				t.Fatalf("err = %v, want permanent ErrInvalid", err)
			}
			if src.left != 100 {
				t.Fatal("source was read although the request was invalid")
			}
		})
	}
}

func TestBlobConcurrentCreatorsOneWins(t *testing.T) {
	env := newBlobEnv(t, false)
	b := env.open(t)
	name := RecordingName(testStart, testGUID, "race", "wav")
	const size = 3<<20 + 100
	var wg sync.WaitGroup
	results := make([]error, 4)
	written := make([]Written, 4)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			written[i], results[i] = b.PutRecording(context.Background(), Recording{Name: name, ExpectedLength: size}, newGen(int64(i), size))
		}()
	}
	wg.Wait()
	winner := -1
	for i, err := range results {
		switch {
		case err == nil:
			if winner >= 0 {
				t.Fatalf("writers %d and %d both succeeded", winner, i)
			}
			winner = i
		case errors.Is(err, ErrExists):
		default:
			// Azure may also reject the loser's commit because the winner's
			// commit discarded its staged blocks; it must not be stored either way.
			t.Logf("writer %d: %v", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no writer succeeded")
	}
	if got := md5Hex(env.download(t, b, name)); got != written[winner].MD5 {
		t.Fatalf("stored content %s is not the winner's %s", got, written[winner].MD5)
	}
}

func TestBlobState(t *testing.T) {
	env := newBlobEnv(t, false)
	runStateSuite(t, env.open(t).State())
}

// runStateSuite checks the State contract; Blob and DirState both pass it.
func runStateSuite(t *testing.T, st State) {
	ctx := context.Background()
	const name = "checkpoint.json"

	if _, _, found, err := st.Load(ctx, name); err != nil || found {
		t.Fatalf("Load before save: found=%v err=%v", found, err)
	}
	if _, err := st.Save(ctx, name, []byte("v1"), `"0x8D000000000000"`); !errors.Is(err, ErrConflict) {
		t.Fatalf("Save with an etag of a missing document: %v, want ErrConflict", err)
	}
	e1, err := st.Save(ctx, name, []byte("v1"), "")
	if err != nil || e1 == "" {
		t.Fatalf("first Save: %q %v", e1, err)
	}
	if _, err := st.Save(ctx, name, []byte("other"), ""); !errors.Is(err, ErrConflict) {
		t.Fatalf("create over existing: %v, want ErrConflict", err)
	}
	e2, err := st.Save(ctx, name, []byte("v2"), e1)
	if err != nil || e2 == e1 {
		t.Fatalf("Save with current etag: %q %v", e2, err)
	}
	if _, err := st.Save(ctx, name, []byte("stale"), e1); !errors.Is(err, ErrConflict) || IsTransient(err) {
		t.Fatalf("Save with stale etag: %v, want non-transient ErrConflict", err)
	}
	data, etag, found, err := st.Load(ctx, name)
	if err != nil || !found || string(data) != "v2" || etag != e2 {
		t.Fatalf("Load = %q %q %v %v; want v2 %q", data, etag, found, err, e2)
	}

	if err := st.Put(ctx, "runs/2026-11-02T09:15:00Z.json", []byte("r1")); err != nil {
		t.Fatal(err)
	}
	if err := st.Put(ctx, "runs/2026-11-02T09:15:00Z.json", []byte("r2")); err != nil {
		t.Fatalf("unconditional overwrite: %v", err)
	}
	if err := st.Put(ctx, "failures/"+testGUID+".json", []byte("f")); err != nil {
		t.Fatal(err)
	}
	if got := listAll(t, st.List, "runs/"); len(got) != 1 || got[0] != "runs/2026-11-02T09:15:00Z.json" {
		t.Fatalf("List(runs/) = %v", got)
	}
	all := listAll(t, st.List, "")
	sort.Strings(all)
	if want := []string{"checkpoint.json", "failures/" + testGUID + ".json", "runs/2026-11-02T09:15:00Z.json"}; strings.Join(all, ",") != strings.Join(want, ",") {
		t.Fatalf("List() = %v, want %v", all, want)
	}
	if data, _, _, _ := st.Load(ctx, "runs/2026-11-02T09:15:00Z.json"); string(data) != "r2" {
		t.Fatalf("Put did not overwrite: %q", data)
	}
	for i := 0; i < 2; i++ { // deleting a missing document is fine
		if err := st.Delete(ctx, "failures/"+testGUID+".json"); err != nil {
			t.Fatalf("Delete #%d: %v", i, err)
		}
	}
	if _, _, found, _ := st.Load(ctx, "failures/"+testGUID+".json"); found {
		t.Fatal("deleted document still there")
	}
	if err := st.Delete(ctx, name); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Save(ctx, name, []byte("v3"), e2); !errors.Is(err, ErrConflict) {
		t.Fatalf("Save over a deleted document: %v, want ErrConflict", err)
	}
	if _, err := st.Save(ctx, "../x", nil, ""); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Save(../x): %v", err)
	}
}

func TestBlobRestartKeepsData(t *testing.T) {
	env := newBlobEnv(t, true)
	b := env.open(t)
	ctx := context.Background()
	name := RecordingName(testStart, testGUID, "keep", "wav")
	w, err := b.PutRecording(ctx, Recording{Name: name, ExpectedLength: 2<<20 + 3}, newGen(5, 2<<20+3))
	if err != nil {
		t.Fatal(err)
	}
	etag, err := b.State().Save(ctx, "checkpoint.json", []byte("cp"), "")
	if err != nil {
		t.Fatal(err)
	}
	env.az.Restart()
	info, found, err := b.StatRecording(ctx, name)
	if err != nil || !found || info.SHA256 != w.SHA256 || info.Bytes != w.Bytes {
		t.Fatalf("after restart: %+v %v %v, want %+v", info, found, err, w)
	}
	data, etag2, found, err := b.State().Load(ctx, "checkpoint.json")
	if err != nil || !found || string(data) != "cp" || etag2 != etag {
		t.Fatalf("state after restart: %q %q %v %v", data, etag2, found, err)
	}
	if _, err := b.PutRecording(ctx, Recording{Name: name, ExpectedLength: 1}, bytes.NewReader([]byte{1})); !errors.Is(err, ErrExists) {
		t.Fatalf("create after restart: %v, want ErrExists", err)
	}
}

func TestBlobErrorsAreClassified(t *testing.T) {
	env := newBlobEnv(t, false)
	noRetry := func(c *BlobConfig) {
		c.ClientOptions = &azblob.ClientOptions{ClientOptions: policy.ClientOptions{Retry: policy.RetryOptions{MaxRetries: -1}}}
	}
	ctx := context.Background()

	// Missing container: a configuration error, permanent, not "absent".
	missing := env.open(t, noRetry, func(c *BlobConfig) { c.CreateContainers = false })
	_, found, err := missing.StatRecording(ctx, RecordingName(testStart, testGUID, "x", "wav"))
	if err == nil || found || !IsPermanent(err) || IsTransient(err) {
		t.Fatalf("missing container: found=%v err=%v, want a permanent error", found, err)
	}

	// Service gone: transient, for reads and for uploads.
	b := env.open(t, noRetry)
	env.az.Stop()
	_, _, err = b.StatRecording(ctx, RecordingName(testStart, testGUID, "x", "wav"))
	if !IsTransient(err) {
		t.Fatalf("service down: %v, want transient", err)
	}
	_, err = b.PutRecording(ctx, Recording{Name: RecordingName(testStart, testGUID, "y", "wav"), ExpectedLength: 3 << 20}, newGen(1, 3<<20))
	if !IsTransient(err) || errors.Is(err, ErrLengthMismatch) {
		t.Fatalf("upload with service down: %v, want transient storage error", err)
	}
	env.az.Restart()
}

func TestNewBlobConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  BlobConfig
		ok   bool
	}{
		{"nothing configured", BlobConfig{}, false},
		{"url without credential", BlobConfig{AccountURL: "https://a.blob.core.windows.net"}, false},
		{"bad container", BlobConfig{ConnectionString: "UseDevelopmentStorage=true", Container: "Bad_Name"}, false},
		{"block too small", BlobConfig{ConnectionString: "UseDevelopmentStorage=true", BlockSize: 1024}, false},
		{"too concurrent", BlobConfig{ConnectionString: "UseDevelopmentStorage=true", Concurrency: 100}, false},
		{"malformed connection string", BlobConfig{ConnectionString: "AccountKey=c2VjcmV0"}, false},
		{"dev storage", BlobConfig{ConnectionString: "UseDevelopmentStorage=true"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := NewBlob(context.Background(), tt.cfg)
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v, want ok=%v", err, tt.ok)
			}
			if err != nil && strings.Contains(err.Error(), "c2VjcmV0") {
				t.Fatalf("error reveals the account key: %v", err)
			}
			if b != nil && (b.blockSize != DefaultBlockSize || b.concurrency != DefaultConcurrency) {
				t.Fatalf("defaults not applied: %d %d", b.blockSize, b.concurrency)
			}
		})
	}
}

// TestBlobLargeUploadMemoryIsBounded streams 256 MiB and checks that the Go
// heap stays far below the recording's size: nothing buffers the whole stream.
func TestBlobLargeUploadMemoryIsBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("uploads 256 MiB")
	}
	env := newBlobEnv(t, false)
	b := env.open(t, func(c *BlobConfig) { c.BlockSize, c.Concurrency = DefaultBlockSize, DefaultConcurrency })
	const size = 256 << 20
	name := RecordingName(testStart, testGUID, "big", "wav")

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	var peak atomic.Uint64
	done := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	w, err := b.PutRecording(context.Background(), Recording{Name: name, ContentType: "audio/wav", ExpectedLength: size}, newGen(9, size))
	close(done)
	<-sampled
	if err != nil {
		t.Fatal(err)
	}
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if w.Bytes != size {
		t.Fatalf("wrote %d bytes", w.Bytes)
	}
	growth := int64(peak.Load()) - int64(before.HeapInuse)
	allocated := after.TotalAlloc - before.TotalAlloc
	t.Logf("peak heap growth %d KiB, allocated %d KiB for %d MiB", growth>>10, allocated>>10, size>>20)
	if growth > 16<<20 {
		t.Errorf("heap grew by %d MiB while streaming %d MiB", growth>>20, size>>20)
	}
	if allocated > 32<<20 {
		t.Errorf("allocated %d MiB while streaming %d MiB", allocated>>20, size>>20)
	}
	info, found, err := b.StatRecording(context.Background(), name)
	if err != nil || !found || info.Bytes != size || info.SHA256 != w.SHA256 {
		t.Fatalf("stat: %+v %v %v", info, found, err)
	}
}

// TestBlobIdentityAuth uses the production path: account URL plus a token
// credential (a managed identity in Azure), over HTTPS.
func TestBlobIdentityAuth(t *testing.T) {
	az := azuritetest.StartOAuth(t)
	ctx := context.Background()
	b, err := NewBlob(ctx, BlobConfig{
		AccountURL:       az.BlobURL,
		Credential:       az.Credential,
		CreateContainers: true,
		BlockSize:        1 << 20,
		ClientOptions:    &azblob.ClientOptions{ClientOptions: policy.ClientOptions{Transport: az.HTTPClient}},
	})
	if err != nil {
		t.Fatal(err)
	}
	name := RecordingName(testStart, testGUID, "id", "wav")
	w, err := b.PutRecording(ctx, Recording{Name: name, ContentType: "audio/wav", ExpectedLength: 3<<20 + 1,
		Tags: map[string]string{"direction": "outbound"}}, newGen(4, 3<<20+1))
	if err != nil {
		t.Fatalf("PutRecording with a token: %v", err)
	}
	if info, found, err := b.StatRecording(ctx, name); err != nil || !found || info.SHA256 != w.SHA256 {
		t.Fatalf("StatRecording: %+v %v %v", info, found, err)
	}
	if _, err := b.State().Save(ctx, "checkpoint.json", []byte("{}"), ""); err != nil {
		t.Fatalf("Save with a token: %v", err)
	}
	if az.Credential.Calls() == 0 {
		t.Fatal("no token requested: bearer auth was not used")
	}

	// With both configured the connection string wins (local runs).
	calls := az.Credential.Calls()
	both, err := NewBlob(ctx, BlobConfig{ConnectionString: az.ConnectionString, AccountURL: az.BlobURL, Credential: az.Credential,
		ClientOptions: &azblob.ClientOptions{ClientOptions: policy.ClientOptions{Transport: az.HTTPClient}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, found, err := both.StatRecording(ctx, name); err != nil || !found {
		t.Fatalf("StatRecording via connection string: %v %v", found, err)
	}
	if az.Credential.Calls() != calls {
		t.Fatal("a token was requested although a connection string was configured")
	}
}
