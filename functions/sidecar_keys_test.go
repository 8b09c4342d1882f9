package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// goldenSidecar is the sidecar contract pinned in the repository's own
// shared/records package (its testdata): what an end-to-end run stores must
// carry exactly its top-level keys. The module root is found from go.mod,
// so the path never leaves the repository.
func goldenSidecar(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "shared", "records", "testdata", "interaction.json")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}

// topLevelKeys decodes a JSON object without records.Sidecar, so that a tag
// renamed there cannot hide by being renamed on both sides.
func topLevelKeys(t *testing.T, data []byte) []string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("not a JSON object: %v", err)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// optionalSidecarKeys are the golden's keys a stored sidecar may lack: the
// fields the path that stored it did not know (discover's message carries no
// connectFrom/connectTo, VCC's interaction record no durationMs/medium) and
// those of a deployment without a tenants document.
var optionalSidecarKeys = []string{"connectFrom", "connectTo", "durationMs", "medium", "tenant"}

// checkSidecarKeys fails t unless every interaction.json under dir (at
// least one) has the golden sidecar's top-level keys: no key the golden
// lacks, and every golden key but the optional ones.
func checkSidecarKeys(t *testing.T, dir string) {
	t.Helper()
	golden, err := os.ReadFile(goldenSidecar(t))
	if err != nil {
		t.Fatal(err)
	}
	want := topLevelKeys(t, golden)
	n := 0
	err = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() != "interaction.json" {
			return err
		}
		n++
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		got := topLevelKeys(t, data)
		for _, k := range got {
			if !slices.Contains(want, k) {
				t.Errorf("%s: key %q is not in the contract shared/records/testdata/interaction.json", p, k)
			}
		}
		for _, k := range want {
			if !slices.Contains(got, k) && !slices.Contains(optionalSidecarKeys, k) {
				t.Errorf("%s: the contract's key %q is missing (keys %q)", p, k, got)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Errorf("no interaction.json under %s", dir)
	}
}
