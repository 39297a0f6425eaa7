package htfile

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/authreq/authreq/authreq/identity"
	"github.com/authreq/authreq/htpasswd"
)

// Unknown names cost what real users cost, in the file's own mix of
// schemes: with mostly apr1 users, most unknown names are checked against
// apr1 (0.2 ms), not all against the one bcrypt hash (tens of ms), which
// would tell them from real users at a glance. The same name always gets
// the same decoy.
func TestDecoysFollowTheFilesMix(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "htpasswd")
	var b strings.Builder
	for i := range 9 {
		h, _ := htpasswd.Generate(htpasswd.APR1, []byte("a"), 0)
		fmt.Fprintf(&b, "apr%d:%s\n", i, h)
	}
	b5, _ := htpasswd.Generate(htpasswd.Bcrypt, []byte("b"), 5)
	b4, _ := htpasswd.Generate(htpasswd.Bcrypt, []byte("c"), 4)
	fmt.Fprintf(&b, "b:%s\nc:%s\nd:garbage\n", b5, b4)
	// Valid, but a check costs minutes: never a decoy (guarded, not run).
	b.WriteString("slow:$5$rounds=999999999$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5\n")
	os.WriteFile(file, []byte(b.String()), 0o600)
	be, err := New(Config{Files: []string{file}}, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	tab := be.tab.Load()
	if tab.users["slow"].Parsed == nil {
		t.Fatalf("slow: %v", tab.users["slow"].HashErr)
	}
	counts := map[string]int{}
	const names = 11000
	for i := range names {
		name := fmt.Sprintf("nobody%d", i)
		d := be.decoyFor(tab, name)
		if be.decoyFor(tab, name) != d {
			t.Fatalf("%s: two decoys", name)
		}
		counts[fmt.Sprintf("%s/%d", d.Scheme(), d.Cost())]++
	}
	// 9 of 11 users are apr1, one bcrypt/5, one bcrypt/4 (d is unusable).
	for class, want := range map[string]float64{"apr1/0": 9.0 / 11, "bcrypt/5": 1.0 / 11, "bcrypt/4": 1.0 / 11} {
		if got := float64(counts[class]) / names; got < want-0.03 || got > want+0.03 {
			t.Errorf("%s: %.3f of unknown names, want about %.3f (%v)", class, got, want, counts)
		}
	}
	if _, err := be.Authenticate(context.Background(), identity.Basic{User: "b", Password: "b"}); err != nil {
		t.Errorf("b: %v", err)
	}
	if _, err := be.Authenticate(context.Background(), identity.Basic{User: "b", Password: "x"}); !errors.Is(err, identity.ErrBadCredentials) || errors.Is(err, identity.ErrUnknownUser) {
		t.Errorf("b, wrong password: %v", err)
	}
	for _, u := range []string{"nobody", "d"} {
		if _, err := be.Authenticate(context.Background(), identity.Basic{User: u, Password: "b"}); !errors.Is(err, identity.ErrUnknownUser) {
			t.Errorf("%s: %v", u, err)
		}
	}
}
