package vcc

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"
)

func TestGetStats(t *testing.T) {
	f := newFake(t)
	f.mux.HandleFunc("/stats/interactions/{guid}", statsHandler)
	c := newTestClient(t, f)
	s, err := c.GetStats(context.Background(), guid(9))
	if err != nil {
		t.Fatal(err)
	}
	want := Stats{
		GUID: guid(9), Start: time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC), Duration: 61500 * time.Millisecond,
		Direction: DirectionInbound, Medium: "Phone", Status: "Completed", ServiceName: "Sales",
	}
	if s != want {
		t.Errorf("got %+v\nwant %+v", s, want)
	}
}

func TestListStatsPagingWindowsDedup(t *testing.T) {
	f := newFake(t)
	start := time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC)
	end := start.Add(40 * 24 * time.Hour)
	type call struct {
		start, end time.Time
		page       int
	}
	var mu sync.Mutex
	var calls []call
	f.mux.HandleFunc("/stats/interactions", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		s, _ := time.Parse(time.RFC3339, q.Get("start"))
		e, _ := time.Parse(time.RFC3339, q.Get("end"))
		page, _ := strconv.Atoi(q.Get("page"))
		limit, _ := strconv.Atoi(q.Get("limit"))
		if e.Sub(s) > 31*24*time.Hour {
			writeJSON(w, 400, map[string]any{"statusCode": 400, "error": "Bad Request", "message": "Request window size limit exceeded 31 days"})
			return
		}
		if limit != 3 || page < 1 {
			writeJSON(w, 400, map[string]any{"message": "bad paging"})
			return
		}
		mu.Lock()
		calls = append(calls, call{s, e, page})
		mu.Unlock()
		// 7 records per window: pages of 3, 3, 1. The last record of each
		// window is at its end (inclusive end), so it repeats in the next.
		var all []map[string]any
		for i := 0; i < 6; i++ {
			at := s.Add(time.Duration(i) * time.Hour)
			all = append(all, map[string]any{"guid": guid(int(at.Unix() / 3600)), "start": at.Format(time.RFC3339),
				"duration": 1000, "direction": []string{"Inbound", "Outbound", "Internal"}[i%3], "medium": "Phone"})
		}
		all = append(all, map[string]any{"guid": guid(int(e.Unix() / 3600)), "start": e.Format(time.RFC3339), "direction": "Inbound"})
		from := (page - 1) * limit
		to := min(from+limit, len(all))
		items := all[min(from, len(all)):to]
		writeJSON(w, 200, map[string]any{
			"items": items,
			"meta":  map[string]any{"page": page, "count": len(items), "pageCount": (len(all) + limit - 1) / limit, "totalCount": len(all)},
			"upTo":  e.Format(time.RFC3339),
		})
	})
	c := newTestClient(t, f, func(c *Config) { c.StatsPageSize = 3 })
	seen := map[string]int{}
	dirs := map[Direction]int{}
	err := c.ListStats(context.Background(), start, end, func(s Stats) error {
		seen[s.GUID]++
		dirs[s.Direction]++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	mid := start.Add(31 * 24 * time.Hour)
	want := []call{{start, mid, 1}, {start, mid, 2}, {start, mid, 3}, {mid, end, 1}, {mid, end, 2}, {mid, end, 3}}
	if fmt.Sprint(calls) != fmt.Sprint(want) {
		t.Errorf("calls = %v\nwant %v", calls, want)
	}
	// 2 windows x 7 records; each window's record at its end is dropped
	// there, the middle one listed again by the second window at its start.
	if len(seen) != 12 {
		t.Errorf("distinct = %d, want 12", len(seen))
	}
	if _, ok := seen[guid(int(end.Unix()/3600))]; ok {
		t.Errorf("the record starting exactly at end was passed")
	}
	if n := c.Counters().OutOfWindow; n != 2 {
		t.Errorf("OutOfWindow = %d, want 2", n)
	}
	for g, n := range seen {
		if n != 1 {
			t.Errorf("%s passed %d times", g, n)
		}
	}
	if dirs[DirectionUnknown] != 0 || dirs[DirectionInternal] != 4 {
		t.Errorf("directions = %v", dirs)
	}
}

func TestListStatsBareArrayShortPage(t *testing.T) {
	f := newFake(t)
	var pages []string
	f.mux.HandleFunc("/stats/interactions", func(w http.ResponseWriter, r *http.Request) {
		pages = append(pages, r.URL.Query().Get("page"))
		if r.URL.Query().Get("page") == "1" {
			writeJSON(w, 200, []map[string]any{
				{"guid": guid(1), "start": "2026-11-02T00:00:00Z"},
				{"guid": guid(2), "start": "2026-11-02T00:01:00Z"},
			})
			return
		}
		writeJSON(w, 200, []map[string]any{{"guid": guid(3), "start": "2026-11-02T00:02:00Z"}})
	})
	c := newTestClient(t, f, func(c *Config) { c.StatsPageSize = 2 })
	var n int
	day := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	if err := c.ListStats(context.Background(), day, day.Add(time.Hour), func(Stats) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if n != 3 || fmt.Sprint(pages) != "[1 2]" {
		t.Errorf("records %d pages %v", n, pages)
	}
}

func TestNormalizeDirection(t *testing.T) {
	for in, want := range map[string]Direction{
		"inbound": DirectionInbound, "Inbound": DirectionInbound, "OUTBOUND": DirectionOutbound,
		" internal ": DirectionInternal, "": DirectionUnknown, "sideways": DirectionUnknown, "in": DirectionUnknown,
	} {
		if got := NormalizeDirection(in); got != want {
			t.Errorf("NormalizeDirection(%q) = %q, want %q", in, got, want)
		}
	}
}
