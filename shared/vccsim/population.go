package vccsim

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"time"
)

// Direction values as the content API spells them (Stats capitalises them).
const (
	dirInbound  = "inbound"
	dirOutbound = "outbound"
	dirInternal = "internal"
)

// Content types VCC serves.
const (
	TypeCallRecording     = "callRecording"
	TypeVoicemail         = "voicemail"
	TypeIVRAudioRecording = "ivrAudioRecording"
	TypeScreenRecording   = "screenRecording"
	TypeTranscript        = "transcript"
	TypeChatTranscript    = "chatTranscript"
)

// agent is one user of the simulated account. ID is the short numeric id
// that interactions carry in handlingAgents; UserID is the User Admin GUID.
type agent struct {
	ID             string
	UserID         string
	Username       string
	Name           string
	Email          string
	AgentDisplayID string
	SSOExternalID  string
	Active         bool
	InLine         bool // in the credential owner's reporting line
	InDirectory    bool // false: appears on interactions but not in User Admin
	Unlisted       bool // in User Admin but not in the listing the owner sees: found only by display id
	ActAsAgent     bool
	Role           string
}

type contentItem struct {
	Key, Type, ContentType string
	Size                   int64
	Seed                   int64
	OwningAgent            string
	LastModified           time.Time
	data                   []byte // small JSON items; nil for streamed ones

	shaOnce sync.Once
	sha     string
}

// open returns a fresh seekable reader over the item's bytes.
func (c *contentItem) open() readSeekerAt {
	switch {
	case c.data != nil:
		return strings.NewReader(string(c.data))
	case c.ContentType == "video/webm":
		return newSynth(kindWebM, c.Seed, c.Size)
	default:
		return newSynth(kindWAV, c.Seed, c.Size)
	}
}

// SHA256 is computed lazily by streaming and cached.
func (c *contentItem) SHA256() string {
	c.shaOnce.Do(func() { c.sha = hashStream(c.open()) })
	return c.sha
}

// videoCallOneIn: about one callRecording in this many is a video call's
// (contentType video/webm): not audio, whatever its type says.
const videoCallOneIn = 40

func (c *contentItem) audio() bool {
	if strings.HasPrefix(c.ContentType, "video/") {
		return false
	}
	switch c.Type {
	case TypeCallRecording, TypeVoicemail, TypeIVRAudioRecording:
		return true
	}
	return false
}

type readSeekerAt interface {
	Read(p []byte) (int, error)
	ReadAt(p []byte, off int64) (int, error)
	Seek(offset int64, whence int) (int64, error)
}

type interaction struct {
	GUID, ConversationGUID string
	Start                  time.Time
	Duration               time.Duration
	Direction              string // lower case
	Medium                 string // Phone | Chat
	ConnectFrom, ConnectTo string
	ServiceName            string
	Status, Outcome        string
	Agents                 []*agent
	Content                []*contentItem
	Line                   *line     // the company line (nil for internal calls, whose line is an extension)
	Late                   bool      // content appears only at AvailableAt (when Options.LateRecording > 0)
	AvailableAt            time.Time // start + duration + LateRecording
}

func (in *interaction) agentIDs() []string {
	ids := make([]string, len(in.Agents))
	for i, a := range in.Agents {
		ids[i] = a.ID
	}
	return ids
}

// line is one of the account's phone lines (addresses), with the
// interaction plan it maps to.
type line struct {
	Address, PlanID, PlanName string
	Permitted                 bool // in the credential owner's line permissions
}

// lineCount is how many company lines the account has; the owner is
// permitted the first permittedLines of them.
const (
	lineCount      = 6
	permittedLines = 2
)

// lineOf is the interaction's line (address): connectTo for inbound,
// connectFrom for outbound and internal, as line permissions see it.
func (in *interaction) lineOf() string {
	if in.Direction == dirInbound {
		return in.ConnectTo
	}
	return in.ConnectFrom
}

// population is the generated account: its users and interactions (sorted
// by start, then guid).
type population struct {
	agents       []*agent // handling agents, including ones not in the directory
	users        []*agent // User Admin directory, sorted by userId
	interactions []*interaction
	byGUID       map[string]*interaction
	owner        *agent
	lines        []*line
}

// newRand derives an independent, deterministic generator for one purpose so
// that changing one part of the population leaves the others alone.
func newRand(seed int64, stream uint64) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(seed), stream*0x9e3779b97f4a7c15+1))
}

