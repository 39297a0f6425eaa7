package authreq

// Attacks on API tokens found by a hostile review, each reproduced before
// it was fixed.

import (
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/authreq/authreq/authreq/policy"
	"github.com/authreq/authreq/authreq/tokens"
)

func tokenHdr(auth, method, uri string) map[string]string {
	return map[string]string{"Authorization": auth, "X-Original-URI": uri, "X-Original-Method": method}
}

// a token drops its user's groups, so grants that LOWER a user by
// group (a NO_PERMISSIONS group, a per-experiment deny for a group) do not
// hold for the token: the token has MORE than the user. The README says
// the token's level caps the user's policy level.
func TestTokenKeepsGroupDeny(t *testing.T) {
	tok, tk := newToken(t, "intern", "MANAGE", time.Time{})
	dir := t.TempDir()
	tokFile := filepath.Join(dir, "tokens")
	writeTokens(t, tokFile, tk)
	groups := filepath.Join(dir, "groups")
	if err := os.WriteFile(groups, []byte("interns: intern\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	s := newTestServer(t, map[string]string{"intern": "intern-pw"}, func(c *Config) {
		c.Tokens.Files = []string{tokFile}
		c.Htpasswd.GroupFiles = []string{groups}
		c.Policy = policy.Config{Preset: "mlflow", DefaultPermission: "READ", Grants: []policy.Grant{
			// interns see nothing of experiment 7 (the secret one)
			{Subjects: policy.Subjects{Groups: []string{"interns"}}, Level: "NO_PERMISSIONS", Experiments: []string{"7"}},
		}}
	})
	uri := "/api/2.0/mlflow/experiments/get?experiment_id=7"
	pw := s.do("GET", "/auth", tokenHdr(basic("intern", "intern-pw"), "GET", uri)).StatusCode
	viaTok := s.do("GET", "/auth", tokenHdr(bearer(tok), "GET", uri)).StatusCode
	t.Logf("intern reads experiment 7: password %d, token %d", pw, viaTok)
	if pw != 403 {
		t.Fatalf("setup: the password login should be refused, got %d", pw)
	}
	if viaTok != 403 {
		t.Errorf("the intern's token reads experiment 7 (%d) though the intern may not: the token has no groups", viaTok)
	}
}

// the same with a global NO_PERMISSIONS group grant.
func TestTokenKeepsGroupNoPermissions(t *testing.T) {
	tok, tk := newToken(t, "guest", "READ", time.Time{})
	dir := t.TempDir()
	tokFile := filepath.Join(dir, "tokens")
	writeTokens(t, tokFile, tk)
	groups := filepath.Join(dir, "groups")
	os.WriteFile(groups, []byte("suspended: guest\n"), 0o640)
	s := newTestServer(t, map[string]string{"guest": "guest-pw"}, func(c *Config) {
		c.Tokens.Files = []string{tokFile}
		c.Htpasswd.GroupFiles = []string{groups}
		c.Policy = policy.Config{Preset: "mlflow", DefaultPermission: "READ", Grants: []policy.Grant{
			{Subjects: policy.Subjects{Groups: []string{"suspended"}}, Level: "NO_PERMISSIONS"},
		}}
	})
	uri := "/api/2.0/mlflow/experiments/search?max_results=10"
	pw := s.do("GET", "/auth", tokenHdr(basic("guest", "guest-pw"), "GET", uri)).StatusCode
	viaTok := s.do("GET", "/auth", tokenHdr(bearer(tok), "GET", uri)).StatusCode
	t.Logf("suspended user searches experiments: password %d, token %d", pw, viaTok)
	if pw == 403 && viaTok != 403 {
		t.Errorf("a suspended (NO_PERMISSIONS by group) user's token still reads: %d", viaTok)
	}
}

