package ops

import (
	"bytes"
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"
)

// Where a command books its VCC calls: a local run's own state under
// --data; with no state at all, in this process, saying so unless the
// account is the sandbox the command started (nothing else calls it).
func TestOpenBooksVCCCallsWhereTheirStateIs(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	f := Flags{Sandbox: true, Days: 1, PerDay: 5, Data: data}
	o, err := Open(ctx, f, Need{VCC: true, State: true}, io.Discard, io.Discard, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	if o.VCCConfig.Pacer == nil {
		t.Fatal("with a local state: paced in this process only")
	}
	if _, err := o.VCCConfig.Pacer.Reserve(ctx); err != nil {
		t.Fatal(err)
	}
	if _, _, found, err := o.State.Load(ctx, "budget/default.json"); err != nil || !found {
		t.Errorf("budget/default.json in %s: found %v, %v", filepath.Join(data, "state"), found, err)
	}

	var logw bytes.Buffer
	s, err := Open(ctx, f, Need{VCC: true}, io.Discard, &logw, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.VCCConfig.Pacer != nil || logw.Len() != 0 {
		t.Errorf("the sandbox without a state: pacer %v, logged %q; want in-process, silently", s.VCCConfig.Pacer, logw.String())
	}

	env := map[string]string{"VCC_TOKEN_URL": s.Sim.TokenURL(), "VCC_API_URL": s.Sim.APIURL(), "VCC_CLIENT_ID": "c", "VCC_CLIENT_SECRET": "x"}
	r, err := Open(ctx, Flags{Data: data}, Need{VCC: true}, io.Discard, &logw, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.VCCConfig.Pacer != nil || !strings.Contains(logw.String(), "VCC budget paced in this process only") {
		t.Errorf("an account without a state container: pacer %v, logged %q; want in-process, saying so", r.VCCConfig.Pacer, logw.String())
	}
}
