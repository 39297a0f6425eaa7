package tokens

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/authreq/authreq/authreq/identity"
)

var t0 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

func hashHex(tok string) string { s := sha256.Sum256([]byte(tok)); return hex.EncodeToString(s[:]) }

const goodHash = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestParseErrors(t *testing.T) {
	good := "abcdefgh2345:alice:" + goodHash + ":READ:2025-01-02T03:04:05Z:never:ci"
	for _, tt := range []struct {
		name, text string
		line       int
		want       string
	}{
		{"no colon, bad id", "# c\n\nabc\n", 3, "id:"},
		{"ends after id", "abcdefgh2345\n", 1, "ends after the id"},
		{"ends after user", "abcdefgh2345:alice", 1, "ends after the user"},
		{"ends after hash", "abcdefgh2345:alice:" + goodHash, 1, "ends after the hash"},
		{"ends after level", "abcdefgh2345:alice:" + goodHash + ":READ", 1, "ends after the level"},
		{"short id", "abc:alice:" + goodHash + ":READ:2025-01-02T03:04:05Z:never:", 1, "id:"},
		{"id with 1", "abcdefgh2341:alice:" + goodHash + ":READ:2025-01-02T03:04:05Z:never:", 1, "id:"},
		{"bad user", "abcdefgh2345:al\x01ce:" + goodHash + ":READ:2025-01-02T03:04:05Z:never:", 1, "user:"},
		{"upper hash", "abcdefgh2345:alice:" + strings.ToUpper(goodHash) + ":READ:2025-01-02T03:04:05Z:never:", 1, "hash:"},
		{"short hash", "abcdefgh2345:alice:0123:READ:2025-01-02T03:04:05Z:never:", 1, "hash:"},
		{"level", "abcdefgh2345:alice:" + goodHash + ":read:2025-01-02T03:04:05Z:never:", 1, "level"},
		{"no permissions level", "abcdefgh2345:alice:" + goodHash + ":NO_PERMISSIONS:2025-01-02T03:04:05Z:never:", 1, "level"},
		{"created not utc", "abcdefgh2345:alice:" + goodHash + ":READ:2025-01-02T03:04:05+01:00:never:", 1, "created"},
		{"created garbage", "abcdefgh2345:alice:" + goodHash + ":READ:2025-13-02T03:04:05Z:never:", 1, "created"},
		{"expires missing", "abcdefgh2345:alice:" + goodHash + ":READ:2025-01-02T03:04:05Z:", 1, "expires"},
		{"expires no name sep", "abcdefgh2345:alice:" + goodHash + ":READ:2025-01-02T03:04:05Z:never", 1, "expires"},
		{"name control", "abcdefgh2345:alice:" + goodHash + ":READ:2025-01-02T03:04:05Z:never:a\rb", 1, "name"},
		{"duplicate id", good + "\n" + good + "\n", 2, "already on line 1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(tt.text))
			var pe *ParseError
			if !errors.As(err, &pe) || pe.Line != tt.line || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("%v, want line %d: %s", err, tt.line, tt.want)
			}
			if strings.Contains(err.Error(), goodHash) || strings.Contains(strings.ToLower(err.Error()), goodHash[:16]) {
				t.Errorf("error shows the hash: %v", err)
			}
		})
	}
}

