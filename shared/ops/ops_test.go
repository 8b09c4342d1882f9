//go:build !product

package ops

import (
	"flag"
	"io"
	"strings"
	"testing"
	"time"
)

// Every command that takes --sandbox takes its settings under the same
// names and reads them the same way.
func TestSandboxFlags(t *testing.T) {
	var f Flags
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f.SandboxFlags(fs, 1)
	if err := fs.Parse([]string{"--sandbox", "--sandbox-deny", "inbound, groups,lines", "--sandbox-grant", "stats users:read", "--sandbox-faults", "5xx=0.5"}); err != nil {
		t.Fatal(err)
	}
	sim, err := f.simOptions()
	if err != nil {
		t.Fatal(err)
	}
	if !sim.Deny.Inbound || sim.Deny.Outbound || !sim.Deny.Groups || !sim.Deny.Lines || len(sim.GrantedScopes) != 2 || sim.Faults.Status5xx != 0.5 {
		t.Errorf("sim options %+v", sim)
	}
	for _, bad := range []Flags{{Deny: "sideways"}, {Faults: "5xx=2"}, {Faults: "boom=0.1"}} {
		if _, err := bad.simOptions(); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
}

func TestWindow(t *testing.T) {
	day := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		f        Flags
		from, to time.Time
		err      string
	}{
		{f: Flags{From: "2026-11-02", To: "2026-11-03T00:00:00Z"}, from: day, to: day.AddDate(0, 0, 1)},
		{f: Flags{Sandbox: true, Day: "2026-11-02", Days: 2}, from: day, to: day.AddDate(0, 0, 2)},
		{f: Flags{}, err: "required"},
		{f: Flags{From: "2026-11-02"}, err: "go together"},
		{f: Flags{From: "2026-11-03", To: "2026-11-02"}, err: "after"},
		{f: Flags{From: "yesterday", To: "2026-11-02"}, err: "neither"},
	}
	for _, tt := range tests {
		from, to, err := tt.f.Window()
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%+v: error %v, want %q", tt.f, err, tt.err)
			}
			continue
		}
		if err != nil || !from.Equal(tt.from) || !to.Equal(tt.to) {
			t.Errorf("%+v: %v → %v, %v", tt.f, from, to, err)
		}
	}
}
