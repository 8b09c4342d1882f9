// Package secrets holds the VCC client secret: a type that never prints, and
// the sources it is read from (Azure Key Vault in Azure, the environment locally).
package secrets

import (
	"context"
	"fmt"
	"io"
	"log/slog"
)

const redacted = "[REDACTED]"

// Secret is a credential value. Every way of formatting it prints [REDACTED];
// only Reveal returns the value, and it is called where the value is sent.
type Secret struct{ value string }

// New wraps a secret value.
func New(value string) Secret { return Secret{value: value} }

// Reveal returns the secret value. Call it only to hand the value to the
// party that must receive it (the token endpoint).
func (s Secret) Reveal() string { return s.value }

// IsZero reports whether the secret is empty.
func (s Secret) IsZero() bool { return s.value == "" }

func (s Secret) String() string               { return redacted }
func (s Secret) GoString() string             { return redacted }
func (s Secret) Format(f fmt.State, _ rune)   { redact(f) }
func (s Secret) LogValue() slog.Value         { return slog.StringValue(redacted) }
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }
func (s Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// redact is every holder's Format: whatever the verb (%v %+v %#v %s %q %x
// %d...), the value is never printed; a struct field of a holder printed
// by reflection would be.
func redact(f fmt.State) { _, _ = io.WriteString(f, redacted) }

// Source yields the current secret. fresh asks the source to bypass any
// cache and read the value again (after the token endpoint rejected the
// client, which is what a rotated secret looks like).
type Source interface {
	Secret(ctx context.Context, fresh bool) (Secret, error)
}

// Static is a Source that always returns the same value (the environment,
// tests, the sandbox).
type Static Secret

// Secret implements Source.
func (s Static) Secret(context.Context, bool) (Secret, error) { return Secret(s), nil }

// A Static holds its value: it prints, logs and marshals as Secret does.
func (s Static) String() string               { return redacted }
func (s Static) GoString() string             { return redacted }
func (s Static) Format(f fmt.State, _ rune)   { redact(f) }
func (s Static) LogValue() slog.Value         { return slog.StringValue(redacted) }
func (s Static) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }
func (s Static) MarshalText() ([]byte, error) { return []byte(redacted), nil }
