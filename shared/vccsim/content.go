package vccsim

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Limits VCC documents for the Interaction Content listing.
const (
	contentMaxWindow    = 7 * 24 * time.Hour
	contentMaxLimit     = 1000
	contentDefaultLimit = 100
)

const timeLayout = "2006-01-02T15:04:05.000Z"

func formatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

// parseTime accepts ISO 8601 forms: RFC 3339 with or without fraction, a
// zone-less date-time (UTC) or a bare date.
func parseTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("invalid time %q", s)
}

// window reads the required start and end parameters. msg is non-empty when
// they are missing or malformed; tooWide reports a window longer than max.
func window(q url.Values, max time.Duration) (start, end time.Time, tooWide bool, msg string) {
	if q.Get("start") == "" || q.Get("end") == "" {
		return start, end, false, "start and end are required"
	}
	start, err := parseTime(q.Get("start"))
	if err != nil {
		return start, end, false, "start: " + err.Error()
	}
	end, err = parseTime(q.Get("end"))
	if err != nil {
		return start, end, false, "end: " + err.Error()
	}
	if !end.After(start) {
		return start, end, false, "end must be after start"
	}
	return start, end, end.Sub(start) > max, ""
}

// intParam reads an optional integer parameter within [lo, hi].
func intParam(q url.Values, name string, def, lo, hi int) (int, bool) {
	v := q.Get(name)
	if v == "" {
		return def, true
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, false
	}
	return n, true
}

func (s *Sim) inWindow(t, start, end time.Time) bool {
	if t.Before(start) {
		return false
	}
	if s.opts.Quirks.InclusiveEnd {
		return !t.After(end)
	}
	return t.Before(end)
}

// contentItemJSON is one entry of an interaction's "content".
func (s *Sim) contentJSON(in *interaction) map[string]any {
	agents := make([]map[string]string, len(in.Agents))
	for i, a := range in.Agents {
		agents[i] = map[string]string{"id": a.ID}
	}
	content := make([]map[string]any, 0, len(in.Content))
	for _, c := range in.Content {
		item := map[string]any{
			"contentKey":   c.Key,
			"type":         c.Type,
			"contentType":  c.ContentType,
			"lastModified": formatTime(c.LastModified),
			"properties":   map[string]any{},
		}
		if !s.opts.Quirks.OmitContentLength {
			item["contentLength"] = c.Size
		}
		if c.OwningAgent != "" {
			item["owningAgent"] = map[string]string{"id": c.OwningAgent}
		} else {
			item["owningInteractionPlan"] = map[string]string{"id": "ivr-" + strings.ToLower(in.ServiceName)}
		}
		content = append(content, item)
	}
	m := map[string]any{
		"guid":           in.GUID,
		"start":          formatTime(in.Start),
		"connectFrom":    in.ConnectFrom,
		"connectTo":      in.ConnectTo,
		"handlingAgents": agents,
		"content":        content,
	}
	if !s.opts.Quirks.OmitContentDirection {
		m["direction"] = in.Direction
	}
	return m
}

// pageKey is the v3 continuation token's content: the last item returned and
// a fingerprint of the query it belongs to. Keyed on the item rather than an
// offset so that items appearing meanwhile (late recordings) are not skipped.
type pageKey struct {
	Start int64  `json:"s"`
	GUID  string `json:"g"`
	Query string `json:"q"`
}

func queryFingerprint(q url.Values) string {
	var b strings.Builder
	for _, k := range []string{"start", "end", "direction", "handlingAgentId", "connectFrom", "connectTo"} {
		b.WriteString(k + "=" + q.Get(k) + "&")
	}
	h := sha256.Sum256([]byte(b.String()))
	return hex.EncodeToString(h[:8])
}

