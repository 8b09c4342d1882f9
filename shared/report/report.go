// Package report reconciles, per UTC day and direction, what VCC knows
// happened with what the pipeline did about it: interactions in Stats,
// interactions with content in the Interaction Content listing (and those
// with audio), recordings stored (interaction.json sidecars), interactions
// skipped, failing and dead-lettered. Every interaction with audio must end
// stored or skipped; one that did not is a gap, and so is a direction whose
// content VCC does not list at all (a silent permission problem).
package report

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/vcc-ingest/vcc-ingest/shared/message"
	"github.com/vcc-ingest/vcc-ingest/shared/queue"
	"github.com/vcc-ingest/vcc-ingest/shared/records"
	"github.com/vcc-ingest/vcc-ingest/shared/store"
	"github.com/vcc-ingest/vcc-ingest/shared/vcc"
)

// VCC is the two listings the report compares.
type VCC interface {
	ListStats(ctx context.Context, start, end time.Time, fn func(vcc.Stats) error) error
	ListInteractions(ctx context.Context, start, end time.Time, fn func(vcc.Interaction) error) error
}

// Names lists stored names (store.Sink and store.State both do).
type Names interface {
	List(ctx context.Context, prefix string, fn func(name string) error) error
}

// SidecarReader reads a sidecar (store.Sink does): with it the report
// tells which path stored each interaction (the sidecar's storedVia).
type SidecarReader interface {
	GetSidecar(ctx context.Context, name string) (data []byte, found bool, err error)
}

// Peeker browses the dead-letter sub-queue; the report reads all of it,
// page by page, since any dead letter may be the window's or the tenant's.
type Peeker = queue.DeadLetterPeeker

// Sources are where the report looks.
type Sources struct {
	VCC   VCC
	Sink  Names  // recordings and sidecars
	State Names  // skipped/ and failures/ records
	Queue Peeker // nil: dead letters are not counted
	// DeadLetterPass bounds the read of the dead letters (zero: the
	// queue's defaults, at most queue.MaxDeadLetters).
	DeadLetterPass queue.DeadLetterPass
	// Tenant, with a tenants document, is the tenant reported on: only the
	// dead letters whose message names it count (one queue serves every
	// tenant). Empty: the single tenant, every dead letter counts.
	Tenant string
	// Runs, when set, is where the run records are read (the state):
	// the listing calls of each path, for its calls per recording.
	Runs    RunReader
	IsAudio func(contentType string) bool
	// Progress, when set, hears what the report is reading.
	Progress func(step string)
}

// Row is one day and direction.
type Row struct {
	Day          string `json:"day"` // YYYY-MM-DD, UTC
	Direction    string `json:"direction"`
	Stats        int    `json:"stats"`        // interactions VCC knows
	Content      int    `json:"content"`      // listed by Interaction Content
	Audio        int    `json:"audio"`        // of those, with audio to copy
	Stored       int    `json:"stored"`       // sidecars in the sink
	Skipped      int    `json:"skipped"`      // skipped by ingest, with a reason
	Failed       int    `json:"failed"`       // last delivery failed (failure record)
	DeadLettered int    `json:"deadLettered"` // in the dead-letter queue
	Missing      int    `json:"missing"`      // with audio, neither stored nor skipped
	// Of Stored, by the path that stored them (the sidecar's storedVia):
	// a VCC webhook event, or discover's listing (discover, backfill,
	// replay, a local window; sidecars older than the field). Counted only
	// when the sink can read sidecars.
	ViaEvent    int      `json:"storedViaEvent"`
	ViaDiscover int      `json:"storedViaDiscover"`
	Gap         bool     `json:"gap"`
	Notes       []string `json:"notes,omitempty"`
}

// LineRow is one day and line (the interaction's address: connectTo for
// inbound, connectFrom for outbound and internal, as VCC's line permissions
// see it).
type LineRow struct {
	Day       string   `json:"day"`
	Line      string   `json:"line"`
	Plan      string   `json:"plan,omitempty"` // Stats' interactionPlanMapping, the most frequent
	Direction string   `json:"direction"`      // the most frequent on the line that day
	Stats     int      `json:"stats"`
	Content   int      `json:"content"`
	Audio     int      `json:"audio"`
	Stored    int      `json:"stored"`
	Missing   int      `json:"missing"`
	Gap       bool     `json:"gap"`
	Notes     []string `json:"notes,omitempty"`
}

