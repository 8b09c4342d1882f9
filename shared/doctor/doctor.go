// Package doctor checks that the VCC credential can do its job, and only its
// job: a token can be obtained, it carries exactly the three scopes the
// product needs (a missing one breaks the pipeline, an extra one is more
// privilege than the integration should hold), each API answers in the
// version the client speaks, and the credential owner's feature
// permissions let the content listing see what Stats knows happened.
//
// That last check matters because VCC reports a missing feature permission
// with no error at all: the content listing simply omits what the user may
// not see. The doctor compares the two listings over a sample window and
// names the permission that is probably off, with the counts as evidence.
//
// Stats also lists interactions that never had content (abandoned calls,
// calls not recorded), so "listed by Stats but not by Interaction Content"
// is not in itself a problem. The rules below only fire on patterns that
// interactions without content do not produce:
//   - a direction (inbound or outbound) with many interactions in Stats and
//     none at all in the content listing: "View <direction> interaction
//     content" is off;
//   - agents with several interactions in Stats and none in the content
//     listing while other agents' content is listed: the credential owner
//     sees content by the groups it manages ("Access groups of users'
//     content") and these agents are outside them;
//   - lines (the interaction's address: connectTo for inbound, connectFrom
//     for outbound and internal) with many interactions in Stats and none in
//     the content listing while other lines have content: "Access groups of
//     users' content (overrides line permissions)" is off, so VCC shows the
//     owner content by line permissions only. The other explanation,
//     recording not enabled on those lines, is named so the operator can
//     tell them apart.
//
// With users:read and the owner's User Admin id (VCC_OWNER_USER_ID), the
// doctor also reads what VCC can tell directly: the owner's line
// permissions (addresses) and managed groups.
package doctor

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/vcc-ingest/vcc-ingest/shared/vcc"
)

// Status is a check's outcome.
type Status string

// Statuses, from best to worst for the exit code: a problem found outranks a
// check that could not be made. An optional check that could not be made
// (the owner's permissions: VCC_OWNER_USER_ID is optional) fails only with
// Options.Strict.
const (
	OK        Status = "ok"
	Problem   Status = "problem"
	Unchecked Status = "unchecked" // could not be checked (network, VCC down, nothing to compare)
)

// Check is one finding.
type Check struct {
	Name     string   `json:"name"`
	Status   Status   `json:"status"`
	Detail   string   `json:"detail"`
	Evidence []string `json:"evidence,omitempty"`
	Fix      string   `json:"fix,omitempty"`
	// Optional: unchecked, it is reported but leaves the exit status 0
	// unless Options.Strict.
	Optional bool `json:"optional,omitempty"`
}

// DirectionCount compares the two listings for one direction.
type DirectionCount struct {
	Direction string `json:"direction"`
	Stats     int    `json:"stats"`
	Content   int    `json:"contentListed"`
}

// AgentCount compares the two listings for one agent.
type AgentCount struct {
	Agent   string `json:"agent"`
	Stats   int    `json:"stats"`
	Content int    `json:"contentListed"`
}

// LineCount compares the two listings for one line (address).
type LineCount struct {
	Line    string `json:"line"`
	Plan    string `json:"plan,omitempty"` // Stats' interactionPlanMapping, the most frequent on the line
	Stats   int    `json:"stats"`
	Content int    `json:"contentListed"`
}

// Sample is the evidence of the coverage check.
type Sample struct {
	From         time.Time        `json:"from"`
	To           time.Time        `json:"to"`
	Stats        int              `json:"stats"`
	Content      int              `json:"contentListed"`
	ContentOnly  int              `json:"contentOnly"` // listed by Interaction Content, unknown to Stats
	ByDirection  []DirectionCount `json:"byDirection"`
	HiddenAgents []AgentCount     `json:"hiddenAgents,omitempty"`
	SeenAgents   int              `json:"agentsWithContent"`
	ByLine       []LineCount      `json:"byLine,omitempty"`
	HiddenLines  []LineCount      `json:"hiddenLines,omitempty"`
	SeenLines    int              `json:"linesWithContent"`
}

