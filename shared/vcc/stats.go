package vcc

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Stats is the part of an Insights Stats interaction record the product
// uses: the source of truth for direction, duration and medium.
type Stats struct {
	GUID                        string
	Start                       time.Time
	Duration                    time.Duration
	Direction                   Direction
	Medium, Status, ServiceName string
	// Agents are the ids of the parties with role Agent in the record's
	// channels, in order, without repeats, separated by single spaces (a
	// string keeps Stats comparable); "" when Stats did not say. Comparing
	// them with the content listing's handling agents shows whose
	// interactions are hidden (see the doctor command). See AgentIDs.
	Agents string
	// ConnectFrom and ConnectTo are the call's addresses; Plan is the name
	// (or id) of its interactionPlanMapping, "" when Stats gave none.
	ConnectFrom, ConnectTo, Plan string
}

// Line is the address VCC's line permissions see for the interaction:
// connectTo for inbound, connectFrom for outbound and internal; "" when
// Stats did not say.
func (s Stats) Line() string { return LineOf(s.Direction, s.ConnectFrom, s.ConnectTo) }

// LineOf is the line (address) of an interaction of direction d.
func LineOf(d Direction, connectFrom, connectTo string) string {
	if d == DirectionInbound {
		return strings.TrimSpace(connectTo)
	}
	return strings.TrimSpace(connectFrom)
}

// AgentIDs returns Agents as a list.
func (s Stats) AgentIDs() []string { return strings.Fields(s.Agents) }

// maxStatsWindow is the longest window the stats listing accepts.
const maxStatsWindow = 31 * 24 * time.Hour

// maxPages guards against a server that ignores the page parameter.
const maxPages = 100000

type wireStats struct {
	GUID        string     `json:"guid"`
	Start       string     `json:"start"`
	Duration    flexInt    `json:"duration"` // milliseconds
	Direction   string     `json:"direction"`
	Medium      flexString `json:"medium"`
	Status      flexString `json:"status"`
	ServiceName flexString `json:"serviceName"`
	ConnectFrom flexString `json:"connectFrom"`
	ConnectTo   flexString `json:"connectTo"`
	// Plan is read leniently: an object with name/id, or a bare string.
	Plan json.RawMessage `json:"interactionPlanMapping"`
	// Channels is decoded leniently by statsAgents: an odd shape there
	// must not make the whole record unreadable.
	Channels json.RawMessage `json:"channels"`
}

type wirePageMeta struct {
	Page       flexInt `json:"page"`
	Count      flexInt `json:"count"`
	PageCount  flexInt `json:"pageCount"`
	TotalCount flexInt `json:"totalCount"`
}

// wireStatsPage accepts the documented {"items": [...], "meta": {...}} and
// the other plausible item keys, or a bare array.
type wireStatsPage struct {
	Items []wireStats
	Meta  wirePageMeta
}

func (p *wireStatsPage) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '[' {
		return json.Unmarshal(b, &p.Items)
	}
	var o struct {
		Items        []wireStats  `json:"items"`
		Interactions []wireStats  `json:"interactions"`
		Data         []wireStats  `json:"data"`
		Meta         wirePageMeta `json:"meta"`
	}
	if err := json.Unmarshal(b, &o); err != nil {
		return err
	}
	p.Meta = o.Meta
	switch {
	case o.Items != nil:
		p.Items = o.Items
	case o.Interactions != nil:
		p.Items = o.Interactions
	default:
		p.Items = o.Data
	}
	return nil
}

func (c *Client) stats(ctx context.Context, w wireStats) (Stats, error) {
	if !ValidGUID(w.GUID) {
		c.invalid(ctx, "guid", w.GUID, "")
		return Stats{}, invalidID("interaction guid", w.GUID)
	}
	start, err := parseTime(w.Start)
	if err != nil {
		c.invalid(ctx, "start", w.Start, w.GUID)
		return Stats{}, &permanentError{fmt.Errorf("vcc: stats %s: %w", w.GUID, err)}
	}
	s := Stats{
		GUID:        w.GUID,
		Start:       start,
		Direction:   NormalizeDirection(w.Direction),
		Medium:      string(w.Medium),
		Status:      string(w.Status),
		ServiceName: string(w.ServiceName),
		ConnectFrom: string(w.ConnectFrom),
		ConnectTo:   string(w.ConnectTo),
		Plan:        planName(w.Plan),
	}
	// A duration beyond a year is not a call: ignore it rather than
	// overflow time.Duration.
	if w.Duration.known && w.Duration.n > 0 && w.Duration.n < int64(365*24*time.Hour/time.Millisecond) {
		s.Duration = time.Duration(w.Duration.n) * time.Millisecond
	}
	s.Agents = strings.Join(statsAgents(w.Channels), " ")
	return s, nil
}

