package authreq

import (
	"testing"
	"time"

	"github.com/authreq/authreq/internal/realtest"
)

// The service with htpasswd (break-glass "local") and the MLflow chart's
// LDAP block against a real slapd.
func TestLDAPThroughService(t *testing.T) {
	const base = "dc=mlflow,dc=test"
	d := realtest.StartSlapd(t, base, "ldapauth/testdata/mlflow.ldif")
	s := newTestServer(t, map[string]string{"local": "local-pw"}, func(c *Config) {
		l := &c.LDAP
		l.Enabled = true
		l.URI = d.LDAPSURL + "/" + base
		l.LookupBind = "uid=%s,ou=people," + base
		l.SearchBaseDistinguishedName = "ou=groups," + base
		l.SearchFilter = "(&(objectclass=groupOfUniqueNames)(uniquemember=%s))"
		l.AdminGroupDistinguishedName = "cn=test-admin,ou=groups," + base
		l.UserGroupDistinguishedName = "cn=test-user,ou=groups," + base
		l.TrustedCACertificateFile = d.CA.CertFile
		l.Timeout = Duration(2 * time.Second)
	})
	get := func(user, pw string) (int, string, string, string) {
		resp := s.do("GET", "/auth", map[string]string{"Authorization": basic(user, pw)})
		h := resp.Header
		return resp.StatusCode, h.Get("X-User"), h.Get("X-Groups"), h.Get("X-Role")
	}
	type answer struct {
		code               int
		user, groups, role string
	}
	check := func(user, pw string, want answer) {
		t.Helper()
		code, u, g, r := get(user, pw)
		if got := (answer{code, u, g, r}); got != want {
			t.Errorf("%s: %+v, want %+v", user, got, want)
		}
	}
	check("alice", "alice-pass", answer{200, "alice", "test-admin,test-user", "admin"})
	check("bob", "bob-pass", answer{200, "bob", "test-user", "user"})
	check("carol", "carol-pass", answer{401, "", "", ""})
	check("alice", "wrong", answer{401, "", "", ""})
	check("alice", "", answer{401, "", "", ""})
	check("local", "local-pw", answer{200, "local", "", ""})
	if code := s.do("GET", "/readyz", nil).StatusCode; code != 200 {
		t.Errorf("readyz %d", code)
	}

	// The directory goes down: cached users keep working, others get 503
	// (nginx: 500), never 401; readiness says why; local users still work.
	d.Stop()
	check("alice", "alice-pass", answer{200, "alice", "test-admin,test-user", "admin"})
	check("bob", "wrong-while-down", answer{503, "", "", ""})
	check("local", "local-pw", answer{200, "local", "", ""})
	if code := s.do("GET", "/readyz", nil).StatusCode; code != 503 {
		t.Errorf("readyz while the directory is down: %d", code)
	}
	d.Start()
	realtest.Eventually(t, 15*time.Second, "readiness after the directory returns", func() bool {
		return s.do("GET", "/readyz", nil).StatusCode == 200
	})
	check("bob", "bob-pass", answer{200, "bob", "test-user", "user"})
	if v := s.metric("authreq_ldap_dial_errors_total"); v == "" || v == "0" {
		t.Errorf("dial errors not counted: %q", v)
	}
}