// Owner is what VCC says directly of the credential owner's permissions.
type Owner struct {
	UserID    string   `json:"userId"`
	Addresses []string `json:"addresses"` // line permissions
	Groups    []string `json:"groups"`    // managed groups
}

// Report is everything the doctor found.
type Report struct {
	Checks []Check  `json:"checks"`
	Sample *Sample  `json:"sample,omitempty"`
	Owner  *Owner   `json:"owner,omitempty"`
	Exit   int      `json:"exitStatus"`
	Scopes []string `json:"grantedScopes,omitempty"`
}

// VCC is what the doctor needs of the product's own client: the token it
// obtains and the two listings.
type VCC interface {
	GrantedScopes(ctx context.Context) ([]string, error)
	ListStats(ctx context.Context, start, end time.Time, fn func(vcc.Stats) error) error
	ListInteractions(ctx context.Context, start, end time.Time, fn func(vcc.Interaction) error) error
}

// OwnerReader reads a user's line permissions and managed groups (the
// product's client does, with users:read).
type OwnerReader interface {
	UserAddresses(ctx context.Context, userID string) ([]vcc.Permission, error)
	UserGroups(ctx context.Context, userID string) ([]vcc.Permission, error)
}

// Prober makes the calls the product itself never makes.
type Prober interface {
	// CredentialScopes asks the token endpoint for a token without naming
	// any scope: an OAuth server then grants everything the credential
	// holds (IdentityServer, which serves VCC's /Auth/connect/token, does),
	// which is the only way to see scopes beyond the three the product
	// requests. The token is used for nothing else. nil scopes with a nil
	// error: the response did not say.
	CredentialScopes(ctx context.Context) ([]string, error)
	// Probe calls one API's listing with its required Accept version.
	Probe(ctx context.Context, api API) ProbeResult
}

// API is one VCC API the product uses.
type API struct {
	Name    string // e.g. "Interaction Content"
	Scope   string
	Version int // the Accept version the client sends
	Path    string
}

// Media is the API's required Accept media type.
func (a API) Media() string { return fmt.Sprintf("application/vnd.newvoicemedia.v%d+json", a.Version) }

// APIs are the three APIs, in the order they are checked.
var APIs = []API{
	{Name: "Interaction Content", Scope: "interaction-content:read", Version: 3, Path: "/interaction-content/interactions"},
	{Name: "Insights Stats", Scope: "stats", Version: 3, Path: "/stats/interactions"},
	{Name: "User Admin", Scope: "users:read", Version: 4, Path: "/useradmin/users"},
}

// ProbeResult is one API's answer.
type ProbeResult struct {
	Status      int    // HTTP status, 0 when there was no answer
	ContentType string // of a 2xx answer
	Message     string // of an error answer
	Err         error  // no answer at all (network, token)
}

// Options tune Run.
type Options struct {
	From, To time.Time // the sample window; default the last 7 whole UTC days
	Now      func() time.Time
	// MinDirection is how many Stats interactions a direction needs before
	// an empty content listing for it counts as evidence (default 5).
	MinDirection int
	// MinAgent is how many Stats interactions an agent needs before none
	// listed counts as evidence (default 3).
	MinAgent int
	// MinLine is how many Stats interactions a line needs before none
	// listed counts as evidence (default 5).
	MinLine int
	// OwnerUserID is the User Admin id of the user who owns the API
	// credential (VCC_OWNER_USER_ID); "" leaves its permissions unchecked.
	OwnerUserID string
	// Strict makes an optional check that could not be made fail (exit
	// status 2) like any other.
	Strict bool
}

// Why each scope is needed, for the "missing" message.
var scopeUse = map[string]string{
	"interaction-content:read": "listing interactions and downloading recordings",
	"users:read":               "resolving agents' names, emails and codes",
	"stats":                    "the call direction and the coverage comparison",
}

