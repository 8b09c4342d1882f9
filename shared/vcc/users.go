package vcc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Agent is what the product knows about a handling agent. Resolved is false
// when User Admin had no matching user: the recording is still copied, with
// the bare id.
type Agent struct {
	ID, UserID, Name, Email, AgentCode string
	Resolved                           bool
}

// usersPageSize is the directory page size (the API allows 1-5000).
const usersPageSize = 1000

type wireUser struct {
	UserID                   flexString `json:"userId"`
	Username                 flexString `json:"username"`
	Name                     flexString `json:"name"`
	Email                    flexString `json:"email"`
	SSOExternalID            flexString `json:"ssoExternalId"`
	UserAccountConfiguration *struct {
		AgentConfiguration *struct {
			AgentDisplayID flexString `json:"agentDisplayId"`
		} `json:"agentConfiguration"`
	} `json:"userAccountConfiguration"`
}

func (u wireUser) agentDisplayID() string {
	if u.UserAccountConfiguration == nil || u.UserAccountConfiguration.AgentConfiguration == nil {
		return ""
	}
	return string(u.UserAccountConfiguration.AgentConfiguration.AgentDisplayID)
}

func (u wireUser) agent(id string) Agent {
	name := string(u.Name)
	if name == "" {
		name = string(u.Username)
	}
	return Agent{
		ID:        id,
		UserID:    string(u.UserID),
		Name:      name,
		Email:     string(u.Email),
		AgentCode: u.agentDisplayID(),
		Resolved:  true,
	}
}

// wireUsersPage accepts the documented {"users": [...], "meta": {...}} and
// the bare array some code reads.
type wireUsersPage struct{ Users []wireUser }

func (p *wireUsersPage) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '[' {
		return json.Unmarshal(b, &p.Users)
	}
	var o struct {
		Users []wireUser `json:"users"`
		Items []wireUser `json:"items"`
	}
	if err := json.Unmarshal(b, &o); err != nil {
		return err
	}
	p.Users = o.Users
	if p.Users == nil {
		p.Users = o.Items
	}
	return nil
}

// directory caches the User Admin directory and single-user lookups. The
// directory is loaded at most once per TTL, whatever the number of
// concurrent resolvers: loads run under sem.
type directory struct {
	sem      chan struct{}
	mu       sync.Mutex
	loadedAt time.Time // zero: never loaded
	byUserID map[string]wireUser
	byCode   map[string]wireUser
	bySSO    map[string]wireUser
	lookups  map[string]lookup // GUID fallbacks, by lower-cased id
}

type lookup struct {
	at    time.Time
	agent Agent
}

func newDirectory() *directory {
	return &directory{sem: make(chan struct{}, 1), lookups: make(map[string]lookup)}
}

// find matches id against userId, agentDisplayId and ssoExternalId, in that
// order. ok is false when the directory is stale or absent.
func (d *directory) find(id string, now time.Time, ttl time.Duration) (a Agent, found, fresh bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.loadedAt.IsZero() || now.Sub(d.loadedAt) >= ttl {
		return Agent{}, false, false
	}
	if u, ok := d.byUserID[strings.ToLower(id)]; ok {
		return u.agent(id), true, true
	}
	if u, ok := d.byCode[id]; ok {
		return u.agent(id), true, true
	}
	if u, ok := d.bySSO[id]; ok {
		return u.agent(id), true, true
	}
	return Agent{}, false, true
}

// ResolveAgent turns a handling agent id into an Agent. The id is matched
// against the user directory (loaded once per AgentCacheTTL) by userId,
// agentDisplayId and ssoExternalId, because Interaction Content's agent ids
// are not necessarily User Admin guids; a guid-shaped id not in the
// directory is looked up directly. An id nobody knows gives
// Agent{ID: id, Resolved: false} and no error: a missing name must not stop
// a recording from being copied. Only transient errors are returned.
func (c *Client) ResolveAgent(ctx context.Context, id string) (Agent, error) {
	unresolved := Agent{ID: id}
	if strings.TrimSpace(id) == "" {
		return unresolved, nil
	}
	ttl := c.cfg.AgentCacheTTL
	a, found, fresh := c.users.find(id, c.now(), ttl)
	if !fresh {
		if err := c.loadDirectory(ctx); err != nil {
			// A stale directory still names agents: during a User Admin
			// outage it serves, and only a first load that never
			// succeeded makes the caller retry.
			if !c.users.everLoaded() {
				return unresolved, err
			}
			c.cfg.Logger.WarnContext(ctx, "vcc user directory refresh failed; serving the previous one", "error", err)
			c.users.postpone(c.now(), ttl, directoryRetry)
		}
		a, found, _ = c.users.find(id, c.now(), ttl)
	}
	if found {
		return a, nil
	}
	if !ValidGUID(id) {
		// Interaction Content's agent ids are display ids, and the listing
		// may not hold every user: ask for this one before calling it
		// unresolved.
		return c.lookupDisplayID(ctx, id)
	}
	return c.lookupUser(ctx, id)
}

