package vccsim

import (
	"net/http"
	"testing"
)

func TestLinePermissions(t *testing.T) {
	clean := startSim(t, Options{Seed: 3, Days: 2})
	denied := startSim(t, Options{Seed: 3, Days: 2, Deny: Permissions{Lines: true}})
	lines := denied.Lines()
	if len(lines) != lineCount {
		t.Fatalf("%d lines", len(lines))
	}
	permitted := map[string]bool{}
	for _, l := range lines {
		if l.Permitted {
			permitted[l.Address] = true
		}
	}
	if len(permitted) != permittedLines {
		t.Fatalf("%d permitted lines", len(permitted))
	}
	a, b := clean.Interactions(), denied.Interactions()
	if len(a) != len(b) {
		t.Fatal("the permission changed the population")
	}
	perLine := map[string][2]int{} // visible with content, with content
	hidden, agentsSeen, dirsSeen := 0, map[string]bool{}, map[string]bool{}
	for i, in := range b {
		if a[i].GUID != in.GUID || a[i].Line != in.Line {
			t.Fatal("the permission changed the population")
		}
		if !in.HasContent {
			continue
		}
		c := perLine[in.Line]
		c[1]++
		if in.Visible {
			c[0]++
			dirsSeen[in.Direction] = true
			for _, id := range in.AgentIDs {
				agentsSeen[id] = true
			}
			if !permitted[in.Line] {
				t.Fatalf("%s visible on line %s, which is not permitted", in.GUID, in.Line)
			}
		} else if a[i].Visible {
			hidden++
		}
		perLine[in.Line] = c
	}
	for _, l := range lines {
		c := perLine[l.Address]
		if c[1] < 20 {
			t.Fatalf("line %s has only %d interactions with content", l.Address, c[1])
		}
		if l.Permitted != (c[0] == c[1]) || !l.Permitted && c[0] != 0 {
			t.Fatalf("line %s (permitted %v): %d of %d visible", l.Address, l.Permitted, c[0], c[1])
		}
	}
	if hidden < 100 || !dirsSeen["inbound"] || !dirsSeen["outbound"] || len(agentsSeen) < 20 {
		t.Fatalf("hidden %d, directions seen %v, agents seen %d", hidden, dirsSeen, len(agentsSeen))
	}

	// Stats maps every company-line interaction to its line's plan.
	tok := token(t, denied, allScopes)
	var st struct {
		Plan struct{ ID, Name string } `json:"interactionPlanMapping"`
	}
	for _, in := range b {
		if in.Direction == dirInbound && in.HasContent {
			getJSON(t, denied, tok, MediaV3, "/stats/interactions/"+in.GUID, http.StatusOK, &st)
			found := false
			for _, l := range lines {
				found = found || l.Address == in.Line && l.PlanID == st.Plan.ID
			}
			if !found {
				t.Fatalf("stats plan %+v for line %s", st.Plan, in.Line)
			}
			break
		}
	}
}

func TestOwnerPermissions(t *testing.T) {
	s := startSim(t, Options{Seed: 3, Deny: Permissions{Lines: true}})
	tok := token(t, s, allScopes)
	var addrs struct {
		Items []struct{ Address, Name string }
	}
	getJSON(t, s, tok, MediaV4, "/useradmin/users/"+s.OwnerUserID()+"/permissions/addresses", http.StatusOK, &addrs)
	if len(addrs.Items) != permittedLines || addrs.Items[0].Address != s.Lines()[0].Address {
		t.Fatalf("addresses %+v", addrs)
	}
	var groups struct{ Items []map[string]any }
	getJSON(t, s, tok, MediaV4, "/useradmin/users/"+s.OwnerUserID()+"/permissions/groups", http.StatusOK, &groups)
	if len(groups.Items) != 1 {
		t.Fatalf("groups %+v", groups)
	}
	getJSON(t, s, tok, MediaV4, "/useradmin/users/"+s.Agents()[0].UserID+"/permissions/addresses", http.StatusOK, &addrs)
	if len(addrs.Items) != 0 {
		t.Fatalf("an agent has addresses %+v", addrs)
	}
	getJSON(t, s, token(t, s, ScopeStats), MediaV4, "/useradmin/users/"+s.OwnerUserID()+"/permissions/addresses", http.StatusForbidden, nil)
	s.SetDeny(Permissions{})
	getJSON(t, s, tok, MediaV4, "/useradmin/users/"+s.OwnerUserID()+"/permissions/addresses", http.StatusOK, &addrs)
	if len(addrs.Items) != lineCount {
		t.Fatalf("all lines permitted: %+v", addrs)
	}
	refused := startSim(t, Options{Seed: 3, Quirks: Quirks{PermissionsRefused: true}})
	getJSON(t, refused, token(t, refused, allScopes), MediaV4, "/useradmin/users/"+refused.OwnerUserID()+"/permissions/groups", http.StatusForbidden, nil)
}

func TestUserByDisplayID(t *testing.T) {
	s := startSim(t, Options{Seed: 3})
	tok := token(t, s, allScopes)
	var unlisted, deleted AgentInfo
	for _, a := range s.Agents() {
		if a.Unlisted {
			unlisted = a
		}
		if !a.InDirectory {
			deleted = a
		}
	}
	if unlisted.ID == "" || deleted.ID == "" {
		t.Fatal("no unlisted or deleted agent")
	}
	var u struct{ UserID string }
	getJSON(t, s, tok, MediaV4, "/useradmin/users/by/agentDisplayId/"+unlisted.AgentDisplayID, http.StatusOK, &u)
	if u.UserID != unlisted.UserID {
		t.Fatalf("got %q, want %q", u.UserID, unlisted.UserID)
	}
	getJSON(t, s, tok, MediaV4, "/useradmin/users/by/agentDisplayId/"+deleted.AgentDisplayID, http.StatusNotFound, nil)
}

func TestTokenBasicOnly(t *testing.T) {
	s := startSim(t, Options{Seed: 3, Quirks: Quirks{TokenBasicOnly: true}})
	if status, _ := requestToken(t, s, s.ClientID(), s.ClientSecret(), allScopes, false); status != http.StatusUnauthorized {
		t.Fatalf("form fields: %d", status)
	}
	if status, _ := requestToken(t, s, s.ClientID(), s.ClientSecret(), allScopes, true); status != http.StatusOK {
		t.Fatalf("basic: %d", status)
	}
}
