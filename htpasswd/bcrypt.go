package htpasswd

import (
	"encoding/base64"
	"errors"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/crypto/blowfish"
)

// bcrypt ($2a$, $2b$, $2y$). golang.org/x/crypto/bcrypt does the work, but
// its parser is lenient (any minor version letter, no alphabet check), so
// the string is checked here first.
//
// The three prefixes name one algorithm in libxcrypt (crypt_blowfish),
// which nginx and Apache check them with, but for one twist. Old versions
// of crypt_blowfish sign-extended 8-bit password bytes; $2x$ names that
// bug, which lets many passwords share one hash. For $2a$, libxcrypt
// guards hashes made by the correct algorithm against those collisions:
// when a password's bytes would have come out of the buggy and the correct
// key schedule the same, although sign extension happened (some passwords
// with 0xff bytes), it flips bit 16 of the first word of the initial key
// (not of the key used in the expensive loop), giving another hash. $2b$
// and $2y$ have no twist. Verify does as libxcrypt does (bcryptTwisted);
// $2x$ is not supported.

const bcryptLen = 60

// bcryptAlphabet is bcrypt's base64 alphabet, in value order: the
// characters of crypt(3)'s, in another order.
const bcryptAlphabet = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

func bcryptIndex(c byte) int { return strings.IndexByte(bcryptAlphabet, c) }

type bcryptHash struct {
	hash  []byte // normalised to $2b$ for x/crypto
	cost  int
	minor byte // 'a', 'b' or 'y'
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
	// $2y$ (PHP, Apache) and $2b$ are the same algorithm, and $2a$ is
	// too but for the twist that Verify adds.
	b := []byte(h)
	b[2] = 'b'
	return &bcryptHash{hash: b, cost: cost, minor: h[2]}, nil
}

// Verify checks password; like crypt_blowfish (nginx, Apache) only its
// first 72 bytes count.
func (h *bcryptHash) Verify(password []byte) bool {
	if hasNUL(password) {
		return false
	}
	if key := bcryptKey(password); h.minor == 'a' && bcryptTwist(key) {
		return h.verifyTwisted(key)
	}
	return bcrypt.CompareHashAndPassword(h.hash, password) == nil
}
func (h *bcryptHash) Scheme() Scheme { return Bcrypt }
func (h *bcryptHash) Cost() int      { return h.cost }

// bcryptKey is what bcrypt's key schedule reads of a password: 18 words of
// 4 bytes, taken from the password and a NUL, repeated as needed.
func bcryptKey(password []byte) []byte {
	src := append(password[:len(password):len(password)], 0)
	key := make([]byte, 72)
	for i := range key {
		key[i] = src[i%len(src)]
	}
	return key
}

// bcryptTwist reports whether libxcrypt's $2a$ twists the key schedule for
// key: when, word by word, reading the bytes as signed (sign-extending
// them, as old crypt_blowfish did) gives the same words as reading them as
// unsigned, although some byte after the first of a word had its high bit
// set. A high byte sign-extends over the bytes before it in its word; it
// changes nothing only when they are all 0xff.
func bcryptTwist(key []byte) bool {
	var sign, diff uint32
	for w := 0; w < len(key); w += 4 {
		var unsigned, signed uint32
		for j, c := range key[w : w+4] {
			unsigned = unsigned<<8 | uint32(c)
			signed = signed<<8 | uint32(int32(int8(c)))
			if j > 0 {
				sign |= signed & 0x80
			}
		}
		diff |= unsigned ^ signed
	}
	return sign != 0 && diff == 0
}

// bcryptMagic is the text that bcrypt encrypts 64 times.
const bcryptMagic = "OrpheanBeholderScryDoubt"

// bcryptEncoding is bcrypt's base64, without padding. Parsing has
// checked the unused bits.
var bcryptEncoding = base64.NewEncoding(bcryptAlphabet).WithPadding(base64.NoPadding)

// verifyTwisted checks key against a $2a$ hash for which bcryptTwist
// holds, as libxcrypt does.
func (h *bcryptHash) verifyTwisted(key []byte) bool {
	salt, err := bcryptEncoding.DecodeString(string(h.hash[7:29]))
	if err != nil || len(salt) != 16 {
		return false
	}
	return equal(bcryptDigest(key, salt, h.cost, true), h.hash[29:])
}

// bcryptDigest computes bcrypt's 31-character digest of key (bcryptKey)
// with salt (16 bytes) and cost, using x/crypto's Blowfish as x/crypto's
// bcrypt does. With twist, the initial key schedule has bit 16 of its
// first word flipped, the expensive loop has the key as it is.
func bcryptDigest(key, salt []byte, cost int, twist bool) []byte {
	initial := slices.Clone(key)
	if twist {
		initial[1] ^= 0x01 // bit 16 of the first big-endian word
	}
	c, err := blowfish.NewSaltedCipher(initial, salt)
	if err != nil {
		return nil
	}
	for range 1 << cost {
		blowfish.ExpandKey(key, c)
		blowfish.ExpandKey(salt, c)
	}
	sum := []byte(bcryptMagic)
	for i := 0; i < len(sum); i += 8 {
		for range 64 {
			c.Encrypt(sum[i:i+8], sum[i:i+8])
		}
	}
	// Only 23 of the 24 bytes are encoded, as everywhere.
	return []byte(bcryptEncoding.EncodeToString(sum[:23]))
}

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
	// x/crypto labels its output $2a$, but computes the algorithm
	// without the twist that libxcrypt (Apache, nginx through libc) gives
	// $2a$ for some passwords with 0xff bytes: label the hash as Apache
	// does, $2y$, which has no twist.
	b[2] = 'y'
	return string(b), nil
}
