package vccsim

import (
	"maps"
	"slices"
	"sync"
)

// Endpoint names, the same as the product's VCC client uses.
const (
	EndpointToken           = "token"
	EndpointContentList     = "content.list"
	EndpointContentGet      = "content.get"
	EndpointContentDownload = "content.download"
	EndpointStatsGet        = "stats.get"
	EndpointStatsList       = "stats.list"
	EndpointUsersGet        = "users.get"
	EndpointUsersList       = "users.list"
	EndpointUsersByDisplay  = "users.byDisplayId"
	EndpointUsersAddresses  = "users.permissions.addresses"
	EndpointUsersGroups     = "users.permissions.groups"
	// EndpointRedirected counts requests to the redirect target (the
	// "storage" host a download may be sent to).
	EndpointRedirected = "redirect.target"
)

// Counters is a snapshot of what the sandbox was asked. Tests use it to
// check call budgets (calls per recording), scopes and read-only behaviour.
type Counters struct {
	ByEndpoint    map[string]int64 // every request, faulted or not
	ByClient      map[string]int64 // API requests by the client id of a valid token
	ByApplication map[string]int64 // API requests by x-nvm-application header ("" when absent)
	ByStatus      map[int]int64    // answers by HTTP status
	// TokenClients counts token requests by the client id presented, valid
	// or not: a credential sent to the wrong account shows here.
	TokenClients  map[string]int64
	TokenRequests int64
	TokenScopes   [][]string // requested scopes of each token request, in order
	NonGET        []string   // "METHOD /path" of every non-GET other than the token POST
	Faults        int64      // injected faults
	Outage        int64      // API requests answered 503 by an outage
	// RedirectAuthRejected counts requests to the redirect target that
	// carried an Authorization header (the bearer token leaked).
	RedirectAuthRejected int64
}

type counters struct {
	mu sync.Mutex
	c  Counters
}

func newCounters() *counters {
	k := &counters{}
	k.reset()
	return k
}

func (k *counters) reset() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.c = Counters{
		ByEndpoint:    map[string]int64{},
		ByClient:      map[string]int64{},
		ByApplication: map[string]int64{},
		ByStatus:      map[int]int64{},
		TokenClients:  map[string]int64{},
	}
}

func (k *counters) update(f func(c *Counters)) {
	k.mu.Lock()
	defer k.mu.Unlock()
	f(&k.c)
}

func (k *counters) snapshot() Counters {
	k.mu.Lock()
	defer k.mu.Unlock()
	c := k.c
	c.ByEndpoint = maps.Clone(k.c.ByEndpoint)
	c.ByClient = maps.Clone(k.c.ByClient)
	c.ByApplication = maps.Clone(k.c.ByApplication)
	c.ByStatus = maps.Clone(k.c.ByStatus)
	c.TokenClients = maps.Clone(k.c.TokenClients)
	c.TokenScopes = make([][]string, len(k.c.TokenScopes))
	for i, s := range k.c.TokenScopes {
		c.TokenScopes[i] = slices.Clone(s)
	}
	c.NonGET = slices.Clone(k.c.NonGET)
	return c
}
