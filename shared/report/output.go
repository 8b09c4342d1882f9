package report

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

// WriteTable writes one line per day and direction, gaps marked, then the
// notes that explain them.
func WriteTable(w io.Writer, r Report) error {
	fmt.Fprintf(w, "Coverage %s → %s (UTC days)\n\n", r.From.Format(time.DateOnly), r.To.Add(-time.Nanosecond).Format(time.DateOnly))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	dead := "dead"
	if !r.DeadLetters {
		dead = "dead(?)"
	}
	fmt.Fprintf(tw, "day\tdirection\tStats\tcontent\taudio\tstored\tskipped\tfailing\t%s\tmissing\t\t\n", dead)
	line := func(x Row) {
		mark := ""
		if x.Gap {
			mark = "GAP"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t\n",
			x.Day, x.Direction, x.Stats, x.Content, x.Audio, x.Stored, x.Skipped, x.Failed, x.DeadLettered, x.Missing, mark)
	}
	for _, x := range r.Rows {
		line(x)
	}
	line(r.Total)
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(r.Lines) > 0 {
		fmt.Fprintf(w, "\nPer line (the address: connectTo inbound, connectFrom otherwise; lines with %d or more interactions, or a gap)\n\n", minSilent)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintf(tw, "day\tline\tplan\tdirection\tStats\tcontent\taudio\tstored\tmissing\t\t\n")
		for _, x := range r.Lines {
			if x.Stats < minSilent && !x.Gap {
				continue
			}
			mark := ""
			if x.Gap {
				mark = "GAP"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%s\t\n", x.Day, x.Line, x.Plan, x.Direction, x.Stats, x.Content, x.Audio, x.Stored, x.Missing, mark)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	var notes []string
	for _, x := range r.Rows {
		for _, n := range x.Notes {
			notes = append(notes, fmt.Sprintf("  %s %-8s %s", x.Day, x.Direction, n))
		}
	}
	for _, x := range r.Lines {
		for _, n := range x.Notes {
			notes = append(notes, fmt.Sprintf("  %s line %s %s", x.Day, x.Line, n))
		}
	}
	if len(notes) > 0 {
		fmt.Fprintf(w, "\nGaps (%d):\n%s\n", r.Gaps, strings.Join(notes, "\n"))
	} else {
		fmt.Fprintln(w, "\nNo gaps: every interaction with audio is stored or skipped with a reason.")
	}
	if !r.DeadLetters {
		fmt.Fprintln(w, "Dead letters were not counted (queue not reachable).")
	}
	if r.DeadLettersTruncated {
		fmt.Fprintf(w, "The dead-letter queue holds more than %d messages; only the first %d were read, so the dead-lettered counts are at least those shown.\n", r.DeadLettersRead, r.DeadLettersRead)
	}
	writeVia(w, r)
	return nil
}

// writeVia: which path stored each day's interactions.
func writeVia(w io.Writer, r Report) {
	type via struct{ stored, event, discover int }
	days := map[string]*via{}
	for _, x := range r.Rows {
		if days[x.Day] == nil {
			days[x.Day] = &via{}
		}
		d := days[x.Day]
		d.stored += x.Stored
		d.event += x.ViaEvent
		d.discover += x.ViaDiscover
	}
	fmt.Fprintln(w, "\nStored by path (the sidecar's storedVia):")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "day\tstored\tevent\tdiscover\t\n")
	for _, day := range r.Days {
		if d := days[day]; d != nil {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t\n", day, d.stored, d.event, d.discover)
		}
	}
	fmt.Fprintf(tw, "all\t%d\t%d\t%d\t\n", r.Total.Stored, r.Total.ViaEvent, r.Total.ViaDiscover)
	_ = tw.Flush()
	writeLatency(w, r)
}

// writeLatency: how long after VCC had the content each path stored it.
func writeLatency(w io.Writer, r Report) {
	if len(r.Latency) == 0 {
		return
	}
	fmt.Fprintln(w, "\nLatency by path, content available in VCC → stored (seconds):")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "day\tpath\tmeasured\tp50\tp95\tmax\tVCC calls/recording\t\n")
	fromEnd := 0
	for _, x := range r.Latency {
		per := "-"
		if x.CallsPerRecording > 0 {
			per = fmt.Sprintf("%.3f", x.CallsPerRecording)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%.0f\t%.0f\t%.0f\t%s\t\n", x.Day, x.Path, x.Measured, x.P50, x.P95, x.Max, per)
		if x.Day == "all" {
			fromEnd += x.FromEnd
		}
	}
	_ = tw.Flush()
	if fromEnd > 0 {
		fmt.Fprintf(w, "%d measured from the call's end: VCC listed no lastModified for their content.\n", fromEnd)
	}
}