// Report is the reconciliation of a window.
type Report struct {
	From        time.Time `json:"from"`
	To          time.Time `json:"to"`
	Days        []string  `json:"days"`
	Rows        []Row     `json:"rows"`
	Total       Row       `json:"total"`
	Lines       []LineRow `json:"lines"`
	Gaps        int       `json:"gaps"`     // rows and line rows with a gap
	LineGaps    int       `json:"lineGaps"` // line rows with a gap
	DeadLetters bool      `json:"deadLettersCounted"`
	// DeadLettersTruncated: the dead-letter queue held more than one pass
	// reads (DeadLettersRead), so the dead-lettered counts are at least
	// those shown.
	DeadLettersTruncated bool `json:"deadLettersTruncated,omitempty"`
	DeadLettersRead      int  `json:"deadLettersRead,omitempty"`
	// Latency is how long after VCC had the content each path stored it,
	// per day and for the whole window ("all").
	Latency     []LatencyRow `json:"latency,omitempty"`
	GeneratedAt time.Time    `json:"generatedAt"`
}

// LatencyRow is one day's and path's latency: from the content available
// in VCC (the latest lastModified of the interaction's audio items; the
// call's end from Stats when VCC gives none) to the sidecar written (its
// ingestedAt).
type LatencyRow struct {
	Day      string  `json:"day"`  // YYYY-MM-DD, or "all"
	Path     string  `json:"path"` // event | discover
	Measured int     `json:"measured"`
	P50      float64 `json:"p50Seconds"`
	P95      float64 `json:"p95Seconds"`
	Max      float64 `json:"maxSeconds"`
	// FromEnd counts the interactions measured from the call's end: VCC
	// listed no lastModified for their content.
	FromEnd int `json:"fromCallEnd,omitempty"`
	// Recordings are those the path stored; CallsPerRecording is what they
	// cost in VCC calls: the listing calls of the path's runs started that
	// day (their run records' vccCalls: discover's runs, and the event
	// path's sweeps) plus one download per recording, over the recordings.
	// Zero when the run records cannot be read (Sources.Runs unset).
	Recordings        int     `json:"recordings"`
	ListingCalls      int64   `json:"listingCalls,omitempty"`
	CallsPerRecording float64 `json:"callsPerRecording,omitempty"`
}

// Directions shown for every day; "unknown" only when something has it.
var Directions = []string{"inbound", "outbound", "internal"}

// minSilent is how many Stats interactions a row needs before "none listed
// by Interaction Content" counts as a gap.
const minSilent = 5

type interaction struct {
	day, dir                              string
	line, plan                            string
	stats, content, audio                 bool
	stored, skipped, failed, deadLettered bool
	via                                   string // event | discover, "" unread
	recordings                            int    // in its sidecar
	available, ended, ingestedAt          time.Time
	inWindow                              bool
	fromStats                             bool
}

