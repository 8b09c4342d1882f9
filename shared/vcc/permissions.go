package vcc

import (
	"bytes"
	"context"
	"encoding/json"
)

// Permission is one entry of a user's line permissions (an address: a phone
// line / interaction plan) or of the groups the user manages. Address is ""
// for a group.
type Permission struct {
	ID, Name, Address string
}

// Label is how the entry reads to a person: the address, the name, or the id.
func (p Permission) Label() string {
	switch {
	case p.Address != "" && p.Name != "" && p.Name != p.Address:
		return p.Address + " (" + p.Name + ")"
	case p.Address != "":
		return p.Address
	case p.Name != "":
		return p.Name
	}
	return p.ID
}

// UserAddresses lists the addresses (lines) whose content user userID may
// see by line permissions: GET /useradmin/users/{userId}/permissions/addresses
// (scope users:read). VCC decides what the credential owner sees by these
// unless "Access groups of users' content" is on.
func (c *Client) UserAddresses(ctx context.Context, userID string) ([]Permission, error) {
	return c.permissions(ctx, endpointUsersAddresses, userID, "addresses")
}

// UserGroups lists the groups user userID manages:
// GET /useradmin/users/{userId}/permissions/groups (scope users:read).
func (c *Client) UserGroups(ctx context.Context, userID string) ([]Permission, error) {
	return c.permissions(ctx, endpointUsersGroups, userID, "groups")
}

func (c *Client) permissions(ctx context.Context, endpoint, userID, kind string) ([]Permission, error) {
	if !ValidGUID(userID) {
		return nil, invalidID("user id", userID)
	}
	var p wirePermissions
	err := c.getJSON(ctx, request{
		endpoint: endpoint,
		accept:   acceptUserAdmin,
		segments: []string{"useradmin", "users", userID, "permissions", kind},
	}, &p)
	return p.items, err
}

// wirePermissions accepts what the (undocumented) bodies plausibly are: a
// bare array or an object holding one under items, addresses, groups or
// data; each entry a string or an object naming an id, a name and an
// address in any of the usual spellings.
type wirePermissions struct{ items []Permission }

func (w *wirePermissions) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	var raw []json.RawMessage
	if len(b) > 0 && b[0] == '[' {
		if err := json.Unmarshal(b, &raw); err != nil {
			return err
		}
	} else {
		var o map[string]json.RawMessage
		if err := json.Unmarshal(b, &o); err != nil {
			return err
		}
		for _, k := range []string{"items", "addresses", "groups", "data", "permissions"} {
			if v, ok := o[k]; ok && json.Unmarshal(v, &raw) == nil {
				break
			}
		}
	}
	w.items = []Permission{}
	for _, r := range raw {
		var s flexString
		if json.Unmarshal(r, &s) == nil && s != "" {
			w.items = append(w.items, Permission{ID: string(s), Address: string(s)})
			continue
		}
		var o map[string]flexString
		if json.Unmarshal(r, &o) != nil {
			var loose map[string]any
			if json.Unmarshal(r, &loose) != nil {
				continue
			}
			o = map[string]flexString{}
			for k, v := range loose {
				if s, ok := v.(string); ok {
					o[k] = flexString(s)
				}
			}
		}
		first := func(keys ...string) string {
			for _, k := range keys {
				if v := o[k]; v != "" {
					return string(v)
				}
			}
			return ""
		}
		p := Permission{
			ID:      first("id", "addressId", "groupId"),
			Name:    first("name", "displayName", "description"),
			Address: first("address", "phoneNumber", "number", "value"),
		}
		if p != (Permission{}) {
			w.items = append(w.items, p)
		}
	}
	return nil
}
