package htpasswd

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestRoundTripGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.htpasswd")
	for _, name := range files {
		if strings.Contains(name, "bad-") {
			continue
		}
		in, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := Parse(bytes.NewReader(in))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if out := f.Bytes(); !bytes.Equal(out, in) {
			t.Errorf("%s: round trip changed the file:\n%q\n%q", name, in, out)
		}
	}
}

func TestMixedFile(t *testing.T) {
	f, err := ReadFile("testdata/mixed.htpasswd")
	if err != nil {
		t.Fatal(err)
	}
	var users []string
	for _, e := range f.Entries() {
		users = append(users, e.User)
	}
	if got := strings.Join(users, ","); got != "alice,bob,carol,dave" || f.Len() != 4 {
		t.Errorf("users %s, Len %d", got, f.Len())
	}
	alice, _ := f.Lookup("alice")
	if alice.Line != 3 || alice.Scheme() != APR1 || !alice.Parsed.Verify([]byte("password")) {
		t.Errorf("first alice line must win: %+v", alice.Line)
	}
	if bob, _ := f.Lookup("bob"); bob.Comment != "Bob Smith" || bob.Parsed == nil {
		t.Errorf("bob: comment %q", bob.Comment)
	}
	carol, _ := f.Lookup("carol")
	if carol.Parsed != nil || !errors.Is(carol.HashErr, ErrUnknownScheme) {
		t.Errorf("carol's unusable hash: %v", carol.HashErr)
	}
	if _, ok := f.Lookup("nobody"); ok {
		t.Error("Lookup of a missing user succeeded")
	}
	var kinds []string
	for _, p := range f.Problems() {
		kinds = append(kinds, string(p.Kind)+"@"+strconv.Itoa(p.Line))
		if strings.Contains(p.Msg, "$") || strings.Contains(p.Msg, "locked") || strings.Contains(p.Msg, "W6ph") {
			t.Errorf("problem message shows the hash: %s", p.Msg)
		}
	}
	want := "weak-scheme@4 unknown-scheme@7 duplicate-user@8"
	if got := strings.Join(kinds, " "); got != want {
		t.Errorf("problems %s, want %s", got, want)
	}
}

func TestStructuralErrors(t *testing.T) {
	tests := []struct {
		in   string
		line int
		msg  string
	}{
		{"alice:x\nno colon here\n", 2, "line 2: missing ':'"},
		{"\n\n:hash\n", 3, "line 3: invalid user name: empty"},
		{"al\x01ice:hash\n", 1, "control character"},
		{"al\x7fice:hash\n", 1, "control character"},
		{" alice:hash\n", 1, "white space"},
		{"alice :hash\n", 1, "white space"},
		{"\xff\xfe:hash\n", 1, "UTF-8"},
		{strings.Repeat("u", 256) + ":hash\n", 1, "longer than 255"},
		{"ok:x\r\nsecret-password-no-colon", 2, "missing ':'"},
	}
	for _, tt := range tests {
		_, err := Parse(strings.NewReader(tt.in))
		var pe *ParseError
		if !errors.As(err, &pe) || pe.Line != tt.line || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("Parse(%q) = %v; want line %d %q", tt.in, err, tt.line, tt.msg)
			continue
		}
		if strings.Contains(err.Error(), "secret-password") || strings.Contains(err.Error(), "colon here") {
			t.Errorf("error %q quotes the line", err)
		}
	}
	if _, err := ReadFile("testdata/bad-nocolon.htpasswd"); err == nil || !strings.Contains(err.Error(), "testdata/bad-nocolon.htpasswd: line 2:") {
		t.Errorf("ReadFile error %v does not name the file and line", err)
	}
}

func TestLint(t *testing.T) {
	in := "# c\r\n" +
		"alice:$apr1$salt$Xxd1irWT9ycqoYxGFn4cb.\r\n" +
		"no colon, Quartz-Zebra-91\r\n" +
		"bob:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\r\n" +
		"al\x01ice:$apr1$salt$Xxd1irWT9ycqoYxGFn4cb.\r\n" +
		"alice:{PLAIN}second\r\n" +
		"carol:$5$rounds=0999$saltstring$z/y8l95GSjij6uHx2xAJer7YCODLtrhIxItWC13D4g5\r\n" +
		"\xff:x\r\n" +
		"dave:{PLAIN}pw"
	users, problems, err := Lint(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range problems {
		got = append(got, string(p.Kind)+"@"+strconv.Itoa(p.Line)+"/"+p.User)
		for _, leak := range []string{"Quartz", "Xxd1irWT9", "W6ph", "second", "0999", "z/y8l95", "al\x01", "\xff", "PLAIN"} {
			if strings.Contains(p.Msg, leak) {
				t.Errorf("line %d: message %q shows %q", p.Line, p.Msg, leak)
			}
		}
	}
	want := "malformed-line@3/ weak-scheme@4/bob invalid-user@5/ duplicate-user@6/alice malformed-hash@7/carol invalid-user@8/ weak-scheme@9/dave"
	if strings.Join(got, " ") != want {
		t.Errorf("problems %s\nwant     %s", strings.Join(got, " "), want)
	}
	if users != 4 {
		t.Errorf("%d users, want 4", users)
	}
	// Parse still stops at the first structural error.
	var pe *ParseError
	if _, err := Parse(strings.NewReader(in)); !errors.As(err, &pe) || pe.Line != 3 {
		t.Errorf("Parse: %v", err)
	}
	f, _ := ReadFile("testdata/mixed.htpasswd")
	users, problems, err = LintFile("testdata/mixed.htpasswd")
	if err != nil || users != f.Len() || len(problems) != len(f.Problems()) {
		t.Errorf("LintFile of a well-formed file: %d users, %v, %v", users, problems, err)
	}
	if _, _, err := Lint(bytes.NewReader(bytes.Repeat([]byte("#"), MaxFileSize+1))); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversize: %v", err)
	}
	if _, _, err := LintFile("testdata"); err == nil || !strings.Contains(err.Error(), "testdata: is a directory") {
		t.Errorf("directory: %v", err)
	}
}

