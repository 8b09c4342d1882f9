package ops

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/vcc-ingest/vcc-ingest/shared/doctor"
)

const doctorUsage = `Usage: handler doctor [flags]

Checks the VCC credential, and prints a table (--json for machines):
  token        a token can be obtained, as the product obtains it
  scopes       the credential holds exactly interaction-content:read,
               users:read and stats: a missing scope is named, an extra one
               is flagged as over-privileged. To see extra scopes the doctor
               asks the token endpoint once for a token without naming a
               scope (the server then grants all the credential holds); that
               token is used for nothing else. The product itself only ever
               requests the three.
  api ...      Interaction Content (v3), Insights Stats (v3) and User Admin
               (v4) each answer the version the product speaks
  permission   over a sample window (default: the last 7 whole UTC days),
               the Stats listing against the Interaction Content listing by
               direction and by agent, naming the VCC user feature permission
               that is probably off, with the counts and the fix:
               "View inbound interaction content", "View outbound interaction
               content", "Access groups of users' content". Interactions
               without content (calls not recorded) are not mistaken for it.

Settings are the product's: VCC_REGION or VCC_TOKEN_URL/VCC_API_URL,
VCC_CLIENT_ID, and VCC_CLIENT_SECRET or KEY_VAULT_URI.

Examples:
  handler doctor
  handler doctor --from 2026-10-01 --to 2026-10-08 --json
  handler doctor --sandbox --sandbox-deny groups --sandbox-grant "interaction-content:read users:read stats users:write"

Exit status: 0 all well, 1 a problem found, 2 something could not be checked.
An optional check that could not be made (owner permissions, without
VCC_OWNER_USER_ID or when VCC refuses to list them) is reported as unchecked
and leaves the exit status 0; --strict makes it exit 2.

Flags:
`

// Doctor is "handler doctor".
func Doctor(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	var o Flags
	var asJSON, all, strict bool
	fs := flag.NewFlagSet("doctor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, doctorUsage); fs.PrintDefaults() }
	o.WindowFlags(fs, "sample window start (RFC 3339 or YYYY-MM-DD, UTC; default 7 days before --to)", "sample window end, exclusive (default today 00:00 UTC)")
	fs.BoolVar(&asJSON, "json", false, "print JSON instead of a table")
	fs.BoolVar(&strict, "strict", false, "exit 2 when an optional check (owner permissions) could not be made")
	fs.BoolVar(&all, "all", false, "with a tenants document: check every tenant, one after another (the exit status is the worst)")
	o.TenantFlag(fs)
	o.SandboxFlags(fs, 7)
	fs.IntVar(&o.Days, "days", 7, "sandbox: days of generated interactions")
	if err := ParseArgs(fs, args); err != nil {
		return UsageError(err, stderr)
	}
	start, end, err := ParseWindow(o.From, o.To)
	if err != nil {
		return UsageError(err, stderr)
	}
	if err := o.CheckSandbox(); err != nil {
		return UsageError(err, stderr)
	}
	if o.Sandbox && start.IsZero() {
		first, err := o.SandboxStart()
		if err != nil {
			return UsageError(err, stderr)
		}
		start, end = first, first.AddDate(0, 0, o.Days)
	}

	info := stdout
	if asJSON {
		info = stderr
	}
	if all && o.Tenant != "" {
		return UsageError(fmt.Errorf("--all and --tenant: one or the other"), stderr)
	}
	env, err := begin(o, true, info, stderr, getenv)
	defer env.Close()
	if err == nil {
		err = env.openAccounts(ctx, o, true, all)
	}
	if err != nil {
		fmt.Fprintln(stderr, "error:", err)
		return 2
	}
	if all {
		if len(env.Tenants) == 0 {
			return UsageError(fmt.Errorf("--all: needs a tenants document (VCC_TENANTS_FILE)"), stderr)
		}
		worst := 0
		for _, t := range env.Tenants {
			one := *env
			one.Config, one.Client, one.VCCConfig = t.Config, t.VCC, t.VCCConfig
			if !asJSON {
				fmt.Fprintf(stdout, "Tenant %s\n", t.ID)
			}
			worst = max(worst, doctorOne(ctx, &one, start, end, asJSON, strict, stdout, stderr))
		}
		return worst
	}
	return doctorOne(ctx, env, start, end, asJSON, strict, stdout, stderr)
}

// doctorOne checks env's one VCC account and prints the result.
func doctorOne(ctx context.Context, env *Env, start, end time.Time, asJSON, strict bool, stdout, stderr io.Writer) int {
	prober := &doctor.HTTPProber{
		TokenURL: env.VCCConfig.TokenURL, APIURL: env.VCCConfig.APIURL, ClientID: env.VCCConfig.ClientID,
		Secret: env.VCCConfig.Secret, HTTPClient: env.Client.HTTPClient(), Application: env.VCCConfig.Application,
	}
	stop := func() {}
	if !asJSON {
		stop = StartProgress(stdout, func() string { return "checking: listing Stats and Interaction Content over the sample window…" })
	}
	r := doctor.Run(ctx, env.Client, prober, doctor.Options{From: start, To: end, OwnerUserID: env.Config.OwnerUserID, Strict: strict})
	stop()
	if asJSON {
		if err := doctor.WriteJSON(stdout, r); err != nil {
			fmt.Fprintln(stderr, "error:", err)
			return 2
		}
	} else if err := doctor.WriteTable(stdout, r); err != nil {
		fmt.Fprintln(stderr, "error:", err)
		return 2
	}
	return r.Exit
}
