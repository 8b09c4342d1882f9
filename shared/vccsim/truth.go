package vccsim

import (
	"sort"
	"strings"
	"time"
)

// Recording is the ground truth of one content item, for comparing what a
// client copied against what VCC holds.
type Recording struct {
	InteractionGUID, ContentKey, Type, ContentType string
	Size                                           int64
	SHA256                                         string // hex, of exactly the bytes served
	Start                                          time.Time
	Direction                                      string // inbound | outbound | internal
	Audio                                          bool   // callRecording, voicemail or ivrAudioRecording, and not a video
	Visible                                        bool   // listed by the content API now, given permissions and late recordings
	OwningAgentID                                  string
	AvailableAt                                    time.Time // zero unless the recording is late
}

// Recordings returns every content item, sorted by interaction guid then
// contentKey. Hashes are computed by streaming on first use and cached, so
// the first call over large recordings takes a while but memory stays flat.
func (s *Sim) Recordings() []Recording {
	now := s.opts.Now()
	s.mu.RLock()
	ins := append([]*interaction(nil), s.pop.interactions...)
	deny := s.deny
	s.mu.RUnlock()
	var out []Recording
	for _, in := range ins {
		vis := in.visible(now, deny)
		for _, c := range in.Content {
			rec := Recording{
				InteractionGUID: in.GUID, ContentKey: c.Key, Type: c.Type, ContentType: c.ContentType,
				Size: c.Size, SHA256: c.SHA256(), Start: in.Start, Direction: in.Direction,
				Audio: c.audio(), Visible: vis, OwningAgentID: c.OwningAgent,
			}
			if in.Late {
				rec.AvailableAt = in.AvailableAt
			}
			out = append(out, rec)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].InteractionGUID != out[j].InteractionGUID {
			return out[i].InteractionGUID < out[j].InteractionGUID
		}
		return out[i].ContentKey < out[j].ContentKey
	})
	return out
}

// InteractionInfo is the ground truth of one interaction.
type InteractionInfo struct {
	GUID       string
	Start      time.Time
	Duration   time.Duration
	Direction  string // inbound | outbound | internal
	Medium     string // Phone | Chat
	AgentIDs   []string
	Line       string // the address line permissions see: connectTo inbound, connectFrom otherwise
	HasContent bool
	Visible    bool // listed by the content API now
	Late       bool
	// AvailableAt is when a late interaction's content appears (zero otherwise).
	AvailableAt time.Time
}

// Interactions returns every interaction, sorted by start then guid.
func (s *Sim) Interactions() []InteractionInfo {
	now := s.opts.Now()
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]InteractionInfo, 0, len(s.pop.interactions))
	for _, in := range s.pop.interactions {
		out = append(out, InteractionInfo{
			GUID: in.GUID, Start: in.Start, Duration: in.Duration, Direction: in.Direction, Medium: in.Medium,
			AgentIDs: in.agentIDs(), Line: in.lineOf(), HasContent: len(in.Content) > 0, Visible: in.visible(now, s.deny),
			Late: in.Late, AvailableAt: in.AvailableAt,
		})
	}
	return out
}

// AgentInfo is the ground truth of one user or handling agent.
type AgentInfo struct {
	ID              string // numeric handling-agent id ("" for the credential owner)
	UserID          string // User Admin GUID
	Name, Email     string
	AgentDisplayID  string
	SSOExternalID   string
	Active          bool
	InReportingLine bool
	InDirectory     bool // false: unresolvable through User Admin
	Unlisted        bool // in User Admin, but only found by display id (not in the listing)
}

// LineInfo is the ground truth of one of the account's phone lines.
type LineInfo struct {
	Address, PlanID, PlanName string
	Permitted                 bool // in the credential owner's line permissions
}

// Lines returns the account's company lines, in generation order.
func (s *Sim) Lines() []LineInfo {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]LineInfo, 0, len(s.pop.lines))
	for _, l := range s.pop.lines {
		out = append(out, LineInfo{Address: l.Address, PlanID: l.PlanID, PlanName: l.PlanName, Permitted: l.Permitted})
	}
	return out
}

// OwnerUserID is the User Admin id of the user who owns the API credential.
func (s *Sim) OwnerUserID() string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.pop.owner.UserID
}

// Agents returns the handling agents, in generation order.
func (s *Sim) Agents() []AgentInfo {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]AgentInfo, 0, len(s.pop.agents))
	for _, a := range s.pop.agents {
		out = append(out, AgentInfo{
			ID: a.ID, UserID: a.UserID, Name: a.Name, Email: a.Email, AgentDisplayID: a.AgentDisplayID,
			SSOExternalID: a.SSOExternalID, Active: a.Active, InReportingLine: a.InLine, InDirectory: a.InDirectory,
			Unlisted: a.Unlisted,
		})
	}
	return out
}

// AddInteraction adds a phone interaction with one callRecording of
// recordingBytes (streamed, so 1 GiB costs no memory), handled by an agent in
// the owner's reporting line. direction is inbound, outbound or internal
// (case-insensitive). It returns the new guid.
func (s *Sim) AddInteraction(start time.Time, direction string, recordingBytes int64) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.addRand
	dir := strings.ToLower(direction)
	switch dir {
	case dirInbound, dirOutbound, dirInternal:
	default:
		dir = dirInbound
	}
	var agents []*agent
	for _, a := range s.pop.agents {
		if a.InLine && a.InDirectory {
			agents = []*agent{a}
			break
		}
	}
	if agents == nil && len(s.pop.agents) > 0 {
		agents = s.pop.agents[:1]
	}
	var ln *line
	for _, l := range s.pop.lines {
		if l.Permitted {
			ln = l
			break
		}
	}
	in := &interaction{
		GUID: newGUID(r), ConversationGUID: newGUID(r), Start: start.UTC(), Line: ln,
		Duration: 5 * time.Minute, Direction: dir, Medium: "Phone",
		ConnectFrom: phone(r), ConnectTo: phone(r), ServiceName: services[0],
		Status: "Completed", Outcome: "Handled", Agents: agents,
	}
	switch {
	case dir == dirInternal && len(agents) > 0:
		in.Line, in.ConnectFrom, in.ConnectTo = nil, "ext-"+agents[0].ID, "ext-"+agents[0].ID
	case ln != nil && dir == dirInbound:
		in.ConnectTo = ln.Address
	case ln != nil:
		in.ConnectFrom = ln.Address
	}
	owner := ""
	if len(agents) > 0 {
		owner = agents[0].ID
	}
	in.Content = []*contentItem{{
		Key: TypeCallRecording, Type: TypeCallRecording, ContentType: "audio/wav",
		Size: max(recordingBytes, 0), Seed: r.Int64(), OwningAgent: owner,
		LastModified: in.Start.Add(in.Duration + 30*time.Second),
	}}
	s.pop.insert(in)
	return in.GUID
}
