package htpasswd

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"strings"
)

// {SHA} and {SSHA} (salted SHA-1, as OpenLDAP writes it) and {PLAIN}: weak
// schemes, verified because nginx accepts them, written only on request.

type sha1Hash struct{ sum []byte }

func parseSHA1(h string) (Hash, error) {
	sum, err := base64.StdEncoding.Strict().DecodeString(h[len("{SHA}"):])
	if err != nil || len(sum) != sha1.Size {
		return nil, malformed(SHA1, "must be the base64 of a 20-byte SHA-1 digest")
	}
	return &sha1Hash{sum: sum}, nil
}

func (h *sha1Hash) Verify(password []byte) bool {
	if hasNUL(password) {
		return false
	}
	sum := sha1.Sum(password)
	return equal(sum[:], h.sum)
}
func (h *sha1Hash) Scheme() Scheme { return SHA1 }
func (h *sha1Hash) Cost() int      { return 0 }

func generateSHA1(password []byte) string {
	sum := sha1.Sum(password)
	return "{SHA}" + base64.StdEncoding.EncodeToString(sum[:])
}

type sshaHash struct{ sum, salt []byte }

func parseSSHA(h string) (Hash, error) {
	raw, err := base64.StdEncoding.Strict().DecodeString(h[len("{SSHA}"):])
	// The salt may be empty, which makes this {SHA} under another name:
	// nginx accepts it so.
	if err != nil || len(raw) < sha1.Size {
		return nil, malformed(SSHA, "must be the base64 of a SHA-1 digest followed by a salt")
	}
	return &sshaHash{sum: raw[:sha1.Size], salt: raw[sha1.Size:]}, nil
}

func (h *sshaHash) Verify(password []byte) bool {
	if hasNUL(password) {
		return false
	}
	d := sha1.New()
	d.Write(password)
	d.Write(h.salt)
	return equal(d.Sum(nil), h.sum)
}
func (h *sshaHash) Scheme() Scheme { return SSHA }
func (h *sshaHash) Cost() int      { return 0 }

type plainHash string

func parsePlain(h string) (Hash, error) {
	pw := h[len("{PLAIN}"):]
	// nginx compares C strings and ends a line's hash at a CR: it would
	// take only what comes before either. Never matching is the safe
	// reading, and lint says why.
	if strings.ContainsAny(pw, "\x00\r") {
		return nil, malformed(Plain, "contains a NUL or CR byte, where nginx ends the password")
	}
	return plainHash(pw), nil
}

// Verify compares digests, not the strings, so that the time taken does
// not depend on where, or whether by length, they differ.
func (h plainHash) Verify(password []byte) bool {
	if hasNUL(password) {
		return false
	}
	a, b := sha256.Sum256([]byte(h)), sha256.Sum256(password)
	return equal(a[:], b[:])
}
func (h plainHash) Scheme() Scheme { return Plain }
func (h plainHash) Cost() int      { return 0 }
