package htpasswd

import (
	"bytes"
	"crypto/des"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/authreq/authreq/internal/realtest"
)

// Fixed vectors: nginx's own tests (password "password"), Drepper's
// sha-crypt specification, and values printed by openssl passwd.
var goldenHashes = []struct {
	hash, password string
	scheme         Scheme
}{
	{"$apr1$salt$Xxd1irWT9ycqoYxGFn4cb.", "password", APR1},
	{"{SSHA}yI6cZwQadOA1e+/f+T+H3eCQQhRzYWx0", "password", SSHA},
	{"{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=", "password", SHA1},
	{"{PLAIN}password", "password", Plain},
	{"$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5", "Hello world!", SHA256Crypt},
	{"$5$rounds=10000$saltstringsaltst$3xv.VbSHBb41AL9AvLeujZkZRBAwqFMz2.opqey6IcA", "Hello world!", SHA256Crypt},
	// The least rounds libxcrypt takes, and the default written out; the
	// spec's "rounds=10" vectors, which glibc raised to 1000, libxcrypt
	// refuses: see TestMalformedHashes.
	{"$5$rounds=1000$roundstoolow$yfvwcWrQ8l/K0DAWyuPMDNHpIVlTQebY9l/gL972bIC", "the minimum number is still observed", SHA256Crypt},
	{"$5$rounds=5000$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5", "Hello world!", SHA256Crypt},
	{"$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1", "Hello world!", SHA512Crypt},
	{"$6$rounds=1000$roundstoolow$kUMsbe306n21p9R.FRkW3IGn.S9NPN0x50YhH1xhLsPuWGsUSklZt58jaTfF4ZEQpyUNGc0dqbpBYYBaHHrsX.", "the minimum number is still observed", SHA512Crypt},
	{"$1$saltsalt$qjXMvbEw8oaL.CzflDtaK/", "password", MD5Crypt},
	{"$2y$05$bvIG6Nmid91Mu9RcmmWZfO5HJIMCT8riNW0hEp8f6/FuA2/mHZFpe", "password", Bcrypt},
	{"$2y$04$5Adz8peFcAu5LL6c/I6AFeq2JoBxJMuN46j0hrWXeD.feF4Ae01/W", "password", Bcrypt},
	{"abJnggxhB/yWI", "password", DESCrypt},
}

func TestGoldenHashes(t *testing.T) {
	for _, g := range goldenHashes {
		t.Run(string(g.scheme), func(t *testing.T) {
			h, err := ParseHash(g.hash)
			if err != nil {
				t.Fatalf("ParseHash: %v", err)
			}
			if h.Scheme() != g.scheme || Identify(g.hash) != g.scheme {
				t.Errorf("scheme %s, Identify %s, want %s", h.Scheme(), Identify(g.hash), g.scheme)
			}
			if !h.Verify([]byte(g.password)) {
				t.Error("right password rejected")
			}
			wrongs := []string{"", "Password", g.password[:len(g.password)-1]}
			if g.scheme != DESCrypt { // DES crypt reads only 8 characters
				wrongs = append(wrongs, g.password+"x")
			}
			for _, wrong := range wrongs {
				if h.Verify([]byte(wrong)) {
					t.Errorf("wrong password %q accepted", wrong)
				}
			}
		})
	}
}

