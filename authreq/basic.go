package authreq

import (
	"encoding/base64"
	"net/http"
	"strings"

	"github.com/authreq/authreq/htpasswd"
)

// maxAuthHeader bounds the Authorization header we decode; real Basic
// credentials are far shorter.
const maxAuthHeader = 4096

// credentials reads Basic credentials from Authorization only. Never from
// Proxy-Authorization: nginx forwards that header to the upstream, so a
// password accepted there would travel on to MLflow. present reports
// whether Authorization was sent, to tell "none" from "malformed" in the
// log.
func credentials(r *http.Request) (user, password string, present, ok bool) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", "", false, false
	}
	user, password, ok = parseBasic(h)
	return user, password, true, ok
}

// parseBasic decodes "Basic base64(user:password)". Anything else — another
// scheme, bad base64, no colon, an invalid user name, an oversize header —
// is not credentials (401), never an error of ours.
func parseBasic(h string) (user, password string, ok bool) {
	if len(h) > maxAuthHeader {
		return "", "", false
	}
	scheme, rest, found := strings.Cut(h, " ")
	if !found || !strings.EqualFold(scheme, "Basic") {
		return "", "", false
	}
	dec, err := base64.StdEncoding.Strict().DecodeString(strings.TrimSpace(rest))
	if err != nil {
		return "", "", false
	}
	user, password, found = strings.Cut(string(dec), ":")
	if !found || htpasswd.ValidateUser(user) != nil {
		return "", "", false
	}
	return user, password, true
}