// Hashes whose check takes seconds are reported, with their cost, never
// their text; the service warns about them too. The limits: bcrypt cost
// 14, sha-crypt 2,000,000 rounds.
func TestLintSlowHashes(t *testing.T) {
	digest := strings.Repeat("a", 86)
	in := "b14:$2y$14$aaaaaaaaaaaaaaaaaaaaa.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n" +
		"b15:$2y$15$aaaaaaaaaaaaaaaaaaaaa.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n" +
		"b31:$2a$31$aaaaaaaaaaaaaaaaaaaaa.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n" +
		"s2m:$6$rounds=2000000$abc$" + digest + "\n" +
		"s2m1:$6$rounds=2000001$abc$" + digest + "\n" +
		"s999:$5$rounds=999999999$abc$" + digest[:43] + "\n"
	_, problems, err := Lint(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range problems {
		got = append(got, string(p.Kind)+"@"+p.User)
		if strings.Contains(p.Msg, "aaaa") || strings.Contains(p.Msg, "$") {
			t.Errorf("message shows the hash: %q", p.Msg)
		}
	}
	if want := "slow-hash@b15 slow-hash@b31 slow-hash@s2m1 slow-hash@s999"; strings.Join(got, " ") != want {
		t.Errorf("problems %s, want %s", strings.Join(got, " "), want)
	}
	if len(problems) == 4 && (!strings.Contains(problems[0].Msg, "bcrypt cost 15") || !strings.Contains(problems[3].Msg, "rounds=999999999")) {
		t.Errorf("messages do not give the cost: %q, %q", problems[0].Msg, problems[3].Msg)
	}
}

func TestOversize(t *testing.T) {
	in := bytes.Repeat([]byte("#"), MaxFileSize+1)
	if _, err := Parse(bytes.NewReader(in)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversize: %v", err)
	}
}

func TestSetAndDelete(t *testing.T) {
	tests := []struct {
		name, in, want string
		edit           func(*File) error
	}{
		{"append after missing newline", "a:{SHA}x", "a:{SHA}x\nb:H\n", func(f *File) error { _, err := f.Set("b", "H"); return err }},
		{"append to empty", "", "b:H\n", func(f *File) error { _, err := f.Set("b", "H"); return err }},
		{"append keeps CRLF", "a:x\r\nc:y\r\n", "a:x\r\nc:y\r\nb:H\r\n", func(f *File) error { _, err := f.Set("b", "H"); return err }},
		{"replace keeps comment and place", "# c\na:old:Alice\nb:y\n", "# c\na:H:Alice\nb:y\n", func(f *File) error { _, err := f.Set("a", "H"); return err }},
		{"replace first of duplicates", "a:1\na:2\n", "a:H\na:2\n", func(f *File) error { _, err := f.Set("a", "H"); return err }},
		{"replace keeps no final newline", "a:1", "a:H", func(f *File) error { _, err := f.Set("a", "H"); return err }},
		{"delete all lines of user", "# c\na:1\nb:2\na:3\n\n", "# c\nb:2\n\n", func(f *File) error { f.Delete("a"); return nil }},
	}
	for _, tt := range tests {
		f, err := Parse(strings.NewReader(tt.in))
		if err != nil {
			t.Fatal(err)
		}
		if err := tt.edit(f); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if got := string(f.Bytes()); got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, got, tt.want)
		}
	}
	f := &File{}
	if added, err := f.Set("a", "H"); !added || err != nil {
		t.Errorf("Set new: %v %v", added, err)
	}
	if added, err := f.Set("a", "H2"); added || err != nil {
		t.Errorf("Set existing: %v %v", added, err)
	}
	for _, bad := range []string{"a:b", "a\nb"} {
		if _, err := f.Set("a", bad); err == nil {
			t.Errorf("Set accepted hash %q", bad)
		}
	}
	if _, err := f.Set("x:y", "H"); !errors.Is(err, ErrInvalidUser) {
		t.Errorf("Set accepted user x:y: %v", err)
	}
	if f.Delete("nobody") {
		t.Error("Delete of a missing user reported true")
	}
}