// libxcryptRefuses are hashes that libxcrypt (Debian's libcrypt, through
// which nginx checks crypt hashes) refuses, but whose digest is right for
// the password under a lenient reading: rounds= raised to 1000 (as glibc
// and the sha-crypt spec did), read with a leading zero or a sign, or the
// padding bits in the last character of a bcrypt salt or digest ignored (as
// x/crypto/bcrypt does for the salt). They must never match.
var libxcryptRefuses = []struct{ hash, password string }{
	{"$5$rounds=999$saltstring$z/y8l95GSjij6uHx2xAJer7YCODLtrhIxItWC13D4g5", "Hello world!"},
	{"$5$rounds=0100$saltstring$z/y8l95GSjij6uHx2xAJer7YCODLtrhIxItWC13D4g5", "Hello world!"},
	{"$5$rounds=01000$saltstring$z/y8l95GSjij6uHx2xAJer7YCODLtrhIxItWC13D4g5", "Hello world!"},
	{"$5$rounds=0$saltstring$z/y8l95GSjij6uHx2xAJer7YCODLtrhIxItWC13D4g5", "Hello world!"},
	{"$5$rounds=05000$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5", "Hello world!"},
	{"$5$rounds=+5000$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5", "Hello world!"},
	{"$5$rounds=10$roundstoolow$yfvwcWrQ8l/K0DAWyuPMDNHpIVlTQebY9l/gL972bIC", "the minimum number is still observed"},
	{"$6$rounds=10$roundstoolow$kUMsbe306n21p9R.FRkW3IGn.S9NPN0x50YhH1xhLsPuWGsUSklZt58jaTfF4ZEQpyUNGc0dqbpBYYBaHHrsX.", "the minimum number is still observed"},
	{"$6$rounds=999$saltstring$Zu2Vknok2/f53APfN687ADnzeNBLcsEgTwvcBHMD2./07rZQAt8vsuKVufD15dyZh.LOLB/uZKf6I3GyON4bp/", "Hello world!"},
	{"$6$rounds=05000$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1", "Hello world!"},
	// Salt: its last character carries 2 bits, the low 4 must be 0.
	{"$2y$05$bvIG6Nmid91Mu9RcmmWZfP5HJIMCT8riNW0hEp8f6/FuA2/mHZFpe", "password"},
	{"$2y$05$bvIG6Nmid91Mu9RcmmWZfZ5HJIMCT8riNW0hEp8f6/FuA2/mHZFpe", "password"},
	{"$2y$04$5Adz8peFcAu5LL6c/I6AFfq2JoBxJMuN46j0hrWXeD.feF4Ae01/W", "password"},
	// Digest: its last character carries 4 bits, the low 2 must be 0.
	{"$2y$05$bvIG6Nmid91Mu9RcmmWZfO5HJIMCT8riNW0hEp8f6/FuA2/mHZFpf", "password"},
	{"$2y$05$bvIG6Nmid91Mu9RcmmWZfO5HJIMCT8riNW0hEp8f6/FuA2/mHZFph", "password"},
}

