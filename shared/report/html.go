package report

import (
	"encoding/json"
	"html/template"
	"io"
	"sort"
	"time"
)

// WriteHTML writes r as one self-contained page (no external assets, so it
// can be attached to a ticket): a chart of coverage per day drawn by the
// page's own script from the embedded data, the table, and the gaps. The
// script records any error it meets in the page (#js-errors), and marks the
// chart drawn (#chart-ready) once it is, so a headless browser can check it.
func WriteHTML(w io.Writer, r Report) error {
	data, err := json.Marshal(r) // escapes <, > and &: safe inside <script>
	if err != nil {
		return err
	}
	var names []string
	seen := map[string]bool{}
	for _, x := range r.Lines {
		if !seen[x.Line] {
			seen[x.Line] = true
			names = append(names, x.Line)
		}
	}
	sort.Strings(names)
	return page.Execute(w, struct {
		R         Report
		From      string
		To        string
		Data      template.JS
		LineNames []string
	}{r, r.From.Format(time.DateOnly), r.To.Add(-time.Nanosecond).Format(time.DateOnly), template.JS(data), names})
}

var page = template.Must(template.New("report").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>vcc-ingest coverage {{.From}} to {{.To}}</title>
<script>
(function () {
  function record(text) {
    var el = document.getElementById("js-errors");
    if (!el) { document.documentElement.setAttribute("data-early-error", text); return; }
    el.hidden = false;
    el.textContent += text + "\n";
  }
  window.addEventListener("error", function (e) { record("error: " + e.message + " (line " + e.lineno + ")"); });
  window.addEventListener("unhandledrejection", function (e) { record("unhandled rejection: " + e.reason); });
  var original = console.error;
  console.error = function () { record("console.error: " + Array.prototype.join.call(arguments, " ")); original.apply(console, arguments); };
})();
</script>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.3em; }
table { border-collapse: collapse; margin-top: 1em; }
th, td { padding: 2px 8px; text-align: right; border-bottom: 1px solid #ddd; }
th:nth-child(-n+2), td:nth-child(-n+2) { text-align: left; }
tr.gap td { background: #fde8e8; }
tr.total td { font-weight: bold; }
.legend span { display: inline-block; margin-right: 1em; }
.legend i { display: inline-block; width: 10px; height: 10px; margin-right: 4px; }
#js-errors { color: #b00; white-space: pre-wrap; }
.ok { color: #176f2c; } .bad { color: #b00; }
</style>
</head>
<body>
<h1>Recording coverage, {{.From}} to {{.To}} (UTC)</h1>
<p>{{if .R.Gaps}}<strong class="bad">{{.R.Gaps}} rows have gaps{{if .R.LineGaps}} ({{.R.LineGaps}} of them lines without any content listed){{end}}.</strong>{{else}}<strong class="ok">No gaps: every interaction with audio is stored or skipped with a reason.</strong>{{end}}
Interactions in Stats: {{.R.Total.Stats}}; with content: {{.R.Total.Content}}; with audio: {{.R.Total.Audio}}; stored: {{.R.Total.Stored}}; skipped: {{.R.Total.Skipped}}; missing: {{.R.Total.Missing}}.</p>
<pre id="js-errors" hidden></pre>
<p><label>Direction <select id="direction"><option value="all">all</option><option>inbound</option><option>outbound</option><option>internal</option></select></label>
<label>Line <select id="line"><option value="">all lines</option>{{range .LineNames}}<option>{{.}}</option>{{end}}</select></label></p>
<div class="legend"><span><i style="background:#c9ced6"></i>in Stats</span><span><i style="background:#2e8b57"></i>stored</span><span><i style="background:#8c9bab"></i>skipped</span><span><i style="background:#d9412b"></i>missing</span></div>
<svg id="chart" xmlns="http://www.w3.org/2000/svg" width="900" height="320" role="img" aria-label="coverage per day"></svg>
<table id="table">
<thead><tr><th>day</th><th>direction</th><th>Stats</th><th>content</th><th>audio</th><th>stored</th><th>skipped</th><th>failing</th><th>dead-lettered</th><th>missing</th><th>notes</th></tr></thead>
<tbody>
{{range .R.Rows}}<tr{{if .Gap}} class="gap"{{end}}><td>{{.Day}}</td><td>{{.Direction}}</td><td>{{.Stats}}</td><td>{{.Content}}</td><td>{{.Audio}}</td><td>{{.Stored}}</td><td>{{.Skipped}}</td><td>{{.Failed}}</td><td>{{.DeadLettered}}</td><td>{{.Missing}}</td><td style="text-align:left">{{range .Notes}}{{.}}<br>{{end}}</td></tr>
{{end}}<tr class="total"><td>all</td><td></td><td>{{.R.Total.Stats}}</td><td>{{.R.Total.Content}}</td><td>{{.R.Total.Audio}}</td><td>{{.R.Total.Stored}}</td><td>{{.R.Total.Skipped}}</td><td>{{.R.Total.Failed}}</td><td>{{.R.Total.DeadLettered}}</td><td>{{.R.Total.Missing}}</td><td></td></tr>
</tbody>
</table>
<h2 style="font-size:1.1em">Per line</h2>
<table id="lines">
<thead><tr><th>day</th><th>line</th><th>plan</th><th>direction</th><th>Stats</th><th>content</th><th>audio</th><th>stored</th><th>missing</th><th>notes</th></tr></thead>
<tbody>
{{range .R.Lines}}<tr data-line="{{.Line}}"{{if .Gap}} class="gap"{{end}}><td>{{.Day}}</td><td>{{.Line}}</td><td style="text-align:left">{{.Plan}}</td><td>{{.Direction}}</td><td>{{.Stats}}</td><td>{{.Content}}</td><td>{{.Audio}}</td><td>{{.Stored}}</td><td>{{.Missing}}</td><td style="text-align:left">{{range .Notes}}{{.}}<br>{{end}}</td></tr>
{{end}}</tbody>
</table>
{{if .R.Latency}}<h2 style="font-size:1.1em">Latency by path: content available in VCC → stored (seconds)</h2>
<table id="latency">
<thead><tr><th>day</th><th>path</th><th>measured</th><th>p50</th><th>p95</th><th>max</th><th>from the call's end</th><th>VCC calls per recording</th></tr></thead>
<tbody>
{{range .R.Latency}}<tr><td>{{.Day}}</td><td>{{.Path}}</td><td>{{.Measured}}</td><td>{{printf "%.0f" .P50}}</td><td>{{printf "%.0f" .P95}}</td><td>{{printf "%.0f" .Max}}</td><td>{{.FromEnd}}</td><td>{{if .CallsPerRecording}}{{printf "%.3f" .CallsPerRecording}}{{else}}-{{end}}</td></tr>
{{end}}</tbody>
</table>{{end}}
{{if not .R.DeadLetters}}<p>Dead letters were not counted (queue not reachable).</p>{{end}}
{{if .R.DeadLettersTruncated}}<p>The dead-letter queue holds more than {{.R.DeadLettersRead}} messages; only the first {{.R.DeadLettersRead}} were read, so the dead-lettered counts are at least those shown.</p>{{end}}
<p>Generated {{.R.GeneratedAt.Format "2006-01-02 15:04:05"}} UTC by vcc-ingest (handler report).</p>
<script>
(function () {
  var report = {{.Data}};
  var svgNS = "http://www.w3.org/2000/svg";
  var chart = document.getElementById("chart");
  function el(name, attrs, text) {
    var e = document.createElementNS(svgNS, name);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function perDay(direction, line) {
    var days = {};
    report.days.forEach(function (d) { days[d] = { stats: 0, audio: 0, stored: 0, skipped: 0, missing: 0 }; });
    var source = line ? (report.lines || []).filter(function (r) { return r.line === line; }) : report.rows;
    source.forEach(function (r) {
      if (direction !== "all" && r.direction !== direction) return;
      if (!days[r.day]) return;
      var d = days[r.day];
      d.stats += r.stats; d.audio += r.audio; d.stored += r.stored; d.skipped += (r.skipped || 0); d.missing += r.missing;
    });
    return days;
  }
  function draw(direction, line) {
    while (chart.firstChild) chart.removeChild(chart.firstChild);
    var days = perDay(direction, line);
    var W = 900, H = 320, left = 40, bottom = 40, top = 20;
    var n = report.days.length, slot = (W - left - 10) / Math.max(n, 1);
    var max = 1;
    report.days.forEach(function (day) {
      var d = days[day];
      max = Math.max(max, d.stats, d.stored + d.skipped + d.missing);
    });
    var scale = (H - bottom - top) / max, base = H - bottom, bars = 0;
    chart.appendChild(el("line", { x1: left, y1: base, x2: W - 10, y2: base, stroke: "#888" }));
    chart.appendChild(el("text", { x: 4, y: top + 4, "font-size": 11 }, String(max)));
    report.days.forEach(function (day, i) {
      var d = days[day], x = left + i * slot, w = Math.min(Math.max(slot / 2 - 3, 2), 40);
      function bar(kind, value, bx, y0, color) {
        var h = value * scale;
        var r = el("rect", { x: bx, y: y0 - h, width: w, height: h, fill: color, "data-day": day, "data-kind": kind, "data-value": value });
        r.appendChild(el("title", {}, day + " " + kind + ": " + value));
        chart.appendChild(r);
        bars++;
        return y0 - h;
      }
      bar("stats", d.stats, x + 2, base, "#c9ced6");
      var y = bar("stored", d.stored, x + 2 + w, base, "#2e8b57");
      y = bar("skipped", d.skipped, x + 2 + w, y, "#8c9bab");
      bar("missing", d.missing, x + 2 + w, y, "#d9412b");
      var pct = d.audio > 0 ? Math.round(100 * Math.min(d.stored, d.audio) / d.audio) + "%" : "–";
      chart.appendChild(el("text", { x: x + 2, y: base + 14, "font-size": 10 }, day.slice(5)));
      chart.appendChild(el("text", { x: x + 2, y: base + 28, "font-size": 10, fill: d.missing > 0 ? "#b00" : "#176f2c", "data-day": day, "data-kind": "coverage" }, pct));
    });
    chart.setAttribute("data-direction", direction);
    var ready = document.getElementById("chart-ready");
    if (!ready) {
      ready = document.createElement("p");
      ready.id = "chart-ready";
      ready.hidden = true;
      document.body.appendChild(ready);
    }
    ready.setAttribute("data-days", String(n));
    ready.setAttribute("data-bars", String(bars));
    ready.setAttribute("data-direction", direction);
    ready.setAttribute("data-line", line || "");
  }
  var select = document.getElementById("direction"), lineSelect = document.getElementById("line");
  function redraw() {
    draw(select.value, lineSelect.value);
    Array.prototype.forEach.call(document.querySelectorAll("#lines tbody tr"), function (tr) {
      tr.hidden = lineSelect.value !== "" && tr.getAttribute("data-line") !== lineSelect.value;
    });
  }
  select.addEventListener("change", redraw);
  lineSelect.addEventListener("change", redraw);
  var wanted = (location.hash.match(/line=([^&]+)/) || [])[1];
  if (wanted) lineSelect.value = decodeURIComponent(wanted);
  redraw();
})();
</script>
</body>
</html>
`))
