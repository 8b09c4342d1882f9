package doctor

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteJSON writes r for machines.
func WriteJSON(w io.Writer, r Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteTable writes r for people: one line per check, with the evidence and
// the fix under each problem, then the sample's counts.
func WriteTable(w io.Writer, r Report) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CHECK\tSTATUS\tDETAIL")
	for _, c := range r.Checks {
		status := string(c.Status)
		if c.Status != OK {
			status = strings.ToUpper(status)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", c.Name, status, c.Detail)
		if c.Status == OK && len(c.Evidence) == 0 {
			continue
		}
		for _, e := range c.Evidence {
			fmt.Fprintf(tw, "\t\t  · %s\n", e)
		}
		if c.Fix != "" {
			fmt.Fprintf(tw, "\t\t  fix: %s\n", c.Fix)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if s := r.Sample; s != nil {
		fmt.Fprintf(w, "\nSample %s → %s\n", s.From.UTC().Format(time.RFC3339), s.To.UTC().Format(time.RFC3339))
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "direction\tStats\tcontent listed\tnot listed\t")
		for _, d := range s.ByDirection {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t\n", d.Direction, d.Stats, d.Content, d.Stats-d.Content)
		}
		fmt.Fprintf(tw, "all\t%d\t%d\t%d\t\n", s.Stats, s.Content-s.ContentOnly, s.Stats-(s.Content-s.ContentOnly))
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintf(w, "agents with content listed: %d; agents with none: %d\n", s.SeenAgents, len(s.HiddenAgents))
		fmt.Fprintf(w, "lines with content listed: %d; lines with none: %d\n", s.SeenLines, len(s.HiddenLines))
		if len(s.HiddenLines) > 0 {
			tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "line\tplan\tStats\tcontent listed\t")
			for _, l := range s.ByLine {
				if l.Stats >= 5 || l.Content > 0 {
					fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t\n", l.Line, l.Plan, l.Stats, l.Content)
				}
			}
			if err := tw.Flush(); err != nil {
				return err
			}
		}
	}
	verdict := map[int]string{0: "All well.", 1: "Problems found (exit status 1).", 2: "Some checks could not be made (exit status 2)."}[r.Exit]
	if skipped := r.UncheckedOptional(); r.Exit == 0 && len(skipped) > 0 {
		verdict = "All well. Optional, not checked: " + strings.Join(skipped, ", ") + " (--strict counts it as a failure)."
	}
	_, err := fmt.Fprintf(w, "\n%s\n", verdict)
	return err
}
