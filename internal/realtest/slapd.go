package realtest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Slapd is a running OpenLDAP server started by StartSlapd, listening on
// ldap:// (plain and StartTLS) and ldaps:// on 127.0.0.1.
type Slapd struct {
	URL      string // ldap://127.0.0.1:PORT
	LDAPSURL string // ldaps://127.0.0.1:PORT
	Suffix   string
	RootDN   string
	RootPW   string
	CA       *CA
	dir      string
	bin      string
	conf     string
	cmd      *exec.Cmd
	t        testing.TB
}

// StartSlapd loads the LDIF files into a new mdb database for suffix (with
// the core, cosine, nis and inetorgperson schemas) and starts slapd with TLS
// from a CA of its own. The server stops when the test ends; Stop and Start
// let a test simulate an outage on the same ports.
func StartSlapd(t testing.TB, suffix string, ldifs ...string) *Slapd {
	t.Helper()
	bin := Need(t, "slapd")
	slapadd := Need(t, "slapadd")
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "db"), 0o700); err != nil {
		t.Fatal(err)
	}
	s := &Slapd{
		URL:      fmt.Sprintf("ldap://127.0.0.1:%d", FreePort(t)),
		LDAPSURL: fmt.Sprintf("ldaps://127.0.0.1:%d", FreePort(t)),
		Suffix:   suffix,
		RootDN:   "cn=admin," + suffix,
		RootPW:   "admin-secret",
		CA:       NewCA(t, "slapd"),
		dir:      dir,
		bin:      bin,
		conf:     filepath.Join(dir, "slapd.conf"),
		t:        t,
	}
	conf := fmt.Sprintf(`include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/nis.schema
include /etc/ldap/schema/inetorgperson.schema
modulepath /usr/lib/ldap
moduleload back_mdb
pidfile %[1]s/slapd.pid
TLSCACertificateFile %[2]s
TLSCertificateFile %[3]s
TLSCertificateKeyFile %[4]s
database mdb
maxsize 33554432
suffix "%[5]s"
rootdn "%[6]s"
rootpw %[7]s
directory %[1]s/db
access to attrs=userPassword by anonymous auth by self write by * none
access to * by * read
`, dir, s.CA.CertFile, s.CA.ServerCertFile, s.CA.ServerKeyFile, suffix, s.RootDN, s.RootPW)
	if err := os.WriteFile(s.conf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, l := range ldifs {
		if out, err := exec.Command(slapadd, "-f", s.conf, "-l", l).CombinedOutput(); err != nil {
			t.Fatalf("slapadd %s: %v\n%s", l, err, out)
		}
	}
	s.Start()
	t.Cleanup(s.Stop)
	return s
}

// Start starts slapd (again) and waits until both ports accept connections.
func (s *Slapd) Start() {
	s.t.Helper()
	// -d 0 keeps slapd in the foreground, so the test owns the process.
	s.cmd = exec.Command(s.bin, "-f", s.conf, "-h", s.URL+"/ "+s.LDAPSURL+"/", "-d", "0")
	// slapd writes its log to a file: a buffer read here while the
	// process still writes to it would be a data race.
	logf, err := os.CreateTemp(s.t.TempDir(), "slapd-*.log")
	if err != nil {
		s.t.Fatal(err)
	}
	defer logf.Close()
	s.cmd.Stderr = logf
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	for _, u := range []string{s.URL, s.LDAPSURL} {
		addr := u[strings.Index(u, "//")+2:]
		deadline := time.Now().Add(10 * time.Second)
		for !tcpUp(addr) {
			if time.Now().After(deadline) {
				out, _ := os.ReadFile(logf.Name())
				s.t.Fatalf("slapd did not listen on %s: %s", addr, out)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// Stop stops slapd and waits for it to exit.
func (s *Slapd) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGCONT) // a paused slapd cannot handle the interrupt
	_ = s.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
	}
	s.cmd = nil
}

// Pause freezes slapd (SIGSTOP): the kernel still accepts connections on
// its ports, but nothing answers — a hanging directory, not a down one.
func (s *Slapd) Pause() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Signal(syscall.SIGSTOP)
	}
}

// Resume lets a paused slapd go on.
func (s *Slapd) Resume() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Signal(syscall.SIGCONT)
	}
}

// MLflowLDAPConfig is authreq's `ldap:` section (YAML, ending in a newline)
// for this server loaded with authreq/ldapauth/testdata/mlflow.ldif: the
// MLflow Helm chart's keys, StartTLS verified against the server's CA, and
// the LDIF's test-admin and test-user groups.
func (s *Slapd) MLflowLDAPConfig() string {
	return fmt.Sprintf(`ldap:
  enabled: true
  uri: %s/%s
  startTLS: true
  lookupBind: uid=%%s,ou=people,%[2]s
  searchBaseDistinguishedName: ou=groups,%[2]s
  searchFilter: "(&(objectclass=groupOfUniqueNames)(uniquemember=%%s))"
  adminGroupDistinguishedName: cn=test-admin,ou=groups,%[2]s
  userGroupDistinguishedName: cn=test-user,ou=groups,%[2]s
  trustedCACertificateFile: %[3]s
`, s.URL, s.Suffix, s.CA.CertFile)
}