func newGUID(r *rand.Rand) string {
	var b [16]byte
	for i := 0; i < 16; i += 8 {
		x := r.Uint64()
		for j := 0; j < 8; j++ {
			b[i+j] = byte(x >> (8 * j))
		}
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

var (
	firstNames = []string{"Ada", "Ben", "Chloe", "Dev", "Elif", "Finn", "Grace", "Hugo", "Isla", "Jon", "Kemi", "Liam", "Maya", "Nils", "Olga", "Priya", "Quinn", "Rosa", "Sam", "Tariq", "Uma", "Vik", "Wen", "Xavi", "Yara", "Zoe"}
	lastNames  = []string{"Adams", "Baker", "Chen", "Diaz", "Evans", "Fox", "Gupta", "Hall", "Ito", "Jones", "Khan", "Lopez", "Moss", "Novak", "Okafor", "Patel", "Reid", "Silva", "Tan", "Usman", "Vance", "Walsh", "Young", "Zhou"}
	services   = []string{"Sales", "Support", "Billing", "Retention"}
)

// generate builds the population of opts deterministically from opts.Seed.
func generate(opts Options) *population {
	p := &population{byGUID: map[string]*interaction{}}
	p.genAgents(opts)
	p.genLines(opts)
	for d := 0; d < opts.Days; d++ {
		r := newRand(opts.Seed, 1000+uint64(d))
		day := opts.Start.AddDate(0, 0, d)
		p.genDay(opts, r, day)
	}
	p.sortInteractions()
	return p
}

// genAgents creates the agents. Most carry their numeric id as
// agentDisplayId; about one in five has a different display id (an agent
// code) and is matched by ssoExternalId instead; one is archived and, with
// ten or more agents, one is missing from the directory altogether. About
// 40% are in the credential owner's reporting line.
func (p *population) genAgents(opts Options) {
	r := newRand(opts.Seed, 1)
	used := map[string]bool{}
	for i := 0; i < opts.Agents; i++ {
		id := ""
		for id == "" || used[id] {
			id = fmt.Sprint(1000 + r.IntN(9000))
		}
		used[id] = true
		first := firstNames[r.IntN(len(firstNames))]
		last := lastNames[r.IntN(len(lastNames))]
		user := strings.ToLower(first + "." + last + id[2:])
		a := &agent{
			ID:             id,
			UserID:         newGUID(r),
			Username:       user,
			Name:           first + " " + last,
			Email:          user + "@example.com",
			AgentDisplayID: id,
			Active:         true,
			InLine:         i%5 < 2,
			InDirectory:    true,
			ActAsAgent:     true,
			Role:           "Agent",
		}
		if i%5 == 3 {
			// Identifier mismatch: the display id is an agent code, the
			// numeric id is only in ssoExternalId.
			a.AgentDisplayID = strings.ToUpper(first[:1]+last) + fmt.Sprint(r.IntN(100))
			a.SSOExternalID = id
		} else {
			a.SSOExternalID = a.Email
		}
		if i == 2 {
			a.Active = false // archived: only listed with include=Archived|All
		}
		if opts.Agents >= 10 && i == opts.Agents-1 {
			a.InDirectory = false // deleted from User Admin: unresolvable
		}
		if opts.Agents >= 10 && i == 4 {
			a.Unlisted = true // outside what the owner's listing shows: found by display id
		}
		p.agents = append(p.agents, a)
	}
	rOwner := newRand(opts.Seed, 2)
	p.owner = &agent{
		ID: "", UserID: newGUID(rOwner), Username: "api.owner", Name: "API Owner",
		Email: "api.owner@example.com", Active: true, InDirectory: true, Role: "Supervisor",
	}
	p.users = append(p.users, p.owner)
	for _, a := range p.agents {
		if a.InDirectory {
			p.users = append(p.users, a)
		}
	}
	sort.Slice(p.users, func(i, j int) bool { return p.users[i].UserID < p.users[j].UserID })
}

// genLines creates the account's lines from a generator of their own, so
// the rest of the population does not change with them.
func (p *population) genLines(opts Options) {
	r := newRand(opts.Seed, 4)
	used := map[string]bool{}
	for i := 0; i < lineCount; i++ {
		addr := ""
		for addr == "" || used[addr] {
			addr = fmt.Sprintf("+44800%06d", r.IntN(1000000))
		}
		used[addr] = true
		svc := services[i%len(services)]
		p.lines = append(p.lines, &line{
			Address: addr, PlanID: fmt.Sprintf("plan-%d-%s", i+1, strings.ToLower(svc)),
			PlanName: fmt.Sprintf("%s line %d", svc, i+1), Permitted: i < permittedLines,
		})
	}
}

// lineFor picks a company line for a generated number without drawing from
// the interaction's generator (which would change every later draw).
func (p *population) lineFor(number string) *line {
	if len(p.lines) == 0 {
		return nil
	}
	h := uint32(2166136261)
	for i := 0; i < len(number); i++ {
		h = (h ^ uint32(number[i])) * 16777619
	}
	return p.lines[h%uint32(len(p.lines))]
}

func phone(r *rand.Rand) string {
	return fmt.Sprintf("+4420%08d", r.IntN(100000000))
}

func (p *population) genDay(opts Options, r *rand.Rand, day time.Time) {
	n := opts.InteractionsPerDay
	for i := 0; i < n; i++ {
		// Spread over the day: mostly business hours, some at night.
		var sec int
		if r.IntN(10) < 8 {
			sec = 8*3600 + r.IntN(10*3600)
		} else {
			sec = r.IntN(24 * 3600)
		}
		start := day.Add(time.Duration(sec)*time.Second + time.Duration(r.IntN(1000))*time.Millisecond)
		p.add(p.genInteraction(opts, r, start))
	}
}

func (p *population) pickAgents(r *rand.Rand, k int) []*agent {
	if len(p.agents) == 0 {
		return nil
	}
	if k > len(p.agents) {
		k = len(p.agents)
	}
	perm := r.Perm(len(p.agents))
	out := make([]*agent, k)
	for i := range out {
		out[i] = p.agents[perm[i]]
	}
	return out
}

func (p *population) genInteraction(opts Options, r *rand.Rand, start time.Time) *interaction {
	in := &interaction{
		GUID:             newGUID(r),
		ConversationGUID: newGUID(r),
		Start:            start,
		Duration:         time.Duration(20+r.IntN(1200))*time.Second + time.Duration(r.IntN(1000))*time.Millisecond,
		Medium:           "Phone",
		ServiceName:      services[r.IntN(len(services))],
		Status:           "Completed",
		Outcome:          "Handled",
	}
	switch d := r.IntN(100); {
	case d < 55:
		in.Direction = dirInbound
	case d < 90:
		in.Direction = dirOutbound
	default:
		in.Direction = dirInternal
	}
	k := 1
	switch a := r.IntN(100); {
	case a < 14:
		k = 2
	case a < 20:
		k = 3
	}
	if in.Direction == dirInternal && k < 2 {
		k = 2
	}
	in.Agents = p.pickAgents(r, k)
	company, customer := phone(r), phone(r)
	if l := p.lineFor(company); l != nil {
		in.Line, company = l, l.Address
	}
	switch in.Direction {
	case dirInbound:
		in.ConnectFrom, in.ConnectTo = customer, company
	case dirOutbound:
		in.ConnectFrom, in.ConnectTo = company, customer
	default:
		in.ConnectFrom, in.ConnectTo = "ext-"+in.Agents[0].ID, "ext-"+in.Agents[len(in.Agents)-1].ID
		in.Line = nil // an extension, not one of the account's lines
	}
	roll := r.IntN(100)
	late := r.IntN(100) < 5
	if late && opts.LateRecording > 0 {
		in.Late = true
		in.AvailableAt = in.Start.Add(in.Duration + opts.LateRecording)
	}
	end := in.Start.Add(in.Duration)
	owner := ""
	if len(in.Agents) > 0 {
		owner = in.Agents[0].ID
	}
	audioSize := func() int64 {
		s := opts.MinRecordingBytes + r.Int64N(opts.MaxRecordingBytes-opts.MinRecordingBytes+1)
		return s &^ 1 // whole samples
	}
	addStream := func(key, typ, ctype, owningAgent string) {
		in.Content = append(in.Content, &contentItem{
			Key: key, Type: typ, ContentType: ctype, Size: audioSize(), Seed: r.Int64(),
			OwningAgent: owningAgent, LastModified: end.Add(time.Duration(5+r.IntN(60)) * time.Second),
		})
	}
	switch {
	case roll < 6: // chat: only a transcript
		in.Medium = "Chat"
		in.Direction = dirInbound
		in.ConnectFrom, in.ConnectTo = "web-"+customer[5:], company
		if in.Line == nil {
			in.ConnectTo = "web-chat"
		}
		in.Content = append(in.Content, jsonItem(TypeChatTranscript, TypeChatTranscript, owner, end, in))
	case roll < 14: // no content at all: only Stats knows the call
		in.Outcome = []string{"Abandoned", "NoRecording"}[r.IntN(2)]
	default:
		if in.Direction == dirInbound && r.IntN(100) < 10 {
			addStream(TypeVoicemail, TypeVoicemail, "audio/wav", owner)
		} else {
			addStream(TypeCallRecording, TypeCallRecording, "audio/wav", owner)
			// A video call: VCC lists its callRecording as video/webm.
			// Chosen from the seed already drawn, so the rest of the
			// population does not change.
			if c := in.Content[len(in.Content)-1]; c.Seed%videoCallOneIn == 0 {
				c.ContentType = "video/webm"
			}
		}
		if in.Direction == dirInbound && r.IntN(100) < 15 {
			addStream(TypeIVRAudioRecording, TypeIVRAudioRecording, "audio/wav", "")
		}
		if r.IntN(100) < 8 && owner != "" {
			addStream("screenRecording_"+owner, TypeScreenRecording, "video/webm", owner)
		}
		if r.IntN(100) < 10 {
			in.Content = append(in.Content, jsonItem(TypeTranscript, TypeTranscript, owner, end, in))
		}
	}
	if in.Late {
		for _, c := range in.Content {
			c.LastModified = in.AvailableAt
		}
	}
	return in
}

// jsonItem builds a small JSON transcript for in.
func jsonItem(key, typ, owner string, end time.Time, in *interaction) *contentItem {
	type line struct {
		Offset  int64  `json:"offsetMs"`
		Speaker string `json:"speaker"`
		Text    string `json:"text"`
	}
	doc := struct {
		GUID  string `json:"interactionGuid"`
		Type  string `json:"type"`
		Lines []line `json:"lines"`
	}{GUID: in.GUID, Type: typ, Lines: []line{
		{0, "agent", "Hello, how can I help?"},
		{2500, "customer", "I am calling about my account."},
		{6000, "agent", "Let me look that up for you."},
	}}
	b, _ := json.Marshal(doc)
	return &contentItem{Key: key, Type: typ, ContentType: "application/json", Size: int64(len(b)),
		OwningAgent: owner, LastModified: end.Add(30 * time.Second), data: b}
}

func (p *population) add(in *interaction) {
	p.interactions = append(p.interactions, in)
	p.byGUID[in.GUID] = in
}

func (p *population) sortInteractions() {
	sort.Slice(p.interactions, func(i, j int) bool { return lessInteraction(p.interactions[i], p.interactions[j]) })
}

func lessInteraction(a, b *interaction) bool {
	if !a.Start.Equal(b.Start) {
		return a.Start.Before(b.Start)
	}
	return a.GUID < b.GUID
}

// insert adds in keeping the order.
func (p *population) insert(in *interaction) {
	i := sort.Search(len(p.interactions), func(i int) bool { return lessInteraction(in, p.interactions[i]) })
	p.interactions = append(p.interactions, nil)
	copy(p.interactions[i+1:], p.interactions[i:])
	p.interactions[i] = in
	p.byGUID[in.GUID] = in
}

// available reports whether in's content exists yet at now.
func (in *interaction) available(now time.Time) bool {
	return !in.Late || !now.Before(in.AvailableAt)
}

// permitted reports whether the credential owner may see in's content.
func (in *interaction) permitted(deny Permissions) bool {
	if deny.Inbound && in.Direction == dirInbound {
		return false
	}
	if deny.Outbound && in.Direction == dirOutbound {
		return false
	}
	if deny.Groups {
		for _, a := range in.Agents {
			if !a.InLine {
				return false
			}
		}
	}
	if deny.Lines && (in.Line == nil || !in.Line.Permitted) {
		return false // not on a line the owner's line permissions name
	}
	return true
}

// visible reports whether the content API shows in at all.
func (in *interaction) visible(now time.Time, deny Permissions) bool {
	return len(in.Content) > 0 && in.available(now) && in.permitted(deny)
}