func TestRoundTripAndEdit(t *testing.T) {
	in := "# tokens\n\n  \nabcdefgh2345:alice:" + goodHash + ":READ:2025-01-02T03:04:05Z:never:ci: nightly\n#x\nzzzzzzzz2345:bob:" + goodHash + ":MANAGE:2025-01-02T03:04:05Z:2026-01-02T03:04:05Z:"
	f, err := Parse(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if string(f.Bytes()) != in {
		t.Fatalf("round trip:\n%q\n%q", f.Bytes(), in)
	}
	ts := f.Tokens()
	if len(ts) != 2 || ts[0].Name != "ci: nightly" || !ts[0].Expires.IsZero() || ts[1].Expires.Year() != 2026 || ts[1].Name != "" {
		t.Fatalf("%+v", ts)
	}
	tok, nt, err := New("carol", "EDIT", "", t0, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Add(nt); err != nil {
		t.Fatal(err)
	}
	if !f.Remove("abcdefgh2345") || f.Remove("abcdefgh2345") {
		t.Fatal("remove")
	}
	want := "# tokens\n\n  \n#x\nzzzzzzzz2345:bob:" + goodHash + ":MANAGE:2025-01-02T03:04:05Z:2026-01-02T03:04:05Z:\n" + nt.Format() + "\n"
	if got := string(f.Bytes()); got != want {
		t.Fatalf("after edit:\n%q\nwant\n%q", got, want)
	}
	if strings.Contains(string(f.Bytes()), tok) || !strings.Contains(string(f.Bytes()), hashHex(tok)) {
		t.Error("the file must hold the token's hash, not the token")
	}
}

func TestNewToken(t *testing.T) {
	re := regexp.MustCompile(`^authreq_[a-z2-7]{12}_[a-z2-7]{32}$`)
	seen := map[string]bool{}
	for range 100 {
		tok, tk, err := New("alice", "READ", "n", t0, t0.Add(time.Hour))
		if err != nil || !re.MatchString(tok) || seen[tok] {
			t.Fatalf("%q %v", tok, err)
		}
		seen[tok] = true
		if id, _ := IDOf(tok); id != tk.ID || tk.Hash != sha256.Sum256([]byte(tok)) {
			t.Fatal("id or hash")
		}
	}
	if _, _, err := New("al:ice", "READ", "", t0, time.Time{}); err == nil {
		t.Error("bad user accepted")
	}
	if _, _, err := New("alice", "ADMIN", "", t0, time.Time{}); err == nil {
		t.Error("bad level accepted")
	}
}

func TestLookup(t *testing.T) {
	tok, tk, _ := New("alice", "READ", "", t0, t0.Add(time.Hour))
	tokNever, tkNever, _ := New("bob", "EDIT", "", t0, time.Time{})
	tab := NewTable([]Token{tk, tkNever})
	id, _ := IDOf(tok)
	for _, tt := range []struct {
		name string
		tok  string
		now  time.Time
		want error
	}{
		{"valid", tok, t0, nil},
		{"never expires", tokNever, t0.AddDate(50, 0, 0), nil},
		{"expired at the instant", tok, t0.Add(time.Hour), ErrExpired},
		{"wrong secret, right id", Prefix + id + "_" + strings.Repeat("a", 32), t0, ErrUnknown},
		{"truncated", tok[:len(tok)-1], t0, ErrUnknown},
		{"no prefix", strings.TrimPrefix(tok, Prefix), t0, ErrUnknown},
		{"empty", "", t0, ErrUnknown},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tab.Lookup(tt.tok, tt.now)
			if !errors.Is(err, tt.want) || (err == nil && got.User == "") {
				t.Fatalf("%+v %v, want %v", got, err, tt.want)
			}
		})
	}
}

// The lookup compares hashes with crypto/subtle, never ==.
func TestConstantTimeCompareUsed(t *testing.T) {
	src, err := os.ReadFile("store.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(src, []byte("subtle.ConstantTimeCompare(sum[:], e.Hash[:])")) {
		t.Error("Lookup no longer compares the hash with subtle.ConstantTimeCompare")
	}
}

