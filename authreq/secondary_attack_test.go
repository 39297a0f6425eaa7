package authreq

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/authreq/authreq/authreq/policy"
	"github.com/authreq/authreq/internal/duration"
	"github.com/authreq/authreq/internal/realtest"
)

// An htpasswd account locked with an unusable hash ("root:!", the usual
// way to disable a break-glass account) is "unknown" to htfile.Lookup, so
// an MLflow-DB row named root logs in as root and gets config admin.
func TestLockedHtpasswdNameStaysClaimed(t *testing.T) {
	for _, tc := range []struct {
		name, line string
		weak       bool
	}{
		{"locked", "root:!\n", false},
		{"weak-refused", "root:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := newMLflowDB(t, "schema-3.8.sql",
				"INSERT INTO users VALUES (5, 'root', '"+mlflowHash(t, "db-pw", "r1")+"', FALSE)").path
			ht := filepath.Join(t.TempDir(), "ht")
			if err := os.WriteFile(ht, []byte(tc.line), 0o640); err != nil {
				t.Fatal(err)
			}
			s := newTestServer(t, nil, func(c *Config) {
				c.Htpasswd.Files = []string{ht}
				c.Htpasswd.RejectWeakHashes = tc.weak
				c.MLflowAuthDB.URI = "sqlite:///" + path
				c.Policy.Preset = "mlflow"
				c.Policy.DefaultPermission = "READ"
				c.Policy.Admins = &policy.Subjects{Users: []string{"root"}}
			})
			res := s.do("GET", "/auth", map[string]string{"Authorization": basic("root", "db-pw"),
				"X-Original-URI": "/api/2.0/mlflow/users/create", "X-Original-Method": "POST"})
			if res.StatusCode == 200 {
				t.Errorf("DB row 'root' logs in as the htpasswd-listed (disabled) root: %d X-User %q X-Role %q",
					res.StatusCode, res.Header.Get("X-User"), res.Header.Get("X-Role"))
			}
		})
	}
}

// A directory user in neither configured group (carol) is "not found" to
// ldapauth Lookup, so an MLflow-DB row named carol logs in as X-User carol.
func TestDirectoryNameOutsideGroupsStaysClaimed(t *testing.T) {
	const base = "dc=mlflow,dc=test"
	d := realtest.StartSlapd(t, base, "ldapauth/testdata/mlflow.ldif")
	path := newMLflowDB(t, "schema-3.8.sql",
		"INSERT INTO users VALUES (7, 'carol', '"+mlflowHash(t, "db-pw", "c1")+"', FALSE)",
		"INSERT INTO users VALUES (8, 'ALICE', '"+mlflowHash(t, "db-pw", "c2")+"', FALSE)").path
	s := newTestServer(t, map[string]string{"local": "local-pw"}, func(c *Config) {
		l := &c.LDAP
		l.Enabled = true
		l.URI = d.LDAPSURL + "/" + base
		l.BindDN, l.BindPassword = d.RootDN, d.RootPW
		l.UserSearchBase = "ou=people," + base
		l.SearchBaseDistinguishedName = "ou=groups," + base
		l.SearchFilter = "(&(objectclass=groupOfUniqueNames)(uniquemember=%s))"
		l.AdminGroupDistinguishedName = "cn=test-admin,ou=groups," + base
		l.UserGroupDistinguishedName = "cn=test-user,ou=groups," + base
		l.TrustedCACertificateFile = d.CA.CertFile
		l.Timeout = duration.Duration(2 * time.Second)
		c.MLflowAuthDB.URI = "sqlite:///" + path
	})
	if res := s.do("GET", "/auth", map[string]string{"Authorization": basic("carol", "carol-pass")}); res.StatusCode != 401 {
		t.Fatalf("precondition: LDAP carol refused: %d", res.StatusCode)
	}
	res := s.do("GET", "/auth", map[string]string{"Authorization": basic("carol", "db-pw")})
	if res.StatusCode == 200 {
		t.Errorf("DB row 'carol' logs in under a directory user's name: X-User %q", res.Header.Get("X-User"))
	}
	res = s.do("GET", "/auth", map[string]string{"Authorization": basic("ALICE", "db-pw")})
	if res.StatusCode == 200 {
		t.Errorf("DB row 'ALICE' logs in: X-User %q", res.Header.Get("X-User"))
	}
}
