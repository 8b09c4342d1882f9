package ops

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/vcc-ingest/vcc-ingest/shared/config"
	"github.com/vcc-ingest/vcc-ingest/shared/startup"
	"github.com/vcc-ingest/vcc-ingest/shared/store"
	"github.com/vcc-ingest/vcc-ingest/shared/tenants"
)

const tenantsUsage = `Usage:
  handler tenants check FILE                validate a tenants document and print its tenants
  handler tenants get [--out FILE]          the document the Function App serves, and its version
  handler tenants push [--version V] FILE   validate FILE, then upload it for the Function App

The Function App serves the tenants document VCC_TENANTS_BLOB of the state
container (STATE_CONTAINER, on RECORDINGS_ACCOUNT_URL or
RECORDINGS_CONNECTION_STRING, as the other commands) and looks at it again
every VCC_TENANTS_REFRESH, at once when a message names a tenant it lacks.
push uploads only a document the Function App would serve, and only over
the version an edit
started from (--version, as get prints it; none when the document does not
exist yet): two operators' edits never overwrite each other.

Exit status: 0 done, 1 refused (invalid document, changed meanwhile) or
failed, 2 usage.
`

// Tenants is "handler tenants": check, get and push the tenants document.
func Tenants(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(stderr, tenantsUsage)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	cmd, args := args[0], args[1:]
	fs := flag.NewFlagSet("tenants "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, tenantsUsage); fs.PrintDefaults() }
	var out, version string
	switch cmd {
	case "check":
	case "get":
		fs.StringVar(&out, "out", "", "write the document to this file instead of stdout")
	case "push":
		fs.StringVar(&version, "version", "", "the version of the document your edit started from (handler tenants get prints it); empty: the document must not exist yet")
	default:
		return UsageError(fmt.Errorf("unknown tenants command %q (check, get, push)", cmd), stderr)
	}
	if err := fs.Parse(args); err != nil {
		return UsageError(err, stderr)
	}
	want := 1
	if cmd == "get" {
		want = 0
	}
	if fs.NArg() != want {
		return UsageError(fmt.Errorf("tenants %s: takes %d file argument(s)", cmd, want), stderr)
	}
	var err error
	switch cmd {
	case "check":
		err = checkTenants(fs.Arg(0), stdout, getenv)
	case "get":
		err = getTenants(ctx, out, stdout, stderr, getenv)
	case "push":
		err = pushTenants(ctx, fs.Arg(0), version, stdout, getenv)
	}
	if err != nil {
		fmt.Fprintln(stderr, "error:", err)
		return 1
	}
	return 0
}

// checkTenants validates path as the Function App would (VCC's hosts and
// VCC_EXTRA_HOSTS, no loopback) and prints its tenants.
func checkTenants(path string, stdout io.Writer, getenv func(string) string) error {
	extra, err := tenants.ParseExtraHosts(getenv("VCC_EXTRA_HOSTS"))
	if err != nil {
		return err
	}
	doc, err := tenants.LoadWith(path, tenants.Hosts{Extra: extra})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: valid, %d tenants\n", path, len(doc.Tenants))
	printTenants(stdout, doc)
	return nil
}

// printTenants shows where each tenant's credential goes (its hosts, the
// region's when the document names none) and which secrets it reads.
func printTenants(w io.Writer, doc tenants.Document) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  id\tregion\tclientId\tratePerMinute\ttokenUrl\tapiUrl\tsecretName\twebhookSecretName")
	for _, t := range doc.Tenants {
		token, api := t.TokenURL, t.APIURL
		if cfg, err := t.VCCConfig(); err == nil {
			token, api = cfg.TokenURL, cfg.APIURL
		}
		hook := t.WebhookSecretName
		if hook == "" {
			hook = "-"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", t.ID, t.Region, t.ClientID, t.RatePerMinute, token, api, t.SecretName, hook)
	}
	_ = tw.Flush()
}

