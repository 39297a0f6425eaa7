package htpasswd

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"
)

// Scheme names a password hashing scheme as it appears in htpasswd files.
type Scheme string

// The schemes this package verifies. Only the first four can be written.
const (
	Bcrypt      Scheme = "bcrypt"       // $2a$, $2b$, $2y$
	APR1        Scheme = "apr1"         // $apr1$ (Apache MD5)
	SHA256Crypt Scheme = "sha256-crypt" // $5$
	SHA512Crypt Scheme = "sha512-crypt" // $6$
	MD5Crypt    Scheme = "md5-crypt"    // $1$
	SHA1        Scheme = "sha1"         // {SHA}
	SSHA        Scheme = "ssha"         // {SSHA}
	Plain       Scheme = "plain"        // {PLAIN}
	DESCrypt    Scheme = "des-crypt"    // 13 characters of [./0-9A-Za-z]
	Unknown     Scheme = "unknown"
)

// Sentinel errors. Callers use errors.Is; messages never carry the hash.
var (
	ErrUnknownScheme   = errors.New("unknown hash scheme")
	ErrMalformedHash   = errors.New("malformed hash")
	ErrPasswordTooLong = errors.New("password longer than 72 bytes, which bcrypt cannot hash")
	ErrEmptyPassword   = errors.New("empty password")
	ErrPasswordNUL     = errors.New("password contains a NUL byte, where nginx and crypt(3) end it")
)

// Hash is a parsed, well-formed password hash.
type Hash interface {
	// Verify reports whether password matches, comparing in constant time.
	// A password with a NUL byte never matches (see the Verify function).
	Verify(password []byte) bool
	// Scheme is the hash's scheme.
	Scheme() Scheme
	// Cost is the scheme's work factor: bcrypt's cost, sha-crypt's rounds,
	// 0 for schemes without one.
	Cost() int
}

// Weak reports whether s is a scheme considered weak: plain, {SHA},
// {SSHA}, DES crypt and $1$ (md5-crypt; apr1 is not flagged as weak,
// since nginx and Apache default to it, but lint notes it).
func (s Scheme) Weak() bool {
	switch s {
	case Plain, SHA1, SSHA, DESCrypt, MD5Crypt:
		return true
	}
	return false
}

// Costs beyond which a check takes about a second of CPU or more (see
// Costly): libxcrypt takes bcrypt up to cost 31 and sha-crypt up to
// 999,999,999 rounds, which take minutes.
const (
	CostlyBcryptCost = 14
	CostlySHARounds  = 2_000_000
)

// Costly reports whether checking h costs about a second of CPU or more:
// bcrypt above cost CostlyBcryptCost, sha-crypt above CostlySHARounds
// rounds. nginx accepts such a hash, but every failed guess at it pins a
// CPU: authreq warns about it when it loads the file and never uses it as
// a timing decoy, and lint reports it.
func Costly(h Hash) bool {
	switch h.Scheme() {
	case Bcrypt:
		return h.Cost() > CostlyBcryptCost
	case SHA256Crypt, SHA512Crypt:
		return h.Cost() > CostlySHARounds
	}
	return false
}

// Identify tells a hash's scheme from its prefix and shape only, without
// checking that it is well-formed. Anything unrecognised is Unknown.
func Identify(hash string) Scheme {
	switch {
	case strings.HasPrefix(hash, "$2a$"), strings.HasPrefix(hash, "$2b$"), strings.HasPrefix(hash, "$2y$"):
		return Bcrypt
	case strings.HasPrefix(hash, "$apr1$"):
		return APR1
	case strings.HasPrefix(hash, "$1$"):
		return MD5Crypt
	case strings.HasPrefix(hash, "$5$"):
		return SHA256Crypt
	case strings.HasPrefix(hash, "$6$"):
		return SHA512Crypt
	case strings.HasPrefix(hash, "{SHA}"):
		return SHA1
	case strings.HasPrefix(hash, "{SSHA}"):
		return SSHA
	case strings.HasPrefix(hash, "{PLAIN}"):
		return Plain
	case len(hash) == 13 && isCryptAlphabet(hash):
		return DESCrypt
	}
	return Unknown
}

