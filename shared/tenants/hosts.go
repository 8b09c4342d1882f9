package tenants

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
)

// A tenant's client id and secret are sent to its tokenUrl, and its bearer
// token to its apiUrl: whoever may write the document must not be able to
// send them anywhere else. Those URLs are VCC's own hosts for the tenant's
// region (the documented ones and their documented alternatives), matched
// whole; another host is admitted only by the deployment's settings
// (VCC_EXTRA_HOSTS), and loopback only by a local run.

// vccHosts are VCC's hosts of a region: where a token is asked for, and
// where the APIs are.
func vccHosts(region string) (token, api []string) {
	return []string{region + ".cc.vonage.com", region + ".newvoicemedia.com"},
		[]string{region + ".api.newvoicemedia.com", region + ".api.cc.vonage.com"}
}

// Hosts is what a document may name besides VCC's own hosts.
type Hosts struct {
	// Extra are exact origins (scheme://host[:port]) the deployment names
	// in VCC_EXTRA_HOSTS (ParseExtraHosts).
	Extra []string
	// Loopback admits loopback hosts over http or https: the local runner
	// and the sandbox, never the Function App.
	Loopback bool
}

// ParseExtraHosts reads VCC_EXTRA_HOSTS: origins separated by commas or
// spaces, each https://host[:port] (http only for a loopback host, as
// VCC_API_URL), with no path, query or credentials.
func ParseExtraHosts(v string) ([]string, error) {
	var out []string
	for _, raw := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' }) {
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" || u.Hostname() == "" || u.User != nil || u.Opaque != "" ||
			(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
			return nil, fmt.Errorf("VCC_EXTRA_HOSTS: %q is not an origin (scheme://host[:port])", raw)
		}
		if u.Scheme != "https" && !(u.Scheme == "http" && isLoopback(u.Hostname())) {
			return nil, fmt.Errorf("VCC_EXTRA_HOSTS: %q: https only (http for a loopback host)", raw)
		}
		out = append(out, origin(u))
	}
	return out, nil
}

// origin is u's scheme://host[:port], lower-cased.
func origin(u *url.URL) string { return strings.ToLower(u.Scheme + "://" + u.Host) }

// check returns a problem for each of t's URLs that h does not admit.
func (h Hosts) check(t Tenant) []error {
	region := strings.ToLower(strings.TrimSpace(t.Region))
	token, api := vccHosts(region)
	var errs []error
	for _, f := range []struct {
		field, raw string
		vcc        []string
	}{{"tokenUrl", t.TokenURL, token}, {"apiUrl", t.APIURL, api}} {
		if f.raw == "" {
			continue // the region's default
		}
		if err := h.admits(strings.TrimSpace(f.raw), f.vcc); err != nil {
			errs = append(errs, fmt.Errorf("%s: %v (VCC's for region %s: https://%s)", f.field, err, region, strings.Join(f.vcc, ", https://")))
		}
	}
	return errs
}

// admits reports why raw may not be used, nil when it may: an https URL on
// one of vcc's hosts (no port), an origin of h.Extra, or a loopback host
// when h.Loopback.
func (h Hosts) admits(raw string, vcc []string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Errorf("%.80q is not a URL", raw)
	}
	if u.User != nil {
		return fmt.Errorf("credentials in the URL are not allowed")
	}
	host := strings.ToLower(u.Host)
	switch {
	case u.Scheme == "https" && slices.Contains(vcc, host):
		return nil
	case slices.Contains(h.Extra, origin(u)):
		return nil
	case h.Loopback && isLoopback(u.Hostname()) && (u.Scheme == "http" || u.Scheme == "https"):
		return nil
	case isLoopback(u.Hostname()):
		return fmt.Errorf("%s is a loopback host: for local runs only", origin(u))
	}
	return fmt.Errorf("%s is not VCC's, and VCC_EXTRA_HOSTS does not name it", origin(u))
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
