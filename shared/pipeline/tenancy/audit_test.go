package tenancy

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/vcc-ingest/vcc-ingest/shared/records"
)

// staticAuditor answers one audit result.
type staticAuditor struct{ res records.Audit }

func (a staticAuditor) Run(context.Context, time.Time) (records.Audit, error) { return a.res, nil }

// A newer document not served (invalid): the audit still runs the version
// served, and names the document's problem among its findings.
func TestTenantsAuditReportsStaleDocument(t *testing.T) {
	set := NewSet(`"v1"`, []*Steps{{ID: "acme", Audit: staticAuditor{records.Audit{Gaps: 2}}}})
	set.Stale = errors.New(`tenants.json (version "v2"): tenant globex: ratePerMinute: required`)
	a := &Audit{Tenants: Fixed{set}, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Parallel: 1}
	res, err := a.Run(context.Background(), time.Now())
	if err != nil || res.Gaps != 2 || len(res.Tenants) != 1 {
		t.Fatalf("audit over a stale set: %v, %+v", err, res)
	}
	if len(res.Problems) != 1 || !strings.Contains(res.Problems[0], "tenant globex: ratePerMinute") || !strings.Contains(res.Problems[0], `version "v1" were audited`) {
		t.Fatalf("problems %q, want the stale document named", res.Problems)
	}
}
