package packaging

import (
	"archive/zip"
	"bytes"
	"context"
	"debug/elf"
	"encoding/json"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func writeFile(t *testing.T, path, data string, mode fs.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // umask-proof
		t.Fatal(err)
	}
}

// readZip returns name -> (mode, content).
type entry struct {
	mode fs.FileMode
	data []byte
}

func readZip(t *testing.T, path string) (map[string]entry, []string) {
	t.Helper()
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	out := map[string]entry{}
	var names []string
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		out[f.Name] = entry{mode: f.Mode(), data: data}
		names = append(names, f.Name)
	}
	return out, names
}

func TestAssembleAndZipLayout(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "host.json"), `{"version":"2.0"}`, 0o644)
	writeFile(t, filepath.Join(root, "functions", "discover", "function.json"), `{"bindings":[1]}`, 0o644)
	writeFile(t, filepath.Join(root, "functions", "discover", "discover.go"), "package discover", 0o644)
	writeFile(t, filepath.Join(root, "functions", "ingest", "function.json"), `{"bindings":[2]}`, 0o600)
	writeFile(t, filepath.Join(root, "functions", "main.go"), "package main", 0o644)

	out := filepath.Join(t.TempDir(), "dist")
	// A handler as `go build` leaves it, but without the execute bit (as
	// after a copy through a filesystem or tool that drops it).
	writeFile(t, filepath.Join(out, HandlerName), "\x7fELF fake", 0o644)

	if err := Assemble(root, out); err != nil {
		t.Fatal(err)
	}
	zipPath := filepath.Join(out, ZipName)
	if err := Zip(out, zipPath); err != nil {
		t.Fatal(err)
	}
	entries, names := readZip(t, zipPath)
	want := []string{"discover/function.json", "handler", "host.json", "ingest/function.json"}
	if !slices.Equal(names, want) {
		t.Fatalf("zip entries %v, want %v (sorted, function.json only, no sources)", names, want)
	}
	for name, wantMode := range map[string]fs.FileMode{
		"handler":                0o755,
		"host.json":              0o644,
		"discover/function.json": 0o644,
		"ingest/function.json":   0o644,
	} {
		if got := entries[name].mode; got != wantMode {
			t.Errorf("%s mode %v, want %v", name, got, wantMode)
		}
	}
	if string(entries["ingest/function.json"].data) != `{"bindings":[2]}` {
		t.Errorf("ingest/function.json content %q", entries["ingest/function.json"].data)
	}

	// Same inputs, same bytes: a rebuilt package is recognisably identical.
	first, _ := os.ReadFile(zipPath)
	if err := Zip(out, zipPath); err != nil {
		t.Fatal(err)
	}
	second, _ := os.ReadFile(zipPath)
	if !bytes.Equal(first, second) {
		t.Error("zipping the same directory twice gave different bytes")
	}
}

func TestAssembleFailsWithoutFunctions(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "host.json"), `{}`, 0o644)
	out := t.TempDir()
	writeFile(t, filepath.Join(out, HandlerName), "x", 0o644)
	if err := Assemble(root, out); err == nil {
		t.Fatal("Assemble with no functions/*/function.json: want an error")
	}
}

func repoRoot(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Clean(filepath.Join(wd, "..", ".."))
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root not found: %v", err)
	}
	return root
}

// TestBuildCrossCompiles runs the whole Build on a minimal module, so the
// build step (flags, environment, output) is checked even while the real
// ./functions is not compilable.
func TestBuildCrossCompiles(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go build")
	}
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "go.mod"), "module example.com/app\n\ngo 1.22\n", 0o644)
	writeFile(t, filepath.Join(root, "functions", "main.go"), "package main\n\nfunc main() {}\n", 0o644)
	writeFile(t, filepath.Join(root, "functions", "timer", "function.json"), `{"bindings":[]}`, 0o644)
	writeFile(t, filepath.Join(root, "host.json"), `{"version":"2.0"}`, 0o644)
	var log bytes.Buffer
	zipPath, err := Build(context.Background(), Options{Root: root, Stderr: &log})
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	if want := filepath.Join(root, "dist", ZipName); zipPath != want {
		t.Errorf("zip at %s, want %s (default Out is Root/dist)", zipPath, want)
	}
	entries, names := readZip(t, zipPath)
	if !slices.Equal(names, []string{"handler", "host.json", "timer/function.json"}) {
		t.Fatalf("zip entries %v", names)
	}
	checkHandler(t, entries["handler"])
	if fi, err := os.Stat(filepath.Join(root, "dist", HandlerName)); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("dist/handler: %v, mode %v; want 0755", err, fi.Mode())
	}
}

