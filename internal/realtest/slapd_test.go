package realtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestStartSlapd(t *testing.T) {
	ldif := filepath.Join(t.TempDir(), "people.ldif")
	os.WriteFile(ldif, []byte(`dn: dc=mlflow,dc=test
objectClass: dcObject
objectClass: organization
dc: mlflow
o: test

dn: uid=alice,dc=mlflow,dc=test
objectClass: inetOrgPerson
uid: alice
cn: Alice
sn: A
userPassword: alice-pass

dn: uid=bob,dc=mlflow,dc=test
objectClass: inetOrgPerson
uid: bob
cn: Bob
sn: B
userPassword: bob-pass
`), 0o600)
	s := StartSlapd(t, "dc=mlflow,dc=test", ldif)
	whoami := Need(t, "ldapwhoami")
	for _, tc := range []struct {
		args []string
		ok   bool
	}{
		{[]string{"-H", s.URL, "-D", "uid=alice,dc=mlflow,dc=test", "-w", "alice-pass"}, true},
		{[]string{"-H", s.URL, "-D", "uid=alice,dc=mlflow,dc=test", "-w", "wrong"}, false},
		{[]string{"-H", s.URL, "-ZZ", "-D", "uid=bob,dc=mlflow,dc=test", "-w", "bob-pass"}, true},
		{[]string{"-H", s.LDAPSURL, "-D", "uid=bob,dc=mlflow,dc=test", "-w", "bob-pass"}, true},
	} {
		cmd := exec.Command(whoami, append([]string{"-x"}, tc.args...)...)
		cmd.Env = append(os.Environ(), "LDAPTLS_CACERT="+s.CA.CertFile, "LDAPTLS_REQCERT=demand")
		out, err := cmd.CombinedOutput()
		if (err == nil) != tc.ok {
			t.Errorf("ldapwhoami %s: %v %s", strings.Join(tc.args, " "), err, out)
		}
	}
	s.Stop()
	if tcpUp(strings.TrimPrefix(s.URL, "ldap://")) {
		t.Error("slapd still up after Stop")
	}
	s.Start()
	cmd := exec.Command(whoami, "-x", "-H", s.URL, "-D", "uid=alice,dc=mlflow,dc=test", "-w", "alice-pass")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("after restart: %v %s", err, out)
	}
}
