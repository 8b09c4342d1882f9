package ingest

import (
	"strings"
	"testing"
	"time"

	"github.com/vcc-ingest/vcc-ingest/shared/records"
	"github.com/vcc-ingest/vcc-ingest/shared/vcc"
)

func TestTagsCarryNoPersonalDataAndOnlyAllowedCharacters(t *testing.T) {
	in := vcc.Interaction{GUID: "2480fc2c-7a3b-4b5e-9c61-0d2f4e8a1b7c", Start: time.Date(2026, 11, 2, 23, 59, 0, 0, time.UTC),
		ConnectFrom: "+441234567890", ConnectTo: "+15551234567"}
	agents := []records.SidecarAgent{
		{ID: "1342", Name: "Ada Lovelace", Email: "ada@example.com", AgentCode: "A#17"},
		{ID: "7", Name: "Bob", Email: "bob@example.com", AgentCode: "B-2"},
	}
	tags := blobTags(in, vcc.DirectionInbound, agents)
	if len(tags) > 10 {
		t.Fatalf("%d tags, Blob Storage allows 10", len(tags))
	}
	want := map[string]string{"interactionId": in.GUID, "direction": "inbound", "agentCode": "A_17 B-2", "date": "2026-11-02"}
	for k, v := range want {
		if tags[k] != v {
			t.Errorf("tag %s = %q, want %q", k, tags[k], v)
		}
	}
	for k, v := range tags {
		for _, pii := range []string{"@", "+44", "+1555", "Ada", "Bob"} {
			if strings.Contains(v, pii) {
				t.Errorf("tag %s = %q carries personal data", k, v)
			}
		}
	}
	if got := tagValue(strings.Repeat("x", 300)); len(got) != 256 {
		t.Errorf("long tag value kept %d characters", len(got))
	}
}

func TestMetadataValuesAreHeaderSafe(t *testing.T) {
	cases := map[string]string{"A-17": "A-17", "Zoë-12": "Zo%C3%AB-12", "50%": "50%25", "a\nb": "a%0Ab"}
	for in, want := range cases {
		if got := metadataValue(in); got != want {
			t.Errorf("metadataValue(%q) = %q, want %q", in, got, want)
		}
	}
}
