package vcc

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The VCC documentation is thin and partly contradictory about value types
// (ids as strings in one example, numbers elsewhere; lengths possibly
// missing), so the wire types accept every plausible form.

// flexString decodes a JSON string or number (or null) into a string.
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case bytes.Equal(b, []byte("null")):
		*f = ""
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flexString(s)
	default:
		var n json.Number
		if err := json.Unmarshal(b, &n); err != nil {
			return fmt.Errorf("expected a string or a number, got %.40s", b)
		}
		*f = flexString(n.String())
	}
	return nil
}

// flexInt decodes a JSON number or numeric string; known is false for null,
// missing or unparsable values.
type flexInt struct {
	n     int64
	known bool
}

func (f *flexInt) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	s := string(b)
	if len(b) > 0 && b[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
	}
	*f = flexInt{}
	if s == "null" || s == "" {
		return nil
	}
	if n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64); err == nil {
		*f = flexInt{n: n, known: true}
		return nil
	}
	if x, err := strconv.ParseFloat(strings.TrimSpace(s), 64); err == nil {
		*f = flexInt{n: int64(x), known: true}
	}
	return nil
}

// timeLayouts are the ISO 8601 forms VCC is seen or likely to use.
var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999",
	"2006-01-02T15:04:05.999999999Z0700",
	"2006-01-02 15:04:05.999999999Z07:00",
}

// parseTime reads an ISO 8601 timestamp; one without a zone is taken as UTC.
// The result is in UTC.
func parseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("unrecognised timestamp %q", s)
}

// formatTime renders a window boundary for a query: RFC 3339 in UTC.
func formatTime(t time.Time) string {
	return t.UTC().Format(time.RFC3339Nano)
}

// windows splits [start, end) into consecutive windows no longer than max.
func windows(start, end time.Time, max time.Duration) [][2]time.Time {
	var out [][2]time.Time
	for s := start; s.Before(end); {
		e := s.Add(max)
		if e.After(end) {
			e = end
		}
		out = append(out, [2]time.Time{s, e})
		s = e
	}
	return out
}
