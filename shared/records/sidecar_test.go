package records

import (
	"bytes"
	"encoding/json"
	"os"
	"reflect"
	"testing"
	"time"
)

// goldenSidecar is interaction.json as downstream systems read it: every
// field populated, nested ones included. Its field names and their order are
// the contract; a renamed JSON tag must show up here, not downstream.
const goldenSidecar = "testdata/interaction.json"

// fullSidecar populates every field of Sidecar, as ingest writes it.
func fullSidecar() Sidecar {
	return Sidecar{
		InteractionID:   "3f2a9c1e-7b4d-4e8a-9c0f-1a2b3c4d5e6f",
		Start:           time.Date(2026, 11, 2, 9, 15, 30, 0, time.UTC),
		DurationMs:      183000,
		Medium:          "Phone",
		Direction:       "inbound",
		DirectionSource: "stats",
		ConnectFrom:     "+441632960001",
		ConnectTo:       "+441632960999",
		Agents: []SidecarAgent{{
			ID:        "5b2c7d1e-0a1b-4c2d-8e3f-405162738495",
			Name:      "Ada Lovelace",
			Email:     "ada@example.com",
			AgentCode: "A100",
			Resolved:  true,
		}},
		Recordings: []SidecarRecord{{
			ContentKey:  "callRecording-1",
			Type:        "callRecording",
			ContentType: "audio/wav",
			Bytes:       2928044,
			SHA256:      "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
			Blob:        "2026/11/02/3f2a9c1e-7b4d-4e8a-9c0f-1a2b3c4d5e6f/callRecording-1.wav",
		}},
		IngestedAt: time.Date(2026, 11, 2, 10, 1, 2, 500_000_000, time.UTC),
		StoredVia:  "event",
		Tenant:     "acme",
	}
}

// A fully populated Sidecar, marshalled as ingest marshals it, is the golden
// file byte for byte: renaming, dropping or reordering a field fails here.
func TestSidecarMatchesGolden(t *testing.T) {
	want, err := os.ReadFile(goldenSidecar)
	if err != nil {
		t.Fatal(err)
	}
	got, err := json.MarshalIndent(fullSidecar(), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, bytes.TrimRight(want, "\n")) {
		t.Errorf("interaction.json changed shape; downstream systems read %s.\ngot:\n%s\nwant:\n%s", goldenSidecar, got, want)
	}
}

// fullSidecar leaves no field at its zero value, nested records included, so
// a field added to Sidecar later cannot hide from the golden file behind
// omitempty: it fails here until fullSidecar and the golden file carry it.
func TestFullSidecarSetsEveryField(t *testing.T) {
	s := fullSidecar()
	checkAllSet(t, reflect.ValueOf(s))
	for _, a := range s.Agents {
		checkAllSet(t, reflect.ValueOf(a))
	}
	for _, r := range s.Recordings {
		checkAllSet(t, reflect.ValueOf(r))
	}
}

func checkAllSet(t *testing.T, v reflect.Value) {
	t.Helper()
	for i := 0; i < v.NumField(); i++ {
		if v.Field(i).IsZero() {
			t.Errorf("fullSidecar leaves %s.%s unset: set it, and add it to %s", v.Type().Name(), v.Type().Field(i).Name, goldenSidecar)
		}
	}
}
