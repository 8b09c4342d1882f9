// Package message defines the queue message that discovery sends and ingest
// consumes: one per interaction, versioned JSON, carrying what discovery
// already learned so ingest need not ask VCC again.
package message

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/vcc-ingest/vcc-ingest/shared/vcc"
)

// Version is the body version this build writes and reads.
const Version = 1

// ContentType of every message body.
const ContentType = "application/json"

// ErrInvalid marks a body that can never be processed.
var ErrInvalid = errors.New("invalid message")

// Content is one content item as discovery saw it.
type Content struct {
	ContentKey    string `json:"contentKey"`
	Type          string `json:"type"`
	ContentType   string `json:"contentType,omitempty"`
	ContentLength int64  `json:"contentLength"` // -1 when unknown
}

// Body is the message body. Only V and InteractionID are required: a message
// with nothing else (a backfill of one id, a hand-written replay) makes
// ingest look the interaction up.
type Body struct {
	V             int        `json:"v"`
	InteractionID string     `json:"interactionId"`
	Start         *time.Time `json:"start,omitempty"`
	Direction     string     `json:"direction,omitempty"`        // from Stats (the source of truth); empty when unknown
	ContentDir    string     `json:"contentDirection,omitempty"` // the content API's field, the fallback
	Duration      int64      `json:"durationMs,omitempty"`
	Medium        string     `json:"medium,omitempty"`
	Agents        []string   `json:"agents,omitempty"`
	Content       []Content  `json:"content,omitempty"`
	DiscoveredAt  time.Time  `json:"discoveredAt,omitzero"`
	Source        string     `json:"source,omitempty"` // discover, backfill, replay, event
	// Tenant is the id of the tenant (VCC account) the interaction belongs
	// to, in a deployment with a tenants document; empty: the single
	// tenant of the VCC_* settings. Not "tenantId" or "sessionId": no body
	// field may share a name with the host's metadata keys.
	Tenant string `json:"tenant,omitempty"`
}

// tenantPattern is the tenants document's id pattern (shared/tenants).
var tenantPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{1,30}$`)

// ID is the MessageId of a body's first message: the interaction guid, so
// that the queue's duplicate detection absorbs re-sent ones, prefixed with
// the tenant when there is one (two tenants may be connected to the same
// VCC account).
func ID(tenant, guid string) string {
	if tenant == "" {
		return guid
	}
	return tenant + ":" + guid
}

// Sources of a message (Body.Source).
const (
	SourceDiscover = "discover"
	// SourceEvent: a VCC webhook event; the body carries only the
	// interaction id and, in DiscoveredAt, when the event was accepted.
	// Ingest polls VCC for its content until it appears or a horizon passes.
	SourceEvent = "event"
)

// Decode parses and validates a body. Every error wraps ErrInvalid.
func Decode(data []byte) (Body, error) {
	var b Body
	if err := json.Unmarshal(data, &b); err != nil {
		return b, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if b.V != Version {
		return b, fmt.Errorf("%w: unsupported version %d (this build reads %d)", ErrInvalid, b.V, Version)
	}
	if !vcc.ValidGUID(b.InteractionID) {
		return b, fmt.Errorf("%w: interactionId %q is not a GUID", ErrInvalid, truncate(b.InteractionID))
	}
	if b.Tenant != "" && !tenantPattern.MatchString(b.Tenant) {
		return b, fmt.Errorf("%w: tenant %q is not a tenant id", ErrInvalid, truncate(b.Tenant))
	}
	for _, c := range b.Content {
		if !vcc.ValidContentKey(c.ContentKey) {
			return b, fmt.Errorf("%w: contentKey %q is not valid", ErrInvalid, truncate(c.ContentKey))
		}
	}
	return b, nil
}

// Encode writes a body, stamping the version.
func Encode(b Body) ([]byte, error) {
	b.V = Version
	return json.Marshal(b)
}

// FromInteraction builds the body for a listed interaction, with the
// direction and timing from Stats when known.
func FromInteraction(in vcc.Interaction, st *vcc.Stats, source string, now time.Time) Body {
	start := in.Start.UTC()
	b := Body{
		V:             Version,
		InteractionID: in.GUID,
		Start:         &start,
		ContentDir:    string(in.Direction),
		DiscoveredAt:  now.UTC(),
		Source:        source,
	}
	if st != nil {
		if st.Direction != vcc.DirectionUnknown && st.Direction != "" {
			b.Direction = string(st.Direction)
		}
		b.Duration = st.Duration.Milliseconds()
		b.Medium = st.Medium
	}
	for _, a := range in.HandlingAgents {
		b.Agents = append(b.Agents, a.ID)
	}
	for _, c := range in.Content {
		b.Content = append(b.Content, Content{
			ContentKey:    c.ContentKey,
			Type:          c.Type,
			ContentType:   c.ContentType,
			ContentLength: c.ContentLength,
		})
	}
	return b
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
