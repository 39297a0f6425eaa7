package request

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Original tells what the client asked nginx (or another proxy) for, from
// the headers each proxy sets; under Envoy's ext_authz the original path
// follows /auth in our own path.
func Original(r *http.Request) (method, uri, host string) {
	hdr := func(names ...string) string {
		for _, n := range names {
			if v := r.Header.Get(n); v != "" {
				return v
			}
		}
		return ""
	}
	method = hdr("X-Original-Method", "X-Forwarded-Method")
	uri = hdr("X-Original-URI", "X-Forwarded-Uri")
	host = hdr("X-Forwarded-Host")
	if u, err := url.Parse(r.Header.Get("X-Original-URL")); err == nil && u.Host != "" {
		if uri == "" {
			uri = u.RequestURI()
		}
		if host == "" {
			host = u.Host
		}
	}
	if uri == "" {
		if rest, ok := strings.CutPrefix(r.URL.Path, "/auth"); ok && rest != "" {
			uri = rest
			if r.URL.RawQuery != "" {
				uri += "?" + r.URL.RawQuery
			}
		}
	}
	if method == "" {
		method = r.Method
	}
	if host == "" {
		host = r.Host
	}
	return method, truncate(uri, 2048), truncate(host, 256)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…(" + strconv.Itoa(len(s)) + " bytes)"
}
