package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authreq/authreq/authreq/tokens"
)

var tokenRE = regexp.MustCompile(`authreq_[a-z2-7]{12}_[a-z2-7]{32}`)

func TestTokenCommands(t *testing.T) {
	h := newHarness(t)
	f := filepath.Join(h.dir, "tokens")
	r := h.run("", "token", "create", "-t", f, "--level", "EDIT", "--expires", "30d", "--name", "ci: nightly", "alice")
	h.want(r, 0, "shown only this once")
	tok := strings.TrimSpace(r.stdout)
	if !tokenRE.MatchString(tok) || tokenRE.MatchString(r.stderr) {
		t.Fatalf("create: stdout %q stderr %q", r.stdout, r.stderr)
	}
	if fi, err := os.Stat(f); err != nil || fi.Mode().Perm() != 0o640 {
		t.Fatalf("new file: %v %v", fi, err)
	}
	data, _ := os.ReadFile(f)
	sum := sha256.Sum256([]byte(tok))
	if strings.Contains(string(data), tok) || !strings.Contains(string(data), hex.EncodeToString(sum[:])) {
		t.Fatalf("the file must hold the token's hash only: %q", data)
	}
	// Comments survive edits byte for byte.
	os.WriteFile(f, append([]byte("# owned by ci\n\n"), data...), 0o640)
	h.extEnv["AUTHREQ_TOKENS_FILE"] = f
	h.want(h.run("", "token", "create", "--expires", "never", "bob"), 0, "")
	h.want(h.run("", "token", "create", "--expires", "12h", "bob"), 0, "")

	pf, err := tokens.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	ts := pf.Tokens()
	if len(ts) != 3 || ts[0].Level != "EDIT" || ts[0].Name != "ci: nightly" || ts[1].Level != "READ" || !ts[1].Expires.IsZero() ||
		ts[2].Expires.Sub(ts[2].Created) != 12*time.Hour || ts[0].Expires.Sub(ts[0].Created) != 30*24*time.Hour {
		t.Fatalf("%+v", ts)
	}

	r = h.run("", "token", "list")
	h.want(r, 0, "")
	for _, tk := range ts {
		if !strings.Contains(r.stdout, tk.ID) || strings.Contains(r.stdout, hex.EncodeToString(tk.Hash[:])) {
			t.Errorf("list: %q", r.stdout)
		}
	}
	if strings.Contains(r.stdout, tok) || !strings.Contains(r.stdout, "never") || !strings.Contains(r.stdout, "ci: nightly") {
		t.Errorf("list: %q", r.stdout)
	}
	r = h.run("", "token", "list", "--json")
	var rows []map[string]string
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil || len(rows) != 3 || rows[0]["user"] != "alice" || rows[0]["level"] != "EDIT" || rows[1]["expires"] != "never" {
		t.Fatalf("list --json: %v %q", err, r.stdout)
	}
	for _, s := range []string{tok, hex.EncodeToString(sum[:])} {
		if strings.Contains(r.stdout, s) {
			t.Error("list --json shows the token or its hash")
		}
	}

	h.want(h.run("", "token", "revoke", "zzzzzzzzzzzz"), 6, "no token")
	h.want(h.run("", "token", "revoke", "-t", filepath.Join(h.dir, "missing"), ts[0].ID), 6, "no such file")
	h.want(h.run("", "token", "revoke", ts[0].ID), 0, "")
	h.want(h.run("", "token", "revoke", ts[0].ID), 6, "no token")
	data, _ = os.ReadFile(f)
	if !strings.HasPrefix(string(data), "# owned by ci\n\n") || strings.Contains(string(data), ts[0].ID) {
		t.Errorf("after revoke: %q", data)
	}

	for _, args := range [][]string{
		{"token", "create", "--level", "ADMIN", "alice"},
		{"token", "create", "--level", "read", "alice"},
		{"token", "create", "--expires", "0d", "alice"},
		{"token", "create", "--expires", "-1h", "alice"},
		{"token", "create", "--expires", "soon", "alice"},
		{"token", "create", "--name", "a\nb", "alice"},
		{"token", "create", "al:ice"},
		{"token", "create"},
		{"token", "revoke"},
	} {
		h.want(h.run("", args...), 2, "")
	}
	// A broken file is refused, naming the line, and left as it was.
	os.WriteFile(f, []byte("# x\nbroken\n"), 0o640)
	h.want(h.run("", "token", "create", "alice"), 1, "line 2")
	h.want(h.run("", "token", "list"), 1, "line 2")
	if data, _ := os.ReadFile(f); string(data) != "# x\nbroken\n" {
		t.Errorf("broken file changed: %q", data)
	}
}

// Concurrent creates lose nothing: every printed token is in the file.
func TestTokenConcurrentCreates(t *testing.T) {
	f := filepath.Join(t.TempDir(), "tokens")
	const n = 16
	out := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			var stdout, stderr bytes.Buffer
			e := &env{stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr, getenv: func(string) string { return "" },
				isTTY: func(bool) bool { return false }}
			if code := run(context.Background(), []string{"htpw", "token", "create", "-t", f, "user"}, e); code != 0 {
				t.Errorf("create %d: exit %d: %s", i, code, stderr.String())
			}
			out[i] = strings.TrimSpace(stdout.String())
		})
	}
	wg.Wait()
	pf, err := tokens.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	tab := tokens.NewTable(pf.Tokens())
	if tab.Len() != n {
		t.Fatalf("%d tokens in the file, want %d", tab.Len(), n)
	}
	for _, tok := range out {
		if _, err := tab.Lookup(tok, time.Now()); err != nil {
			t.Errorf("printed token not in the file: %v", err)
		}
	}
}