// Build reads every source for the whole UTC days covering [from, to).
func Build(ctx context.Context, src Sources, from, to time.Time) (Report, error) {
	from = from.UTC().Truncate(24 * time.Hour)
	if t := to.UTC().Truncate(24 * time.Hour); t.Before(to.UTC()) {
		to = t.Add(24 * time.Hour)
	} else {
		to = t
	}
	if !to.After(from) {
		return Report{}, fmt.Errorf("report: empty window %s → %s", from.Format(time.DateOnly), to.Format(time.DateOnly))
	}
	if src.IsAudio == nil {
		src.IsAudio = func(string) bool { return true }
	}
	progress := src.Progress
	if progress == nil {
		progress = func(string) {}
	}
	r := Report{From: from, To: to, GeneratedAt: time.Now().UTC()}
	for d := from; d.Before(to); d = d.Add(24 * time.Hour) {
		r.Days = append(r.Days, d.Format(time.DateOnly))
	}
	known := map[string]*interaction{}
	get := func(guid string) *interaction {
		guid = strings.ToLower(guid)
		in := known[guid]
		if in == nil {
			in = &interaction{}
			known[guid] = in
		}
		return in
	}

	progress("Stats listing")
	if err := src.VCC.ListStats(ctx, from, to, func(s vcc.Stats) error {
		in := get(s.GUID)
		in.stats, in.inWindow, in.fromStats = true, true, true
		in.day, in.dir = s.Start.UTC().Format(time.DateOnly), string(s.Direction)
		in.line, in.plan = s.Line(), s.Plan
		if s.Duration > 0 {
			in.ended = s.Start.Add(s.Duration)
		}
		return nil
	}); err != nil {
		return r, fmt.Errorf("stats listing: %w", err)
	}
	progress("Interaction Content listing")
	if err := src.VCC.ListInteractions(ctx, from, to, func(v vcc.Interaction) error {
		in := get(v.GUID)
		in.content, in.inWindow = true, true
		if !in.fromStats {
			in.day, in.dir = v.Start.UTC().Format(time.DateOnly), string(v.Direction)
			in.line = v.Line()
		}
		for _, c := range v.Content {
			if src.IsAudio(c.Type) && vcc.AudioMedia(c.ContentType) {
				in.audio = true
				if c.LastModified.After(in.available) {
					in.available = c.LastModified
				}
			}
		}
		return nil
	}); err != nil {
		return r, fmt.Errorf("content listing: %w", err)
	}

	for _, day := range r.Days {
		prefix := strings.ReplaceAll(day, "-", "/") + "/"
		progress("stored recordings " + day)
		if err := src.Sink.List(ctx, prefix, func(name string) error {
			if guid, ok := sidecarGUID(name); ok {
				in := get(guid)
				in.stored = true
				if sr, ok := src.Sink.(SidecarReader); ok {
					in.via, in.ingestedAt, in.recordings = storedVia(ctx, sr, name)
				}
				if in.day == "" {
					in.day, in.inWindow = day, true
				}
			}
			return nil
		}); err != nil {
			return r, fmt.Errorf("list %s in the recordings store: %w", prefix, err)
		}
		progress("skip records " + day)
		if err := src.State.List(ctx, "skipped/"+prefix, func(name string) error {
			guid := strings.TrimSuffix(name[strings.LastIndex(name, "/")+1:], ".json")
			in := get(guid)
			in.skipped = true
			if in.day == "" {
				in.day, in.inWindow = day, true
			}
			return nil
		}); err != nil {
			return r, fmt.Errorf("list skip records: %w", err)
		}
	}
	progress("failure records")
	if err := src.State.List(ctx, "failures/", func(name string) error {
		guid := strings.TrimSuffix(strings.TrimPrefix(name, "failures/"), ".json")
		if in, ok := known[strings.ToLower(guid)]; ok && name == records.FailureName(guid) {
			in.failed = true
		}
		return nil
	}); err != nil {
		return r, fmt.Errorf("list failure records: %w", err)
	}
	if src.Queue != nil {
		progress("dead letters")
		err := src.DeadLetterPass.Each(ctx, src.Queue, func(m *queue.Message) error {
			r.DeadLettersRead++
			b, err := message.Decode(m.Body)
			if err != nil || !OfTenant(b, src.Tenant) {
				return nil
			}
			in, ok := known[strings.ToLower(b.InteractionID)]
			if !ok && b.Start != nil && !b.Start.Before(from) && b.Start.Before(to) {
				in = get(b.InteractionID)
				in.day, in.dir, in.inWindow = b.Start.UTC().Format(time.DateOnly), vccDirection(b.Direction, b.ContentDir), true
				ok = true
			}
			if ok {
				in.deadLettered = true
			}
			return nil
		})
		switch {
		case errors.Is(err, queue.ErrTooManyDeadLetters):
			r.DeadLettersTruncated = true // counted what was read, and said so
		case err != nil:
			return r, fmt.Errorf("dead letters: %w", err)
		}
		r.DeadLetters = true
	}

	rows := map[[2]string]*Row{}
	row := func(day, dir string) *Row {
		k := [2]string{day, dir}
		if rows[k] == nil {
			rows[k] = &Row{Day: day, Direction: dir}
		}
		return rows[k]
	}
	for _, day := range r.Days {
		for _, d := range Directions {
			row(day, d)
		}
	}
	for _, in := range known {
		if !in.inWindow || in.day == "" {
			continue
		}
		dir := string(vcc.NormalizeDirection(in.dir))
		x := row(in.day, dir)
		count(x, in)
	}
	for _, x := range rows {
		if x.Day < r.Days[0] || x.Day > r.Days[len(r.Days)-1] {
			continue
		}
		judge(x)
		r.Rows = append(r.Rows, *x)
	}
	order := map[string]int{"inbound": 0, "outbound": 1, "internal": 2, "unknown": 3}
	sort.Slice(r.Rows, func(i, j int) bool {
		if r.Rows[i].Day != r.Rows[j].Day {
			return r.Rows[i].Day < r.Rows[j].Day
		}
		return order[r.Rows[i].Direction] < order[r.Rows[j].Direction]
	})
	r.Total = Row{Day: "all", Direction: "all"}
	for _, x := range r.Rows {
		if x.Gap {
			r.Gaps++
		}
		r.Total.Stats += x.Stats
		r.Total.Content += x.Content
		r.Total.Audio += x.Audio
		r.Total.Stored += x.Stored
		r.Total.Skipped += x.Skipped
		r.Total.Failed += x.Failed
		r.Total.DeadLettered += x.DeadLettered
		r.Total.Missing += x.Missing
		r.Total.ViaEvent += x.ViaEvent
		r.Total.ViaDiscover += x.ViaDiscover
	}
	r.Lines = lineRows(known, rows, r.Days)
	for _, x := range r.Lines {
		if x.Gap {
			r.LineGaps++
		}
	}
	r.Gaps += r.LineGaps
	r.Total.Gap = r.Gaps > 0
	r.Latency = latencyRows(known, r.Days)
	if src.Runs != nil {
		calls, err := listingCalls(ctx, src.Runs, r.Days)
		if err != nil {
			return r, err
		}
		addCallsPerRecording(r.Latency, calls)
	}
	return r, nil
}

