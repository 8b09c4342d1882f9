package vccsim

import (
	"hash/fnv"
	"net/http"
	"strings"
	"time"
)

const (
	statsMaxWindow    = 31 * 24 * time.Hour
	statsMaxLimit     = 5000
	statsDefaultLimit = 100
)

// statsDirection capitalises a direction as Stats spells it.
func statsDirection(d string) string {
	if d == "" {
		return ""
	}
	return strings.ToUpper(d[:1]) + d[1:]
}

// derivedGUID makes a stable GUID from an interaction guid and a label, for
// the channels Stats reports.
func derivedGUID(guid string, label string) string {
	h := fnv.New64a()
	h.Write([]byte(guid + "/" + label))
	return newGUID(newRand(int64(h.Sum64()), 11))
}

// statsJSON is the Insights Stats form of an interaction. Stats knows every
// interaction, whatever the content permissions and whether or not anything
// was recorded.
func statsJSON(in *interaction) map[string]any {
	ms := in.Duration.Milliseconds()
	channels := []map[string]any{}
	if in.Direction != dirInternal {
		role, touch := "Customer", in.ConnectFrom
		if in.Direction == dirOutbound {
			touch = in.ConnectTo
		}
		channels = append(channels, map[string]any{
			"guid": derivedGUID(in.GUID, "customer"), "offset": 0, "duration": ms, "endReason": "Hangup",
			"party":  map[string]any{"id": touch, "role": role, "touchpoint": touch},
			"events": []any{},
		})
	}
	slot := ms / int64(max(len(in.Agents), 1))
	for i, a := range in.Agents {
		channels = append(channels, map[string]any{
			"guid": derivedGUID(in.GUID, "agent-"+a.ID), "offset": int64(i) * slot, "duration": slot,
			"endReason": "Hangup",
			"party":     map[string]any{"id": a.ID, "role": "Agent", "touchpoint": "ext-" + a.ID},
			"events":    []any{},
		})
	}
	plan := map[string]any{"id": "ivr-" + strings.ToLower(in.ServiceName), "name": in.ServiceName + " plan"}
	if in.Line != nil {
		plan = map[string]any{"id": in.Line.PlanID, "name": in.Line.PlanName}
	}
	return map[string]any{
		"guid":                   in.GUID,
		"conversationGuid":       in.ConversationGUID,
		"start":                  formatTime(in.Start),
		"duration":               ms,
		"status":                 in.Status,
		"medium":                 in.Medium,
		"direction":              statsDirection(in.Direction),
		"serviceName":            in.ServiceName,
		"connectFrom":            in.ConnectFrom,
		"connectTo":              in.ConnectTo,
		"outcome":                in.Outcome,
		"interactionPlanMapping": plan,
		"channels":               channels,
	}
}

func (s *Sim) statsGet(w http.ResponseWriter, guid string) {
	s.mu.RLock()
	in, ok := s.pop.byGUID[strings.ToLower(guid)]
	s.mu.RUnlock()
	if !ok {
		writeError(w, apiStats, http.StatusNotFound, "Interaction not found")
		return
	}
	writeJSON(w, http.StatusOK, statsJSON(in))
}

// statsList serves GET /stats/interactions: page/limit paging over every
// interaction in the window, sorted by start.
func (s *Sim) statsList(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	start, end, tooWide, msg := window(q, statsMaxWindow)
	if msg != "" {
		writeError(w, apiStats, http.StatusBadRequest, msg)
		return
	}
	if tooWide {
		writeError(w, apiStats, http.StatusBadRequest, "Request window size limit exceeded 31 days")
		return
	}
	include := q.Get("include")
	switch strings.ToLower(include) {
	case "", "started", "startedorended", "processed":
	default:
		writeError(w, apiStats, http.StatusBadRequest, "include must be Started, StartedOrEnded or Processed")
		return
	}
	page, ok := intParam(q, "page", 1, 1, 1<<30)
	if !ok {
		writeError(w, apiStats, http.StatusBadRequest, "page must be 1 or more")
		return
	}
	limit, ok := intParam(q, "limit", statsDefaultLimit, 1, statsMaxLimit)
	if !ok {
		writeError(w, apiStats, http.StatusBadRequest, "limit must be between 1 and 5000")
		return
	}
	orEnded := include != "" && !strings.EqualFold(include, "started")
	var all []*interaction
	s.mu.RLock()
	for _, in := range s.pop.interactions {
		if s.inWindow(in.Start, start, end) || (orEnded && s.inWindow(in.Start.Add(in.Duration), start, end)) {
			all = append(all, in)
		}
	}
	s.mu.RUnlock()
	lo := min((page-1)*limit, len(all))
	hi := min(lo+limit, len(all))
	items := make([]map[string]any, 0, hi-lo)
	for _, in := range all[lo:hi] {
		items = append(items, statsJSON(in))
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"items": items,
		"meta":  pageMeta(page, len(items), limit, len(all)),
		"upTo":  formatTime(end),
	})
}