func TestMalformedHashes(t *testing.T) {
	tests := []struct {
		hash string
		want error
	}{
		{"", ErrUnknownScheme},
		{"password", ErrUnknownScheme}, // plaintext never matches
		{"$apr1$", ErrMalformedHash},
		{"$apr1$salt", ErrMalformedHash},
		{"$apr1$saltsaltsalt$Xxd1irWT9ycqoYxGFn4cb.", ErrMalformedHash},
		{"$apr1$salt$Xxd1irWT9ycqoYxGFn4cb", ErrMalformedHash},
		{"$apr1$salt$Xxd1irWT9ycqoYxGFn4cb.x", ErrMalformedHash},
		{"$1$sa!t$qjXMvbEw8oaL.CzflDtaK/", ErrMalformedHash}, // libxcrypt refuses it; apr1 takes it
		{"$apr1$sa\rt$Xxd1irWT9ycqoYxGFn4cb.", ErrMalformedHash},
		{"{PLAIN}pw\x00junk", ErrMalformedHash},
		{"{PLAIN}pw\rjunk", ErrMalformedHash},
		{"$1$", ErrMalformedHash},
		{"{SSHA}Zm9vCg==", ErrMalformedHash}, // too short to hold a digest
		{"{SSHA}", ErrMalformedHash},
		{"{SSHA}not base64!", ErrMalformedHash},
		{"{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g", ErrMalformedHash},
		{"{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9gA", ErrMalformedHash},
		{"{SHA}", ErrMalformedHash},
		{"$6$rounds=abc$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1", ErrMalformedHash},
		{"$6$rounds=$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1", ErrMalformedHash},
		{"$6$rounds=-5000$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1", ErrMalformedHash},
		{"$6$rounds=99999999999$salt$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1", ErrMalformedHash},
		{"$6$rounds=5000", ErrMalformedHash},
		{"$6$", ErrMalformedHash},
		{"$6$saltstring$short", ErrMalformedHash},
		{"$6$saltstringsaltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1", ErrMalformedHash},
		{"$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5$", ErrMalformedHash},
		// Above libxcrypt's maximum; libxcryptRefuses has the rest.
		{"$5$rounds=1000000000$saltstring$z/y8l95GSjij6uHx2xAJer7YCODLtrhIxItWC13D4g5", ErrMalformedHash},
		{"$6$rounds=9999999999$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1", ErrMalformedHash},
		{"$2y$05$bvIG6Nmid91Mu9RcmmWZfO5HJIMCT8riNW0hEp8f6/FuA2/mHZFp", ErrMalformedHash},
		{"$2y$03$bvIG6Nmid91Mu9RcmmWZfO5HJIMCT8riNW0hEp8f6/FuA2/mHZFpe", ErrMalformedHash},
		{"$2y$32$bvIG6Nmid91Mu9RcmmWZfO5HJIMCT8riNW0hEp8f6/FuA2/mHZFpe", ErrMalformedHash},
		{"$2y$x5$bvIG6Nmid91Mu9RcmmWZfO5HJIMCT8riNW0hEp8f6/FuA2/mHZFpe", ErrMalformedHash},
		{"$2y$05$bvIG6Nmid91Mu9RcmmWZfO5HJIMCT8riNW0hEp8f6/FuA2/mHZFp!", ErrMalformedHash},
		{"$2y$05bbvIG6Nmid91Mu9RcmmWZfO5HJIMCT8riNW0hEp8f6/FuA2/mHZFpe", ErrMalformedHash},
		{"$2x$05$bvIG6Nmid91Mu9RcmmWZfO5HJIMCT8riNW0hEp8f6/FuA2/mHZFpe", ErrUnknownScheme},
		{"$y$j9T$salt$hash", ErrUnknownScheme}, // yescrypt: not supported
		{"abJnggxhB/yW", ErrUnknownScheme},     // 12 characters
		{"abJnggxhB/yWIx", ErrUnknownScheme},   // 14 characters
		{"abJnggxhB/yW!", ErrUnknownScheme},
		{"abJnggxhB/yWJ", ErrMalformedHash}, // last character has low bits set
		{"$apr1$salt$Xxd1irWT9ycqoYxGFn4cé", ErrMalformedHash},
	}
	for _, r := range libxcryptRefuses {
		tests = append(tests, struct {
			hash string
			want error
		}{r.hash, ErrMalformedHash})
	}
	for _, tt := range tests {
		h, err := ParseHash(tt.hash)
		if !errors.Is(err, tt.want) || h != nil {
			t.Errorf("ParseHash(%q) = %v, %v; want error %v", tt.hash, h, err, tt.want)
			continue
		}
		if len(tt.hash) > 4 && strings.Contains(err.Error(), tt.hash[4:]) {
			t.Errorf("error %q quotes the hash", err)
		}
		for _, pw := range []string{"", "password", tt.hash, "Hello world!", "the minimum number is still observed"} {
			if Verify(tt.hash, []byte(pw)) {
				t.Errorf("Verify(%q, %q) = true", tt.hash, pw)
			}
		}
	}
}

// openssl implements md5-crypt, apr1 and sha-crypt independently of us.
func TestOpenSSLVectors(t *testing.T) {
	openssl := realtest.Need(t, "openssl")
	for _, alg := range []string{"-1", "-apr1", "-5", "-6"} {
		for _, pw := range []string{"a", "password", "héllo wörld 123", strings.Repeat("long", 40)} {
			out, err := exec.Command(openssl, "passwd", alg, "-salt", "abcdefgh", pw).Output()
			if err != nil {
				t.Fatal(err)
			}
			h := strings.TrimSpace(string(out))
			if !Verify(h, []byte(pw)) {
				t.Errorf("openssl passwd %s: %q does not verify", alg, pw)
			}
			if Verify(h, []byte(pw+"!")) {
				t.Errorf("openssl passwd %s: wrong password accepted", alg)
			}
		}
	}
}

