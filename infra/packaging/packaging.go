// Package packaging builds the Function App's deployment package: the Go
// custom handler compiled for the Functions Linux workers, host.json, and
// one folder per function with its function.json, zipped so that the
// handler keeps its execute bit (a zip made on Windows, or by tools that
// ignore Unix modes, yields a handler the host cannot start).
package packaging

import (
	"archive/zip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// HandlerName is the executable host.json's
// customHandler.description.defaultExecutablePath points at.
const HandlerName = "handler"

// ZipName is the package file inside the output directory.
const ZipName = "app.zip"

// zipTime is the modification time of every entry, so the same inputs give
// the same zip bytes.
var zipTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// Options says where the sources are and where the package goes.
type Options struct {
	Root   string    // module root: holds host.json and functions/
	Out    string    // output directory; emptied first (default Root/dist)
	Go     string    // go command (default "go")
	Stderr io.Writer // build output (default os.Stderr)
}

// Build compiles the handler (CGO_ENABLED=0 GOOS=linux GOARCH=amd64), lays
// out the app in opts.Out and writes opts.Out/app.zip. It returns the zip's
// path.
// ProductTag is the build tag of the deployed binary: what runs in Azure
// and the operator commands, without the local tools.
const ProductTag = "product"

func Build(ctx context.Context, opts Options) (string, error) {
	if opts.Root == "" {
		return "", errors.New("packaging: Root is required")
	}
	if opts.Out == "" {
		opts.Out = filepath.Join(opts.Root, "dist")
	}
	if opts.Go == "" {
		opts.Go = "go"
	}
	if opts.Stderr == nil {
		opts.Stderr = os.Stderr
	}
	if err := os.RemoveAll(opts.Out); err != nil {
		return "", fmt.Errorf("packaging: clean %s: %w", opts.Out, err)
	}
	if err := os.MkdirAll(opts.Out, 0o755); err != nil {
		return "", fmt.Errorf("packaging: %w", err)
	}
	handler, err := filepath.Abs(filepath.Join(opts.Out, HandlerName))
	if err != nil {
		return "", fmt.Errorf("packaging: %w", err)
	}
	// -tags product leaves out the local tools (functions/tools.go): the
	// sandbox, the bench, the host stand-in and the Azurite launcher.
	cmd := exec.CommandContext(ctx, opts.Go, "build", "-trimpath", "-tags", ProductTag, "-o", handler, "./functions")
	cmd.Dir = opts.Root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	cmd.Stdout = opts.Stderr
	cmd.Stderr = opts.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("packaging: go build -tags %s ./functions for linux/amd64: %w", ProductTag, err)
	}
	if err := Assemble(opts.Root, opts.Out); err != nil {
		return "", err
	}
	zipPath := filepath.Join(opts.Out, ZipName)
	if err := Zip(opts.Out, zipPath); err != nil {
		return "", err
	}
	return zipPath, nil
}

// Assemble copies host.json and every functions/<name>/function.json from
// root into out, and makes out/handler (already built) executable.
func Assemble(root, out string) error {
	if err := copyFile(filepath.Join(root, "host.json"), filepath.Join(out, "host.json"), 0o644); err != nil {
		return err
	}
	fns, err := Functions(root)
	if err != nil {
		return err
	}
	for _, fn := range fns {
		src := filepath.Join(root, "functions", fn, "function.json")
		if err := os.MkdirAll(filepath.Join(out, fn), 0o755); err != nil {
			return fmt.Errorf("packaging: %w", err)
		}
		if err := copyFile(src, filepath.Join(out, fn, "function.json"), 0o644); err != nil {
			return err
		}
	}
	if err := os.Chmod(filepath.Join(out, HandlerName), 0o755); err != nil {
		return fmt.Errorf("packaging: handler: %w", err)
	}
	return nil
}

// Functions lists the function folders: functions/<name>/function.json.
func Functions(root string) ([]string, error) {
	matches, err := filepath.Glob(filepath.Join(root, "functions", "*", "function.json"))
	if err != nil {
		return nil, fmt.Errorf("packaging: %w", err)
	}
	if len(matches) == 0 {
		return nil, fmt.Errorf("packaging: no functions/*/function.json under %s", root)
	}
	var out []string
	for _, m := range matches {
		out = append(out, filepath.Base(filepath.Dir(m)))
	}
	sort.Strings(out)
	return out, nil
}

func copyFile(src, dst string, mode fs.FileMode) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return fmt.Errorf("packaging: %w", err)
	}
	if err := os.WriteFile(dst, data, mode); err != nil {
		return fmt.Errorf("packaging: %w", err)
	}
	return nil
}

// Zip writes every regular file under dir (except the zip itself) into
// zipPath with forward-slash names, sorted, fixed timestamps and each file's
// Unix mode, so the handler arrives executable.
func Zip(dir, zipPath string) (err error) {
	absZip, err := filepath.Abs(zipPath)
	if err != nil {
		return fmt.Errorf("packaging: %w", err)
	}
	var files []string
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if abs, _ := filepath.Abs(p); abs == absZip || !d.Type().IsRegular() {
			return nil
		}
		files = append(files, p)
		return nil
	})
	if err != nil {
		return fmt.Errorf("packaging: %w", err)
	}
	sort.Strings(files)

	tmp := zipPath + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("packaging: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	zw := zip.NewWriter(f)
	for _, p := range files {
		if err := addFile(zw, dir, p); err != nil {
			return err
		}
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("packaging: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("packaging: %w", err)
	}
	if err := os.Rename(tmp, zipPath); err != nil {
		return fmt.Errorf("packaging: %w", err)
	}
	return nil
}

func addFile(zw *zip.Writer, dir, p string) error {
	info, err := os.Stat(p)
	if err != nil {
		return fmt.Errorf("packaging: %w", err)
	}
	rel, err := filepath.Rel(dir, p)
	if err != nil {
		return fmt.Errorf("packaging: %w", err)
	}
	h := &zip.FileHeader{
		Name:     filepath.ToSlash(rel),
		Method:   zip.Deflate,
		Modified: zipTime,
	}
	h.SetMode(info.Mode().Perm())
	if strings.HasPrefix(h.Name, "../") {
		return fmt.Errorf("packaging: %s is outside %s", p, dir)
	}
	w, err := zw.CreateHeader(h)
	if err != nil {
		return fmt.Errorf("packaging: %w", err)
	}
	src, err := os.Open(p)
	if err != nil {
		return fmt.Errorf("packaging: %w", err)
	}
	defer src.Close()
	if _, err := io.Copy(w, src); err != nil {
		return fmt.Errorf("packaging: %s: %w", rel, err)
	}
	return nil
}
