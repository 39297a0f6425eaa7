package ldapauth

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authreq/authreq/internal/duration"
	"github.com/authreq/authreq/internal/realtest"
	"github.com/go-ldap/ldap/v3"
)

const base = "dc=mlflow,dc=test"

func startDirectory(t testing.TB) *realtest.Slapd {
	return realtest.StartSlapd(t, base, "testdata/mlflow.ldif")
}

// chartConfig is the MLflow Helm chart's example block, pointed at slapd.
func chartConfig(s *realtest.Slapd) Config {
	return Config{
		URI:                         s.URL + "/" + base,
		StartTLS:                    true,
		LookupBind:                  "uid=%s,ou=people," + base,
		GroupAttribute:              "dn",
		SearchBaseDistinguishedName: "ou=groups," + base,
		SearchFilter:                "(&(objectclass=groupOfUniqueNames)(uniquemember=%s))",
		AdminGroupDistinguishedName: "cn=test-admin,ou=groups," + base,
		UserGroupDistinguishedName:  "cn=test-user,ou=groups," + base,
		TrustedCACertificateFile:    s.CA.CertFile,
		Timeout:                     duration.Duration(2 * time.Second),
		PoolSize:                    4,
	}
}

func newAuth(t testing.TB, cfg Config) *Authenticator {
	t.Helper()
	a, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

func TestRolesAndGroups(t *testing.T) {
	s := startDirectory(t)
	for name, cfg := range map[string]Config{
		"direct bind": chartConfig(s),
		"search then bind": func() Config {
			c := chartConfig(s)
			c.LookupBind = ""
			c.BindDN, c.BindPassword = s.RootDN, s.RootPW
			c.UserFilter = "(&(objectClass=inetOrgPerson)(uid=%s))"
			return c
		}(),
	} {
		t.Run(name, func(t *testing.T) {
			a := newAuth(t, cfg)
			ctx := context.Background()
			res, err := a.Authenticate(ctx, "alice", "alice-pass")
			if err != nil || res.Role != "admin" || strings.Join(res.Groups, ",") != "test-admin,test-user" || res.DN != "uid=alice,ou=people,"+base {
				t.Errorf("alice: %+v %v", res, err)
			}
			res, err = a.Authenticate(ctx, "bob", "bob-pass")
			if err != nil || res.Role != "user" || strings.Join(res.Groups, ",") != "test-user" {
				t.Errorf("bob: %+v %v", res, err)
			}
			if _, err := a.Authenticate(ctx, "carol", "carol-pass"); !errors.Is(err, ErrNotInGroup) || !errors.Is(err, ErrBadCredentials) {
				t.Errorf("carol in no group: %v", err)
			}
			// The directory's spelling of the name, not the typed one.
			if res, err := a.Authenticate(ctx, "ALICE", "alice-pass"); err != nil || res.User != "alice" || res.Role != "admin" {
				t.Errorf("ALICE: %+v %v", res, err)
			}
			if _, err := a.Authenticate(ctx, "alice", "wrong"); !errors.Is(err, ErrBadCredentials) {
				t.Errorf("wrong password: %v", err)
			}
			if _, err := a.Authenticate(ctx, "nobody", "x"); !errors.Is(err, ErrBadCredentials) {
				t.Errorf("unknown user: %v", err)
			}
			if _, err := a.Authenticate(ctx, "alice", ""); !errors.Is(err, ErrBadCredentials) || !strings.Contains(err.Error(), "empty password") {
				t.Errorf("empty password: %v", err)
			}
			if a.Ready() != nil {
				t.Errorf("not ready: %v", a.Ready())
			}
		})
	}
}

func TestNoGroupsConfigured(t *testing.T) {
	s := startDirectory(t)
	cfg := chartConfig(s)
	cfg.SearchBaseDistinguishedName, cfg.AdminGroupDistinguishedName, cfg.UserGroupDistinguishedName = "", "", ""
	a := newAuth(t, cfg)
	if res, err := a.Authenticate(context.Background(), "carol", "carol-pass"); err != nil || res.Role != "" {
		t.Errorf("carol without group checks: %+v %v", res, err)
	}
}

// User names that try to change the DN or the filter must fail, never log
// in as someone else.
func TestInjection(t *testing.T) {
	s := startDirectory(t)
	direct := newAuth(t, chartConfig(s))
	cfg := chartConfig(s)
	cfg.LookupBind, cfg.BindDN, cfg.BindPassword = "", s.RootDN, s.RootPW
	search := newAuth(t, cfg)
	for _, user := range []string{"*", "al*", "alice)(uid=*", "*)(uid=alice", "alice,ou=people", "uid=alice", "alice\\", "alice\x00", "alice\x00bob", "(alice)", "alice=", "alice+cn=x", " alice", "alice "} {
		for name, a := range map[string]*Authenticator{"direct": direct, "search": search} {
			if res, err := a.Authenticate(context.Background(), user, "alice-pass"); !errors.Is(err, ErrBadCredentials) {
				t.Errorf("%s: user %q: %+v %v", name, user, res, err)
			}
		}
	}
}

func TestTransports(t *testing.T) {
	s := startDirectory(t)
	other := realtest.NewCA(t, "other")
	inline := base64.StdEncoding.EncodeToString(s.CA.CertPEM)
	tests := []struct {
		name string
		edit func(*Config)
		ok   bool
	}{
		{"starttls, CA file", func(c *Config) {}, true},
		{"starttls, CA inline", func(c *Config) { c.TrustedCACertificateFile, c.EncodedTrustedCACertificate = "", inline }, true},
		{"ldaps, CA file", func(c *Config) { c.URI, c.StartTLS = s.LDAPSURL+"/"+base, false }, true},
		{"ldaps, CA inline", func(c *Config) {
			c.URI, c.StartTLS, c.TrustedCACertificateFile, c.EncodedTrustedCACertificate = s.LDAPSURL+"/"+base, false, "", inline
		}, true},
		{"ldaps, wrong CA", func(c *Config) {
			c.URI, c.StartTLS, c.TrustedCACertificateFile = s.LDAPSURL+"/"+base, false, other.CertFile
		}, false},
		{"starttls, wrong CA", func(c *Config) { c.TrustedCACertificateFile = other.CertFile }, false},
		{"starttls, no CA", func(c *Config) { c.TrustedCACertificateFile = "" }, false},
		{"ldaps, wrong CA, verification none", func(c *Config) {
			c.URI, c.StartTLS, c.TrustedCACertificateFile, c.TLSVerification = s.LDAPSURL+"/"+base, false, other.CertFile, "none"
		}, true},
		{"plain, allowed", func(c *Config) { c.StartTLS, c.AllowInsecure = false, true }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := chartConfig(s)
			tt.edit(&cfg)
			a := newAuth(t, cfg)
			res, err := a.Authenticate(context.Background(), "bob", "bob-pass")
			if tt.ok && (err != nil || res.Role != "user") {
				t.Errorf("want success: %+v %v", res, err)
			}
			if !tt.ok && (!errors.Is(err, ErrUnavailable) || a.Ready() == nil) {
				t.Errorf("want unavailable: %v, ready %v", err, a.Ready())
			}
		})
	}
}