// checkHandler: mode 0755, a static x86-64 Linux executable.
func checkHandler(t *testing.T, h entry) {
	t.Helper()
	if h.mode != 0o755 {
		t.Errorf("handler mode %v, want 0755", h.mode)
	}
	bin, err := elf.NewFile(bytes.NewReader(h.data))
	if err != nil {
		t.Fatalf("handler is not an ELF executable: %v", err)
	}
	if bin.Machine != elf.EM_X86_64 || bin.Type != elf.ET_EXEC {
		t.Errorf("handler is %v %v, want an x86-64 executable", bin.Machine, bin.Type)
	}
	for _, p := range bin.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("handler is dynamically linked; want a CGO_ENABLED=0 static binary")
		}
	}
}

// TestBuildRealPackage builds the real handler and checks the package the
// Functions host will receive. It needs ./functions to compile.
func TestBuildRealPackage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the handler (about a minute on a cold cache)")
	}
	root := repoRoot(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var log bytes.Buffer
	zipPath, err := Build(ctx, Options{Root: root, Out: filepath.Join(t.TempDir(), "dist"), Stderr: &log})
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	entries, names := readZip(t, zipPath)

	fns, err := Functions(root)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"handler", "host.json"}
	for _, fn := range fns {
		want = append(want, fn+"/function.json")
	}
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Fatalf("zip entries %v, want %v", names, want)
	}
	for _, fn := range []string{"discover", "ingest", "audit"} {
		if !slices.Contains(names, fn+"/function.json") {
			t.Errorf("zip has no %s/function.json", fn)
		}
	}

	checkHandler(t, entries["handler"])
	checkNoTools(t, entries["handler"].data)

	hostJSON, err := os.ReadFile(filepath.Join(root, "host.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(entries["host.json"].data, hostJSON) {
		t.Error("host.json in the zip differs from the repository's")
	}
	var host struct {
		CustomHandler struct {
			Description struct {
				DefaultExecutablePath string `json:"defaultExecutablePath"`
			} `json:"description"`
		} `json:"customHandler"`
	}
	if err := json.Unmarshal(hostJSON, &host); err != nil {
		t.Fatal(err)
	}
	if got := host.CustomHandler.Description.DefaultExecutablePath; got != HandlerName {
		t.Errorf("host.json defaultExecutablePath %q, the package ships %q", got, HandlerName)
	}
	for _, fn := range fns {
		src, err := os.ReadFile(filepath.Join(root, "functions", fn, "function.json"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(entries[fn+"/function.json"].data, src) {
			t.Errorf("%s/function.json differs from the repository's", fn)
		}
	}
}

// toolPackages are the packages of the local tools, which the deployed
// binary must not carry.
var toolPackages = []string{"shared/vccsim", "shared/bench", "shared/devhost", "shared/azurite", "shared/local", "shared/azuritetest"}

// checkNoTools reads the handler's symbol table (go tool nm) and fails on
// any symbol of a tool package.
func checkNoTools(t *testing.T, handler []byte) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "handler")
	if err := os.WriteFile(path, handler, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("go", "tool", "nm", path).Output()
	if err != nil {
		t.Fatalf("go tool nm: %v", err)
	}
	if !bytes.Contains(out, []byte("shared/customhandler.")) {
		t.Fatal("go tool nm names no shared/customhandler symbol: the check reads nothing")
	}
	for _, line := range strings.Split(string(out), "\n") {
		for _, p := range toolPackages {
			if strings.Contains(line, "vcc-ingest/"+p+".") || strings.Contains(line, "vcc-ingest/"+p+"/") {
				t.Errorf("the deployed binary carries %s: %s", p, strings.TrimSpace(line))
			}
		}
	}
}