// Run performs every check (p nil: all but the scope and version probes). It never returns an error: what could not be
// checked is a check with status Unchecked.
func Run(ctx context.Context, v VCC, p Prober, opts Options) Report {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.To.IsZero() {
		opts.To = opts.Now().UTC().Truncate(24 * time.Hour)
	}
	if opts.From.IsZero() {
		opts.From = opts.To.Add(-7 * 24 * time.Hour)
	}
	if opts.MinDirection <= 0 {
		opts.MinDirection = 5
	}
	if opts.MinAgent <= 0 {
		opts.MinAgent = 3
	}
	if opts.MinLine <= 0 {
		opts.MinLine = 5
	}
	var r Report
	tokenOK := r.checkToken(ctx, v)
	if p != nil {
		r.checkScopes(ctx, p)
		for _, api := range APIs {
			r.checkAPI(ctx, p, api)
		}
	}
	if tokenOK {
		r.checkOwner(ctx, v, opts.OwnerUserID)
		r.checkCoverage(ctx, v, opts)
	} else {
		r.add(Check{Name: "owner permissions", Status: Unchecked, Optional: true, Detail: "no token: the owner's permissions cannot be read"})
		r.add(Check{Name: "coverage", Status: Unchecked, Detail: "no token: the listings cannot be compared"})
	}
	r.Exit = exitStatus(r.Checks, opts.Strict)
	return r
}

// RunPermissions performs only the checks that use the product's own token
// and its three scopes: the token, the owner's permissions and the coverage
// comparison (what the audit function runs daily). The scope and version
// probes, which request a token without naming a scope, are left to Run.
func RunPermissions(ctx context.Context, v VCC, opts Options) Report {
	return Run(ctx, v, nil, opts) // a nil Prober: no probes
}

// Hidden summarises the findings of r: the hidden directions, lines and
// agents, for the audit's event and alert.
func (r Report) Hidden() (directions, lines, agents []string) {
	for _, c := range r.Checks {
		if c.Status == Problem && strings.HasPrefix(c.Name, "permission ") {
			if d := strings.TrimPrefix(c.Name, "permission "); d == "inbound" || d == "outbound" {
				directions = append(directions, d)
			}
		}
	}
	if s := r.Sample; s != nil {
		for _, l := range s.HiddenLines {
			lines = append(lines, l.Line)
		}
		if r.problem("permission groups") {
			for _, a := range s.HiddenAgents {
				agents = append(agents, a.Agent)
			}
		}
		if !r.problem("permission lines") {
			lines = nil
		}
	}
	return directions, lines, agents
}

func (r Report) problem(name string) bool {
	for _, c := range r.Checks {
		if c.Name == name && c.Status == Problem {
			return true
		}
	}
	return false
}

func (r *Report) add(c Check) { r.Checks = append(r.Checks, c) }

func exitStatus(checks []Check, strict bool) int {
	status := 0
	for _, c := range checks {
		switch c.Status {
		case Problem:
			return 1
		case Unchecked:
			if strict || !c.Optional {
				status = 2
			}
		}
	}
	return status
}

// UncheckedOptional names the optional checks that could not be made.
func (r Report) UncheckedOptional() []string {
	var names []string
	for _, c := range r.Checks {
		if c.Status == Unchecked && c.Optional && !slices.Contains(names, c.Name) {
			names = append(names, c.Name)
		}
	}
	return names
}