// latencyRows measures each stored interaction of the days whose sidecar
// says when it was written, per day and path, and per path for all days.
func latencyRows(known map[string]*interaction, days []string) []LatencyRow {
	type key struct{ day, path string }
	seconds := map[key][]float64{}
	fromEnd := map[key]int{}
	recordings := map[key]int{}
	for _, in := range known {
		if !in.stored || in.via == "" || in.ingestedAt.IsZero() || !in.inWindow {
			continue
		}
		recordings[key{in.day, in.via}] += in.recordings
		recordings[key{"all", in.via}] += in.recordings
		from, byEnd := in.available, false
		if from.IsZero() {
			from, byEnd = in.ended, true
		}
		if from.IsZero() {
			continue
		}
		v := max(in.ingestedAt.Sub(from).Seconds(), 0)
		for _, k := range []key{{in.day, in.via}, {"all", in.via}} {
			seconds[k] = append(seconds[k], v)
			if byEnd {
				fromEnd[k]++
			}
		}
	}
	var out []LatencyRow
	for _, day := range append(slices.Clone(days), "all") {
		for _, path := range []string{"event", "discover"} {
			k := key{day, path}
			v := seconds[k]
			if len(v) == 0 {
				continue
			}
			slices.Sort(v)
			out = append(out, LatencyRow{Day: day, Path: path, Measured: len(v),
				P50: nearestRank(v, 0.5), P95: nearestRank(v, 0.95), Max: v[len(v)-1], FromEnd: fromEnd[k], Recordings: recordings[k]})
		}
	}
	return out
}

// RunReader reads the run records (store.State does).
type RunReader interface {
	List(ctx context.Context, prefix string, fn func(name string) error) error
	Load(ctx context.Context, name string) (data []byte, etag string, found bool, err error)
}