// Apache's htpasswd writes every scheme nginx reads; what it writes must
// verify here.
func TestApacheHtpasswdVectors(t *testing.T) {
	bin := realtest.Need(t, "htpasswd")
	for _, tt := range []struct {
		flag   string
		scheme Scheme
	}{
		{"-m", APR1}, {"-B", Bcrypt}, {"-2", SHA256Crypt}, {"-5", SHA512Crypt}, {"-s", SHA1}, {"-d", DESCrypt},
	} {
		for _, pw := range []string{"s3cret pass", "p:w", "ünïcode"} {
			out, err := exec.Command(bin, "-nb"+tt.flag[1:], "user", pw).Output()
			if err != nil {
				t.Fatalf("htpasswd %s: %v", tt.flag, err)
			}
			_, h, _ := strings.Cut(strings.TrimSpace(string(out)), ":")
			if got := Identify(h); got != tt.scheme {
				t.Errorf("htpasswd %s: scheme %s, want %s", tt.flag, got, tt.scheme)
			}
			if !Verify(h, []byte(pw)) {
				t.Errorf("htpasswd %s: right password rejected", tt.flag)
			}
			if Verify(h, []byte("wrong")) {
				t.Errorf("htpasswd %s: wrong password accepted", tt.flag)
			}
		}
	}
}