// checkToken obtains a token the way the product does.
func (r *Report) checkToken(ctx context.Context, v VCC) bool {
	scopes, err := v.GrantedScopes(ctx)
	if err == nil {
		detail := "obtained with the client-credentials grant, scope \"" + vcc.Scopes + "\""
		if scopes != nil {
			r.Scopes = scopes
			detail += "; granted \"" + strings.Join(scopes, " ") + "\""
		}
		r.add(Check{Name: "token", Status: OK, Detail: detail})
		return true
	}
	c := Check{Name: "token", Status: Unchecked, Detail: "no token: " + err.Error()}
	var ae *vcc.APIError
	if errors.As(err, &ae) && ae.Endpoint == "token" && ae.Status >= 400 && ae.Status < 500 && ae.Status != http.StatusTooManyRequests {
		c.Status = Problem
		c.Detail = "the token endpoint refused the request: " + ae.Error()
		switch {
		case strings.HasPrefix(ae.Message, "invalid_scope"):
			c.Fix = "the credential lacks one of the three scopes: see the scopes check"
		default:
			c.Fix = "check VCC_CLIENT_ID and the client secret (VCC_CLIENT_SECRET locally, the Key Vault secret in Azure); a rotated secret must be updated there"
		}
	}
	r.add(c)
	return false
}

// checkScopes compares what the credential holds with the three scopes.
func (r *Report) checkScopes(ctx context.Context, p Prober) {
	required := strings.Fields(vcc.Scopes)
	held, err := p.CredentialScopes(ctx)
	source := "a token requested without a scope, which grants all the credential holds"
	if err != nil || held == nil {
		if r.Scopes == nil {
			detail := "the token endpoint did not say which scopes it granted"
			if err != nil {
				detail = "could not ask for the credential's scopes: " + err.Error()
			}
			r.add(Check{Name: "scopes", Status: Unchecked, Detail: detail})
			return
		}
		held, source = r.Scopes, "the product's own token, which cannot show extra scopes"
	}
	shown := strings.Join(held, " ")
	if shown == "" {
		shown = "(none)"
	}
	var missing, extra []string
	for _, s := range required {
		if !slices.Contains(held, s) {
			missing = append(missing, s)
		}
	}
	for _, s := range held {
		if !slices.Contains(required, s) && !slices.Contains(extra, s) {
			extra = append(extra, s)
		}
	}
	if len(missing) == 0 && len(extra) == 0 {
		r.add(Check{Name: "scopes", Status: OK, Detail: "exactly the three required: " + strings.Join(required, " "), Evidence: []string{"from " + source}})
		return
	}
	if len(missing) > 0 {
		c := Check{Name: "scopes", Status: Problem, Detail: "missing: " + strings.Join(missing, ", ")}
		for _, s := range missing {
			c.Evidence = append(c.Evidence, fmt.Sprintf("%s is needed for %s", s, scopeUse[s]))
		}
		c.Evidence = append(c.Evidence, "granted: "+shown+" (from "+source+")")
		c.Fix = "in the VCC Admin Portal, edit the API credential and add the scope(s): " + strings.Join(missing, ", ")
		r.add(c)
	}
	if len(extra) > 0 {
		r.add(Check{
			Name: "scopes", Status: Problem,
			Detail:   "over-privileged: the credential also holds " + strings.Join(extra, ", "),
			Evidence: []string{"granted: " + shown + " (from " + source + ")", "the product uses only: " + vcc.Scopes},
			Fix:      "in the VCC Admin Portal, remove the extra scope(s) from the API credential (least privilege): " + strings.Join(extra, ", "),
		})
	}
}

