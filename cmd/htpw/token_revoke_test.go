package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/authreq/authreq/authreq/tokens"
)

// One bad line anywhere must not stop `htpw token revoke` from revoking a
// leaked token: the line goes, the others stay byte for byte, and the bad
// lines are named by number on stderr, never quoted.
func TestRevokeDespiteUnrelatedBadLine(t *testing.T) {
	h := newHarness(t)
	f := filepath.Join(h.dir, "tokens")
	h.want(h.run("", "token", "create", "-t", f, "alice"), 0, "")
	h.want(h.run("", "token", "create", "-t", f, "bob"), 0, "")
	pf, err := tokens.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	id, keep := pf.Tokens()[0].ID, pf.Tokens()[1]
	data, _ := os.ReadFile(f)
	os.WriteFile(f, append(data, []byte("bob-line-someone-typed\n")...), 0o640)
	r := h.run("", "token", "revoke", "-t", f, id)
	if r.code != 0 {
		t.Fatalf("revoke of a leaked token refused because of an unrelated line: exit %d: %s", r.code, strings.TrimSpace(r.stderr))
	}
	if !strings.Contains(r.stderr, "line 3") || strings.Contains(r.stderr, "someone-typed") {
		t.Errorf("stderr should name line 3 and not quote it: %q", r.stderr)
	}
	after, _ := os.ReadFile(f)
	if strings.Contains(string(after), id) || !strings.Contains(string(after), keep.Format()+"\n") || !strings.HasSuffix(string(after), "bob-line-someone-typed\n") {
		t.Errorf("after revoke:\n%s", after)
	}
	// An id on no line: exit 6, also with a bad line present.
	h.want(h.run("", "token", "revoke", "-t", f, id), exitNoUser, "")
	// Create stays strict.
	if r := h.run("", "token", "create", "-t", f, "carol"); r.code == 0 {
		t.Errorf("create wrote to a file with a bad line")
	}
}

// A damaged line of the leaked token itself goes too: revoke matches the
// first field exactly.
func TestRevokeRemovesDamagedLineOfID(t *testing.T) {
	h := newHarness(t)
	f := filepath.Join(h.dir, "tokens")
	h.want(h.run("", "token", "create", "-t", f, "alice"), 0, "")
	pf, _ := tokens.ReadFile(f)
	id := pf.Tokens()[0].ID
	data, _ := os.ReadFile(f)
	damaged := strings.Replace(string(data), ":READ:", ":READ\x01:", 1)
	os.WriteFile(f, []byte(damaged+id+"x:other\n"), 0o640)
	r := h.run("", "token", "revoke", "-t", f, id)
	h.want(r, 0, "line 2 is not")
	if strings.Contains(r.stderr, "line 1") {
		t.Errorf("warned about the removed line: %q", r.stderr)
	}
	after, _ := os.ReadFile(f)
	if strings.Contains(string(after), id+":") || !strings.Contains(string(after), id+"x:other\n") {
		t.Errorf("after revoke:\n%q", after)
	}
}
