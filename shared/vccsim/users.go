package vccsim

import (
	"net/http"
	"strings"
)

const (
	usersMaxLimit     = 5000
	usersDefaultLimit = 25
)

func userJSON(a *agent) map[string]any {
	cfg := map[string]any{"role": a.Role, "actAsAgent": a.ActAsAgent}
	if a.ActAsAgent {
		cfg["agentConfiguration"] = map[string]any{"agentDisplayId": a.AgentDisplayID}
	}
	u := map[string]any{
		"userId":                   a.UserID,
		"username":                 a.Username,
		"name":                     a.Name,
		"email":                    a.Email,
		"active":                   a.Active,
		"locked":                   false,
		"userAccountConfiguration": cfg,
	}
	if a.SSOExternalID != "" {
		u["ssoExternalId"] = a.SSOExternalID
	}
	return u
}

// usersList serves GET /useradmin/users?include&page&limit (User Admin v4).
func (s *Sim) usersList(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	include := strings.ToLower(q.Get("include"))
	switch include {
	case "":
		include = "active"
	case "active", "archived", "all":
	default:
		writeError(w, apiUsers, http.StatusBadRequest, "include must be Active, Archived or All")
		return
	}
	base := 1
	if s.opts.Quirks.UsersZeroBasedPages {
		base = 0
	}
	page, ok := intParam(q, "page", base, base, 1<<30)
	if !ok {
		writeError(w, apiUsers, http.StatusBadRequest, "page is out of range")
		return
	}
	limit, ok := intParam(q, "limit", usersDefaultLimit, 1, usersMaxLimit)
	if !ok {
		writeError(w, apiUsers, http.StatusBadRequest, "limit must be between 1 and 5000")
		return
	}
	var all []*agent
	s.mu.RLock()
	for _, u := range s.pop.users {
		if u.Unlisted {
			continue // outside what the owner may list; found by display id
		}
		if include == "all" || (include == "active") == u.Active {
			all = append(all, u)
		}
	}
	s.mu.RUnlock()
	lo := min((page-base)*limit, len(all))
	hi := min(lo+limit, len(all))
	users := make([]map[string]any, 0, hi-lo)
	for _, u := range all[lo:hi] {
		users = append(users, userJSON(u))
	}
	if s.opts.Quirks.UsersBareArray {
		writeJSON(w, http.StatusOK, users)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"users": users, "meta": pageMeta(page, len(users), limit, len(all))})
}

// usersGet serves GET /useradmin/users/{userId}; only the GUID userId finds
// a user (a numeric handling-agent id does not).
func (s *Sim) usersGet(w http.ResponseWriter, id string) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, u := range s.pop.users {
		if strings.EqualFold(u.UserID, id) {
			writeJSON(w, http.StatusOK, userJSON(u))
			return
		}
	}
	writeError(w, apiUsers, http.StatusNotFound, "User not found")
}

// usersByDisplayID serves GET /useradmin/users/by/agentDisplayId/{id}: the
// one user whose agent display id it is, listed or not.
func (s *Sim) usersByDisplayID(w http.ResponseWriter, id string) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, u := range s.pop.users {
		if u.ActAsAgent && u.AgentDisplayID == id {
			writeJSON(w, http.StatusOK, userJSON(u))
			return
		}
	}
	writeError(w, apiUsers, http.StatusNotFound, "User not found")
}

// usersPermissions serves GET /useradmin/users/{userId}/permissions/addresses
// (the user's line permissions: the addresses whose content it may see) and
// .../permissions/groups (the groups it manages). Only the credential owner
// has permissions in the sandbox; other users have none.
func (s *Sim) usersPermissions(w http.ResponseWriter, userID string, groups bool) {
	if s.opts.Quirks.PermissionsRefused {
		writeError(w, apiUsers, http.StatusForbidden, "Forbidden")
		return
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	var user *agent
	for _, u := range s.pop.users {
		if strings.EqualFold(u.UserID, userID) {
			user = u
		}
	}
	if user == nil {
		writeError(w, apiUsers, http.StatusNotFound, "User not found")
		return
	}
	items := []map[string]any{}
	switch {
	case user != s.pop.owner:
	case groups:
		var members []string
		for _, a := range s.pop.agents {
			if a.InLine && a.InDirectory {
				members = append(members, a.UserID)
			}
		}
		items = append(items, map[string]any{"groupId": derivedGUID(user.UserID, "group"), "name": "Reporting line", "members": len(members)})
	default:
		for _, l := range s.pop.lines {
			if l.Permitted || !s.deny.Lines {
				items = append(items, map[string]any{"addressId": derivedGUID(l.Address, "address"), "address": l.Address, "name": l.PlanName})
			}
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
}
