//go:build !product

package main

import (
	"github.com/vcc-ingest/vcc-ingest/shared/bench"
	"github.com/vcc-ingest/vcc-ingest/shared/local"
	"github.com/vcc-ingest/vcc-ingest/shared/ops"
)

// The local tools: in bin/handler (make build), not in the deployed
// package (make package builds with -tags product).
func init() {
	commands = append(commands,
		command{"local", "...", "run the whole pipeline on this machine", local.Main},
		command{"sandbox", "...", "run the VCC sandbox, a stand-in for VCC", ops.Sandbox},
		command{"bench", "...", "measure the product against the VCC sandbox and Azurite (make bench)", bench.Main},
	)
}