func TestConfigErrors(t *testing.T) {
	good := Config{URI: "ldaps://127.0.0.1:1/" + base, LookupBind: "uid=%s," + base}
	tests := []struct {
		edit func(*Config)
		want string
	}{
		{func(c *Config) { c.URI = "ldap://127.0.0.1:1/" + base }, "ldap.uri: plain ldap://"},
		{func(c *Config) { c.URI = "http://x/" }, "ldap.uri: scheme"},
		{func(c *Config) { c.URI = "::" }, "ldap.uri"},
		{func(c *Config) { c.URI = "ldaps://h/not a dn" }, "ldap.uri: base DN"},
		{func(c *Config) { c.StartTLS = true }, "ldap.startTLS"},
		{func(c *Config) { c.TLSVerification = "maybe" }, "ldap.tlsVerification"},
		{func(c *Config) { c.LookupBind = "" }, "ldap.lookupBind: needed"},
		{func(c *Config) { c.LookupBind = "uid=alice" }, "ldap.lookupBind: must contain %s"},
		{func(c *Config) { c.LookupBind, c.BindDN = "", "cn=svc" }, "ldap.bindPassword"},
		{func(c *Config) { c.BindDN, c.BindPassword, c.BindPasswordFile = "cn=svc", "x", "/nonexistent" }, "ldap.bindPasswordFile"},
		{func(c *Config) { c.BindDN, c.BindPasswordFile = "cn=svc", "/nonexistent" }, "ldap.bindPasswordFile"},
		{func(c *Config) { c.AdminGroupDistinguishedName = "cn=admins," + base }, "ldap.searchBaseDistinguishedName"},
		{func(c *Config) { c.AdminGroupDistinguishedName = "not a dn" }, "ldap.adminGroupDistinguishedName"},
		{func(c *Config) { c.SearchBaseDistinguishedName, c.SearchFilter = base, "(member=x)" }, "ldap.searchFilter"},
		{func(c *Config) { c.EncodedTrustedCACertificate = "***" }, "ldap.encodedTrustedCACertificate: invalid base64"},
		{func(c *Config) { c.EncodedTrustedCACertificate = base64.StdEncoding.EncodeToString([]byte("no pem")) }, "no PEM"},
		{func(c *Config) { c.TrustedCACertificateFile = "/nonexistent" }, "ldap.trustedCACertificateFile"},
		{func(c *Config) { c.PoolSize = -1 }, "ldap.poolSize"},
		{func(c *Config) { c.Timeout = -1 }, "ldap.timeout"},
	}
	for _, tt := range tests {
		cfg := good
		tt.edit(&cfg)
		_, err := New(cfg, nil)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("got %v, want %q", err, tt.want)
		}
	}
}