// checkAPI calls one API with its required version.
func (r *Report) checkAPI(ctx context.Context, p Prober, api API) {
	name := "api " + api.Name
	res := p.Probe(ctx, api)
	want := fmt.Sprintf("v%d", api.Version)
	c := Check{Name: name}
	switch {
	case res.Err != nil:
		c.Status, c.Detail = Unchecked, "no answer: "+res.Err.Error()
	case res.Status >= 200 && res.Status < 300:
		ct := strings.ToLower(res.ContentType)
		if strings.Contains(ct, "vnd.newvoicemedia.v") && !strings.Contains(ct, "vnd.newvoicemedia."+want+"+") {
			c.Status, c.Detail = Problem, fmt.Sprintf("answered %s to a request for %s", res.ContentType, api.Media())
			c.Fix = "the client speaks " + want + " of this API; report the version change"
		} else {
			c.Status, c.Detail = OK, fmt.Sprintf("answers %s (%s)", want, api.Media())
		}
	case res.Status == http.StatusBadRequest:
		c.Status, c.Detail = Problem, fmt.Sprintf("refused %s: %d %s", api.Media(), res.Status, res.Message)
		c.Fix = "VCC no longer serves " + want + " of " + api.Name + ", or VCC_API_URL points elsewhere"
	case res.Status == http.StatusUnauthorized || res.Status == http.StatusForbidden:
		c.Status, c.Detail = Problem, fmt.Sprintf("%d %s: %s", res.Status, http.StatusText(res.Status), res.Message)
		c.Fix = "the token lacks scope " + api.Scope + ": see the scopes check"
	case res.Status == http.StatusNotFound:
		c.Status, c.Detail = Problem, fmt.Sprintf("404 at %s", api.Path)
		c.Fix = "check VCC_API_URL / VCC_REGION"
	default:
		c.Status, c.Detail = Unchecked, fmt.Sprintf("%d %s: %s", res.Status, http.StatusText(res.Status), res.Message)
	}
	r.add(c)
}

// permission names, as VCC's user feature permissions spell them.
const (
	PermInbound  = "View inbound interaction content"
	PermOutbound = "View outbound interaction content"
	PermGroups   = "Access groups of users' content"
)

