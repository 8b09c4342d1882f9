package report

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vcc-ingest/vcc-ingest/shared/secrets"
	"github.com/vcc-ingest/vcc-ingest/shared/store"
	"github.com/vcc-ingest/vcc-ingest/shared/vcc"
	"github.com/vcc-ingest/vcc-ingest/shared/vccsim"
)

// linesReport reconciles one sandbox day of 200 interactions against an
// empty store: line gaps depend only on what VCC lists.
func linesReport(t *testing.T, seed int64, deny vccsim.Permissions) (Report, *vccsim.Sim) {
	t.Helper()
	sim := vccsim.New(vccsim.Options{Seed: seed, Start: day0, Days: 1, InteractionsPerDay: 200, Deny: deny})
	if err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	client, err := vcc.New(vcc.Config{TokenURL: sim.TokenURL(), APIURL: sim.APIURL(), ClientID: sim.ClientID(),
		Secret: secrets.Static(secrets.New(sim.ClientSecret())), RatePerMinute: 600000})
	if err != nil {
		t.Fatal(err)
	}
	r, err := Build(context.Background(), Sources{VCC: client, Sink: store.NewDir(t.TempDir()), State: store.NewDirState(t.TempDir()), IsAudio: isAudio},
		day0, day0.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return r, sim
}

// Line permissions only: every line the owner is not permitted is a gap,
// no permitted line is; on clean data no line is a gap, over many seeds.
func TestReportLineGaps(t *testing.T) {
	falseAlarms := 0
	const seeds = 10
	for seed := int64(1); seed <= seeds; seed++ {
		clean, _ := linesReport(t, seed, vccsim.Permissions{})
		if clean.LineGaps != 0 {
			falseAlarms++
			t.Errorf("seed %d, clean data: %d line gaps", seed, clean.LineGaps)
		}
		r, sim := linesReport(t, seed, vccsim.Permissions{Lines: true})
		gap := map[string]bool{}
		for _, x := range r.Lines {
			if x.Gap {
				gap[x.Line] = true
				if len(x.Notes) == 0 || !strings.Contains(x.Notes[0], "Access groups of users' content") || !strings.Contains(x.Notes[0], "recording is not enabled") {
					t.Errorf("seed %d: line %s notes %q", seed, x.Line, x.Notes)
				}
			}
		}
		for _, l := range sim.Lines() {
			if gap[l.Address] == l.Permitted {
				t.Errorf("seed %d: line %s permitted %v, gap %v", seed, l.Address, l.Permitted, gap[l.Address])
			}
		}
		if r.Gaps < r.LineGaps || r.LineGaps < 4 {
			t.Errorf("seed %d: gaps %d, line gaps %d", seed, r.Gaps, r.LineGaps)
		}
	}
	t.Logf("%d seeds: %d line false alarms on clean data", seeds, falseAlarms)
}

// The table and the page show the lines; the page's line view draws the
// chart from that line's rows.
func TestReportLinesShown(t *testing.T) {
	r, sim := linesReport(t, 2, vccsim.Permissions{Lines: true})
	var table bytes.Buffer
	if err := WriteTable(&table, r); err != nil {
		t.Fatal(err)
	}
	hidden := sim.Lines()[5].Address
	if !regexp.MustCompile(regexp.QuoteMeta(hidden)+`.*GAP`).MatchString(table.String()) || !strings.Contains(table.String(), "line "+hidden) {
		t.Errorf("table:\n%s", table.String())
	}
	var page bytes.Buffer
	if err := WriteHTML(&page, r); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "coverage.html")
	if err := os.WriteFile(file, page.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	permitted := sim.Lines()[0].Address
	dom, log := renderInBrowser(t, file+"#line="+strings.ReplaceAll(permitted, "+", "%2B"))
	ready := regexp.MustCompile(`<p id="chart-ready"[^>]*>`).FindString(dom)
	if m := attr("data-line").FindStringSubmatch(ready); m == nil || m[1] != permitted {
		t.Fatalf("line view not drawn: %s\n%s", ready, log)
	}
	want := 0
	for _, x := range r.Lines {
		if x.Line == permitted {
			want += x.Stats
		}
	}
	if !strings.Contains(dom, `data-kind="stats" data-value="`+strconv.Itoa(want)+`"`) {
		t.Errorf("line %s: stats bar is not %d", permitted, want)
	}
	if !strings.Contains(dom, `id="lines"`) || !strings.Contains(dom, `data-line="`+hidden+`" class="gap"`) {
		t.Error("the per-line table does not mark the hidden line")
	}
	if errs := regexp.MustCompile(`(?s)<pre id="js-errors"([^>]*)>(.*?)</pre>`).FindStringSubmatch(dom); errs == nil || errs[2] != "" {
		t.Errorf("script errors: %q", errs)
	}
}