// The directory goes away and comes back: answers are "unavailable", never
// "bad credentials", readiness follows, and the pool recovers by itself.
func TestOutageAndRecovery(t *testing.T) {
	s := startDirectory(t)
	a := newAuth(t, chartConfig(s))
	ctx := context.Background()
	if _, err := a.Authenticate(ctx, "alice", "alice-pass"); err != nil {
		t.Fatal(err)
	}
	s.Stop()
	if _, err := a.Authenticate(ctx, "alice", "alice-pass"); !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrBadCredentials) {
		t.Fatalf("directory down: %v", err)
	}
	if a.Ready() == nil {
		t.Error("ready while the directory is down")
	}
	s.Start()
	deadline := time.Now().Add(15 * time.Second)
	for a.Ready() != nil {
		if time.Now().After(deadline) {
			t.Fatalf("readiness did not recover: %v", a.Ready())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if res, err := a.Authenticate(ctx, "alice", "alice-pass"); err != nil || res.Role != "admin" {
		t.Fatalf("after recovery: %+v %v", res, err)
	}
}

func TestPoolBound(t *testing.T) {
	s := startDirectory(t)
	a := newAuth(t, chartConfig(s))
	var wg sync.WaitGroup
	for i := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			user, pw := "bob", "bob-pass"
			if i%2 == 0 {
				pw = "wrong"
			}
			a.Authenticate(context.Background(), user, pw)
		}()
	}
	wg.Wait()
	open, idle, _ := a.Stats()
	if open > 4 || idle > open {
		t.Errorf("open %d idle %d, pool size 4", open, idle)
	}
}

// The warm path reuses pooled connections: sequential logins dial once.
func TestWarmPathReusesConnections(t *testing.T) {
	s := startDirectory(t)
	a := newAuth(t, chartConfig(s))
	before := a.dials.Load()
	for range 20 {
		if _, err := a.Authenticate(context.Background(), "bob", "bob-pass"); err != nil {
			t.Fatal(err)
		}
	}
	if n := a.dials.Load() - before; n > 1 {
		t.Errorf("%d dials for 20 sequential logins", n)
	}
}

// The warm path reuses pooled connections: no TCP or TLS handshake per
// request.
func BenchmarkAuthenticateWarm(b *testing.B) {
	s := startDirectory(b)
	a := newAuth(b, chartConfig(s))
	ctx := context.Background()
	_, _, dials := a.Stats()
	for b.Loop() {
		if _, err := a.Authenticate(ctx, "bob", "bob-pass"); err != nil {
			b.Fatal(err)
		}
	}
	if _, _, after := a.Stats(); after != dials {
		b.Fatalf("dial errors during the benchmark: %d", after-dials)
	}
}

// lookalikes are spellings that OpenLDAP's caseIgnoreMatch takes for
// "alice" (TestLookalikesBindInSlapd checks that this slapd does).
var lookalikes = map[string]string{
	"upper":              "ALICE",
	"fullwidth":          "\uff41lice",
	"fullwidth all":      "\uff41\uff4c\uff49\uff43\uff45",
	"math bold":          "\U0001D41Alice",
	"circled":            "\u24D0lice",
	"capital I with dot": "AL\u0130CE",
}