// ParseHash parses hash strictly. It returns an error wrapping
// ErrUnknownScheme or ErrMalformedHash (never containing the hash text) when
// the hash cannot be verified; such a hash must never match a password.
// It never panics, whatever the input.
//
// Strictness matters because general-purpose parsers are lenient:
// a corrupt line must not become a password that anything matches.
func ParseHash(hash string) (Hash, error) {
	switch s := Identify(hash); s {
	case Bcrypt:
		return parseBcrypt(hash)
	case APR1, MD5Crypt:
		return parseMD5Crypt(hash, s)
	case SHA256Crypt, SHA512Crypt:
		return parseSHACrypt(hash, s)
	case SHA1:
		return parseSHA1(hash)
	case SSHA:
		return parseSSHA(hash)
	case Plain:
		return parsePlain(hash)
	case DESCrypt:
		return parseDESCrypt(hash)
	}
	return nil, ErrUnknownScheme
}

// malformed builds an error for scheme s; why must never quote the hash.
func malformed(s Scheme, why string) error {
	return fmt.Errorf("%w: %s: %s", ErrMalformedHash, s, why)
}

// Verify reports whether password matches hash. Any parse error is a
// mismatch, and so is a password with a NUL byte, for every scheme: nginx
// and crypt(3) read a password only up to a NUL; rather than match what
// comes before it, nothing matches.
func Verify(hash string, password []byte) bool {
	h, err := ParseHash(hash)
	if err != nil {
		return false
	}
	return h.Verify(password)
}

// Default work factors for Generate.
const (
	DefaultBcryptCost = 10
	DefaultSHARounds  = 5000
)

// Generate hashes password with scheme and cost (0 means the scheme's
// default: bcrypt 10, sha-crypt 5000 rounds; apr1 has no cost). Bcrypt,
// APR1, SHA256Crypt and SHA512Crypt are the schemes to write; SHA1 and Plain
// are accepted too (the CLI guards them behind an explicit insecure flag).
// Salts come from crypto/rand. Bcrypt refuses passwords over 72 bytes with
// ErrPasswordTooLong, and every scheme one with a NUL byte with
// ErrPasswordNUL. An empty password is hashed: callers that must refuse it
// check before.
func Generate(scheme Scheme, password []byte, cost int) (string, error) {
	if cost < 0 {
		return "", fmt.Errorf("cost %d: must not be negative", cost)
	}
	if hasNUL(password) {
		return "", ErrPasswordNUL
	}
	switch scheme {
	case Bcrypt:
		return generateBcrypt(password, cost)
	case APR1:
		if cost != 0 {
			return "", errors.New("apr1 has no cost setting")
		}
		return generateMD5Crypt(password, APR1)
	case SHA256Crypt, SHA512Crypt:
		return generateSHACrypt(password, scheme, cost)
	case SHA1:
		if cost != 0 {
			return "", errors.New("sha1 has no cost setting")
		}
		return generateSHA1(password), nil
	case Plain:
		if cost != 0 {
			return "", errors.New("plain has no cost setting")
		}
		if strings.ContainsAny(string(password), ":\r\n") {
			return "", errors.New("plain: password contains ':' or a newline, which an htpasswd line cannot hold")
		}
		return "{PLAIN}" + string(password), nil
	}
	return "", fmt.Errorf("cannot generate %q hashes (use bcrypt, apr1, sha256-crypt or sha512-crypt)", string(scheme))
}

// cryptAlphabet is the alphabet of crypt(3)'s base64 variant, in value order.
const cryptAlphabet = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

func isCryptAlphabet(s string) bool {
	for i := 0; i < len(s); i++ {
		if cryptIndex(s[i]) < 0 {
			return false
		}
	}
	return true
}

func cryptIndex(c byte) int {
	switch {
	case c == '.':
		return 0
	case c == '/':
		return 1
	case c >= '0' && c <= '9':
		return int(c-'0') + 2
	case c >= 'A' && c <= 'Z':
		return int(c-'A') + 12
	case c >= 'a' && c <= 'z':
		return int(c-'a') + 38
	}
	return -1
}

// b64From24 appends n characters encoding the 24 bits b2:b1:b0, low bits
// first, as crypt(3) does.
func b64From24(dst []byte, b2, b1, b0 byte, n int) []byte {
	w := uint(b2)<<16 | uint(b1)<<8 | uint(b0)
	for ; n > 0; n-- {
		dst = append(dst, cryptAlphabet[w&0x3f])
		w >>= 6
	}
	return dst
}

// randomSalt returns n characters of the crypt alphabet from crypto/rand.
func randomSalt(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	for i := range b {
		b[i] = cryptAlphabet[b[i]&0x3f]
	}
	return b
}

// hasNUL reports whether password has a NUL byte, which nginx and
// crypt(3) take for its end: such a password never matches.
func hasNUL(password []byte) bool { return bytes.IndexByte(password, 0) >= 0 }

// equal compares in constant time.
func equal(a, b []byte) bool { return subtle.ConstantTimeCompare(a, b) == 1 }
