package store

import (
	"context"
	"fmt"
	"io"
	"strings"
)

// Tenants are isolated by prefix: each tenant's recordings and sidecars are
// <id>/yyyy/mm/dd/<guid>/... in the one recordings container, and its state
// (checkpoint, run, failure and skip records) is tenants/<id>/... in the
// state container. Prefixed and PrefixedState always put their prefix in
// front of a name they are given, and every name is validated first (no
// "..", no empty segment), so no name a tenant's work builds can land under
// another tenant's prefix.

// TenantStatePrefix is where tenant id's state lives in the state container.
func TenantStatePrefix(id string) string { return "tenants/" + id + "/" }

// namePrefix maps a tenant's names into its part of a store: checked as
// every name is, then prefixed.
type namePrefix struct{ p string }

func newNamePrefix(prefix string) namePrefix {
	if !strings.HasSuffix(prefix, "/") || ValidateName(prefix+"x") != nil {
		panic(fmt.Sprintf("store: invalid prefix %q", prefix))
	}
	return namePrefix{prefix}
}

func (p namePrefix) name(n string) (string, error) {
	if err := ValidateName(n); err != nil {
		return "", err
	}
	return p.p + n, nil
}

// list lists under prefix with list, giving fn the names without the
// tenant's prefix.
func (p namePrefix) list(ctx context.Context, list func(context.Context, string, func(string) error) error, prefix string, fn func(string) error) error {
	if err := validatePrefix(prefix); err != nil {
		return err
	}
	return list(ctx, p.p+prefix, func(name string) error {
		rest, ok := strings.CutPrefix(name, p.p)
		if !ok {
			return nil
		}
		return fn(rest)
	})
}

// Prefixed is sink with every name under prefix (which ends with "/").
func Prefixed(sink Sink, prefix string) Sink {
	return &prefixedSink{s: sink, namePrefix: newNamePrefix(prefix)}
}

type prefixedSink struct {
	s Sink
	namePrefix
}

func (p *prefixedSink) PutRecording(ctx context.Context, rec Recording, r io.Reader) (Written, error) {
	n, err := p.name(rec.Name)
	if err != nil {
		return Written{}, err
	}
	rec.Name = n
	return p.s.PutRecording(ctx, rec, r)
}

func (p *prefixedSink) StatRecording(ctx context.Context, name string) (Info, bool, error) {
	n, err := p.name(name)
	if err != nil {
		return Info{}, false, err
	}
	return p.s.StatRecording(ctx, n)
}

func (p *prefixedSink) PutSidecar(ctx context.Context, name string, data []byte) error {
	n, err := p.name(name)
	if err != nil {
		return err
	}
	return p.s.PutSidecar(ctx, n, data)
}

func (p *prefixedSink) GetSidecar(ctx context.Context, name string) ([]byte, bool, error) {
	n, err := p.name(name)
	if err != nil {
		return nil, false, err
	}
	return p.s.GetSidecar(ctx, n)
}

func (p *prefixedSink) List(ctx context.Context, prefix string, fn func(string) error) error {
	return p.list(ctx, p.s.List, prefix, fn)
}

// PrefixedState is st with every document under prefix (which ends with "/").
func PrefixedState(st State, prefix string) State {
	return &prefixedState{s: st, namePrefix: newNamePrefix(prefix)}
}

type prefixedState struct {
	s State
	namePrefix
}

func (p *prefixedState) Load(ctx context.Context, name string) ([]byte, string, bool, error) {
	n, err := p.name(name)
	if err != nil {
		return nil, "", false, err
	}
	return p.s.Load(ctx, n)
}

func (p *prefixedState) Save(ctx context.Context, name string, data []byte, etag string) (string, error) {
	n, err := p.name(name)
	if err != nil {
		return "", err
	}
	return p.s.Save(ctx, n, data, etag)
}

func (p *prefixedState) Put(ctx context.Context, name string, data []byte) error {
	n, err := p.name(name)
	if err != nil {
		return err
	}
	return p.s.Put(ctx, n, data)
}

func (p *prefixedState) Delete(ctx context.Context, name string) error {
	n, err := p.name(name)
	if err != nil {
		return err
	}
	return p.s.Delete(ctx, n)
}

func (p *prefixedState) List(ctx context.Context, prefix string, fn func(string) error) error {
	return p.list(ctx, p.s.List, prefix, fn)
}