func TestStore(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tokens")
	tok, tk, _ := New("alice", "READ", "", t0, t0.Add(time.Hour))
	os.WriteFile(path, []byte(tk.Format()+"\n"), 0o640)
	s, err := NewStore(Config{Files: []string{path}}, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := t0
	s.Now = func() time.Time { return now }
	ctx := context.Background()
	for _, tt := range []struct {
		name string
		c    identity.Credentials
		want error // nil: alice
	}{
		{"bearer", identity.Bearer{Token: tok}, nil},
		{"basic of its user", identity.Basic{User: "alice", Password: tok}, nil},
		{"basic of another user", identity.Basic{User: "bob", Password: tok}, identity.ErrUnknownUser},
		{"basic password", identity.Basic{User: "alice", Password: "pw"}, identity.ErrUnknownUser},
		{"foreign bearer", identity.Bearer{Token: "eyJhbGciOi"}, identity.ErrUnknownUser},
		{"unknown bearer", identity.Bearer{Token: tok + "x"}, identity.ErrBadCredentials},
	} {
		t.Run(tt.name, func(t *testing.T) {
			id, err := s.Authenticate(ctx, tt.c)
			if tt.want == nil {
				if err != nil || id.User != "alice" || id.TokenID != tk.ID || id.MaxLevel != "READ" || id.Source != "token" || id.Role != "" {
					t.Fatalf("%+v %v", id, err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("%v, want %v", err, tt.want)
			}
			if tt.want == identity.ErrBadCredentials && errors.Is(err, identity.ErrUnknownUser) {
				t.Fatalf("%v: an unknown Bearer token must be a definite no", err)
			}
			if strings.Contains(err.Error(), tok) {
				t.Fatal("error shows the token")
			}
		})
	}
	now = t0.Add(2 * time.Hour)
	if _, err := s.Authenticate(ctx, identity.Bearer{Token: tok}); !errors.Is(err, identity.ErrBadCredentials) || errors.Is(err, identity.ErrUnknownUser) {
		t.Errorf("expired bearer: %v", err)
	}
	now = t0
	// A file that no longer parses revokes the token (its line is bad);
	// a vanished one too.
	os.WriteFile(path, []byte("garbage\n"), 0o640)
	if err := s.Reload("test"); err == nil || !strings.Contains(err.Error(), "1 bad lines") {
		t.Errorf("reload of a broken file: %v", err)
	}
	if _, err := s.Authenticate(ctx, identity.Bearer{Token: tok}); !errors.Is(err, identity.ErrBadCredentials) {
		t.Errorf("token of a file with no good line: %v", err)
	}
	os.WriteFile(path, []byte(tk.Format()+"\n"), 0o640)
	if err := s.Reload("test"); err != nil {
		t.Fatal(err)
	}
	os.Remove(path)
	s.Reload("test")
	if _, err := s.Authenticate(ctx, identity.Bearer{Token: tok}); !errors.Is(err, identity.ErrBadCredentials) {
		t.Errorf("token of a deleted file: %v", err)
	}
	// A valid file without the token revokes it.
	os.WriteFile(path, []byte("# empty\n"), 0o640)
	if err := s.Reload("test"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, identity.Bearer{Token: tok}); !errors.Is(err, identity.ErrBadCredentials) {
		t.Errorf("revoked: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	if err := (Config{Files: []string{"a", ""}}).Validate(); err == nil || !strings.Contains(err.Error(), "tokens.files[1]") {
		t.Errorf("%v", err)
	}
	if err := (Config{}).Validate(); err != nil {
		t.Error(err)
	}
}

// FuzzParse: whatever parses writes back byte for byte, and parses again to
// the same tokens.
func FuzzParse(f *testing.F) {
	_, tk, _ := New("alice", "EDIT", "ci: x", t0, t0.Add(time.Hour))
	f.Add([]byte("# c\n\n" + tk.Format() + "\n"))
	f.Add([]byte(tk.Format()))
	f.Add([]byte("abcdefgh2345:alice:" + goodHash + ":READ:2025-01-02T03:04:05Z:never:\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		pf, err := Parse(bytes.NewReader(data))
		if err != nil {
			if strings.Contains(err.Error(), goodHash) {
				t.Fatal("error shows a hash")
			}
			return
		}
		if !bytes.Equal(pf.Bytes(), data) {
			t.Fatalf("round trip: %q -> %q", data, pf.Bytes())
		}
		for _, tk := range pf.Tokens() {
			again, err := parseLine(tk.Format())
			if err != nil || again != tk {
				t.Fatalf("format/parse: %+v %+v %v", tk, again, err)
			}
		}
	})
}
