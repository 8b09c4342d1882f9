//go:build product

package ops

import (
	"context"
	"errors"
	"flag"
	"io"
)

// The deployed build carries no VCC sandbox and no Azurite launcher: the
// operator commands there work on the deployment's own resources only.

// SandboxFlags registers no flag in this build; days is still the default
// --day's distance from today.
func (f *Flags) SandboxFlags(_ *flag.FlagSet, days int) { f.Days = days }

// CheckSandbox has nothing to check in this build.
func (f *Flags) CheckSandbox() error { return nil }

type sandboxes struct{}

// SandboxBusiestMinute: this build has no sandbox.
func (o *Env) SandboxBusiestMinute() (int, bool) { return 0, false }

var errNoSandbox = errors.New("this build has no VCC sandbox or Azurite: use bin/handler (make build)")

func (o *Env) startSandbox(f Flags, _ bool, _ io.Writer) error {
	if f.Sandbox || f.SandboxTenants > 0 {
		return errNoSandbox
	}
	return nil
}

func (o *Env) launchAzurite(_ context.Context, _ Flags, dir string, _ io.Writer) error {
	if dir != "" {
		return errNoSandbox
	}
	return nil
}
