package store_test

import (
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vcc-ingest/vcc-ingest/shared/store"
	"github.com/vcc-ingest/vcc-ingest/shared/vcc"
)

// FuzzRecordingName: the ids VCC gives (once validated) always make a valid
// blob name under the interaction's date folder, whatever the content type.
func FuzzRecordingName(f *testing.F) {
	f.Add("0b0b0b0b-1c1c-4d4d-8e8e-9f9f9f9f9f9f", "callRecording", "audio/wav", int64(1793613600))
	f.Add("0b0b0b0b-1c1c-4d4d-8e8e-9f9f9f9f9f9f", "...", "audio/x-wav; codecs=1", int64(-1))
	f.Add("0b0b0b0b-1c1c-4d4d-8e8e-9f9f9f9f9f9f", "INTERACTION", "application/json", int64(0))
	f.Add("0b0b0b0b-1c1c-4d4d-8e8e-9f9f9f9f9f9f", "Interaction.JSON", "", int64(0))
	f.Fuzz(func(t *testing.T, guid, key, contentType string, unix int64) {
		// Keep the year within 0001-9999, as interaction starts are.
		start := time.Unix(unix%253402300799, 0)
		if start.Year() < 1 {
			start = time.Unix(0, 0)
		}
		ext := store.ExtensionFor(contentType)
		if ext == "" || strings.ContainsAny(ext, "/.") {
			t.Fatalf("extension %q for %q", ext, contentType)
		}
		if !vcc.ValidGUID(guid) || !vcc.ValidContentKey(key) {
			return
		}
		name := store.RecordingName(start, guid, key, ext)
		if err := store.ValidateName(name); err != nil {
			t.Fatalf("valid ids gave an invalid name: %v", err)
		}
		if strings.EqualFold(path.Base(name), store.SidecarFile) {
			t.Fatalf("%q takes the sidecar's name", name)
		}
		if bare := store.RecordingName(start, guid, key, ""); strings.EqualFold(path.Base(bare), store.SidecarFile) {
			t.Fatalf("without an extension: %q", bare)
		}
		folder := start.UTC().Format("2006/01/02") + "/" + guid + "/"
		if !strings.HasPrefix(name, folder) || path.Dir(name)+"/" != folder {
			t.Fatalf("%q is not directly under %q", name, folder)
		}
		if err := store.ValidateName(store.SidecarName(start, guid)); err != nil {
			t.Fatalf("sidecar name: %v", err)
		}
	})
}

// FuzzValidateName: a name ValidateName accepts is a clean, local,
// relative path, so it cannot escape the export directory.
func FuzzValidateName(f *testing.F) {
	f.Add("2026/11/02/0b0b0b0b-1c1c-4d4d-8e8e-9f9f9f9f9f9f/callRecording.wav")
	f.Add("../etc/passwd")
	f.Add("a//b")
	f.Fuzz(func(t *testing.T, name string) {
		if store.ValidateName(name) != nil {
			return
		}
		if path.Clean(name) != name || !filepath.IsLocal(filepath.FromSlash(name)) || strings.HasPrefix(name, "/") {
			t.Fatalf("accepted %q", name)
		}
		for _, seg := range strings.Split(name, "/") {
			if seg == "." || seg == ".." || strings.HasSuffix(seg, ".") {
				t.Fatalf("accepted segment %q in %q", seg, name)
			}
		}
	})
}
