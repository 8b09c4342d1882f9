package store

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// Two tenants over one directory: each writes under its own prefix, lists
// only its own names, and no name can climb out of its prefix.
func TestPrefixedIsolatesTenants(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	dir := NewDir(root)
	acme, globex := Prefixed(dir, "acme/"), Prefixed(dir, "globex/")
	start := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	guid := "2480fc2c-7a3b-4b5e-9c61-0d2f4e8a1b7c"
	name := RecordingName(start, guid, "callRecording", "wav")
	if _, err := acme.PutRecording(ctx, Recording{Name: name, ExpectedLength: 3}, bytes.NewReader([]byte("abc"))); err != nil {
		t.Fatal(err)
	}
	if err := acme.PutSidecar(ctx, SidecarName(start, guid), []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "acme", "2026", "11", "02", guid, "callRecording.wav")); err != nil {
		t.Errorf("acme's recording is not under acme/: %v", err)
	}
	if _, found, err := globex.StatRecording(ctx, name); err != nil || found {
		t.Errorf("globex sees acme's recording: found %v, %v", found, err)
	}
	if _, found, _ := globex.GetSidecar(ctx, SidecarName(start, guid)); found {
		t.Error("globex sees acme's sidecar")
	}
	var names []string
	_ = acme.List(ctx, "", func(n string) error { names = append(names, n); return nil })
	sort.Strings(names)
	if len(names) != 2 || names[0] != name {
		t.Errorf("acme lists %v, want its names without the prefix", names)
	}
	names = nil
	_ = globex.List(ctx, "", func(n string) error { names = append(names, n); return nil })
	if len(names) != 0 {
		t.Errorf("globex lists %v", names)
	}
	for _, bad := range []string{"../acme/" + name, "x/../../acme/" + name, "/acme/" + name} {
		if _, err := globex.PutRecording(ctx, Recording{Name: bad, ExpectedLength: 1}, strings.NewReader("x")); !errors.Is(err, ErrInvalid) {
			t.Errorf("PutRecording(%q) = %v, want ErrInvalid", bad, err)
		}
		if err := globex.PutSidecar(ctx, bad, []byte("{}")); !errors.Is(err, ErrInvalid) {
			t.Errorf("PutSidecar(%q) = %v, want ErrInvalid", bad, err)
		}
	}
}

func TestPrefixedStateIsolatesTenants(t *testing.T) {
	ctx := context.Background()
	st := NewDirState(t.TempDir())
	a, b := PrefixedState(st, TenantStatePrefix("acme")), PrefixedState(st, TenantStatePrefix("globex"))
	if _, err := a.Save(ctx, "checkpoints/discover.json", []byte(`{"a":1}`), ""); err != nil {
		t.Fatal(err)
	}
	if _, _, found, _ := b.Load(ctx, "checkpoints/discover.json"); found {
		t.Error("globex reads acme's checkpoint")
	}
	if data, _, found, _ := st.Load(ctx, "tenants/acme/checkpoints/discover.json"); !found || string(data) != `{"a":1}` {
		t.Error("acme's checkpoint is not under tenants/acme/")
	}
	if err := b.Put(ctx, "../acme/checkpoints/discover.json", []byte("x")); !errors.Is(err, ErrInvalid) {
		t.Errorf("climbing out of the prefix: %v", err)
	}
	var names []string
	_ = a.List(ctx, "checkpoints/", func(n string) error { names = append(names, n); return nil })
	if len(names) != 1 || names[0] != "checkpoints/discover.json" {
		t.Errorf("acme lists %v", names)
	}
}
