// Command package builds the Function App's deployment package (dist/ and
// dist/app.zip) from the repository root:
//
//	go run ./infra/cmd/package [-root .] [-out dist]
//
// It needs only the Go toolchain: the handler is cross-compiled for
// linux/amd64 without cgo, and the zip keeps the handler's execute bit.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"

	"github.com/vcc-ingest/vcc-ingest/infra/packaging"
)

func main() {
	root := flag.String("root", ".", "repository root (holds host.json and functions/)")
	out := flag.String("out", "dist", "output directory (emptied first)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	zipPath, err := packaging.Build(ctx, packaging.Options{Root: *root, Out: *out})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(zipPath)
}