func (r *Report) checkCoverage(ctx context.Context, v VCC, opts Options) {
	s := &Sample{From: opts.From, To: opts.To}
	window := fmt.Sprintf("%s → %s", opts.From.Format(time.RFC3339), opts.To.Format(time.RFC3339))
	stats := map[string]vcc.Stats{}
	if err := v.ListStats(ctx, opts.From, opts.To, func(st vcc.Stats) error {
		stats[strings.ToLower(st.GUID)] = st
		return nil
	}); err != nil {
		r.add(Check{Name: "coverage", Status: Unchecked, Detail: "Stats listing failed: " + err.Error()})
		return
	}
	listed := map[string]vcc.Interaction{}
	if err := v.ListInteractions(ctx, opts.From, opts.To, func(in vcc.Interaction) error {
		listed[strings.ToLower(in.GUID)] = in
		return nil
	}); err != nil {
		r.add(Check{Name: "coverage", Status: Unchecked, Detail: "Interaction Content listing failed: " + err.Error()})
		return
	}
	r.Sample = s
	s.Stats, s.Content = len(stats), len(listed)
	if len(stats) == 0 {
		r.add(Check{Name: "coverage", Status: Unchecked, Detail: "Stats lists no interaction in " + window + ": nothing to compare (choose a busier window with --from/--to)"})
		return
	}

	dirStats, dirContent := map[string]int{}, map[string]int{}
	for guid, st := range stats {
		d := string(st.Direction)
		dirStats[d]++
		if _, ok := listed[guid]; ok {
			dirContent[d]++
		}
	}
	for guid := range listed {
		if _, ok := stats[guid]; !ok {
			s.ContentOnly++
		}
	}
	for _, d := range []string{"inbound", "outbound", "internal", "unknown"} {
		if dirStats[d] > 0 || d != "unknown" {
			s.ByDirection = append(s.ByDirection, DirectionCount{Direction: d, Stats: dirStats[d], Content: dirContent[d]})
		}
	}

	// Directions: none listed at all while Stats has many.
	hiddenDir := map[string]bool{}
	for _, d := range []struct{ dir, perm string }{{"inbound", PermInbound}, {"outbound", PermOutbound}} {
		n, c := dirStats[d.dir], dirContent[d.dir]
		switch {
		case n >= opts.MinDirection && c == 0:
			hiddenDir[d.dir] = true
			r.add(Check{
				Name: "permission " + d.dir, Status: Problem,
				Detail: fmt.Sprintf("%q is probably off: no %s interaction has visible content", d.perm, d.dir),
				Evidence: []string{fmt.Sprintf("%s: Stats lists %d %s interactions, Interaction Content lists 0", window, n, d.dir),
					fmt.Sprintf("other directions are listed (%d interactions with content in all)", s.Content)},
				Fix: fmt.Sprintf("in VCC, give the user who owns the API credential the feature permission %q = Yes, then backfill the window (handler backfill --from --to)", d.perm),
			})
		case n < opts.MinDirection && c == 0:
			r.add(Check{Name: "permission " + d.dir, Status: OK, Detail: fmt.Sprintf("too few %s interactions in Stats (%d) to judge", d.dir, n)})
		default:
			r.add(Check{Name: "permission " + d.dir, Status: OK, Detail: fmt.Sprintf("%d of %d %s interactions in Stats have content listed", c, n, d.dir)})
		}
	}

	// Agents: compare over the directions and lines not already
	// explained: under line permissions an agent whose calls were all on
	// lines without any content listed is not hidden for who it is (a line
	// with no content says nothing about its agents).
	lineHidden := map[string]bool{}
	for _, c := range lineCounts(stats, listed, hiddenDir, nil) {
		if c.Content == 0 {
			lineHidden[c.Line] = true
		}
	}
	agentStats, agentContent := map[string]int{}, map[string]int{}
	statsAgents, contentAgents := map[string]bool{}, map[string]bool{}
	for guid, st := range stats {
		if hiddenDir[string(st.Direction)] || lineHidden[st.Line()] {
			continue
		}
		_, ok := listed[guid]
		for _, a := range st.AgentIDs() {
			statsAgents[a] = true
			agentStats[a]++
			if ok {
				agentContent[a]++
			}
		}
	}
	for _, in := range listed {
		for _, a := range in.HandlingAgents {
			contentAgents[a.ID] = true
		}
	}
	common := 0
	for a := range contentAgents {
		if statsAgents[a] {
			common++
		}
	}
	switch {
	case len(statsAgents) == 0:
		r.add(Check{Name: "permission groups", Status: Unchecked, Detail: "Stats names no agents in this window: the agent comparison cannot be made"})
	case len(contentAgents) > 0 && common == 0:
		r.add(Check{Name: "permission groups", Status: Unchecked, Detail: "Stats and Interaction Content name agents differently: the agent comparison cannot be made"})
	default:
		var hidden []AgentCount
		for a, n := range agentStats {
			switch {
			case agentContent[a] > 0:
				s.SeenAgents++
			case n >= opts.MinAgent:
				hidden = append(hidden, AgentCount{Agent: a, Stats: n})
			}
		}
		sort.Slice(hidden, func(i, j int) bool {
			if hidden[i].Stats != hidden[j].Stats {
				return hidden[i].Stats > hidden[j].Stats
			}
			return hidden[i].Agent < hidden[j].Agent
		})
		s.HiddenAgents = hidden
		if len(hidden) > 0 && s.SeenAgents > 0 {
			total := 0
			var names []string
			for i, h := range hidden {
				total += h.Stats
				if i < 8 {
					names = append(names, fmt.Sprintf("%s (%d)", h.Agent, h.Stats))
				}
			}
			if len(hidden) > len(names) {
				names = append(names, fmt.Sprintf("and %d more", len(hidden)-len(names)))
			}
			r.add(Check{
				Name: "permission groups", Status: Problem,
				Detail: fmt.Sprintf("%q does not cover them: %d agents' interactions are all hidden while %d agents' content is listed", PermGroups, len(hidden), s.SeenAgents),
				Evidence: []string{
					fmt.Sprintf("%s: %d interactions of these agents in Stats, none listed by Interaction Content", window, total),
					"agents (Stats interactions): " + strings.Join(names, ", "),
					"visible agents are probably those of the groups the credential owner manages (see owner permissions)",
				},
				Fix: fmt.Sprintf("in VCC, make the user who owns the API credential manage these agents' groups (%q = Yes shows the content of the groups it manages), then backfill the window", PermGroups),
			})
		} else {
			r.add(Check{Name: "permission groups", Status: OK, Detail: fmt.Sprintf("every agent with %d or more interactions in Stats has content listed (%d agents)", opts.MinAgent, s.SeenAgents)})
		}
	}
	r.checkLines(stats, listed, hiddenDir, s.HiddenAgents, opts, window)
	r.add(Check{
		Name: "coverage", Status: OK,
		Detail: fmt.Sprintf("%d of %d interactions in Stats have content listed; the other %d are calls without content (not recorded, abandoned) or explained above",
			s.Content-s.ContentOnly, s.Stats, s.Stats-(s.Content-s.ContentOnly)),
	})
}