func TestValidateUser(t *testing.T) {
	for _, ok := range []string{"alice", "a.b-c_d@example.org", "jürgen", "with space", strings.Repeat("u", 255)} {
		if err := ValidateUser(ok); err != nil {
			t.Errorf("ValidateUser(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "a:b", "a\x00b", "a\tb", "a\nb", "a\x7f", "a\u0085b", "#root", " a", "a ", "\xff", strings.Repeat("u", 256)} {
		if err := ValidateUser(bad); !errors.Is(err, ErrInvalidUser) {
			t.Errorf("ValidateUser(%q) = %v", bad, err)
		}
	}
}

func FuzzParseRoundTrip(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.htpasswd")
	for _, name := range files {
		b, _ := os.ReadFile(name)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		users, problems, lerr := Lint(bytes.NewReader(in))
		if lerr != nil {
			t.Fatalf("Lint: %v", lerr)
		}
		file, err := Parse(bytes.NewReader(in))
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) || pe.Line < 1 {
				t.Fatalf("error without a line: %v", err)
			}
			// Lint reports it, as the first structural problem.
			for _, p := range problems {
				if p.Kind == MalformedLine || p.Kind == InvalidUser {
					if p.Line != pe.Line {
						t.Fatalf("Parse stops at line %d, Lint's first structural problem is on line %d", pe.Line, p.Line)
					}
					return
				}
			}
			t.Fatalf("Lint misses the structural error on line %d", pe.Line)
		}
		if users != file.Len() || !slices.Equal(problems, file.Problems()) {
			t.Fatal("Lint and Parse disagree on a well-formed file")
		}
		if out := file.Bytes(); !bytes.Equal(out, in) {
			t.Fatalf("round trip: %q -> %q", in, out)
		}
		for _, e := range file.Entries() {
			if e.HashErr == nil && e.Parsed == nil {
				t.Fatal("entry without hash or error")
			}
		}
		file.Problems()
		if _, err := file.Set("fuzz-user", "{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g="); err != nil {
			t.Fatal(err)
		}
		again, err := Parse(bytes.NewReader(file.Bytes()))
		if err != nil {
			t.Fatalf("reparse after Set: %v", err)
		}
		if e, ok := again.Lookup("fuzz-user"); !ok || !e.Parsed.Verify([]byte("password")) {
			t.Fatal("user set is not found after reparse")
		}
	})
}

func FuzzParseHash(f *testing.F) {
	for _, g := range goldenHashes {
		f.Add(g.hash)
	}
	for _, r := range libxcryptRefuses {
		f.Add(r.hash)
	}
	f.Add("$6$rounds=abc$x$y")
	f.Add("{SSHA}Zm9vCg==")
	f.Add("$5$rounds=999999999$saltstring$z/y8l95GSjij6uHx2xAJer7YCODLtrhIxItWC13D4g5")
	f.Add("$5$rounds=1000000000$saltstring$z/y8l95GSjij6uHx2xAJer7YCODLtrhIxItWC13D4g5")
	f.Fuzz(func(t *testing.T, s string) {
		h, err := ParseHash(s)
		if err != nil {
			if h != nil {
				t.Fatal("hash and error")
			}
			return
		}
		if h.Scheme() != Identify(s) {
			t.Fatalf("scheme %s, Identify %s", h.Scheme(), Identify(s))
		}
		checkCanonical(t, h, s)
		if h.Scheme() == Bcrypt && h.Cost() > 6 {
			return // too slow to verify in a fuzz loop
		}
		if h.Scheme() == SHA256Crypt || h.Scheme() == SHA512Crypt {
			if h.Cost() > 10000 {
				return
			}
		}
		h.Verify([]byte("password"))
	})
}

// bcryptBase64 decodes bcrypt's base64 refusing set padding bits: an
// oracle for the parser, which checks the bits by hand.
var bcryptBase64 = base64.NewEncoding(bcryptAlphabet).WithPadding(base64.NoPadding).Strict()

// checkCanonical fails unless an accepted crypt hash is written as
// libxcrypt writes it, which is the only way it can match there: rounds=
// with no leading zero between 1000 and 999999999, bcrypt's salt and digest
// without padding bits.
func checkCanonical(t *testing.T, h Hash, s string) {
	switch h.Scheme() {
	case SHA256Crypt, SHA512Crypt:
		if r := h.Cost(); r < 1000 || r > 999999999 {
			t.Fatalf("rounds %d accepted", r)
		}
		if strings.HasPrefix(s[3:], "rounds=") && !strings.HasPrefix(s[3:], "rounds="+strconv.Itoa(h.Cost())+"$") {
			t.Fatalf("rounds= not as libxcrypt writes %d", h.Cost())
		}
	case Bcrypt:
		if _, err := bcryptBase64.DecodeString(s[7:29]); err != nil {
			t.Fatalf("salt: %v", err)
		}
		if _, err := bcryptBase64.DecodeString(s[29:]); err != nil {
			t.Fatalf("digest: %v", err)
		}
	}
}
