package devhost

import (
	"io"
	"net/http"
	"net/url"
	"strings"
)

// HTTPFunction is an HTTP-triggered function the host serves: its method
// and route under the route prefix (function.json's "route", host.json's
// routePrefix "api").
type HTTPFunction struct {
	Name   string
	Method string // e.g. POST
	// Path is the route template under the prefix, e.g.
	// /api/vcc/events/{tenant?}: literal segments, matched without regard
	// to case as the host's ASP.NET Core routing does, and parameters
	// ({name}: one non-empty segment; {name?}: optional, last only).
	Path string
}

// matches reports whether an escaped request path fits the template. As in
// ASP.NET Core, a segment is what lies between slashes of the path as sent
// (an encoded slash stays inside its segment), compared decoded, and a
// trailing slash is ignored.
func (f HTTPFunction) matches(escaped string) bool {
	want := strings.Split(strings.Trim(f.Path, "/"), "/")
	got := strings.Split(strings.TrimSuffix(strings.TrimPrefix(escaped, "/"), "/"), "/")
	if len(got) == 1 && got[0] == "" {
		got = nil
	}
	if n := len(want); len(got) == n-1 && strings.HasPrefix(want[n-1], "{") && strings.HasSuffix(want[n-1], "?}") {
		want = want[:n-1]
	}
	if len(got) != len(want) {
		return false
	}
	for i, w := range want {
		seg, err := url.PathUnescape(got[i])
		if err != nil {
			return false
		}
		if strings.HasPrefix(w, "{") {
			if seg == "" {
				return false
			}
			continue
		}
		if !strings.EqualFold(seg, w) {
			return false
		}
	}
	return true
}

// HTTPHandler serves the HTTP-triggered functions as the host does with
// customHandler.enableForwardingHttpRequest (host.json) for a function
// whose only bindings are an httpTrigger and an http output: the request
// is forwarded to the handler as it came — method, path (escaped as sent), query, every
// header, the body byte for byte — with the host's own headers added
// (X-Azure-Functions-InvocationId, X-Azure-Functions-HostVersion, its
// User-Agent), and the handler's answer is the response. A request for no
// function's route gets 404, a wrong method 405, as from the host.
func (h *Host) HTTPHandler(functions ...HTTPFunction) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var fn *HTTPFunction
		for i := range functions {
			if functions[i].matches(r.URL.EscapedPath()) {
				fn = &functions[i]
			}
		}
		if fn == nil {
			http.NotFound(w, r)
			return
		}
		if !strings.EqualFold(r.Method, fn.Method) {
			w.Header().Set("Allow", fn.Method)
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		base, _ := h.target(0)
		target := base + r.URL.EscapedPath() // the host forwards the path as sent (Uri.AbsolutePath)
		if r.URL.RawQuery != "" {
			target += "?" + r.URL.RawQuery
		}
		var body io.Reader
		if r.ContentLength != 0 {
			body = r.Body
		}
		req, err := http.NewRequestWithContext(r.Context(), r.Method, target, body)
		if err != nil {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		for k, vs := range r.Header {
			for _, v := range vs {
				req.Header.Add(k, v)
			}
		}
		req.ContentLength = r.ContentLength
		req.Header.Set("X-Azure-Functions-InvocationId", newID())
		req.Header.Set("X-Azure-Functions-HostVersion", "4.0-devhost")
		req.Header.Set("User-Agent", "azure-functions-host/4.0-devhost")
		resp, err := h.client().Do(req)
		if err != nil {
			if h.Logger != nil {
				h.Logger.Error("forwarding to the handler failed", "function", fn.Name, "error", err)
			}
			http.Error(w, "internal server error", http.StatusInternalServerError)
			return
		}
		defer resp.Body.Close()
		for k, vs := range resp.Header {
			for _, v := range vs {
				w.Header().Add(k, v)
			}
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
	})
}