// What Generate writes, Apache's verifier accepts.
func TestGenerateVerifiedByApache(t *testing.T) {
	bin := realtest.Need(t, "htpasswd")
	dir := t.TempDir()
	for _, s := range []Scheme{Bcrypt, APR1, SHA256Crypt, SHA512Crypt, SHA1} {
		// 8-bit bytes: where crypt_blowfish's $2a$ differs from $2y$.
		pw := "correct horse \xff\xff\xa3 " + string(s)
		h, err := Generate(s, []byte(pw), 0)
		if err != nil {
			t.Fatal(err)
		}
		if got := Identify(h); got != s {
			t.Errorf("Generate(%s) made a %s hash", s, got)
		}
		file := filepath.Join(dir, string(s))
		if err := os.WriteFile(file, []byte("u:"+h+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(bin, "-vb", file, "u", pw).CombinedOutput(); err != nil {
			t.Errorf("htpasswd -v rejects our %s hash: %v %s", s, err, out)
		}
		if err := exec.Command(bin, "-vb", file, "u", pw+"x").Run(); err == nil {
			t.Errorf("htpasswd -v accepts a wrong password for our %s hash", s)
		}
	}
}

func TestGenerate(t *testing.T) {
	for _, tt := range []struct {
		scheme Scheme
		cost   int
		prefix string
	}{
		{Bcrypt, 0, "$2y$10$"}, {Bcrypt, 4, "$2y$04$"}, {APR1, 0, "$apr1$"},
		{SHA256Crypt, 0, "$5$"}, {SHA512Crypt, 0, "$6$"}, {SHA512Crypt, 6000, "$6$rounds=6000$"},
		{SHA1, 0, "{SHA}"}, {Plain, 0, "{PLAIN}"},
	} {
		h, err := Generate(tt.scheme, []byte("pw"), tt.cost)
		if err != nil {
			t.Fatalf("%s: %v", tt.scheme, err)
		}
		p, err := ParseHash(h)
		if err != nil || !strings.HasPrefix(h, tt.prefix) || !p.Verify([]byte("pw")) || p.Verify([]byte("pW")) {
			t.Errorf("Generate(%s, %d) = bad hash with prefix %q, %v", tt.scheme, tt.cost, h[:min(len(h), 8)], err)
		}
		if h2, _ := Generate(tt.scheme, []byte("pw"), tt.cost); h2 == h && tt.scheme != SHA1 && tt.scheme != Plain {
			t.Errorf("%s: two hashes of one password are equal: salt not random", tt.scheme)
		}
	}
	if _, err := Generate(Bcrypt, bytes.Repeat([]byte("x"), 73), 0); !errors.Is(err, ErrPasswordTooLong) {
		t.Errorf("73-byte bcrypt password: %v", err)
	}
	for _, s := range []Scheme{Bcrypt, APR1, SHA512Crypt, SHA1, Plain} {
		if _, err := Generate(s, []byte("pw\x00junk"), 0); !errors.Is(err, ErrPasswordNUL) {
			t.Errorf("%s: password with a NUL byte: %v", s, err)
		}
	}
	for _, bad := range []struct {
		s Scheme
		c int
	}{{Bcrypt, 3}, {Bcrypt, 32}, {SHA256Crypt, 999}, {APR1, 5}, {MD5Crypt, 0}, {DESCrypt, 0}, {SSHA, 0}, {Unknown, 0}, {Bcrypt, -1}} {
		if _, err := Generate(bad.s, []byte("pw"), bad.c); err == nil {
			t.Errorf("Generate(%s, %d) succeeded", bad.s, bad.c)
		}
	}
}

// libxcrypt is the reference for what a crypt hash means: nginx on Debian
// checks them with it, comparing crypt(password, hash) to the hash. Perl's
// crypt() calls it. A hash matches here exactly when it matches there.
func TestCryptHashesAsLibxcrypt(t *testing.T) {
	perl := realtest.Need(t, "perl")
	cases := libxcryptRefuses
	for _, g := range goldenHashes {
		switch g.scheme {
		case MD5Crypt, Bcrypt, SHA256Crypt, SHA512Crypt, DESCrypt:
			cases = append(cases, struct{ hash, password string }{g.hash, g.password})
		}
	}
	for _, c := range cases {
		out, err := exec.Command(perl, "-e", "print crypt($ARGV[0], $ARGV[1]) // ''", c.password, c.hash).Output()
		if err != nil {
			t.Fatal(err)
		}
		libc := string(out) == c.hash
		if ours := Verify(c.hash, []byte(c.password)); ours != libc {
			t.Errorf("%s: matches here %v, in libxcrypt %v", c.hash, ours, libc)
		}
	}
}

// Perl's crypt() is the C library's; it checks DES crypt over many salts.
func TestDESCryptAgainstLibc(t *testing.T) {
	perl, err := exec.LookPath("perl")
	if err != nil {
		perl = realtest.Need(t, "perl")
	}
	for _, pw := range []string{"", "a", "password", "longerthan8chars", "\xff\xfe\x80", "12345678"} {
		for _, salt := range []string{"..", "ab", "zZ", "./", "9A", "Xy"} {
			out, err := exec.Command(perl, "-e", "print crypt($ARGV[0], $ARGV[1])", pw, salt).Output()
			if err != nil {
				t.Fatal(err)
			}
			h := string(out)
			if !Verify(h, []byte(pw)) {
				t.Errorf("crypt(%q, %q) = %q does not verify", pw, salt, h)
			}
			if Verify(h, []byte(pw+"?")) && len(pw) < 8 {
				t.Errorf("crypt(%q, %q): wrong password accepted", pw, salt)
			}
		}
	}
}

// With salt "..", DES crypt is plain DES of a zero block, 25 times: check
// the core against crypto/des.
func TestDESCoreMatchesCryptoDES(t *testing.T) {
	key := []byte("secret12")
	k := make([]byte, 8)
	for i := range k {
		k[i] = key[i] << 1
	}
	c, err := des.NewCipher(k)
	if err != nil {
		t.Fatal(err)
	}
	block := make([]byte, 8)
	for range 25 {
		c.Encrypt(block, block)
	}
	var want []byte
	for i := 0; i < 11; i++ {
		v := 0
		for j := 0; j < 6; j++ {
			bit := 6*i + j
			v <<= 1
			if bit < 64 {
				v |= int(block[bit/8]>>(7-bit%8)) & 1
			}
		}
		want = append(want, cryptAlphabet[v])
	}
	if got := desCrypt(key, [2]byte{'.', '.'}); string(got) != string(want) {
		t.Errorf("desCrypt = %s, crypto/des gives %s", got, want)
	}
}

func BenchmarkVerify(b *testing.B) {
	for _, s := range []Scheme{Bcrypt, APR1, SHA256Crypt, SHA512Crypt, SHA1, Plain} {
		h, _ := Generate(s, []byte("pw"), 0)
		p, _ := ParseHash(h)
		b.Run(string(s), func(b *testing.B) {
			for b.Loop() {
				p.Verify([]byte("pw"))
			}
		})
	}
	p, _ := ParseHash("abJnggxhB/yWI")
	b.Run(string(DESCrypt), func(b *testing.B) {
		for b.Loop() {
			p.Verify([]byte("pw"))
		}
	})
}
