package policy

import (
	"net/url"
	"strings"
)

// CanonicalPath is the path the upstream will route for uri: the part
// before the query, percent-decoded once. ok is false when that path is
// not canonical — it has empty ("//"), "." or ".." segments (raw or
// encoded), a ";" parameter, an
// encoded or literal backslash, an encoded "/", a NUL, or bad
// percent-encoding — since upstreams (and proxies in between) differ in
// how they would route such a path, and a policy must never let one reach
// a weaker rule than the path it stands for. Such paths are unknown: only
// admins pass.
func CanonicalPath(uri string) (path, query string, ok bool) {
	raw, query, _ := strings.Cut(uri, "?")
	if raw == "" || raw[0] != '/' {
		return "", query, false
	}
	lower := strings.ToLower(raw)
	if strings.ContainsAny(raw, ";\\\x00") || strings.Contains(lower, "%2f") || strings.Contains(lower, "%5c") || strings.Contains(lower, "%00") {
		return "", query, false
	}
	p, err := url.PathUnescape(raw)
	if err != nil {
		return "", query, false
	}
	if p != "/" {
		segs := strings.Split(p[1:], "/")
		for i, seg := range segs {
			if seg == "" && i == len(segs)-1 {
				continue // a trailing slash: canonical, but "/x/" is not "/x"
			}
			if seg == "" || seg == "." || seg == ".." {
				return "", query, false
			}
		}
	}
	return p, query, true
}
