package realtest

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

func TestStartSlapd(t *testing.T) {
	s := StartSlapd(t, "dc=mlflow,dc=test", "testdata/mlflow.ldif")
	whoami := Need(t, "ldapwhoami")
	for _, tc := range []struct {
		args []string
		ok   bool
	}{
		{[]string{"-H", s.URL, "-D", "uid=alice,ou=people,dc=mlflow,dc=test", "-w", "alice-pass"}, true},
		{[]string{"-H", s.URL, "-D", "uid=alice,ou=people,dc=mlflow,dc=test", "-w", "wrong"}, false},
		{[]string{"-H", s.URL, "-ZZ", "-D", "uid=bob,ou=people,dc=mlflow,dc=test", "-w", "bob-pass"}, true},
		{[]string{"-H", s.LDAPSURL, "-D", "uid=bob,ou=people,dc=mlflow,dc=test", "-w", "bob-pass"}, true},
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
	cmd := exec.Command(whoami, "-x", "-H", s.URL, "-D", "uid=alice,ou=people,dc=mlflow,dc=test", "-w", "alice-pass")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("after restart: %v %s", err, out)
	}
}
