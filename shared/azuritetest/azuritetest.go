// Package azuritetest starts Azurite (package azurite) for one test or
// benchmark and stops it when the test ends.
package azuritetest

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/vcc-ingest/vcc-ingest/shared/azurite"
	"github.com/vcc-ingest/vcc-ingest/shared/testenv"
)

// Azurite is a Blob service started for one test (or benchmark); it is
// stopped by t.Cleanup.
type Azurite struct {
	ConnectionString string // well-known dev account, http://127.0.0.1:<port>/devstoreaccount1
	BlobURL          string // http://127.0.0.1:<port>/devstoreaccount1 (https for StartOAuth)
	// HTTPClient reaches the service (trusting StartOAuth's certificate);
	// use it as the SDK's transport.
	HTTPClient *http.Client
	// Credential is set by StartOAuth: tokens Azurite accepts.
	Credential *azurite.Credential

	t testing.TB
	p *azurite.Process
}

// Start runs an in-memory Azurite for t. When Azurite is not installed the
// test is skipped saying how to install it, or fails under `make test` and
// CI (testenv.RequireToolsEnv), where a skipped storage test would hide
// exactly the bugs it exists to catch.
// Restart on an in-memory instance starts it empty; use StartPersistent when
// data must survive a restart.
func Start(t testing.TB) *Azurite {
	t.Helper()
	return start(t, false, false)
}

// StartPersistent runs Azurite with its data in a temporary directory
// (--location), so Restart keeps containers and blobs.
func StartPersistent(t testing.TB) *Azurite {
	t.Helper()
	return start(t, true, false)
}

// StartOAuth runs an in-memory Azurite over HTTPS that also accepts bearer
// tokens, to test identity-based access (AccountURL + credential) the way
// it runs in Azure.
func StartOAuth(t testing.TB) *Azurite {
	t.Helper()
	a := start(t, false, true)
	a.Credential = &azurite.Credential{}
	return a
}

func start(t testing.TB, persistent, oauth bool) *Azurite {
	t.Helper()
	var (
		p   *azurite.Process
		err error
	)
	if oauth {
		p, err = azurite.LaunchOAuth(context.Background(), t.TempDir(), t.TempDir(), persistent)
	} else {
		p, err = azurite.Launch(context.Background(), t.TempDir(), persistent)
	}
	if err != nil {
		if errors.Is(err, azurite.ErrNotInstalled) {
			testenv.Missing(t, "Azurite (Node.js)", err.Error())
		}
		t.Fatalf("start Azurite: %v", err)
	}
	t.Cleanup(func() {
		if err := p.Stop(); err != nil {
			t.Errorf("stop Azurite: %v", err)
		}
	})
	return &Azurite{ConnectionString: p.ConnectionString, BlobURL: p.BlobURL, HTTPClient: p.HTTPClient, t: t, p: p}
}

// Stop stops the service (to test what callers do when storage is gone).
func (a *Azurite) Stop() {
	a.t.Helper()
	if err := a.p.Stop(); err != nil {
		a.t.Fatalf("stop Azurite: %v", err)
	}
}

// Restart stops the service if it is running and starts it again on the
// same port, so existing clients and connection strings keep working.
func (a *Azurite) Restart() {
	a.t.Helper()
	if err := a.p.Restart(context.Background()); err != nil {
		a.t.Fatalf("restart Azurite: %v", err)
	}
}

// Port is the TCP port the service listens on.
func (a *Azurite) Port() int { return a.p.Port }
