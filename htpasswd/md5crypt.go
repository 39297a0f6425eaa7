package htpasswd

import (
	"crypto/md5"
	"strings"
)

// md5-crypt ($1$, Poul-Henning Kamp's FreeBSD scheme) and Apache's apr1,
// which is the same algorithm with "$apr1$" as its magic string.

type md5CryptHash struct {
	scheme Scheme
	magic  string
	salt   []byte
	sum    []byte // the 22 encoded characters
}

func parseMD5Crypt(hash string, s Scheme) (Hash, error) {
	magic := "$1$"
	if s == APR1 {
		magic = "$apr1$"
	}
	rest := hash[len(magic):]
	salt, sum, ok := strings.Cut(rest, "$")
	if !ok {
		return nil, malformed(s, "missing '$' after the salt")
	}
	// libxcrypt refuses a $1$ salt of other characters. nginx checks
	// apr1 itself and takes any up to 8 bytes but '$' (and NUL and CR,
	// which end the hash there), so apr1 does too.
	if s == MD5Crypt && (len(salt) > 8 || !isCryptAlphabet(salt)) {
		return nil, malformed(s, "salt must be up to 8 characters of [./0-9A-Za-z]")
	}
	if s == APR1 && (len(salt) > 8 || strings.ContainsAny(salt, "\x00\r\n:")) {
		return nil, malformed(s, "salt must be up to 8 characters, without NUL, CR, LF or ':'")
	}
	if len(sum) != 22 || !isCryptAlphabet(sum) {
		return nil, malformed(s, "digest must be 22 characters of [./0-9A-Za-z]")
	}
	return &md5CryptHash{scheme: s, magic: magic, salt: []byte(salt), sum: []byte(sum)}, nil
}

func (h *md5CryptHash) Verify(password []byte) bool {
	if hasNUL(password) {
		return false
	}
	return equal(md5Crypt(password, []byte(h.magic), h.salt), h.sum)
}
func (h *md5CryptHash) Scheme() Scheme { return h.scheme }
func (h *md5CryptHash) Cost() int      { return 0 }

func generateMD5Crypt(password []byte, s Scheme) (string, error) {
	magic := "$1$"
	if s == APR1 {
		magic = "$apr1$"
	}
	salt := randomSalt(8)
	return magic + string(salt) + "$" + string(md5Crypt(password, []byte(magic), salt)), nil
}

// md5Crypt returns the 22-character encoded digest.
func md5Crypt(password, magic, salt []byte) []byte {
	alt := md5.New()
	alt.Write(password)
	alt.Write(salt)
	alt.Write(password)
	altSum := alt.Sum(nil)

	d := md5.New()
	d.Write(password)
	d.Write(magic)
	d.Write(salt)
	for i := len(password); i > 0; i -= 16 {
		d.Write(altSum[:min(i, 16)])
	}
	for i := len(password); i > 0; i >>= 1 {
		if i&1 != 0 {
			d.Write([]byte{0})
		} else {
			d.Write(password[:1])
		}
	}
	final := d.Sum(nil)

	// 1000 rounds to slow down guessing, as the original does.
	final = cryptRounds(md5.New(), final, password, salt, 1000)

	out := make([]byte, 0, 22)
	out = b64From24(out, final[0], final[6], final[12], 4)
	out = b64From24(out, final[1], final[7], final[13], 4)
	out = b64From24(out, final[2], final[8], final[14], 4)
	out = b64From24(out, final[3], final[9], final[15], 4)
	out = b64From24(out, final[4], final[10], final[5], 4)
	out = b64From24(out, 0, 0, final[11], 2)
	return out
}