// planName reads interactionPlanMapping: {"name", "id"} (name preferred) or
// a bare string; anything else gives "".
func planName(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var str flexString
	if json.Unmarshal(raw, &str) == nil && str != "" {
		return string(str)
	}
	var o struct {
		Name flexString `json:"name"`
		ID   flexString `json:"id"`
	}
	if json.Unmarshal(raw, &o) != nil {
		return ""
	}
	if o.Name != "" {
		return string(o.Name)
	}
	return string(o.ID)
}

// statsAgents reads the agent parties of a Stats record's channels
// ([{party: {id, role: "Agent"}}]); anything it cannot read gives nil.
func statsAgents(raw json.RawMessage) []string {
	if len(raw) == 0 {
		return nil
	}
	var channels []struct {
		Party struct {
			ID   flexString `json:"id"`
			Role flexString `json:"role"`
		} `json:"party"`
	}
	if json.Unmarshal(raw, &channels) != nil {
		return nil
	}
	var out []string
	for _, c := range channels {
		id := strings.Join(strings.Fields(string(c.Party.ID)), "_")
		if id == "" || !strings.EqualFold(string(c.Party.Role), "agent") || slices.Contains(out, id) {
			continue
		}
		out = append(out, id)
	}
	return out
}

// GetStats returns the stats record of one interaction.
func (c *Client) GetStats(ctx context.Context, guid string) (Stats, error) {
	if !ValidGUID(guid) {
		return Stats{}, invalidID("interaction guid", guid)
	}
	var w wireStats
	err := c.getJSON(ctx, request{
		endpoint: endpointStatsGet,
		accept:   acceptStats,
		segments: []string{"stats", "interactions", guid},
	}, &w)
	if err != nil {
		return Stats{}, err
	}
	if w.GUID == "" {
		w.GUID = guid
	}
	if !strings.EqualFold(w.GUID, guid) {
		return Stats{}, &permanentError{fmt.Errorf("vcc: %s: asked for %s, got %.64q", endpointStatsGet, guid, w.GUID)}
	}
	return c.stats(ctx, w)
}

// ListStats calls fn for every interaction (with or without recordings) that
// started in [start, end). Windows longer than 31 days are split; pages are
// numbered from 1; items outside the window are dropped as by
// ListInteractions; an interaction seen twice is passed once. Comparing it
// with ListInteractions shows which interactions have no visible content.
func (c *Client) ListStats(ctx context.Context, start, end time.Time, fn func(Stats) error) error {
	seen := make(map[string]struct{})
	for _, w := range windows(start, end, maxStatsWindow) {
		if err := c.listStatsWindow(ctx, w[0], w[1], seen, fn); err != nil {
			return err
		}
	}
	return nil
}

func (c *Client) listStatsWindow(ctx context.Context, start, end time.Time, seen map[string]struct{}, fn func(Stats) error) error {
	limit := c.cfg.StatsPageSize
	q := url.Values{
		"start": {formatTime(start)},
		"end":   {formatTime(end)},
		"limit": {strconv.Itoa(limit)},
	}
	prevFirst := ""
	for page := 1; page <= maxPages; page++ {
		q.Set("page", strconv.Itoa(page))
		var p wireStatsPage
		err := c.getJSON(ctx, request{
			endpoint: endpointStatsList,
			accept:   acceptStats,
			segments: []string{"stats", "interactions"},
			query:    q,
		}, &p)
		if err != nil {
			return err
		}
		if len(p.Items) == 0 {
			return nil
		}
		if first := p.Items[0].GUID; first == prevFirst {
			return nil // the server ignored the page number: nothing new
		} else {
			prevFirst = first
		}
		for _, w := range p.Items {
			s, err := c.stats(ctx, w)
			if err != nil {
				continue // counted and logged
			}
			if !c.inWindow(s.Start, start, end) {
				continue
			}
			key := strings.ToLower(s.GUID)
			if _, dup := seen[key]; dup {
				continue
			}
			seen[key] = struct{}{}
			if err := fn(s); err != nil {
				return err
			}
		}
		if p.Meta.PageCount.known && int64(page) >= p.Meta.PageCount.n {
			return nil
		}
		if !p.Meta.PageCount.known && len(p.Items) < limit {
			return nil
		}
	}
	return &transientError{fmt.Errorf("vcc: %s: more than %d pages", endpointStatsList, maxPages)}
}
