package report

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vcc-ingest/vcc-ingest/shared/testenv"
	"github.com/vcc-ingest/vcc-ingest/shared/vccsim"
)

// renderInBrowser loads file in headless Chromium and returns the DOM after
// the page's scripts ran, and the browser's log (console messages included).
// Without Chromium it skips, or fails under `make test` and CI (testenv):
// the page is the product's output.
func renderInBrowser(t *testing.T, file string) (dom, log string) {
	t.Helper()
	chromium := testenv.Require(t, testenv.Chromium)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromium,
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir="+t.TempDir(), "--enable-logging=stderr", "--v=0",
		"--virtual-time-budget=5000", "--dump-dom", "file://"+file)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, stderr.String())
	}
	return stdout.String(), stderr.String()
}

var attr = func(name string) *regexp.Regexp { return regexp.MustCompile(name + `="([^"]*)"`) }

// The page renders in a real browser, the chart shows the report's numbers,
// and nothing went wrong in its script.
func TestHTMLRendersInBrowser(t *testing.T) {
	w := newWorld(t, vccsim.Permissions{})
	r := w.build(t)
	file := filepath.Join(t.TempDir(), "coverage.html")
	var page bytes.Buffer
	if err := WriteHTML(&page, r); err != nil {
		t.Fatal(err)
	}
	if regexp.MustCompile(`(?i)(src|href)="(https?:)?//`).Match(page.Bytes()) {
		t.Fatal("page refers to external assets")
	}
	if err := os.WriteFile(file, page.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	dom, log := renderInBrowser(t, file)

	ready := regexp.MustCompile(`<p id="chart-ready"[^>]*>`).FindString(dom)
	if ready == "" {
		t.Fatalf("chart not drawn (no #chart-ready)\nDOM:\n%.3000s\nlog:\n%s", dom, log)
	}
	if m := attr("data-days").FindStringSubmatch(ready); m == nil || m[1] != "2" {
		t.Errorf("chart-ready %s", ready)
	}
	if m := attr("data-bars").FindStringSubmatch(ready); m == nil || m[1] != strconv.Itoa(4*len(r.Days)) {
		t.Errorf("chart-ready %s, want %d bars", ready, 4*len(r.Days))
	}
	errs := regexp.MustCompile(`(?s)<pre id="js-errors"([^>]*)>(.*?)</pre>`).FindStringSubmatch(dom)
	if errs == nil || !strings.Contains(errs[1], "hidden") || errs[2] != "" {
		t.Errorf("script errors in the page: %q", errs)
	}
	if regexp.MustCompile(`<html[^>]*data-early-error`).MatchString(dom) {
		t.Error("script error before the page was parsed")
	}
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, ":CONSOLE") || strings.Contains(line, "Uncaught") {
			t.Errorf("browser console: %s", line)
		}
	}

	// Each day's bars carry that day's numbers.
	rect := regexp.MustCompile(`<rect [^>]*data-day="([^"]+)" data-kind="([^"]+)" data-value="(\d+)"`)
	got := map[string]int{}
	for _, m := range rect.FindAllStringSubmatch(dom, -1) {
		got[m[1]+" "+m[2]] = atoi(m[3])
	}
	for _, day := range r.Days {
		want := map[string]int{}
		for _, x := range r.Rows {
			if x.Day == day {
				want["stats"] += x.Stats
				want["stored"] += x.Stored
				want["skipped"] += x.Skipped
				want["missing"] += x.Missing
			}
		}
		for kind, n := range want {
			if v, ok := got[day+" "+kind]; !ok || v != n {
				t.Errorf("%s %s bar = %d (present %v), want %d", day, kind, v, ok, n)
			}
		}
	}
	if r.Total.Missing == 0 || !strings.Contains(dom, `class="gap"`) {
		t.Error("the gap rows are not marked")
	}
}

// The checks above can fail: a page whose script throws and logs an error
// shows both in #js-errors and in the browser's console log.
func TestBrowserCatchesScriptErrors(t *testing.T) {
	var page bytes.Buffer
	if err := WriteHTML(&page, Report{Days: []string{"2026-11-02"}}); err != nil {
		t.Fatal(err)
	}
	broken := strings.Replace(page.String(), "</body>", `<script>console.error("drawn wrong"); notAFunction();</script></body>`, 1)
	file := filepath.Join(t.TempDir(), "broken.html")
	if err := os.WriteFile(file, []byte(broken), 0o644); err != nil {
		t.Fatal(err)
	}
	dom, log := renderInBrowser(t, file)
	errs := regexp.MustCompile(`(?s)<pre id="js-errors"([^>]*)>(.*?)</pre>`).FindStringSubmatch(dom)
	if errs == nil || strings.Contains(errs[1], "hidden") || !strings.Contains(errs[2], "drawn wrong") || !strings.Contains(errs[2], "notAFunction") {
		t.Errorf("errors not caught in the page: %q", errs)
	}
	if !strings.Contains(log, "CONSOLE") {
		t.Errorf("console messages not in the browser log:\n%s", log)
	}
}

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }
