// Package request reads what an auth subrequest tells about the original
// request, per proxy: the credentials, what the client asked for, and
// the client's address.
package request

import (
	"encoding/base64"
	"net/http"
	"strings"

	"github.com/authreq/authreq/authreq/identity"
	"github.com/authreq/authreq/htpasswd"
)

// maxAuthHeader bounds the Authorization header we decode; real Basic
// credentials are far shorter.
const maxAuthHeader = 4096

// Credentials reads credentials from Authorization only: Basic (RFC 7617)
// or Bearer (RFC 6750). Never from Proxy-Authorization: nginx forwards that
// header to the upstream, so a password accepted there would travel on to
// MLflow. present reports whether Authorization was sent, to tell "none"
// from "malformed" in the log; ok whether it held well-formed credentials.
func Credentials(r *http.Request) (c identity.Credentials, present, ok bool) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return nil, false, false
	}
	if len(h) > maxAuthHeader {
		return nil, true, false
	}
	scheme, rest, _ := strings.Cut(h, " ")
	if strings.EqualFold(scheme, "Bearer") {
		tok := strings.TrimSpace(rest)
		if tok == "" || !isToken68(tok) {
			return nil, true, false
		}
		return identity.Bearer{Token: tok}, true, true
	}
	user, password, ok := ParseBasic(h)
	if !ok {
		return nil, true, false
	}
	return identity.Basic{User: user, Password: password}, true, true
}

// isToken68 tells RFC 7235's token68: the characters a Bearer token may
// hold.
func isToken68(s string) bool {
	s = strings.TrimRight(s, "=")
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~+/", c) >= 0) {
			return false
		}
	}
	return true
}

// strictBase64 is made once: Strict returns a new Encoding at each call.
var strictBase64 = base64.StdEncoding.Strict()

// ParseBasic decodes "Basic base64(user:password)". Anything else — another
// scheme, bad base64, no colon, an invalid user name, an oversize header —
// is not credentials (401), never an error of ours.
func ParseBasic(h string) (user, password string, ok bool) {
	if len(h) > maxAuthHeader {
		return "", "", false
	}
	scheme, rest, found := strings.Cut(h, " ")
	if !found || !strings.EqualFold(scheme, "Basic") {
		return "", "", false
	}
	rest = strings.TrimSpace(rest)
	var buf [maxAuthHeader]byte // on the stack: the one allocation is the string below
	n, err := strictBase64.Decode(buf[:], []byte(rest))
	if err != nil {
		return "", "", false
	}
	user, password, found = strings.Cut(string(buf[:n]), ":")
	clear(buf[:n])
	if !found || htpasswd.ValidateUser(user) != nil {
		return "", "", false
	}
	return user, password, true
}