// listingCalls sums the VCC calls of the runs whose window starts on each
// day, by path: discover's runs (source discover, or local: handler
// local's) and the event path's sweeps (source event); backfill and replay
// are neither path's. A run is found by the day it started, which is its
// window's day or the next (a catch-up, a late tick).
func listingCalls(ctx context.Context, runs RunReader, days []string) (map[[2]string]int64, error) {
	out := map[[2]string]int64{}
	if len(days) == 0 {
		return out, nil
	}
	inReport := map[string]bool{}
	for _, d := range days {
		inReport[d] = true
	}
	started := slices.Clone(days)
	if last, err := time.Parse(time.DateOnly, days[len(days)-1]); err == nil {
		started = append(started, last.AddDate(0, 0, 1).Format(time.DateOnly))
	}
	sources := map[string]string{"event": "event", "discover": "discover", "local": "discover"} // source → path
	for _, day := range started {
		for _, source := range []string{"event", "discover", "local"} {
			prefix := "runs/" + source + "/" + strings.ReplaceAll(day, "-", "/") + "/"
			var names []string
			if err := runs.List(ctx, prefix, func(name string) error {
				names = append(names, name)
				return nil
			}); err != nil {
				return nil, fmt.Errorf("list %s: %w", prefix, err)
			}
			for _, name := range names {
				data, _, found, err := runs.Load(ctx, name)
				if err != nil {
					return nil, fmt.Errorf("read %s: %w", name, err)
				}
				var run records.Run
				if !found || json.Unmarshal(data, &run) != nil {
					continue
				}
				windowDay := run.Start.UTC().Format(time.DateOnly)
				if run.Start.IsZero() {
					windowDay = day
				}
				if !inReport[windowDay] {
					continue
				}
				out[[2]string{windowDay, sources[source]}] += run.VCCCalls
				out[[2]string{"all", sources[source]}] += run.VCCCalls
			}
		}
	}
	return out, nil
}

// addCallsPerRecording fills each row's listing calls and calls per
// recording: the listings plus one download per recording.
func addCallsPerRecording(rows []LatencyRow, calls map[[2]string]int64) {
	for i := range rows {
		r := &rows[i]
		r.ListingCalls = calls[[2]string{r.Day, r.Path}]
		if r.Recordings > 0 {
			r.CallsPerRecording = math.Round(float64(r.ListingCalls+int64(r.Recordings))/float64(r.Recordings)*1000) / 1000
		}
	}
}

// nearestRank is the q quantile of sorted values.
func nearestRank(sorted []float64, q float64) float64 {
	i := int(math.Ceil(float64(len(sorted))*q)) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// lineRows counts per day and line. A line with many interactions in Stats
// and no content listed at all, on a day other lines have content, is a
// gap: VCC hides it (line permissions without "Access groups of users'
// content"), or the line is not recorded. A line whose direction is already
// a silent row is explained there.
func lineRows(known map[string]*interaction, rows map[[2]string]*Row, days []string) []LineRow {
	type key struct{ day, line string }
	lines := map[key]*LineRow{}
	dirs := map[key]map[string]int{}
	plans := map[key]map[string]int{}
	first, last := days[0], days[len(days)-1]
	for _, in := range known {
		if !in.inWindow || in.line == "" || in.day < first || in.day > last {
			continue
		}
		k := key{in.day, in.line}
		x := lines[k]
		if x == nil {
			x = &LineRow{Day: in.day, Line: in.line}
			lines[k], dirs[k], plans[k] = x, map[string]int{}, map[string]int{}
		}
		dirs[k][string(vcc.NormalizeDirection(in.dir))]++
		if in.plan != "" {
			plans[k][in.plan]++
		}
		if in.stats {
			x.Stats++
		}
		if in.content {
			x.Content++
		}
		if in.audio {
			x.Audio++
		}
		if in.stored {
			x.Stored++
		}
		if in.audio && !in.stored && !in.skipped {
			x.Missing++
		}
	}
	withContent := map[string]int{} // lines with content, per day
	for k, x := range lines {
		x.Direction, x.Plan = mostFrequent(dirs[k]), mostFrequent(plans[k])
		if x.Content > 0 {
			withContent[k.day]++
		}
	}
	out := make([]LineRow, 0, len(lines))
	for k, x := range lines {
		silentDir := false
		if d := rows[[2]string{k.day, x.Direction}]; d != nil && d.Stats >= minSilent && d.Content == 0 {
			silentDir = true
		}
		if x.Stats >= minSilent && x.Content == 0 && withContent[k.day] > 0 && !silentDir {
			x.Gap = true
			x.Notes = append(x.Notes, fmt.Sprintf("VCC lists no content for any of %d interactions on this line while %d other lines have content: "+
				"\"Access groups of users' content\" is probably off (VCC then shows content by line permissions only), or recording is not enabled on this line (handler doctor)", x.Stats, withContent[k.day]))
		}
		out = append(out, *x)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Day != out[j].Day {
			return out[i].Day < out[j].Day
		}
		if out[i].Stats != out[j].Stats {
			return out[i].Stats > out[j].Stats
		}
		return out[i].Line < out[j].Line
	})
	return out
}

