package mlflowdb

import (
	"crypto/pbkdf2"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/scrypt"
)

// The bounds on a stored hash's parameters. A row of the database is data
// an attacker may have written (an MLflow admin, a compromised MLflow, a
// restored backup), and every check of it runs on our CPU — for unknown
// names too, through the decoys. So a hash outside them is refused (its
// user cannot log in, which is logged), never checked.
//
//   - scrypt: N a power of two in [2^10, 2^16], r in [1, 16], p in [1, 4],
//     and N·r ≤ 2^19 so one check holds at most 64 MiB (128·N·r bytes), and
//     N·r·p ≤ 2^20, at most 4× the work of werkzeug's default
//     (scrypt:32768:8:1, what MLflow writes): a few hundred milliseconds.
//     Below 2^10 the hash is too weak to be worth keeping.
//   - pbkdf2: sha256 only (werkzeug's default digest), 1,000 to 2,000,000
//     iterations: above 3× werkzeug 3's default of 600,000, so hashes of
//     every werkzeug release fit, while a crafted row cannot cost more than
//     about a second of one core.
const (
	minScryptN      = 1 << 10
	maxScryptN      = 1 << 16
	maxScryptR      = 16
	maxScryptP      = 4
	maxScryptMem    = 1 << 19 // N·r
	maxScryptWork   = 1 << 20 // N·r·p
	minPBKDF2Iter   = 1_000
	maxPBKDF2Iter   = 2_000_000
	maxSaltLen      = 255 // the column is String(255)
	scryptKeyLen    = 64  // hashlib.scrypt's default dklen
	pbkdf2SHA256Len = 32  // hashlib.pbkdf2_hmac's default: the digest size
)

// ErrHash is wrapped by every error of ParseHash. The errors say what is
// wrong with the hash, never the hash itself.
var ErrHash = errors.New("werkzeug hash")

// Hash is a parsed werkzeug password hash: "scrypt:N:r:p$salt$hex" or
// "pbkdf2:sha256:iterations$salt$hex", as MLflow's basic-auth app stores
// them (werkzeug.security.generate_password_hash).
type Hash struct {
	kind    string // "scrypt" or "pbkdf2:sha256"
	n, r, p int    // scrypt
	iter    int    // pbkdf2
	salt    []byte // the salt text as UTF-8 bytes, as werkzeug uses it
	sum     []byte // the decoded digest
}

func hashErr(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrHash}, a...)...)
}

// ParseHash reads a werkzeug hash strictly: only the forms werkzeug writes,
// parameters within the bounds above, a lower-case hex digest of the
// length werkzeug writes.
func ParseHash(s string) (*Hash, error) {
	method, rest, ok := strings.Cut(s, "$")
	if !ok {
		return nil, hashErr("no '$' after the method")
	}
	salt, digest, ok := strings.Cut(rest, "$")
	if !ok {
		return nil, hashErr("no '$' after the salt")
	}
	if salt == "" || len(salt) > maxSaltLen {
		return nil, hashErr("salt must be 1 to %d bytes", maxSaltLen)
	}
	h := &Hash{salt: []byte(salt)}
	args := strings.Split(method, ":")
	var keyLen int
	switch {
	case args[0] == "scrypt" && len(args) == 4:
		var err error
		if h.n, err = param("N", args[1], minScryptN, maxScryptN); err != nil {
			return nil, err
		}
		if h.n&(h.n-1) != 0 {
			return nil, hashErr("scrypt N must be a power of two")
		}
		if h.r, err = param("r", args[2], 1, maxScryptR); err != nil {
			return nil, err
		}
		if h.p, err = param("p", args[3], 1, maxScryptP); err != nil {
			return nil, err
		}
		if h.n*h.r > maxScryptMem {
			return nil, hashErr("scrypt N·r above %d (more than 64 MiB per check)", maxScryptMem)
		}
		if h.n*h.r*h.p > maxScryptWork {
			return nil, hashErr("scrypt N·r·p above %d", maxScryptWork)
		}
		h.kind, keyLen = "scrypt", scryptKeyLen
	case args[0] == "pbkdf2" && len(args) == 3:
		if args[1] != "sha256" {
			return nil, hashErr("pbkdf2 digest must be sha256")
		}
		var err error
		if h.iter, err = param("iterations", args[2], minPBKDF2Iter, maxPBKDF2Iter); err != nil {
			return nil, err
		}
		h.kind, keyLen = "pbkdf2:sha256", pbkdf2SHA256Len
	case args[0] == "scrypt" || args[0] == "pbkdf2":
		return nil, hashErr("%s without its parameters in the form werkzeug writes", args[0])
	default:
		return nil, hashErr("unknown method (want scrypt or pbkdf2:sha256)")
	}
	if len(digest) != 2*keyLen || strings.ToLower(digest) != digest {
		return nil, hashErr("digest must be %d lower-case hex digits", 2*keyLen)
	}
	sum, err := hex.DecodeString(digest)
	if err != nil {
		return nil, hashErr("digest is not hex")
	}
	h.sum = sum
	return h, nil
}

// param reads a decimal parameter in [lo, hi]; no sign, no leading zero.
func param(name, s string, lo, hi int) (int, error) {
	if s == "" || len(s) > 9 || s[0] == '0' || strings.Trim(s, "0123456789") != "" {
		return 0, hashErr("%s is not a positive decimal number", name)
	}
	v, _ := strconv.Atoi(s)
	if v < lo || v > hi {
		return 0, hashErr("%s out of bounds [%d, %d]", name, lo, hi)
	}
	return v, nil
}

// Verify tells whether password matches, comparing in constant time.
func (h *Hash) Verify(password []byte) bool {
	var got []byte
	var err error
	switch h.kind {
	case "scrypt":
		got, err = scrypt.Key(password, h.salt, h.n, h.r, h.p, len(h.sum))
	case "pbkdf2:sha256":
		got, err = pbkdf2.Key(sha256.New, string(password), h.salt, h.iter, len(h.sum))
	default:
		return false
	}
	return err == nil && subtle.ConstantTimeCompare(got, h.sum) == 1
}

// Class is the hash's cost class (method and parameters): unknown names are
// checked against a decoy of a class found in the table.
func (h *Hash) Class() string {
	if h.kind == "scrypt" {
		return fmt.Sprintf("scrypt:%d:%d:%d", h.n, h.r, h.p)
	}
	return fmt.Sprintf("%s:%d", h.kind, h.iter)
}
