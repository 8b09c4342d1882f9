package store

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestNames(t *testing.T) {
	// 23:30 on 1 Nov in New York is 2 Nov in UTC: the UTC date decides.
	ny := time.FixedZone("EST", -5*3600)
	start := time.Date(2026, 11, 1, 23, 30, 0, 0, ny)
	guid := "2480fc2c-7c1d-4b6e-9d8a-0123456789ab"
	tests := []struct{ got, want string }{
		{RecordingName(start, guid, "abc-1", "wav"), "2026/11/02/" + guid + "/abc-1.wav"},
		{RecordingName(start.UTC(), guid, "k", ""), "2026/11/02/" + guid + "/k"},
		{SidecarName(start, guid), "2026/11/02/" + guid + "/interaction.json"},
		// A content key that would take the sidecar's name, in any case.
		{RecordingName(start, guid, "interaction", "json"), "2026/11/02/" + guid + "/interaction.content.json"},
		{RecordingName(start, guid, "INTERACTION", "json"), "2026/11/02/" + guid + "/INTERACTION.content.json"},
		{RecordingName(start, guid, "Interaction.JSON", ""), "2026/11/02/" + guid + "/Interaction.JSON.content"},
		{SidecarName(time.Date(2027, 1, 5, 0, 0, 0, 0, time.UTC), guid), "2027/01/05/" + guid + "/interaction.json"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
		if err := ValidateName(tt.got); err != nil {
			t.Errorf("ValidateName(%q): %v", tt.got, err)
		}
	}
}

func TestExtensionFor(t *testing.T) {
	tests := map[string]string{
		"audio/wav":                "wav",
		"audio/x-wav":              "wav",
		"Audio/WAV; codecs=1":      "wav",
		"audio/mpeg":               "mp3",
		"audio/ogg":                "ogg",
		"audio/webm":               "webm",
		"video/webm":               "webm",
		"application/json":         "json",
		"application/octet-stream": "bin",
		"":                         "bin",
		"not a type;;":             "bin",
		"text/plain":               "bin",
	}
	for ct, want := range tests {
		if got := ExtensionFor(ct); got != want {
			t.Errorf("ExtensionFor(%q) = %q, want %q", ct, got, want)
		}
	}
}

func TestValidateName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"2026/11/02/guid/key.wav", true},
		{"checkpoint.json", true},
		{"runs/2026-11-02T10:00:00Z.json", true},
		{"a/.hidden.wav", true},
		{"", false},
		{"/abs/path", false},
		{"a/", false},
		{"a//b", false},
		{"../etc/passwd", false},
		{"a/../../b", false},
		{"a/./b", false},
		{"..", false},
		{"a\\..\\b", false},
		{"a/b\x00c", false},
		{"a/b\nc", false},
		{"a/trailing.", false},
		{"a/" + tempPrefix + "x.tmp", false},
		{strings.Repeat("a", 256), false},
		{strings.Repeat("a/", 600) + "a", false},
		{"bad\xffutf8", false},
	}
	for _, tt := range tests {
		err := ValidateName(tt.name)
		if (err == nil) != tt.ok {
			t.Errorf("ValidateName(%q) = %v, want ok=%v", tt.name, err, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("ValidateName(%q) error %v is not ErrInvalid", tt.name, err)
		}
	}
}

func TestRecordingNeverTakesTheSidecarName(t *testing.T) {
	start := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)
	guid := "2480fc2c-7a3b-4b5e-9c61-0d2f4e8a1b7c"
	if got := RecordingName(start, guid, "interaction", "json"); got == SidecarName(start, guid) {
		t.Fatalf("recording named %s, the sidecar's name", got)
	}
}
