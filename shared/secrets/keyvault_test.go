package secrets

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
)

type fakeCredential struct{}

func (fakeCredential) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: "managed-identity-token", ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// fakeVault speaks enough of the Key Vault protocol for azsecrets: the
// unauthenticated challenge, then GET /secrets/{name}/.
func fakeVault(t *testing.T, value *atomic.Value, reads *atomic.Int32) *httptest.Server {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "" {
			w.Header().Set("WWW-Authenticate", `Bearer authorization="https://login.microsoftonline.com/tenant", resource="https://vault.azure.net"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if r.Header.Get("Authorization") != "Bearer managed-identity-token" {
			t.Errorf("Authorization = %q", r.Header.Get("Authorization"))
		}
		if r.Method != http.MethodGet || !strings.HasPrefix(r.URL.Path, "/secrets/vcc-client-secret") {
			w.WriteHeader(http.StatusNotFound)
			_, _ = fmt.Fprint(w, `{"error":{"code":"SecretNotFound","message":"not found"}}`)
			return
		}
		reads.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"value": value.Load().(string),
			"id":    "https://vault/secrets/vcc-client-secret/1",
		})
	}))
	t.Cleanup(srv.Close)
	return srv
}

func newTestVault(t *testing.T, srv *httptest.Server, name string) *KeyVault {
	t.Helper()
	opts := &azsecrets.ClientOptions{DisableChallengeResourceVerification: true}
	opts.Transport = srv.Client()
	kv, err := NewKeyVault(srv.URL, name, fakeCredential{}, opts)
	if err != nil {
		t.Fatal(err)
	}
	return kv
}

func TestKeyVaultReadsOnceAndRereadsWhenAsked(t *testing.T) {
	var value atomic.Value
	value.Store("first-secret")
	var reads atomic.Int32
	kv := newTestVault(t, fakeVault(t, &value, &reads), "vcc-client-secret")
	ctx := context.Background()

	for i := 0; i < 3; i++ {
		s, err := kv.Secret(ctx, false)
		if err != nil {
			t.Fatal(err)
		}
		if s.Reveal() != "first-secret" {
			t.Fatalf("secret = %q", s.Reveal())
		}
	}
	if reads.Load() != 1 {
		t.Fatalf("vault reads = %d, want 1 (cached)", reads.Load())
	}

	value.Store("rotated-secret")
	s, err := kv.Secret(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	if s.Reveal() != "rotated-secret" || reads.Load() != 2 {
		t.Fatalf("after fresh read: secret %q, reads %d", s.Reveal(), reads.Load())
	}
}

func TestKeyVaultMissingSecret(t *testing.T) {
	var value atomic.Value
	value.Store("x")
	var reads atomic.Int32
	kv := newTestVault(t, fakeVault(t, &value, &reads), "other-name")
	_, err := kv.Secret(context.Background(), false)
	if err == nil || !strings.Contains(err.Error(), `"other-name"`) {
		t.Fatalf("err = %v, want an error naming the secret", err)
	}
}

func TestSecretNeverPrints(t *testing.T) {
	s := New("hunter2-value")
	var sb strings.Builder
	logger := slog.New(slog.NewJSONHandler(&sb, nil))
	logger.Info("x", "secret", s, "struct", struct{ S Secret }{s})
	js, _ := json.Marshal(map[string]any{"s": s})
	out := fmt.Sprintf("%v %+v %#v %s %q", s, s, s, s, s) + sb.String() + string(js)
	if strings.Contains(out, "hunter2") {
		t.Fatalf("secret leaked: %s", out)
	}
	if s.Reveal() != "hunter2-value" {
		t.Fatal("Reveal lost the value")
	}
}
