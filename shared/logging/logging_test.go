package logging

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
)

func TestErrorsAloneGoToStderr(t *testing.T) {
	var out, errw bytes.Buffer
	log := New(&out, &errw, slog.LevelInfo).With("function", "ingest").WithGroup("g")
	log.Debug("hidden")
	log.Info("ingest done", "n", 1)
	log.Warn("retrying")
	log.Error("ingest failed", "error", "boom")

	outLines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(outLines) != 2 || !strings.Contains(outLines[0], `"msg":"ingest done"`) || !strings.Contains(outLines[1], `"level":"WARN"`) {
		t.Errorf("stdout = %q, want the info and warning lines", out.String())
	}
	errLines := strings.Split(strings.TrimSpace(errw.String()), "\n")
	if len(errLines) != 1 || !strings.Contains(errLines[0], `"msg":"ingest failed"`) {
		t.Fatalf("stderr = %q, want the error line only", errw.String())
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(errLines[0]), &rec); err != nil {
		t.Fatal(err)
	}
	if rec["function"] != "ingest" || rec["g"].(map[string]any)["error"] != "boom" {
		t.Errorf("attributes and groups lost on the error stream: %v", rec)
	}
}
