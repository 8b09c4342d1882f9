package azuritetest

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"

	"github.com/vcc-ingest/vcc-ingest/shared/azurite"
)

func containerExists(t *testing.T, connStr, name string) bool {
	t.Helper()
	c, err := azblob.NewClientFromConnectionString(connStr, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.ServiceClient().NewContainerClient(name).GetProperties(context.Background(), nil)
	if bloberror.HasCode(err, bloberror.ContainerNotFound) {
		return false
	}
	if err != nil {
		t.Fatalf("container properties: %v", err)
	}
	return true
}

func createContainer(t *testing.T, connStr, name string) {
	t.Helper()
	c, err := azblob.NewClientFromConnectionString(connStr, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateContainer(context.Background(), name, nil); err != nil {
		t.Fatalf("create container: %v", err)
	}
}

func portOpen(port int) bool {
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

func TestStartServesTheWellKnownAccount(t *testing.T) {
	a := Start(t)
	want := fmt.Sprintf("http://127.0.0.1:%d/devstoreaccount1", a.Port())
	if a.BlobURL != want {
		t.Fatalf("BlobURL = %q, want %q", a.BlobURL, want)
	}
	for _, part := range []string{"AccountName=devstoreaccount1", "AccountKey=" + azurite.AccountKey, "BlobEndpoint=" + want} {
		if !strings.Contains(a.ConnectionString, part) {
			t.Errorf("connection string lacks %q", part)
		}
	}
	createContainer(t, a.ConnectionString, "probe")
	if !containerExists(t, a.ConnectionString, "probe") {
		t.Fatal("created container is not there")
	}
}

func TestRestart(t *testing.T) {
	tests := []struct {
		name      string
		start     func(testing.TB) *Azurite
		keepsData bool
	}{
		{"persistent keeps data", StartPersistent, true},
		{"in-memory starts empty", Start, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := tt.start(t)
			createContainer(t, a.ConnectionString, "kept")
			a.Stop()
			if portOpen(a.Port()) {
				t.Fatal("port still accepts connections after Stop")
			}
			a.Restart()
			if got := containerExists(t, a.ConnectionString, "kept"); got != tt.keepsData {
				t.Fatalf("container after restart: %v, want %v", got, tt.keepsData)
			}
		})
	}
}

func TestStartOAuthAcceptsBearerTokens(t *testing.T) {
	a := StartOAuth(t)
	if !strings.HasPrefix(a.BlobURL, "https://127.0.0.1:") {
		t.Fatalf("BlobURL = %q, want https", a.BlobURL)
	}
	c, err := azblob.NewClient(a.BlobURL, a.Credential, &azblob.ClientOptions{ClientOptions: policy.ClientOptions{Transport: a.HTTPClient}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateContainer(context.Background(), "viatoken", nil); err != nil {
		t.Fatalf("create container with a bearer token: %v", err)
	}
	if a.Credential.Calls() == 0 {
		t.Fatal("no token was requested: the request did not use bearer auth")
	}
	// A token for another audience is refused: Azurite really checks claims.
	bad, err := azblob.NewClient(a.BlobURL, &azurite.Credential{Audience: "https://vault.azure.net"}, &azblob.ClientOptions{ClientOptions: policy.ClientOptions{Transport: a.HTTPClient, Retry: policy.RetryOptions{MaxRetries: -1}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bad.CreateContainer(context.Background(), "refused", nil); err == nil {
		t.Fatal("token with a wrong audience was accepted")
	}
}
