package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/vcc-ingest/vcc-ingest/shared/doctor"
	"github.com/vcc-ingest/vcc-ingest/shared/vccsim"
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

Flags:
`

func runDoctor(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	var o opsFlags
	var from, to string
	var asJSON bool
	fs := flag.NewFlagSet("doctor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, doctorUsage); fs.PrintDefaults() }
	fs.StringVar(&from, "from", "", "sample window start (RFC 3339 or YYYY-MM-DD, UTC; default 7 days before --to)")
	fs.StringVar(&to, "to", "", "sample window end, exclusive (default today 00:00 UTC)")
	fs.BoolVar(&asJSON, "json", false, "print JSON instead of a table")
	o.sandboxFlags(fs, 7)
	fs.IntVar(&o.days, "days", 7, "sandbox: days of generated interactions")
	fs.StringVar(&o.deny, "sandbox-deny", "", "sandbox: feature permissions switched off, comma separated: inbound, outbound, groups")
	fs.StringVar(&o.grant, "sandbox-grant", "", "sandbox: the scopes the credential holds, space separated (default the three)")
	if err := fs.Parse(args); err != nil {
		return usageError(err, stderr)
	}
	if fs.NArg() > 0 {
		return usageError(fmt.Errorf("unexpected argument %q", fs.Arg(0)), stderr)
	}
	start, end, err := parseWindow(from, to)
	if err != nil {
		return usageError(err, stderr)
	}
	var sim vccsim.Options
	for _, p := range strings.Split(o.deny, ",") {
		switch strings.TrimSpace(p) {
		case "":
		case "inbound":
			sim.Deny.Inbound = true
		case "outbound":
			sim.Deny.Outbound = true
		case "groups":
			sim.Deny.Groups = true
		default:
			return usageError(fmt.Errorf("--sandbox-deny: %q is not inbound, outbound or groups", p), stderr)
		}
	}
	if g := strings.Fields(o.grant); len(g) > 0 {
		sim.GrantedScopes = g
	}
	if o.sandbox && start.IsZero() {
		first, err := o.sandboxStart()
		if err != nil {
			return usageError(err, stderr)
		}
		start, end = first, first.AddDate(0, 0, o.days)
	}

	info := stdout
	if asJSON {
		info = stderr
	}
	env, err := openOps(ctx, o, need{vcc: true}, sim, info, stderr, getenv)
	if err != nil {
		fmt.Fprintln(stderr, "error:", err)
		return 2
	}
	defer env.Close()
	prober := &doctor.HTTPProber{
		TokenURL: env.vccCfg.TokenURL, APIURL: env.vccCfg.APIURL, ClientID: env.vccCfg.ClientID,
		Secret: env.vccCfg.Secret, HTTPClient: env.vccCfg.HTTPClient, Application: env.vccCfg.Application,
	}
	stop := func() {}
	if !asJSON {
		stop = startProgress(stdout, func() string { return "checking: listing Stats and Interaction Content over the sample window…" })
	}
	r := doctor.Run(ctx, env.client, prober, doctor.Options{From: start, To: end})
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