func encodeKey(k pageKey) string {
	b, _ := json.Marshal(k)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeKey(s string) (pageKey, bool) {
	var k pageKey
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || json.Unmarshal(b, &k) != nil || k.GUID == "" {
		return k, false
	}
	return k, true
}

// visibleInWindow returns the interactions the content API shows for the
// query, in order.
func (s *Sim) visibleInWindow(q url.Values, start, end time.Time) []*interaction {
	now := s.opts.Now()
	dir := strings.ToLower(q.Get("direction"))
	agentID := q.Get("handlingAgentId")
	from, to := q.Get("connectFrom"), q.Get("connectTo")
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []*interaction
	for _, in := range s.pop.interactions {
		if !s.inWindow(in.Start, start, end) || !in.visible(now, s.deny) {
			continue
		}
		if dir != "" && in.Direction != dir {
			continue
		}
		if agentID != "" && !containsID(in.agentIDs(), agentID) {
			continue
		}
		if !strings.HasPrefix(in.ConnectFrom, from) || !strings.HasPrefix(in.ConnectTo, to) {
			continue
		}
		out = append(out, in)
	}
	return out
}

func containsID(ids []string, id string) bool {
	for _, v := range ids {
		if v == id {
			return true
		}
	}
	return false
}

// contentList serves GET /interaction-content/interactions: v3 pages with a
// continuation token, v2 with page numbers.
func (s *Sim) contentList(w http.ResponseWriter, r *http.Request, version int) {
	q := r.URL.Query()
	start, end, tooWide, msg := window(q, contentMaxWindow)
	if msg != "" {
		writeError(w, apiContent, http.StatusBadRequest, msg)
		return
	}
	if tooWide {
		writeError(w, apiContent, http.StatusBadRequest, "The time window may not exceed 7 days")
		return
	}
	limit, ok := intParam(q, "limit", contentDefaultLimit, 1, contentMaxLimit)
	if !ok {
		writeError(w, apiContent, http.StatusBadRequest, fmt.Sprintf("limit must be between 1 and %d", contentMaxLimit))
		return
	}
	all := s.visibleInWindow(q, start, end)
	if version == 2 {
		page, ok := intParam(q, "page", 1, 1, 1<<30)
		if !ok {
			writeError(w, apiContent, http.StatusBadRequest, "page must be 1 or more")
			return
		}
		lo := min((page-1)*limit, len(all))
		hi := min(lo+limit, len(all))
		items := make([]map[string]any, 0, hi-lo)
		for _, in := range all[lo:hi] {
			items = append(items, s.contentJSON(in))
		}
		writeJSON(w, http.StatusOK, map[string]any{"items": items, "meta": pageMeta(page, len(items), limit, len(all))})
		return
	}
	fp := queryFingerprint(q)
	lo := 0
	if tok := q.Get("continuationToken"); tok != "" {
		k, ok := decodeKey(tok)
		if !ok || k.Query != fp {
			writeError(w, apiContent, http.StatusBadRequest, "Invalid continuationToken")
			return
		}
		last := &interaction{Start: time.Unix(0, k.Start).UTC(), GUID: k.GUID}
		for lo < len(all) && !lessInteraction(last, all[lo]) {
			lo++
		}
	}
	hi := min(lo+limit, len(all))
	items := make([]map[string]any, 0, hi-lo)
	for _, in := range all[lo:hi] {
		items = append(items, s.contentJSON(in))
	}
	var next any
	if hi < len(all) {
		l := all[hi-1]
		next = encodeKey(pageKey{Start: l.Start.UnixNano(), GUID: l.GUID, Query: fp})
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items, "meta": map[string]any{"nextContinuationToken": next}})
}

func pageMeta(page, count, limit, total int) map[string]int {
	pages := (total + limit - 1) / limit
	return map[string]int{"page": page, "count": count, "pageCount": pages, "totalCount": total}
}

// lookupVisible returns the interaction if the content API may show it.
func (s *Sim) lookupVisible(guid string) (*interaction, bool) {
	now := s.opts.Now()
	s.mu.RLock()
	defer s.mu.RUnlock()
	in, ok := s.pop.byGUID[strings.ToLower(guid)]
	if !ok || !in.visible(now, s.deny) {
		return nil, false
	}
	return in, true
}

func (s *Sim) contentGet(w http.ResponseWriter, guid string) {
	in, ok := s.lookupVisible(guid)
	if !ok {
		writeError(w, apiContent, http.StatusNotFound, "Interaction not found")
		return
	}
	writeJSON(w, http.StatusOK, s.contentJSON(in))
}

func findContent(in *interaction, key string) *contentItem {
	for _, c := range in.Content {
		if c.Key == key {
			return c
		}
	}
	return nil
}

// contentDownload streams one content item, honouring Range requests, or
// misbehaves as fault f says.
func (s *Sim) contentDownload(w http.ResponseWriter, r *http.Request, guid, key string, f fault) {
	in, ok := s.lookupVisible(guid)
	if !ok {
		writeError(w, apiContent, http.StatusNotFound, "Interaction not found")
		return
	}
	c := findContent(in, key)
	if c == nil {
		writeError(w, apiContent, http.StatusNotFound, "Content not found")
		return
	}
	switch f {
	case faultRedirect:
		s.countFault()
		target, err := s.redirectURL(r, in.GUID, c.Key)
		if err != nil {
			writeError(w, apiContent, http.StatusInternalServerError, "redirect target unavailable")
			return
		}
		http.Redirect(w, r, target, http.StatusTemporaryRedirect)
		return
	case faultTruncate, faultTruncateNoLength:
		s.countFault()
		truncate(w, c, f == faultTruncate)
		return
	}
	serveContent(w, r, c)
}

func serveContent(w http.ResponseWriter, r *http.Request, c *contentItem) {
	w.Header().Set("Content-Type", c.ContentType)
	// ServeContent sets Content-Length, Accept-Ranges and answers Range and
	// conditional requests from the seekable generator.
	http.ServeContent(w, r, "", c.LastModified, c.open())
}

// truncate sends half the body and then breaks the connection, with or
// without a Content-Length announcing the whole.
func truncate(w http.ResponseWriter, c *contentItem, withLength bool) {
	w.Header().Set("Content-Type", c.ContentType)
	if withLength {
		w.Header().Set("Content-Length", strconv.FormatInt(c.Size, 10))
	}
	w.WriteHeader(http.StatusOK)
	half := c.Size / 2
	buf := make([]byte, 32<<10)
	rd := c.open()
	for sent := int64(0); sent < half; {
		n, err := rd.Read(buf[:min(int64(len(buf)), half-sent)])
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				break
			}
			sent += int64(n)
		}
		if err != nil {
			break
		}
	}
	_ = http.NewResponseController(w).Flush()
	// Aborting the handler makes net/http close the connection without
	// completing the body (no final chunk, fewer bytes than announced).
	panic(http.ErrAbortHandler)
}