// checkOwner reads the credential owner's line permissions and managed
// groups: what VCC can tell directly (no API reads the feature-permission
// switches themselves).
func (r *Report) checkOwner(ctx context.Context, v VCC, userID string) {
	const name = "owner permissions"
	or, ok := v.(OwnerReader)
	if !ok {
		r.add(Check{Name: name, Status: Unchecked, Optional: true, Detail: "the client cannot read User Admin permissions"})
		return
	}
	if userID == "" {
		r.add(Check{Name: name, Status: Unchecked, Optional: true,
			Detail: "unchecked: the credential owner's user id is unknown, so its line permissions and groups cannot be read",
			Fix:    "set VCC_OWNER_USER_ID (with a tenants document: the tenant's ownerUserId) to the User Admin user id (a GUID) of the user who owns the API credential"})
		return
	}
	addrs, err := or.UserAddresses(ctx, userID)
	if err != nil {
		r.add(Check{Name: name, Status: Unchecked, Optional: true, Detail: "unchecked: VCC did not list the owner's line permissions: " + err.Error(),
			Fix: "check VCC_OWNER_USER_ID and that the credential holds users:read"})
		return
	}
	groups, err := or.UserGroups(ctx, userID)
	if err != nil {
		r.add(Check{Name: name, Status: Unchecked, Optional: true, Detail: "unchecked: VCC did not list the owner's managed groups: " + err.Error(),
			Fix: "check VCC_OWNER_USER_ID and that the credential holds users:read"})
		return
	}
	o := &Owner{UserID: userID, Addresses: []string{}, Groups: []string{}}
	for _, a := range addrs {
		o.Addresses = append(o.Addresses, a.Label())
	}
	for _, g := range groups {
		o.Groups = append(o.Groups, g.Label())
	}
	r.Owner = o
	r.add(Check{Name: name, Status: OK,
		Detail: fmt.Sprintf("user %s: line permissions for %d addresses, manages %d groups", userID, len(o.Addresses), len(o.Groups)),
		Evidence: []string{
			"addresses (line permissions): " + listOrNone(o.Addresses),
			"managed groups: " + listOrNone(o.Groups),
			fmt.Sprintf("without %q the owner sees content on these addresses only; with it, the content of the agents in these groups", PermGroups),
		}})
}

func listOrNone(items []string) string {
	if len(items) == 0 {
		return "(none)"
	}
	shown := items
	if len(shown) > 8 {
		shown = append(slices.Clone(shown[:8]), fmt.Sprintf("and %d more", len(items)-8))
	}
	return strings.Join(shown, ", ")
}

