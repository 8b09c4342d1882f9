package secrets

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
)

// KeyVault reads the client secret from Azure Key Vault with the app's
// managed identity. The value is held only in memory, read once, and read
// again only when the caller asks for a fresh value (a rotated secret).
//
// No Key Vault emulator exists; the adapter is tested against a TLS test
// server speaking the Key Vault protocol to the real azsecrets client.
type KeyVault struct {
	client *azsecrets.Client
	name   string

	mu     sync.Mutex
	cached Secret
}

// NewKeyVault returns a Source for the secret called name in the vault at
// vaultURI. opts may be nil.
func NewKeyVault(vaultURI, name string, cred azcore.TokenCredential, opts *azsecrets.ClientOptions) (*KeyVault, error) {
	if name == "" {
		return nil, errors.New("key vault: secret name is empty")
	}
	client, err := azsecrets.NewClient(vaultURI, cred, opts)
	if err != nil {
		return nil, fmt.Errorf("key vault %s: %w", vaultURI, err)
	}
	return &KeyVault{client: client, name: name}, nil
}

// A KeyVault holds the value it read: it prints, logs and marshals as its
// secret's name only.
func (k *KeyVault) String() string {
	if k == nil {
		return "<nil>"
	}
	return "key vault secret " + k.name + " " + redacted
}
func (k *KeyVault) GoString() string             { return k.String() }
func (k *KeyVault) Format(f fmt.State, _ rune)   { _, _ = io.WriteString(f, k.String()) }
func (k *KeyVault) LogValue() slog.Value         { return slog.StringValue(k.String()) }
func (k *KeyVault) MarshalJSON() ([]byte, error) { return json.Marshal(k.String()) }
func (k *KeyVault) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// Secret implements Source.
func (k *KeyVault) Secret(ctx context.Context, fresh bool) (Secret, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if !fresh && !k.cached.IsZero() {
		return k.cached, nil
	}
	// An empty version asks for the latest.
	resp, err := k.client.GetSecret(ctx, k.name, "", nil)
	if err != nil {
		// The SDK's errors carry the request URL and status, never the value.
		return Secret{}, fmt.Errorf("key vault: read secret %q: %w", k.name, err)
	}
	if resp.Value == nil || *resp.Value == "" {
		return Secret{}, fmt.Errorf("key vault: secret %q is empty", k.name)
	}
	k.cached = New(*resp.Value)
	return k.cached, nil
}