// The premise of the look-alike tests: the directory itself binds each
// spelling as alice, so the spelling typed says nothing about who logs in.
func TestLookalikesBindInSlapd(t *testing.T) {
	s := startDirectory(t)
	c, err := ldap.DialURL(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for name, u := range lookalikes {
		t.Run(name, func(t *testing.T) {
			if err := c.Bind("uid="+ldap.EscapeDN(u)+",ou=people,"+base, "alice-pass"); err != nil {
				t.Errorf("slapd does not bind %+q as alice: %v", u, err)
			}
		})
	}
}

// Whatever spelling binds, X-User is the directory's own: the upstream
// must see one alice, not six.
func TestLookalikesAnswerDirectorySpelling(t *testing.T) {
	s := startDirectory(t)
	search := chartConfig(s)
	search.LookupBind, search.BindDN, search.BindPassword = "", s.RootDN, s.RootPW
	for mode, cfg := range map[string]Config{"direct bind": chartConfig(s), "search then bind": search} {
		a := newAuth(t, cfg)
		for name, u := range lookalikes {
			t.Run(mode+"/"+name, func(t *testing.T) {
				res, err := a.Authenticate(context.Background(), u, "alice-pass")
				if err != nil || res.User != "alice" || res.Role != "admin" || res.DN != "uid=alice,ou=people,"+base {
					t.Errorf("%+q: %+v %v", u, res, err)
				}
			})
		}
	}
}

func TestCanonicalName(t *testing.T) {
	entry := func(values ...string) *ldap.Entry {
		return ldap.NewEntry("uid=x,"+base, map[string][]string{"uid": values, "cn": {"Alice Admin"}})
	}
	tests := []struct {
		name  string
		entry *ldap.Entry
		attr  string
		typed string
		want  string
	}{
		{"same", entry("alice"), "uid", "alice", "alice"},
		{"case", entry("alice"), "uid", "ALICE", "alice"},
		{"directory's case", entry("Alice"), "uid", "alice", "Alice"},
		{"fullwidth", entry("alice"), "uid", "\uff41lice", "alice"},
		{"one of several values", entry("alice", "asmith"), "uid", "\uff21SMITH", "asmith"},
		// One value: it is the name, even where our folding and the
		// directory's matching disagree.
		{"single value, no match", entry("alice"), "uid", "al\u0131ce", "alice"},
		// Several values, none ours: the typed name, folded.
		{"several values, no match", entry("alice", "asmith"), "uid", "\uff22OB", "bob"},
		// The entry could not be read: the typed name, folded, so that
		// every spelling still gives one X-User.
		{"no entry", nil, "uid", "\U0001D41Alice", "alice"},
		{"no name attribute known", entry("alice"), "", "\u24D0LICE", "alice"},
		{"attribute absent", entry(), "uid", "ALICE", "alice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := canonicalName(tt.entry, tt.attr, tt.typed); got != tt.want {
				t.Errorf("canonicalName(%+q) = %+q, want %+q", tt.typed, got, tt.want)
			}
		})
	}
}

// Lookup finds a user without its password, under the service account: the
// directory's spelling, groups and role (API tokens of directory users).
func TestLookup(t *testing.T) {
	s := startDirectory(t)
	cfg := chartConfig(s)
	cfg.LookupBind, cfg.BindDN, cfg.BindPassword = "", s.RootDN, s.RootPW
	a := newAuth(t, cfg)
	ctx := context.Background()
	res, err := a.Lookup(ctx, "ALICE")
	if err != nil || res.User != "alice" || res.Role != "admin" || len(res.Groups) == 0 {
		t.Errorf("alice: %+v %v", res, err)
	}
	for _, u := range []string{"nobody", "carol", "*", "alice)(uid=*"} { // carol is in neither group
		if _, err := a.Lookup(ctx, u); !errors.Is(err, ErrBadCredentials) {
			t.Errorf("%q: %v", u, err)
		}
	}
	direct := newAuth(t, chartConfig(s))
	if _, err := direct.Lookup(ctx, "alice"); !errors.Is(err, ErrNoLookup) {
		t.Errorf("without bindDN: %v", err)
	}
	s.Stop()
	if _, err := a.Lookup(ctx, "alice"); !errors.Is(err, ErrUnavailable) {
		t.Errorf("directory down: %v", err)
	}
}
