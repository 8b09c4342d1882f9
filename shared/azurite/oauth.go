package azurite

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// Identity-based access (a managed identity in Azure) sends bearer tokens,
// which the SDK only sends over HTTPS and Azurite only accepts with
// --oauth basic and a certificate. Azurite checks the token's claims
// (issuer, audience, lifetime), not its signature, so a self-signed
// certificate and an unsigned-looking token exercise the same client code
// path as production.

// tlsFiles is a self-signed certificate for 127.0.0.1 on disk.
type tlsFiles struct {
	cert, key string
	pool      *x509.CertPool
}

func (f *tlsFiles) transport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = &tls.Config{RootCAs: f.pool, MinVersion: tls.VersionTLS12}
	return t
}

// newTLSFiles writes a fresh certificate and key into dir.
func newTLSFiles(dir string) (*tlsFiles, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "azurite-test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	f := &tlsFiles{cert: filepath.Join(dir, "cert.pem"), key: filepath.Join(dir, "key.pem"), pool: x509.NewCertPool()}
	f.pool.AddCert(cert)
	if err := os.WriteFile(f.cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(f.key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return nil, err
	}
	return f, nil
}

// LaunchOAuth is Launch for an instance served over HTTPS that accepts
// bearer tokens (--oauth basic) as well as the shared key; use
// Process.HTTPClient as the SDK's transport and Credential as its
// credential. certDir receives the self-signed certificate.
func LaunchOAuth(ctx context.Context, dir, certDir string, persistent bool) (*Process, error) {
	f, err := newTLSFiles(certDir)
	if err != nil {
		return nil, fmt.Errorf("azurite: certificate: %w", err)
	}
	return launch(ctx, dir, persistent, f)
}

// Credential is an azcore.TokenCredential whose tokens Azurite accepts (it
// does not verify signatures). Tokens last an hour; GetToken counts calls.
type Credential struct {
	// Audience defaults to https://storage.azure.com.
	Audience string
	calls    atomic.Int64
}

var _ azcore.TokenCredential = (*Credential)(nil)

// GetToken returns a token with the issuer, audience and lifetime claims
// Azurite checks.
func (c *Credential) GetToken(_ context.Context, _ policy.TokenRequestOptions) (azcore.AccessToken, error) {
	c.calls.Add(1)
	aud := c.Audience
	if aud == "" {
		aud = "https://storage.azure.com"
	}
	now := time.Now()
	exp := now.Add(time.Hour)
	claims, err := json.Marshal(map[string]any{
		"aud": aud,
		"iss": "https://sts.windows.net/00000000-0000-0000-0000-000000000000/",
		"nbf": now.Add(-time.Minute).Unix(),
		"iat": now.Add(-time.Minute).Unix(),
		"exp": exp.Unix(),
		"oid": "11111111-1111-1111-1111-111111111111",
		"tid": "00000000-0000-0000-0000-000000000000",
	})
	if err != nil {
		return azcore.AccessToken{}, err
	}
	enc := base64.RawURLEncoding
	token := enc.EncodeToString([]byte(`{"alg":"RS256","typ":"JWT"}`)) + "." + enc.EncodeToString(claims) + "." + enc.EncodeToString([]byte("unsigned"))
	return azcore.AccessToken{Token: token, ExpiresOn: exp}, nil
}

// Calls reports how many tokens were issued (proof that bearer auth was used).
func (c *Credential) Calls() int64 { return c.calls.Load() }
