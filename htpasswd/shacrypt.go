package htpasswd

import (
	"crypto/sha256"
	"crypto/sha512"
	"hash"
	"strconv"
	"strings"
)

// SHA-crypt ($5$ and $6$), as specified by Ulrich Drepper
// ("Unix crypt using SHA-256 and SHA-512").

const (
	shaRoundsMin     = 1000
	shaRoundsMax     = 999999999
	shaSaltMax       = 16
	shaRoundsPrefix  = "rounds="
	sha256EncodedLen = 43
	sha512EncodedLen = 86
)

type shaCryptHash struct {
	scheme Scheme
	rounds int
	salt   []byte
	sum    []byte // encoded digest
}

func parseSHACrypt(h string, s Scheme) (Hash, error) {
	rest := h[3:] // "$5$" or "$6$"
	rounds := DefaultSHARounds
	if strings.HasPrefix(rest, shaRoundsPrefix) {
		num, after, ok := strings.Cut(rest[len(shaRoundsPrefix):], "$")
		if !ok {
			return nil, malformed(s, "missing '$' after rounds=")
		}
		// As libxcrypt reads it: from 1000 to 999999999, digits only
		// (strconv.Atoi would take a sign), no leading zero. The spec and
		// glibc raised smaller values to 1000 and lowered larger ones;
		// libxcrypt refuses them, so nginx on Debian never matches such a
		// hash, and neither may we.
		n, err := strconv.Atoi(num)
		if err != nil || num[0] < '1' || num[0] > '9' || n < shaRoundsMin || n > shaRoundsMax {
			return nil, malformed(s, "rounds= must be a number from 1000 to 999999999 without leading zeros")
		}
		rounds = n
		rest = after
	}
	salt, sum, ok := strings.Cut(rest, "$")
	if !ok {
		return nil, malformed(s, "missing '$' after the salt")
	}
	if len(salt) > shaSaltMax || !isCryptAlphabet(salt) {
		return nil, malformed(s, "salt must be up to 16 characters of [./0-9A-Za-z]")
	}
	want := sha256EncodedLen
	if s == SHA512Crypt {
		want = sha512EncodedLen
	}
	if len(sum) != want || !isCryptAlphabet(sum) {
		return nil, malformed(s, "digest must be "+strconv.Itoa(want)+" characters of [./0-9A-Za-z]")
	}
	return &shaCryptHash{scheme: s, rounds: rounds, salt: []byte(salt), sum: []byte(sum)}, nil
}

func (h *shaCryptHash) Verify(password []byte) bool {
	if hasNUL(password) {
		return false
	}
	return equal(shaCrypt(h.scheme, password, h.salt, h.rounds), h.sum)
}
func (h *shaCryptHash) Scheme() Scheme { return h.scheme }
func (h *shaCryptHash) Cost() int      { return h.rounds }

func generateSHACrypt(password []byte, s Scheme, rounds int) (string, error) {
	prefix := "$5$"
	if s == SHA512Crypt {
		prefix = "$6$"
	}
	if rounds == 0 {
		rounds = DefaultSHARounds
	}
	if rounds < shaRoundsMin || rounds > shaRoundsMax {
		return "", malformedCost(s, rounds)
	}
	salt := randomSalt(shaSaltMax)
	out := prefix
	// Like glibc and Apache: the default round count is implied, not written.
	if rounds != DefaultSHARounds {
		out += shaRoundsPrefix + strconv.Itoa(rounds) + "$"
	}
	return out + string(salt) + "$" + string(shaCrypt(s, password, salt, rounds)), nil
}

func malformedCost(s Scheme, c int) error {
	return &costError{scheme: s, cost: c}
}

type costError struct {
	scheme Scheme
	cost   int
}

func (e *costError) Error() string {
	switch e.scheme {
	case Bcrypt:
		return "bcrypt cost " + strconv.Itoa(e.cost) + ": must be between 4 and 31"
	default:
		return string(e.scheme) + " rounds " + strconv.Itoa(e.cost) + ": must be between 1000 and 999999999"
	}
}

// shaCrypt returns the encoded digest for password and salt.
func shaCrypt(s Scheme, password, salt []byte, rounds int) []byte {
	var newHash func() hash.Hash = sha256.New
	if s == SHA512Crypt {
		newHash = sha512.New
	}

	b := newHash()
	b.Write(password)
	b.Write(salt)
	b.Write(password)
	bSum := b.Sum(nil)
	size := len(bSum)

	a := newHash()
	a.Write(password)
	a.Write(salt)
	for i := len(password); i > 0; i -= size {
		a.Write(bSum[:min(i, size)])
	}
	for i := len(password); i > 0; i >>= 1 {
		if i&1 != 0 {
			a.Write(bSum)
		} else {
			a.Write(password)
		}
	}
	aSum := a.Sum(nil)

	dp := newHash()
	for range len(password) {
		dp.Write(password)
	}
	dpSum := dp.Sum(nil)
	p := repeatTo(dpSum, len(password))

	ds := newHash()
	for range 16 + int(aSum[0]) {
		ds.Write(salt)
	}
	dsSum := ds.Sum(nil)
	sBytes := repeatTo(dsSum, len(salt))

	c := cryptRounds(newHash(), aSum, p, sBytes, rounds)

	if s == SHA512Crypt {
		out := make([]byte, 0, sha512EncodedLen)
		for _, t := range sha512Order {
			out = b64From24(out, c[t[0]], c[t[1]], c[t[2]], 4)
		}
		return b64From24(out, 0, 0, c[63], 2)
	}
	out := make([]byte, 0, sha256EncodedLen)
	for _, t := range sha256Order {
		out = b64From24(out, c[t[0]], c[t[1]], c[t[2]], 4)
	}
	return b64From24(out, 0, c[31], c[30], 3)
}

// cryptRounds is the stretching loop md5-crypt introduced and sha-crypt
// kept: each round hashes the last digest with the password and salt in an
// order set by the round number.
func cryptRounds(r hash.Hash, c, password, salt []byte, rounds int) []byte {
	for i := 0; i < rounds; i++ {
		r.Reset()
		if i&1 != 0 {
			r.Write(password)
		} else {
			r.Write(c)
		}
		if i%3 != 0 {
			r.Write(salt)
		}
		if i%7 != 0 {
			r.Write(password)
		}
		if i&1 != 0 {
			r.Write(c)
		} else {
			r.Write(password)
		}
		c = r.Sum(c[:0])
	}
	return c
}

// repeatTo returns sum repeated to exactly n bytes.
func repeatTo(sum []byte, n int) []byte {
	out := make([]byte, 0, n)
	for len(out)+len(sum) <= n {
		out = append(out, sum...)
	}
	return append(out, sum[:n-len(out)]...)
}

var sha256Order = [10][3]int{
	{0, 10, 20}, {21, 1, 11}, {12, 22, 2}, {3, 13, 23}, {24, 4, 14},
	{15, 25, 5}, {6, 16, 26}, {27, 7, 17}, {18, 28, 8}, {9, 19, 29},
}

var sha512Order = [21][3]int{
	{0, 21, 42}, {22, 43, 1}, {44, 2, 23}, {3, 24, 45}, {25, 46, 4},
	{47, 5, 26}, {6, 27, 48}, {28, 49, 7}, {50, 8, 29}, {9, 30, 51},
	{31, 52, 10}, {53, 11, 32}, {12, 33, 54}, {34, 55, 13}, {56, 14, 35},
	{15, 36, 57}, {37, 58, 16}, {59, 17, 38}, {18, 39, 60}, {40, 61, 19},
	{62, 20, 41},
}
