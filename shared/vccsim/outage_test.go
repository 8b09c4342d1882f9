package vccsim

import (
	"net/http"
	"testing"
	"time"
)

// An outage answers 503 to every API request for its spell, set by option
// or at run time, and leaves the token endpoint alone.
func TestOutage(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 3, 9, 0, 0, 0, time.UTC)}
	s := startSim(t, Options{Seed: 16, Now: clock.Now, Outage: Outage{After: time.Minute, Duration: 30 * time.Second}})
	tok := token(t, s, allScopes)
	path := "/stats/interactions/" + s.Interactions()[0].GUID
	status := func() int {
		t.Helper()
		resp := get(t, s, tok, MediaV3, path)
		resp.Body.Close()
		return resp.StatusCode
	}
	steps := []struct {
		advance time.Duration
		want    int
	}{
		{0, 200},
		{59 * time.Second, 200},
		{time.Second, 503}, // from After
		{29 * time.Second, 503},
		{time.Second, 200}, // After + Duration: over
	}
	for i, st := range steps {
		clock.Add(st.advance)
		if got := status(); got != st.want {
			t.Fatalf("step %d: status %d, want %d", i, got, st.want)
		}
	}
	s.StartOutage(10 * time.Second)
	if !s.Outage() || status() != 503 {
		t.Fatal("StartOutage: API still answers")
	}
	if st, _ := requestToken(t, s, s.ClientID(), s.ClientSecret(), "stats", true); st != 200 {
		t.Fatalf("token during an outage: %d, want 200", st)
	}
	s.EndOutage()
	if s.Outage() || status() != 200 {
		t.Fatal("EndOutage: API still down")
	}
	if c := s.Counters(); c.Outage != 3 || c.ByStatus[503] != 3 {
		t.Errorf("counted %d outage answers (%d 503s), want 3", c.Outage, c.ByStatus[503])
	}
}

// The arrival log has every API request (not token requests) with its time,
// endpoint, id and status; MaxPerMinute is read from it.
func TestArrivalsLog(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 3, 9, 0, 0, 0, time.UTC)}
	s := startSim(t, Options{Seed: 17, Now: clock.Now})
	tok := token(t, s, allScopes)
	g := s.Interactions()[0].GUID
	// 3 calls, then 59.9 s later 2 more: 5 in one minute; 1 s later the
	// first three have aged out.
	for _, adv := range []time.Duration{0, 0, 0, 59900 * time.Millisecond, 0, time.Second} {
		clock.Add(adv)
		get(t, s, tok, MediaV3, "/stats/interactions/"+g).Body.Close()
	}
	get(t, s, "bad-token", MediaV3, "/stats/interactions/"+g).Body.Close()
	log := s.Arrivals()
	if len(log) != 7 {
		t.Fatalf("%d arrivals, want 7 (token requests are not API calls)", len(log))
	}
	if a := log[0]; a.Endpoint != EndpointStatsGet || a.ID != g || a.Status != http.StatusOK || !a.At.Equal(time.Date(2026, 11, 3, 9, 0, 0, 0, time.UTC)) {
		t.Errorf("first arrival %+v", a)
	}
	if a := log[6]; a.Status != http.StatusUnauthorized {
		t.Errorf("last arrival %+v, want a 401", a)
	}
	if got := s.MaxPerMinute(); got != 5 {
		t.Errorf("MaxPerMinute = %d, want 5", got)
	}
	s.ResetCounters()
	if len(s.Arrivals()) != 0 {
		t.Error("ResetCounters kept the arrival log")
	}
}

func TestMaxInWindow(t *testing.T) {
	t0 := time.Date(2026, 11, 3, 0, 0, 0, 0, time.UTC)
	at := func(secs ...float64) []time.Time {
		var out []time.Time
		for _, s := range secs {
			out = append(out, t0.Add(time.Duration(s*float64(time.Second))))
		}
		return out
	}
	tests := []struct {
		times []time.Time
		want  int
	}{
		{nil, 0},
		{at(0), 1},
		{at(0, 60), 1},                     // half-open: 60 s later is the next minute
		{at(0, 59.999), 2},                 // just inside
		{at(0, 0, 0, 30, 61, 62, 89.9), 4}, // [30, 90) holds 30, 61, 62, 89.9
		{at(0, 1, 2, 3, 59, 120, 121), 5},
	}
	for i, tt := range tests {
		if got := MaxInWindow(tt.times, time.Minute); got != tt.want {
			t.Errorf("%d: MaxInWindow = %d, want %d", i, got, tt.want)
		}
	}
}
