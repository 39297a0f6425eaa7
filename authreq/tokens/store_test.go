package tokens

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/authreq/authreq/authreq/identity"
)

func storeOf(t *testing.T, logs io.Writer, reloads *[]error, files ...string) *Store {
	t.Helper()
	s, err := NewStore(Config{Files: files}, slog.New(slog.NewTextHandler(logs, nil)), func(err error) { *reloads = append(*reloads, err) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func accepts(s *Store, tok string) bool {
	_, err := s.Authenticate(context.Background(), identity.Bearer{Token: tok})
	return err == nil
}

// Bad lines are skipped, each logged with file and line (never the hash),
// counted in the reload callback and shown by Ready; good lines stay; a
// removed line revokes even in a damaged file.
func TestStoreSkipsBadLines(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "tokens")
	tokA, a, _ := New("alice", "READ", "", t0, time.Time{})
	tokB, b, _ := New("bob", "READ", "", t0, time.Time{})
	tokC, c, _ := New("carol", "READ", "", t0, time.Time{})
	damagedC := strings.Replace(c.Format(), ":READ:", ":READ\x01:", 1)
	os.WriteFile(p, []byte(a.Format()+"\n"+b.Format()+"\n"+damagedC+"\ngarbage\n"), 0o640)
	var logs bytes.Buffer
	var reloads []error
	s := storeOf(t, &logs, &reloads, p)
	if !accepts(s, tokA) || !accepts(s, tokB) || accepts(s, tokC) {
		t.Fatalf("start: alice %v bob %v carol %v", accepts(s, tokA), accepts(s, tokB), accepts(s, tokC))
	}
	if err := s.Ready(); err == nil || err.Error() != p+": 2 bad lines" {
		t.Errorf("Ready: %v", err)
	}
	if len(reloads) != 1 || reloads[0] == nil {
		t.Errorf("reload callback at start: %v", reloads)
	}
	for _, want := range []string{"line=3", "line=4", "file=" + p} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}
	if h := hashHex(tokC); strings.Contains(logs.String(), h[:16]) {
		t.Errorf("log shows a hash:\n%s", logs.String())
	}
	// alice's line removed by hand, the damage left: alice is revoked.
	os.WriteFile(p, []byte(b.Format()+"\n"+damagedC+"\ngarbage\n"), 0o640)
	if err := s.Reload("test"); err == nil {
		t.Error("reload of a damaged file: no error for the callback")
	}
	if accepts(s, tokA) || !accepts(s, tokB) {
		t.Errorf("after removing alice's line: alice %v bob %v", accepts(s, tokA), accepts(s, tokB))
	}
	// Repaired: ready again.
	os.WriteFile(p, []byte(b.Format()+"\n"+c.Format()+"\n"), 0o640)
	if err := s.Reload("test"); err != nil || s.Ready() != nil || !accepts(s, tokC) {
		t.Errorf("repaired: %v %v %v", err, s.Ready(), accepts(s, tokC))
	}
}

// An id on two lines is refused on both, in a file and across files.
func TestStoreRefusesDuplicateIDs(t *testing.T) {
	dir := t.TempDir()
	p, q := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	tokA, a, _ := New("alice", "READ", "", t0, time.Time{})
	tokB, b, _ := New("bob", "READ", "", t0, time.Time{})
	os.WriteFile(p, []byte(a.Format()+"\n"+a.Format()+"\n"+b.Format()+"\n"), 0o640)
	os.WriteFile(q, nil, 0o640)
	var reloads []error
	s := storeOf(t, io.Discard, &reloads, p, q)
	if accepts(s, tokA) || !accepts(s, tokB) {
		t.Errorf("duplicate in a file: alice %v bob %v", accepts(s, tokA), accepts(s, tokB))
	}
	if err := s.Ready(); err == nil || !strings.Contains(err.Error(), "2 bad lines") {
		t.Errorf("Ready: %v", err)
	}
	os.WriteFile(p, []byte(a.Format()+"\n"+b.Format()+"\n"), 0o640)
	os.WriteFile(q, []byte(b.Format()+"\n"), 0o640)
	s.Reload("test")
	if !accepts(s, tokA) || accepts(s, tokB) {
		t.Errorf("duplicate across files: alice %v bob %v", accepts(s, tokA), accepts(s, tokB))
	}
	if s.Ready() == nil {
		t.Error("Ready: a duplicate across files not reported")
	}
}

// A missing file holds no tokens (also at start); one that exists but
// cannot be read keeps its last good tokens and makes the store degraded;
// a sibling's revocations take effect meanwhile.
func TestStoreMissingAndUnreadable(t *testing.T) {
	dir := t.TempDir()
	p, q := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	tokA, a, _ := New("alice", "READ", "", t0, time.Time{})
	tokB, b, _ := New("bob", "READ", "", t0, time.Time{})
	os.WriteFile(q, []byte(b.Format()+"\n"), 0o640)
	var logs bytes.Buffer
	var reloads []error
	s := storeOf(t, &logs, &reloads, p, q)
	if !accepts(s, tokB) || s.Ready() != nil {
		t.Fatalf("start with a missing file: bob %v, Ready %v", accepts(s, tokB), s.Ready())
	}
	os.WriteFile(p, []byte(a.Format()+"\n"), 0o640)
	s.Reload("test")
	if !accepts(s, tokA) {
		t.Fatal("file back: alice refused")
	}
	// Unreadable: a directory where the file was (as root, permissions
	// do not stop a read).
	os.Remove(p)
	os.Mkdir(p, 0o755)
	if err := s.Reload("test"); err == nil {
		t.Error("unreadable: no error for the callback")
	}
	if !accepts(s, tokA) {
		t.Error("unreadable: last good tokens not kept")
	}
	if err := s.Ready(); err == nil || !strings.Contains(err.Error(), p+": unreadable") {
		t.Errorf("Ready: %v", err)
	}
	os.WriteFile(q, nil, 0o640)
	s.Reload("test")
	if accepts(s, tokB) {
		t.Error("revoke in the healthy sibling did not take effect")
	}
	// Then missing: no tokens; logged once however many reloads.
	os.Remove(p)
	s.Reload("test")
	s.Reload("test")
	if accepts(s, tokA) || s.Ready() != nil {
		t.Errorf("missing: alice %v Ready %v", accepts(s, tokA), s.Ready())
	}
	if n := strings.Count(logs.String(), "token file missing"); n != 2 { // at start, and now
		t.Errorf("missing logged %d times:\n%s", n, logs.String())
	}
	// At start, an unreadable file is an error: no earlier tokens to keep.
	os.Mkdir(p, 0o755)
	if _, err := NewStore(Config{Files: []string{p}}, slog.New(slog.NewTextHandler(io.Discard, nil)), nil); err == nil {
		t.Error("start with an unreadable file")
	}
}

// Lenient parsing keeps every line for Bytes; RemoveLines drops exactly the
// lines whose first field is the id, parsed or not.
func TestRemoveLines(t *testing.T) {
	_, a, _ := New("alice", "READ", "", t0, time.Time{})
	_, b, _ := New("bob", "READ", "", t0, time.Time{})
	in := "# c\n" + a.Format() + "\njunk\n" + a.ID + ":damaged\n" + a.ID + "x:other\n" + b.Format() + "\n"
	f, bad, err := ParseLenient(strings.NewReader(in))
	if err != nil || len(bad) != 3 || bad[0].Line != 3 || bad[1].Line != 4 || bad[2].Line != 5 {
		t.Fatalf("%v %v", bad, err)
	}
	if string(f.Bytes()) != in {
		t.Fatalf("lenient round trip: %q", f.Bytes())
	}
	if n := f.RemoveLines(a.ID); n != 2 {
		t.Fatalf("removed %d", n)
	}
	want := "# c\njunk\n" + a.ID + "x:other\n" + b.Format() + "\n"
	if string(f.Bytes()) != want || len(f.Tokens()) != 1 || f.Tokens()[0].ID != b.ID {
		t.Fatalf("%q %v", f.Bytes(), f.Tokens())
	}
	if f.RemoveLines(a.ID) != 0 || f.RemoveLines("") != 0 {
		t.Error("removed again")
	}
	if !f.Remove(b.ID) || string(f.Bytes()) != "# c\njunk\n"+a.ID+"x:other\n" {
		t.Errorf("Remove after RemoveLines: %q", f.Bytes())
	}
}
