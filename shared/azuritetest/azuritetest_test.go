package azuritetest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
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
	for _, part := range []string{"AccountName=devstoreaccount1", "AccountKey=" + AccountKey, "BlobEndpoint=" + want} {
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

func TestStopKillsTheProcessGroup(t *testing.T) {
	p, err := Launch(context.Background(), t.TempDir(), false)
	if err != nil {
		t.Fatal(err)
	}
	pid := p.cmd.Process.Pid
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := p.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	// No process may remain in the group.
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil {
		t.Fatalf("process %d still exists after Stop", pid)
	}
	resp, err := http.Get(p.BlobURL + "?comp=list")
	if err == nil {
		resp.Body.Close()
		t.Fatal("service still answers after Stop")
	}
}

func TestLaunchWithoutAzuriteNamesTheFix(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.com/x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(dir, "a", "b")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(sub)
	_, err := Launch(context.Background(), t.TempDir(), false)
	if !errors.Is(err, ErrNotInstalled) {
		t.Fatalf("err = %v, want ErrNotInstalled", err)
	}
	if !strings.Contains(err.Error(), "npm ci --prefix infra/local") || !strings.Contains(err.Error(), filepath.Join(dir, "infra", "local")) {
		t.Fatalf("error does not say where and how to install: %v", err)
	}
}

func TestLaunchPersistentNeedsDir(t *testing.T) {
	if _, err := Launch(context.Background(), "", true); err == nil {
		t.Fatal("persistent launch without a directory succeeded")
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
	bad, err := azblob.NewClient(a.BlobURL, &Credential{Audience: "https://vault.azure.net"}, &azblob.ClientOptions{ClientOptions: policy.ClientOptions{Transport: a.HTTPClient, Retry: policy.RetryOptions{MaxRetries: -1}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bad.CreateContainer(context.Background(), "refused", nil); err == nil {
		t.Fatal("token with a wrong audience was accepted")
	}
}
