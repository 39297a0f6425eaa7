package request

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
)

// Form is a proxy's way of telling the auth service what the client asked
// for: the `originalRequest:` config key.
type Form string

const (
	Auto         Form = "auto"          // every form present; disagreeing forms are a conflict
	Nginx        Form = "nginx"         // X-Original-URI, X-Original-Method (our snippet)
	IngressNginx Form = "ingress-nginx" // X-Original-URL, X-Original-Method
	Forwarded    Form = "forwarded"     // X-Forwarded-Uri, -Method, -Host (Traefik, Caddy)
	Envoy        Form = "envoy"         // the auth request's own method, the path after /auth (ext_authz)
)

var forms = []Form{Nginx, IngressNginx, Forwarded, Envoy}

// Validate checks a configured form; the error names the key.
func (f Form) Validate() error {
	if f == Auto {
		return nil
	}
	for _, g := range forms {
		if f == g {
			return nil
		}
	}
	return fmt.Errorf("originalRequest: %q: want auto, nginx, ingress-nginx, forwarded or envoy", string(f))
}

// Original is the request the client made, as a proxy describes it.
type Original struct {
	Method string
	URI    string // path and query, as the proxy sent them (not decoded)
	Host   string
	Form   Form // the form it was read from; "" when none was present
}

var (
	// ErrConflict: under auto, two forms present disagree. Proxies pass
	// most client headers on to the auth request, so a client can add
	// another proxy's form (X-Original-URI: /health through Traefik);
	// which one the upstream will route cannot be known, so none is
	// believed.
	ErrConflict = errors.New("conflicting original-request headers")
	// ErrNoForm: the request carries none of the configured form(s).
	ErrNoForm = errors.New("no original-request headers")
)

// OriginalOf reads the original request in form f. With Auto it reads
// every form present; when two disagree on method, path, query or host it
// returns the first with ErrConflict. With no form present it returns the
// auth request's own method and host and ErrNoForm. The Original is always
// filled as well as it can be, for the audit log.
func OriginalOf(r *http.Request, f Form) (Original, error) {
	if f != Auto && f != "" {
		o, ok := read(r, f)
		if !ok {
			return Original{Method: r.Method, Host: r.Host}, ErrNoForm
		}
		return o, nil
	}
	var buf [8]Original // every form fits: no heap allocation per request
	found := buf[:0]
	for _, g := range forms {
		if o, ok := read(r, g); ok {
			found = append(found, o)
		}
	}
	if len(found) == 0 {
		return Original{Method: r.Method, Host: r.Host}, ErrNoForm
	}
	for _, o := range found[1:] {
		if o.Method != found[0].Method || o.URI != found[0].URI || !strings.EqualFold(o.Host, found[0].Host) {
			return found[0], fmt.Errorf("%w: %s and %s", ErrConflict, found[0].Form, o.Form)
		}
	}
	return found[0], nil
}

// read reads one form; ok is false when its headers are absent.
func read(r *http.Request, f Form) (o Original, ok bool) {
	h := r.Header.Get
	o.Form = f
	switch f {
	case Nginx:
		o.URI, o.Method, o.Host = h("X-Original-Uri"), h("X-Original-Method"), h("X-Forwarded-Host")
	case IngressNginx:
		raw := h("X-Original-Url")
		if raw == "" {
			return o, false
		}
		host, uri, ok := splitOriginalURL(raw)
		if !ok {
			// Present but unreadable: an empty URI, which no rule
			// matches and which differs from any other form's.
			return Original{Form: f, Method: cmpOr(h("X-Original-Method"), r.Method), Host: r.Host}, true
		}
		o.URI, o.Method, o.Host = uri, h("X-Original-Method"), host
	case Forwarded:
		o.URI, o.Method, o.Host = h("X-Forwarded-Uri"), h("X-Forwarded-Method"), h("X-Forwarded-Host")
	case Envoy:
		rest, found := strings.CutPrefix(r.URL.EscapedPath(), "/auth")
		if !found || rest == "" || rest[0] != '/' {
			return o, false
		}
		o.URI, o.Method, o.Host = rest, r.Method, r.Host
		if r.URL.RawQuery != "" {
			o.URI += "?" + r.URL.RawQuery
		}
	}
	if o.URI == "" && f != IngressNginx {
		return o, false
	}
	if o.Method == "" {
		o.Method = r.Method
	}
	// Upstreams route methods without regard to case (werkzeug upper-cases
	// them); so does the policy.
	o.Method = strings.ToUpper(o.Method)
	if o.Host == "" {
		o.Host = r.Host
	}
	return o, true
}

// Clip bounds a value for the audit log: longer than n bytes, it is cut and
// its length noted. The policy sees the whole value.
func Clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…(" + strconv.Itoa(len(s)) + " bytes)"
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// authority is a Host header as nginx routes by it and as an upstream
// reads it: a name or an IPv4 or bracketed IPv6 address, and a port.
var authority = regexp.MustCompile(`^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$`)

// splitOriginalURL splits ingress-nginx's X-Original-URL
// ($scheme://$http_host$request_uri) into the host and the request URI
// the way nginx itself read them: the client's Host comes in raw, so the
// URI starts at the first '/' after "://" (nginx allows no '/' in a
// Host), and a Host that is not a plain authority — userinfo, '#', '?',
// anything url.Parse would read as more than a host ("h:#" made the path
// a fragment) — makes the header unreadable.
func splitOriginalURL(raw string) (host, uri string, ok bool) {
	rest, found := strings.CutPrefix(raw, "https://")
	if !found {
		if rest, found = strings.CutPrefix(raw, "http://"); !found {
			return "", "", false
		}
	}
	i := strings.IndexByte(rest, '/')
	if i < 0 {
		return "", "", false
	}
	host, uri = rest[:i], rest[i:]
	if !authority.MatchString(host) {
		return "", "", false
	}
	return host, uri, true
}