// tenantsState is the state container holding the document, and its name.
func tenantsState(ctx context.Context, getenv func(string) string, write bool) (store.State, config.Config, error) {
	cfg, err := config.Load(getenv)
	if err != nil {
		if err = withoutVCCSettings(err); err != nil {
			return nil, cfg, fmt.Errorf("configuration:\n%w", err)
		}
	}
	var errs []error
	if cfg.TenantsBlob == "" {
		errs = append(errs, errors.New("VCC_TENANTS_BLOB: required, the name of the tenants document in the state container (e.g. tenants.json), as the Function App has it"))
	}
	if cfg.RecordingsConnectionString == "" && cfg.RecordingsAccountURL == "" {
		errs = append(errs, errors.New("RECORDINGS_ACCOUNT_URL: required (or RECORDINGS_CONNECTION_STRING): the state container's account"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, cfg, fmt.Errorf("configuration:\n%w", err)
	}
	blobs, err := startup.OpenBlobs(ctx, cfg, write)
	if err != nil {
		return nil, cfg, err
	}
	return blobs.State(), cfg, nil
}

// getTenants writes the document served to out (stdout when empty) and
// says its version on stdout (stderr when the document goes to stdout).
func getTenants(ctx context.Context, out string, stdout, stderr io.Writer, getenv func(string) string) error {
	st, cfg, err := tenantsState(ctx, getenv, false)
	if err != nil {
		return err
	}
	data, etag, found, err := st.Load(ctx, cfg.TenantsBlob)
	if err != nil {
		return err
	}
	if !found {
		return fmt.Errorf("%s: not found in container %s (push one: handler tenants push FILE)", cfg.TenantsBlob, cfg.StateContainer)
	}
	status := "valid"
	doc, perr := tenants.ParseWith(data, cfg.TenantHosts(false))
	if perr != nil {
		status = "INVALID, the Function App serves the version before it: " + perr.Error()
	}
	info := stdout
	if out == "" {
		info = stderr
		if _, err := stdout.Write(data); err != nil {
			return err
		}
	} else if err := os.WriteFile(out, data, 0o600); err != nil {
		return err
	}
	fmt.Fprintf(info, "%s in container %s: version %s, %s\n", cfg.TenantsBlob, cfg.StateContainer, bareETag(etag), status)
	if perr == nil {
		printTenants(info, doc)
	}
	return nil
}

// pushTenants uploads path over version (none: the document must not
// exist) once it is valid as the Function App will find it: the file is
// read once, and the bytes validated are the bytes uploaded.
func pushTenants(ctx context.Context, path, version string, stdout io.Writer, getenv func(string) string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("not pushed: %w", err)
	}
	extra, err := tenants.ParseExtraHosts(getenv("VCC_EXTRA_HOSTS"))
	if err != nil {
		return fmt.Errorf("not pushed: %w", err)
	}
	doc, err := tenants.ParseWith(data, tenants.Hosts{Extra: extra}) // as the Function App: no loopback
	if err != nil {
		return fmt.Errorf("not pushed: %s: %w", path, err)
	}
	st, cfg, err := tenantsState(ctx, getenv, true)
	if err != nil {
		return err
	}
	// Each tenant as the app builds it (cfg.ForTenant: e.g. its VCC
	// settings); its secrets are the app's to read, not ours.
	var errs []error
	for _, t := range doc.Tenants {
		if _, err := cfg.ForTenant(t); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("not pushed: %s: the Function App would refuse it:\n%w", path, err)
	}
	name := cfg.TenantsBlob
	_, cur, found, err := st.Load(ctx, name)
	if err != nil {
		return err
	}
	switch {
	case found && version == "":
		return fmt.Errorf("not pushed: %s exists (version %s): give --version with the version your edit started from (handler tenants get prints it)", name, bareETag(cur))
	case !found && version != "":
		return fmt.Errorf("not pushed: %s does not exist: push without --version to create it", name)
	case found && bareETag(cur) != bareETag(version):
		return fmt.Errorf("not pushed: %s changed since version %s (now %s): get it again and make your edit on it", name, bareETag(version), bareETag(cur))
	}
	etag := ""
	if found {
		etag = cur // the version checked above, as the store spells it
	}
	newETag, err := st.Save(ctx, name, data, etag)
	if errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("not pushed: %s changed meanwhile: get it again and make your edit on it", name)
	}
	if err != nil {
		return err
	}
	ids := make([]string, len(doc.Tenants))
	for i, t := range doc.Tenants {
		ids[i] = t.ID
	}
	fmt.Fprintf(stdout, "pushed %s to container %s: version %s, %d tenants (%s)\n", name, cfg.StateContainer, bareETag(newETag), len(ids), strings.Join(ids, ", "))
	fmt.Fprintf(stdout, "The Function App serves it within %s (at once for a new tenant's first message). Each tenant's secret is the Key Vault secret secretName, readable by the app (infra: tenantSecretNames).\n", cfg.TenantsRefresh)
	return nil
}

// bareETag is an ETag without its quotes, as an operator types it.
func bareETag(etag string) string { return strings.Trim(etag, `"`) }
