//go:build !product

package ops

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/vcc-ingest/vcc-ingest/shared/vccsim"
)

// A healthy account without VCC_OWNER_USER_ID: the owner check is optional,
// so the command exits 0 and says it is unchecked; --strict exits 2.
func TestDoctorWithoutOwnerID(t *testing.T) {
	day := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	sim := vccsim.New(vccsim.Options{Seed: 3, Start: day, Days: 2, InteractionsPerDay: 40})
	if err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	env := map[string]string{
		"VCC_TOKEN_URL": sim.TokenURL(), "VCC_API_URL": sim.APIURL(),
		"VCC_CLIENT_ID": sim.ClientID(), "VCC_CLIENT_SECRET": sim.ClientSecret(),
	}
	getenv := func(k string) string { return env[k] }
	args := []string{"--from", "2026-11-02", "--to", "2026-11-04"}
	for _, tt := range []struct {
		flags []string
		exit  int
		want  string
	}{
		{nil, 0, "All well. Optional, not checked: owner permissions"},
		{[]string{"--strict"}, 2, "Some checks could not be made (exit status 2)."},
	} {
		var stdout, stderr bytes.Buffer
		status := Doctor(context.Background(), append(append([]string{}, tt.flags...), args...), &stdout, &stderr, getenv)
		if status != tt.exit || !strings.Contains(stdout.String(), tt.want) || !strings.Contains(stdout.String(), "owner permissions") || !strings.Contains(stdout.String(), "UNCHECKED") {
			t.Errorf("%v: status %d, want %d and %q\n%s\n%s", tt.flags, status, tt.exit, tt.want, stdout.String(), stderr.String())
		}
	}
}
