package store

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func TestDirSink(t *testing.T) {
	runSinkSuite(t, func(t *testing.T) sinkUnderTest {
		root := t.TempDir()
		return sinkUnderTest{
			sink: NewDir(root),
			readBack: func(t *testing.T, name string) []byte {
				data, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(name)))
				if err != nil {
					t.Fatal(err)
				}
				return data
			},
			leftovers: func(t *testing.T) []string {
				var files []string
				err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
					if err == nil && !e.IsDir() {
						files = append(files, p)
					}
					return err
				})
				if err != nil {
					t.Fatal(err)
				}
				return files
			},
		}
	})
}

func TestDirLayoutAndModes(t *testing.T) {
	root := t.TempDir()
	d := NewDir(root)
	ctx := context.Background()
	name := RecordingName(testStart, testGUID, "k", "wav")
	if _, err := d.PutRecording(ctx, Recording{Name: name, ExpectedLength: 5, Metadata: map[string]string{"a": "b"}}, newGen(1, 5)); err != nil {
		t.Fatal(err)
	}
	if err := d.PutSidecar(ctx, SidecarName(testStart, testGUID), []byte("{}")); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "2026", "11", "02", testGUID)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
		st, err := os.Stat(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm()&0o007 != 0 {
			t.Errorf("%s is world-accessible: %v", e.Name(), st.Mode())
		}
	}
	if len(names) != 2 || names[0] != "interaction.json" || names[1] != "k.wav" {
		t.Fatalf("directory holds %v, want only interaction.json and k.wav", names)
	}
}

func TestDirListSkipsTemporaryFiles(t *testing.T) {
	root := t.TempDir()
	d := NewDir(root)
	name := RecordingName(testStart, testGUID, "k", "wav")
	if _, err := d.PutRecording(context.Background(), Recording{Name: name, ExpectedLength: -1}, newGen(1, 5)); err != nil {
		t.Fatal(err)
	}
	// A temporary file left by a crashed writer is never reported.
	if err := os.WriteFile(filepath.Join(filepath.Dir(filepath.Join(root, filepath.FromSlash(name))), tempPrefix+"123.tmp"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := listAll(t, d.List, ""); len(got) != 1 || got[0] != name {
		t.Fatalf("List = %v, want [%s]", got, name)
	}
}

func TestDirStatRejectsDirectories(t *testing.T) {
	root := t.TempDir()
	d := NewDir(root)
	if err := os.MkdirAll(filepath.Join(root, "a", "b.wav"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, _, err := d.StatRecording(context.Background(), "a/b.wav"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("StatRecording(directory) = %v, want ErrInvalid", err)
	}
}

func TestDirState(t *testing.T) {
	runStateSuite(t, NewDirState(t.TempDir()))
}

func TestDirStateConcurrentSavesOneWins(t *testing.T) {
	st := NewDirState(t.TempDir())
	ctx := context.Background()
	etag, err := st.Save(ctx, "checkpoint.json", []byte("v0"), "")
	if err != nil {
		t.Fatal(err)
	}
	const writers = 8
	errs := make(chan error, writers)
	for i := 0; i < writers; i++ {
		go func() {
			_, err := st.Save(ctx, "checkpoint.json", []byte{byte('a' + i)}, etag)
			errs <- err
		}()
	}
	won := 0
	for i := 0; i < writers; i++ {
		err := <-errs
		switch {
		case err == nil:
			won++
		case !errors.Is(err, ErrConflict):
			t.Fatalf("unexpected error: %v", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d writers won with the same etag, want 1", won)
	}
}