func mostFrequent(m map[string]int) string {
	best, n := "", 0
	for k, v := range m {
		if v > n || v == n && k < best {
			best, n = k, v
		}
	}
	return best
}

// storedVia reads the path that stored a sidecar: "event" for a webhook,
// "discover" for every listing path; "" when it cannot be read. ingestedAt
// is when it was written (zero in sidecars older than the field).
func storedVia(ctx context.Context, sr SidecarReader, name string) (via string, ingestedAt time.Time, recordings int) {
	data, found, err := sr.GetSidecar(ctx, name)
	if err != nil || !found {
		return "", time.Time{}, 0
	}
	var sc struct {
		StoredVia  string            `json:"storedVia"`
		IngestedAt time.Time         `json:"ingestedAt"`
		Recordings []json.RawMessage `json:"recordings"`
	}
	if json.Unmarshal(data, &sc) != nil {
		return "", time.Time{}, 0
	}
	if sc.StoredVia == "event" {
		return "event", sc.IngestedAt, len(sc.Recordings)
	}
	return "discover", sc.IngestedAt, len(sc.Recordings)
}

func vccDirection(dirs ...string) string {
	for _, d := range dirs {
		if n := vcc.NormalizeDirection(d); n != vcc.DirectionUnknown {
			return string(n)
		}
	}
	return string(vcc.DirectionUnknown)
}

func count(x *Row, in *interaction) {
	if in.stats {
		x.Stats++
	}
	if in.content {
		x.Content++
	}
	if in.audio {
		x.Audio++
	}
	if in.stored {
		x.Stored++
		switch in.via {
		case "event":
			x.ViaEvent++
		case "discover":
			x.ViaDiscover++
		}
	}
	if in.skipped {
		x.Skipped++
	}
	if in.failed {
		x.Failed++
	}
	if in.deadLettered {
		x.DeadLettered++
	}
	if in.audio && !in.stored && !in.skipped {
		x.Missing++
	}
}

// judge flags a row's gaps and says what explains them.
func judge(x *Row) {
	if x.Missing > 0 {
		x.Gap = true
		note := fmt.Sprintf("%d with audio not stored", x.Missing)
		var why []string
		if x.Failed > 0 {
			why = append(why, fmt.Sprintf("%d failing", x.Failed))
		}
		if x.DeadLettered > 0 {
			why = append(why, fmt.Sprintf("%d dead-lettered: handler replay", x.DeadLettered))
		}
		if len(why) == 0 {
			why = append(why, "not ingested yet or never enqueued: handler backfill")
		}
		x.Notes = append(x.Notes, note+" ("+strings.Join(why, "; ")+")")
	}
	if x.Stats >= minSilent && x.Content == 0 && x.Direction != "unknown" {
		x.Gap = true
		x.Notes = append(x.Notes, fmt.Sprintf("VCC lists no content for any of %d interactions: a feature permission (or the line permissions) probably hides them (handler doctor)", x.Stats))
	}
}

// OfTenant reports whether a message is tenant's: with a tenants document
// (tenant set) the body must name it; without one every message is the
// single tenant's.
func OfTenant(b message.Body, tenant string) bool {
	return tenant == "" || b.Tenant == tenant
}

// sidecarGUID reads the guid of "<yyyy>/<mm>/<dd>/<guid>/interaction.json".
func sidecarGUID(name string) (string, bool) {
	parts := strings.Split(name, "/")
	if len(parts) != 5 || parts[4] != store.SidecarFile || !vcc.ValidGUID(parts[3]) {
		return "", false
	}
	return parts[3], true
}
