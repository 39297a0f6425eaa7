package htpasswd

import (
	"errors"
	"strconv"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// bcrypt ($2a$, $2b$, $2y$). golang.org/x/crypto/bcrypt does the work, but
// its parser is lenient (any minor version letter, no alphabet check), so
// the string is checked here first.

const bcryptLen = 60

// bcryptAlphabet is bcrypt's base64 alphabet, in value order: the
// characters of crypt(3)'s, in another order.
const bcryptAlphabet = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

func bcryptIndex(c byte) int { return strings.IndexByte(bcryptAlphabet, c) }

type bcryptHash struct {
	hash []byte // normalised to $2b$ for x/crypto
	cost int
}

func parseBcrypt(h string) (Hash, error) {
	// $2b$10$ + 22 salt + 31 digest characters.
	if len(h) != bcryptLen {
		return nil, malformed(Bcrypt, "must be 60 characters")
	}
	if h[6] != '$' || h[4] < '0' || h[4] > '9' || h[5] < '0' || h[5] > '9' {
		return nil, malformed(Bcrypt, "cost must be two digits")
	}
	cost := int(h[4]-'0')*10 + int(h[5]-'0')
	if cost < bcrypt.MinCost || cost > bcrypt.MaxCost {
		return nil, malformed(Bcrypt, "cost must be between 04 and 31")
	}
	if !isCryptAlphabet(h[7:]) {
		return nil, malformed(Bcrypt, "salt and digest must be characters of [./0-9A-Za-z]")
	}
	// The last character of the salt carries 2 bits and that of the
	// digest 4; the rest must be 0. crypt_blowfish (libxcrypt, Apache)
	// writes them 0 and compares whole strings, so a hash with any of
	// them set never matches there; x/crypto ignores them in the salt.
	if bcryptIndex(h[bcryptLen-32])&0x0f != 0 {
		return nil, malformed(Bcrypt, "unused bits set in the last character of the salt")
	}
	if bcryptIndex(h[bcryptLen-1])&0x03 != 0 {
		return nil, malformed(Bcrypt, "unused bits set in the last character of the digest")
	}
	// $2y$ (PHP, Apache) and $2b$ are the same algorithm; $2a$ differs
	// only for passwords over 255 bytes, which x/crypto handles as $2b$.
	b := []byte(h)
	b[2] = 'b'
	return &bcryptHash{hash: b, cost: cost}, nil
}

// Verify checks password; like crypt_blowfish (nginx, Apache) only its
// first 72 bytes count.
func (h *bcryptHash) Verify(password []byte) bool {
	return bcrypt.CompareHashAndPassword(h.hash, password) == nil
}
func (h *bcryptHash) Scheme() Scheme { return Bcrypt }
func (h *bcryptHash) Cost() int      { return h.cost }

func generateBcrypt(password []byte, cost int) (string, error) {
	if cost == 0 {
		cost = DefaultBcryptCost
	}
	if cost < bcrypt.MinCost || cost > bcrypt.MaxCost {
		return "", malformedCost(Bcrypt, cost)
	}
	if len(password) > 72 {
		return "", ErrPasswordTooLong
	}
	b, err := bcrypt.GenerateFromPassword(password, cost)
	if errors.Is(err, bcrypt.ErrPasswordTooLong) {
		return "", ErrPasswordTooLong
	}
	if err != nil {
		return "", errors.New("bcrypt: " + strconv.Quote(err.Error()))
	}
	// x/crypto labels its output $2a$, but computes the corrected
	// algorithm that $2b$ and $2y$ name. crypt_blowfish (Apache, nginx
	// through libc) gives $2a$ a compatibility twist for passwords with
	// 8-bit bytes, so label the hash as Apache does: $2y$.
	b[2] = 'y'
	return string(b), nil
}