// lookupDisplayID resolves an agent display id with
// GET /useradmin/users/by/agentDisplayId/{id}, caching the answer (found or
// not) for the TTL, so each unknown id costs one call.
func (c *Client) lookupDisplayID(ctx context.Context, id string) (Agent, error) {
	return c.cachedLookup(ctx, "display:"+id, id, request{
		endpoint: endpointUsersByDisplay,
		accept:   acceptUserAdmin,
		segments: []string{"useradmin", "users", "by", "agentDisplayId", id},
	})
}

// loadDirectory loads the directory unless another caller did so while this
// one waited. A permanent failure (e.g. users:read not granted) is logged and
// cached as an empty directory for the TTL; a transient one is returned.
func (c *Client) loadDirectory(ctx context.Context) error {
	d := c.users
	select {
	case d.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-d.sem }()
	d.mu.Lock()
	fresh := !d.loadedAt.IsZero() && c.now().Sub(d.loadedAt) < c.cfg.AgentCacheTTL
	d.mu.Unlock()
	if fresh {
		return nil
	}
	users, err := c.listUsers(ctx)
	if err != nil {
		if !IsPermanent(err) {
			return err
		}
		c.cfg.Logger.WarnContext(ctx, "vcc user directory unavailable; agents stay unresolved", "error", err)
		users = nil
	}
	byUserID := make(map[string]wireUser, len(users))
	byCode := make(map[string]wireUser, len(users))
	bySSO := make(map[string]wireUser)
	for _, u := range users {
		if u.UserID != "" {
			byUserID[strings.ToLower(string(u.UserID))] = u
		}
		if code := u.agentDisplayID(); code != "" {
			byCode[code] = u
		}
		if u.SSOExternalID != "" {
			bySSO[string(u.SSOExternalID)] = u
		}
	}
	d.mu.Lock()
	d.byUserID, d.byCode, d.bySSO = byUserID, byCode, bySSO
	d.loadedAt = c.now()
	d.mu.Unlock()
	return nil
}

// listUsers reads every page of the directory (include=All: archived users
// still appear on old interactions). Pages count from 1, as the endpoint's
// own page documents (default 1); users are de-duplicated by userId, and a
// short or empty page is the last. The listing holds only the users the
// requester may see: ResolveAgent looks an unknown id up by display id.
func (c *Client) listUsers(ctx context.Context) ([]wireUser, error) {
	var all []wireUser
	seen := make(map[string]bool)
	for page := 1; page <= maxPages; page++ {
		us, err := c.usersPage(ctx, page)
		if err != nil {
			return nil, err
		}
		added := 0
		for _, u := range us {
			key := strings.ToLower(string(u.UserID))
			if key != "" && seen[key] {
				continue
			}
			seen[key] = true
			all = append(all, u)
			added++
		}
		if len(us) < c.usersPageSize || added == 0 {
			return all, nil // last page, or a server that ignores the page number
		}
	}
	return nil, &transientError{fmt.Errorf("vcc: %s: more than %d pages", endpointUsersList, maxPages)}
}

func (c *Client) usersPage(ctx context.Context, page int) ([]wireUser, error) {
	var p wireUsersPage
	err := c.getJSON(ctx, request{
		endpoint: endpointUsersList,
		accept:   acceptUserAdmin,
		segments: []string{"useradmin", "users"},
		query: url.Values{
			"include": {"All"},
			"page":    {strconv.Itoa(page)},
			"limit":   {strconv.Itoa(c.usersPageSize)},
		},
	}, &p)
	return p.Users, err
}

// lookupUser resolves a guid-shaped id with GET /useradmin/users/{id},
// caching the answer (found or not) for the TTL.
func (c *Client) lookupUser(ctx context.Context, id string) (Agent, error) {
	return c.cachedLookup(ctx, strings.ToLower(id), id, request{
		endpoint: endpointUsersGet,
		accept:   acceptUserAdmin,
		segments: []string{"useradmin", "users", id},
	})
}

// cachedLookup asks User Admin for one user, caching the answer under key.
func (c *Client) cachedLookup(ctx context.Context, key, id string, req request) (Agent, error) {
	d := c.users
	d.mu.Lock()
	l, ok := d.lookups[key]
	d.mu.Unlock()
	if ok && c.now().Sub(l.at) < c.cfg.AgentCacheTTL {
		return l.agent, nil
	}
	var u wireUser
	err := c.getJSON(ctx, req, &u)
	a := Agent{ID: id}
	switch {
	case err == nil:
		a = u.agent(id)
	case errors.Is(err, ErrNotFound) || IsPermanent(err):
		if !errors.Is(err, ErrNotFound) {
			c.cfg.Logger.WarnContext(ctx, "vcc user lookup refused; agent unresolved", "agent", id, "error", err)
		}
	default:
		return a, err
	}
	d.mu.Lock()
	d.lookups[key] = lookup{at: c.now(), agent: a}
	d.mu.Unlock()
	return a, nil
}

// everLoaded reports whether a directory load has ever completed.
func (d *directory) everLoaded() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return !d.loadedAt.IsZero()
}

// directoryRetry is how long a stale directory serves after a failed
// refresh before the next attempt, so an outage costs one failing load a
// minute rather than one per agent resolved.
const directoryRetry = time.Minute

// postpone makes the loaded directory count as fresh for retry more.
func (d *directory) postpone(now time.Time, ttl, retry time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if at := now.Add(retry - ttl); at.After(d.loadedAt) {
		d.loadedAt = at
	}
}
