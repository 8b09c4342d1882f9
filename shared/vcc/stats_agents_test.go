package vcc

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
)

// Agents come from the channels' agent parties; any other shape of
// "channels" leaves them empty without making the record unreadable.
func TestStatsAgents(t *testing.T) {
	tests := []struct {
		name, channels, want string
	}{
		{"agents in order, once", `[{"party":{"id":"+4420","role":"Customer"}},{"party":{"id":"1342","role":"Agent"}},{"party":{"id":7001,"role":"agent"}},{"party":{"id":"1342","role":"Agent"}}]`, "1342 7001"},
		{"no channels", `null`, ""},
		{"not a list", `{"party":{"id":"1342","role":"Agent"}}`, ""},
		{"odd party", `[{"party":"x"},{"party":{"id":"a b","role":"Agent"}}]`, ""},
		{"id with a space", `[{"party":{"id":"a b","role":"Agent"}}]`, "a_b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := wireStats{GUID: "0b0b0b0b-1c1c-4d4d-8e8e-9f9f9f9f9f9f", Start: "2026-11-02T10:00:00.000Z", Channels: json.RawMessage(tt.channels)}
			s, err := (&Client{count: newCounters()}).stats(context.Background(), w)
			if err != nil {
				t.Fatal(err)
			}
			if s.Agents != tt.want || strings.Join(s.AgentIDs(), " ") != tt.want {
				t.Errorf("agents %q, want %q", s.Agents, tt.want)
			}
		})
	}
}