// rules ignore the token's level. A rule naming the user (or no one)
// lets a READ token write.
func TestRuleHonoursTokenLevel(t *testing.T) {
	tok, tk := newToken(t, "ci", "READ", time.Time{})
	dir := t.TempDir()
	tokFile := filepath.Join(dir, "tokens")
	writeTokens(t, tokFile, tk)
	s := newTestServer(t, map[string]string{"ci": "ci-pw"}, func(c *Config) {
		c.Tokens.Files = []string{tokFile}
		c.Policy = policy.Config{Preset: "mlflow", DefaultPermission: "READ",
			Grants: []policy.Grant{{Subjects: policy.Subjects{Users: []string{"ci"}}, Level: "EDIT"}},
			Rules:  []policy.Rule{{PathPrefix: "/api/2.0/mlflow/runs/", Subjects: policy.Subjects{Users: []string{"ci"}}}},
		}
	})
	code := s.do("GET", "/auth", tokenHdr(bearer(tok), "POST", "/api/2.0/mlflow/runs/log-metric")).StatusCode
	if code != 403 {
		t.Errorf("a READ token logs a metric through a rule naming its user: %d", code)
	}
}

// a token outlives its user: alice deleted from htpasswd, her token
// still authenticates as alice.
func TestTokenDiesWithItsUser(t *testing.T) {
	tok, tk := newToken(t, "alice", "READ", time.Time{})
	dir := t.TempDir()
	f := filepath.Join(dir, "tokens")
	writeTokens(t, f, tk)
	s := newTestServer(t, map[string]string{"alice": "pw", "bob": "pw"}, func(c *Config) { c.Tokens.Files = []string{f} })
	os.WriteFile(s.file+".tmp", []byte("bob:"+hashOf(t, "pw")+"\n"), 0o640)
	os.Rename(s.file+".tmp", s.file)
	time.Sleep(2500 * time.Millisecond)
	if c := s.do("GET", "/auth", tokenHdr(basic("alice", "pw"), "GET", "/version")).StatusCode; c != 401 {
		t.Fatalf("setup: alice's password still works: %d", c)
	}
	resp := s.do("GET", "/auth", tokenHdr(bearer(tok), "GET", "/version"))
	if resp.StatusCode != 401 {
		t.Errorf("alice was deleted; her token still answers %d X-User=%q", resp.StatusCode, resp.Header.Get("X-User"))
	}
}

var _ = tokens.Prefix

// Junk Bearer tokens with attacker-chosen ids from many addresses: memory
// stays bounded (throttle LRU).
func TestJunkBearerMemoryBounded(t *testing.T) {
	_, tk := newToken(t, "alice", "READ", time.Time{})
	dir := t.TempDir()
	f := filepath.Join(dir, "tokens")
	writeTokens(t, f, tk)
	s := newTestServer(t, map[string]string{"alice": "pw"}, func(c *Config) { c.Tokens.Files = []string{f} })
	heap := func() uint64 { runtime.GC(); var m runtime.MemStats; runtime.ReadMemStats(&m); return m.HeapAlloc }
	send := func(n, off int) {
		for i := range n {
			junk, _ := newToken(t, "x", "READ", time.Time{})
			r := httptest.NewRequest("GET", "/auth", nil)
			r.RemoteAddr = fmt.Sprintf("10.%d.%d.%d:1", (i+off)>>16&255, (i+off)>>8&255, (i+off)&255)
			r.Header.Set("Authorization", bearer(junk))
			r.Header.Set("X-Original-URI", "/version")
			w := httptest.NewRecorder()
			s.ServeHTTP(w, r)
			if w.Code != 401 {
				t.Fatalf("%d", w.Code)
			}
		}
	}
	send(20000, 0)
	h1 := heap()
	send(100000, 20000)
	h2 := heap()
	t.Logf("heap after 20k junk: %d KB, after 120k: %d KB", h1>>10, h2>>10)
	if h2 > h1*3/2+(8<<20) {
		t.Errorf("heap grows with junk token ids: %d -> %d", h1, h2)
	}
}