// checkLines compares the listings per line (address), over the
// interactions not already explained by a hidden direction or agent.
func (r *Report) checkLines(stats map[string]vcc.Stats, listed map[string]vcc.Interaction, hiddenDir map[string]bool, hiddenAgents []AgentCount, opts Options, window string) {
	const name = "permission lines"
	s := r.Sample
	hiddenAgent := map[string]bool{}
	for _, a := range hiddenAgents {
		hiddenAgent[a.Agent] = true
	}
	counts := lineCounts(stats, listed, hiddenDir, hiddenAgent)
	if len(counts) == 0 {
		r.add(Check{Name: name, Status: Unchecked, Detail: "Stats gives no line (connectTo / connectFrom) in this window: the line comparison cannot be made"})
		return
	}
	var hidden []LineCount
	for _, c := range counts {
		s.ByLine = append(s.ByLine, *c)
		switch {
		case c.Content > 0:
			s.SeenLines++
		case c.Stats >= opts.MinLine:
			hidden = append(hidden, *c)
		}
	}
	byCount := func(l []LineCount) {
		sort.Slice(l, func(i, j int) bool {
			if l[i].Stats != l[j].Stats {
				return l[i].Stats > l[j].Stats
			}
			return l[i].Line < l[j].Line
		})
	}
	byCount(s.ByLine)
	byCount(hidden)
	s.HiddenLines = hidden
	if len(hidden) == 0 || s.SeenLines == 0 {
		r.add(Check{Name: name, Status: OK, Detail: fmt.Sprintf("every line with %d or more interactions in Stats has content listed (%d lines with content)", opts.MinLine, s.SeenLines)})
		return
	}
	total := 0
	var names []string
	for i, h := range hidden {
		total += h.Stats
		if i < 8 {
			label := h.Line
			if h.Plan != "" {
				label += " [" + h.Plan + "]"
			}
			names = append(names, fmt.Sprintf("%s (%d)", label, h.Stats))
		}
	}
	if len(hidden) > len(names) {
		names = append(names, fmt.Sprintf("and %d more", len(hidden)-len(names)))
	}
	var seen []string
	for _, c := range s.ByLine {
		if c.Content > 0 && len(seen) < 8 {
			seen = append(seen, fmt.Sprintf("%s (%d of %d)", c.Line, c.Content, c.Stats))
		}
	}
	evidence := []string{
		fmt.Sprintf("%s: %d interactions on these lines in Stats, none listed by Interaction Content", window, total),
		"hidden lines (Stats interactions): " + strings.Join(names, ", "),
		fmt.Sprintf("lines with content listed (%d): %s", s.SeenLines, strings.Join(seen, ", ")),
	}
	if o := r.Owner; o != nil {
		evidence = append(evidence, "the owner's line permissions name: "+listOrNone(o.Addresses))
	}
	evidence = append(evidence, "the other explanation: recording is not enabled on these lines; then VCC holds no recording of them at all (check the lines' recording settings in VCC)")
	r.add(Check{
		Name: name, Status: Problem,
		Detail:   fmt.Sprintf("%q is probably off: %d lines' interactions are all hidden while %d lines have content listed (VCC then shows content by line permissions only)", PermGroups, len(hidden), s.SeenLines),
		Evidence: evidence,
		Fix:      fmt.Sprintf("in VCC, give the user who owns the API credential the feature permission %q = Yes (it overrides line permissions), or add these lines to its line permissions; then backfill the window (handler backfill --from --to)", PermGroups),
	})
}

// lineCounts counts Stats interactions and listed ones per line, leaving out
// the hidden directions and the interactions of hidden agents; each line
// carries its most frequent interaction plan.
func lineCounts(stats map[string]vcc.Stats, listed map[string]vcc.Interaction, hiddenDir, hiddenAgent map[string]bool) map[string]*LineCount {
	counts := map[string]*LineCount{}
	plans := map[string]map[string]int{}
	for guid, st := range stats {
		line := st.Line()
		if line == "" || hiddenDir[string(st.Direction)] {
			continue
		}
		explained := false
		for _, a := range st.AgentIDs() {
			explained = explained || hiddenAgent[a]
		}
		if explained {
			continue
		}
		c := counts[line]
		if c == nil {
			c = &LineCount{Line: line}
			counts[line] = c
			plans[line] = map[string]int{}
		}
		c.Stats++
		if st.Plan != "" {
			plans[line][st.Plan]++
		}
		if _, ok := listed[guid]; ok {
			c.Content++
		}
	}
	for line, c := range counts {
		best := 0
		for p, n := range plans[line] {
			if n > best || n == best && p < c.Plan {
				c.Plan, best = p, n
			}
		}
	}
	return counts
}
