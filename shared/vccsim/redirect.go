package vccsim

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// The redirect fault sends a download to a second listener reached under a
// different host name ("localhost" vs "127.0.0.1"), like a pre-signed storage
// URL. Go's http.Client drops Authorization when a redirect changes host; the
// target answers 400 to any request that still carries it, so a client that
// leaks its bearer token fails the download.

const presignTTL = 5 * time.Minute

func (s *Sim) sign(guid, key string, expires int64) string {
	m := hmac.New(sha256.New, s.sigKey)
	fmt.Fprintf(m, "%s\n%s\n%d", guid, key, expires)
	return hex.EncodeToString(m.Sum(nil))
}

// redirectURL starts the redirect target if needed and returns a pre-signed
// URL for the item, on a host name other than the one r was sent to.
func (s *Sim) redirectURL(r *http.Request, guid, key string) (string, error) {
	s.redirMu.Lock()
	if s.redir == nil {
		l, err := serve("127.0.0.1:0", http.HandlerFunc(s.serveRedirected))
		if err != nil {
			s.redirMu.Unlock()
			return "", err
		}
		s.redir = l
	}
	_, port, _ := net.SplitHostPort(s.redir.ln.Addr().String())
	s.redirMu.Unlock()

	host := r.Host
	if h, _, err := net.SplitHostPort(r.Host); err == nil {
		host = h
	}
	other := "localhost"
	if strings.EqualFold(host, "localhost") {
		other = "127.0.0.1"
	}
	exp := s.opts.Now().Add(presignTTL).Unix()
	v := url.Values{"se": {strconv.FormatInt(exp, 10)}, "sig": {s.sign(guid, key, exp)}}
	return fmt.Sprintf("http://%s/blob/%s/%s?%s", net.JoinHostPort(other, port),
		url.PathEscape(guid), url.PathEscape(key), v.Encode()), nil
}

// serveRedirected is the redirect target: it serves the bytes of a validly
// signed URL and refuses any request carrying Authorization.
func (s *Sim) serveRedirected(rw http.ResponseWriter, r *http.Request) {
	w := &statusWriter{ResponseWriter: rw}
	defer func() { s.count.update(func(c *Counters) { c.ByStatus[w.status]++ }) }()
	s.count.update(func(c *Counters) { c.ByEndpoint[EndpointRedirected]++ })
	if r.Method != http.MethodGet {
		s.count.update(func(c *Counters) { c.NonGET = append(c.NonGET, r.Method+" "+r.URL.Path) })
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if r.Header.Get("Authorization") != "" {
		s.count.update(func(c *Counters) { c.RedirectAuthRejected++ })
		http.Error(w, "Authorization header is not allowed with a pre-signed URL", http.StatusBadRequest)
		return
	}
	seg := strings.Split(strings.Trim(r.URL.EscapedPath(), "/"), "/")
	if len(seg) != 3 || seg[0] != "blob" {
		http.NotFound(w, r)
		return
	}
	guid, err1 := url.PathUnescape(seg[1])
	key, err2 := url.PathUnescape(seg[2])
	exp, err3 := strconv.ParseInt(r.URL.Query().Get("se"), 10, 64)
	if err1 != nil || err2 != nil || err3 != nil ||
		!hmac.Equal([]byte(r.URL.Query().Get("sig")), []byte(s.sign(guid, key, exp))) {
		http.Error(w, "signature mismatch", http.StatusForbidden)
		return
	}
	if s.opts.Now().Unix() > exp {
		http.Error(w, "pre-signed URL expired", http.StatusForbidden)
		return
	}
	s.mu.RLock()
	in := s.pop.byGUID[guid]
	s.mu.RUnlock()
	var c *contentItem
	if in != nil {
		c = findContent(in, key)
	}
	if c == nil {
		http.NotFound(w, r)
		return
	}
	serveContent(w, r, c)
}
