package htpasswd

import (
	"bytes"
	"math/rand/v2"
	"os/exec"
	"testing"

	"github.com/authreq/authreq/internal/realtest"
	"golang.org/x/crypto/bcrypt"
)

// crypt_blowfish's own vectors for "\xff\xff\xa3", with salt
// /OK.fbVrR/bpIqNJ5ianF.: libxcrypt (nginx, Apache) gives $2a$ the first
// digest, $2b$ and $2y$ the second. x/crypto computes the second whatever
// the label, and Go tools label it $2a$: accepting that would let in a
// password that nginx refuses for the same line.
const (
	twistPassword = "\xff\xff\xa3"
	twistSalt     = "$2a$05$/OK.fbVrR/bpIqNJ5ianF."
	twisted       = "nqd1wy.pTMdcvrRWxyiGL2eMz.2a85."
	untwisted     = "CE5elHaaO4EbggVDjb8P19RukzXSM3e"
)

func TestBcrypt2aTwist(t *testing.T) {
	pw := []byte(twistPassword)
	if !bcryptTwist(bcryptKey(pw)) {
		t.Fatal("no twist for the vector's password")
	}
	if Verify(twistSalt+untwisted, pw) {
		t.Error("$2a$ hash that libxcrypt (nginx, Apache) never matches for this password matches here")
	}
	if !Verify(twistSalt+twisted, pw) {
		t.Error("libxcrypt's own $2a$ hash of this password does not match here")
	}
	for _, minor := range []string{"$2b$", "$2y$"} {
		h := minor + twistSalt[4:]
		if !Verify(h+untwisted, pw) || Verify(h+twisted, pw) {
			t.Errorf("%s has no twist", minor)
		}
	}
	// Other 8-bit passwords: no twist, $2a$ is $2b$ (crypt_blowfish's
	// vectors again).
	for pw, digest := range map[string]string{
		"\xa3":        "Sa7shbm4.OzKpvFnX1pQLmQW96oUlCq",
		"\xff\xa3345": "nRht2l/HRhr6zmCp9vYUvvsqynflf9e",
	} {
		if bcryptTwist(bcryptKey([]byte(pw))) || !Verify(twistSalt+digest, []byte(pw)) {
			t.Errorf("%q: twist or mismatch", pw)
		}
	}
}

// bcryptDigest without the twist is x/crypto's bcrypt.
func TestBcryptDigestIsXCrypto(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 20 {
		pw := make([]byte, r.IntN(80))
		for i := range pw {
			pw[i] = byte(r.IntN(256))
		}
		h, err := bcrypt.GenerateFromPassword(pw[:min(len(pw), 72)], 4)
		if err != nil {
			t.Fatal(err)
		}
		salt, err := bcryptEncoding.DecodeString(string(h[7:29]))
		if err != nil {
			t.Fatal(err)
		}
		if got := bcryptDigest(bcryptKey(pw), salt, 4, false); !bytes.Equal(got, h[29:]) {
			t.Errorf("%q: digest %s, x/crypto %s", pw, got, h[29:])
		}
	}
}

// For passwords of bytes that trigger the twist, a $2a$ hash matches here
// exactly when it matches in libxcrypt (Perl's crypt): its own, and the
// untwisted digest under a $2a$ label, as Go tools write it.
func TestBcrypt2aAsLibxcrypt(t *testing.T) {
	perl := realtest.Need(t, "perl")
	crypt := func(pw, setting string) string {
		out, err := exec.Command(perl, "-e", "print crypt($ARGV[0], $ARGV[1]) // ''", pw, setting).Output()
		if err != nil {
			t.Fatal(err)
		}
		return string(out)
	}
	// Passwords of 3 or 7 bytes repeat in whole words, so that a pattern
	// of 0xff bytes before a high byte can hold in every word: about one
	// in six of these has the twist. Check 20 with and 20 without.
	r := rand.New(rand.NewPCG(3, 4))
	alphabet := []byte{0xff, 0xff, 0xff, 0xa3, 0x80, 'a'}
	with, without := 0, 0
	for tries := 0; (with < 20 || without < 20) && tries < 10000; tries++ {
		pw := make([]byte, 3+4*r.IntN(2))
		for i := range pw {
			pw[i] = alphabet[r.IntN(len(alphabet))]
		}
		twist := bcryptTwist(bcryptKey(pw))
		if twist && with == 20 || !twist && without == 20 {
			continue
		}
		if twist {
			with++
		} else {
			without++
		}
		setting := "$2a$04$" + string(randomBcryptSalt(r))
		own := crypt(string(pw), setting)
		if len(own) != bcryptLen {
			t.Fatalf("crypt(%q, %s) = %q", pw, setting, own)
		}
		if !Verify(own, pw) {
			t.Errorf("%q: libxcrypt's own $2a$ hash does not match here", pw)
		}
		goLabel := "$2a$" + crypt(string(pw), "$2b$"+setting[4:])[4:]
		libc := crypt(string(pw), goLabel) == goLabel
		if ours := Verify(goLabel, pw); ours != libc {
			t.Errorf("%q: the $2b$ digest under $2a$ matches here %v, in libxcrypt %v", pw, ours, libc)
		}
		if libc == twist {
			t.Errorf("%q: libxcrypt twists: %v, bcryptTwist: %v", pw, !libc, twist)
		}
	}
	if with < 20 || without < 20 {
		t.Errorf("%d passwords with the twist, %d without; want 20 each", with, without)
	}
}

// randomBcryptSalt is 22 characters whose last carries no unused bits.
func randomBcryptSalt(r *rand.Rand) []byte {
	b := make([]byte, 16)
	for i := range b {
		b[i] = byte(r.IntN(256))
	}
	return []byte(bcryptEncoding.EncodeToString(b))
}
