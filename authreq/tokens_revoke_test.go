package authreq

// Revocation fails closed: a broken sibling file, a damaged line or a
// deleted file never keeps a revoked token alive (hostile review 5).

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func tokenReq(tok string) map[string]string {
	return map[string]string{"Authorization": bearer(tok), "X-Original-URI": "/version", "X-Original-Method": "GET"}
}

// With two token files, one that stops parsing does not block a revoke in
// the other, healthy one.
func TestBrokenSiblingDoesNotBlockRevoke(t *testing.T) {
	tok, tk := newToken(t, "alice", "READ", time.Time{})
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	writeTokens(t, a, tk)
	writeTokens(t, b)
	s := newTestServer(t, map[string]string{"alice": "pw"}, func(c *Config) { c.Tokens.Files = []string{a, b} })
	if c := s.do("GET", "/auth", tokenReq(tok)).StatusCode; c != 200 {
		t.Fatalf("setup %d", c)
	}
	// Someone breaks file b (a typo in a hand edit, a half-copied line).
	os.WriteFile(b+".tmp", []byte("garbage line\n"), 0o640)
	os.Rename(b+".tmp", b)
	time.Sleep(1500 * time.Millisecond)
	// alice's token is revoked in file a, as htpw does it.
	writeTokens(t, a)
	time.Sleep(2500 * time.Millisecond)
	if c := s.do("GET", "/auth", tokenReq(tok)).StatusCode; c != 401 {
		t.Errorf("revoked in the healthy file a, still %d 2.5 s later (file b is broken)", c)
	}
}

// A hand edit that deletes one line and damages another revokes the
// deleted line's token (and the damaged line's, failing closed).
func TestDamagedFileStillRevokesRemovedLine(t *testing.T) {
	tok, tk := newToken(t, "alice", "READ", time.Time{})
	bobTok, other := newToken(t, "bob", "READ", time.Time{})
	dir := t.TempDir()
	f := filepath.Join(dir, "tokens")
	writeTokens(t, f, tk, other)
	s := newTestServer(t, map[string]string{"alice": "pw"}, func(c *Config) { c.Tokens.Files = []string{f} })
	// alice's line deleted; bob's line gets a stray character.
	os.WriteFile(f+".tmp", []byte(other.Format()+"x\x01\n"), 0o640)
	os.Rename(f+".tmp", f)
	time.Sleep(2500 * time.Millisecond)
	if c := s.do("GET", "/auth", tokenReq(tok)).StatusCode; c != 401 {
		t.Errorf("alice's line is gone from the file, her token still answers %d", c)
	}
	if c := s.do("GET", "/auth", tokenReq(bobTok)).StatusCode; c != 401 {
		t.Errorf("bob's line is damaged, his token still answers %d", c)
	}
}

// Deleting the token file (rm tokens, to revoke everything) revokes every
// token in it.
func TestDeletedTokenFileRevokesAll(t *testing.T) {
	tok, tk := newToken(t, "alice", "READ", time.Time{})
	dir := t.TempDir()
	f := filepath.Join(dir, "tokens")
	writeTokens(t, f, tk)
	s := newTestServer(t, map[string]string{"alice": "pw"}, func(c *Config) { c.Tokens.Files = []string{f} })
	os.Remove(f)
	time.Sleep(2500 * time.Millisecond)
	if c := s.do("GET", "/auth", tokenReq(tok)).StatusCode; c != 401 {
		t.Errorf("token file deleted, token still answers %d", c)
	}
}

// Bad lines, also at start, are skipped and shown in /readyz (200: the
// other tokens and the users are still served; strict: 503).
func TestTokenBadLinesInReadyz(t *testing.T) {
	tok, tk := newToken(t, "alice", "READ", time.Time{})
	dir := t.TempDir()
	f := filepath.Join(dir, "tokens")
	os.WriteFile(f, []byte(tk.Format()+"\nbroken\nalso broken\n"), 0o640)
	s := newTestServer(t, map[string]string{"alice": "pw"}, func(c *Config) { c.Tokens.Files = []string{f} })
	if c := s.do("GET", "/auth", tokenReq(tok)).StatusCode; c != 200 {
		t.Errorf("the good line's token: %d", c)
	}
	resp := s.do("GET", "/readyz", nil)
	var body readiness
	json.NewDecoder(resp.Body).Decode(&body)
	if resp.StatusCode != 200 || body.Status != "degraded" || body.Backends["token"] != "degraded: "+f+": 2 bad lines" {
		t.Errorf("readyz: %d %+v", resp.StatusCode, body)
	}
	if c := s.do("GET", "/readyz?strict=true", nil).StatusCode; c != 503 {
		t.Errorf("strict readyz: %d", c)
	}
}
