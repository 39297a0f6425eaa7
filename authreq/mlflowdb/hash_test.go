package mlflowdb

import (
	"bufio"
	"encoding/hex"
	"errors"
	"os"
	"strings"
	"testing"
)

// TestHashVectors checks the hashes Python's hashlib made the way werkzeug
// does (testdata/gen_vectors.py).
func TestHashVectors(t *testing.T) {
	f, err := os.Open("testdata/vectors.tsv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		pwHex, h, ok := strings.Cut(sc.Text(), "\t")
		if !ok {
			t.Fatalf("line %d: no tab", n+1)
		}
		n++
		pw, err := hex.DecodeString(pwHex)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(h[:strings.IndexByte(h, '$')], func(t *testing.T) {
			p, err := ParseHash(h)
			if err != nil {
				t.Fatal(err)
			}
			if !p.Verify(pw) {
				t.Error("right password refused")
			}
			if p.Verify(append(pw, 'x')) {
				t.Error("wrong password accepted")
			}
		})
	}
	if n < 7 {
		t.Fatalf("only %d vectors", n)
	}
}

func TestParseHashRefuses(t *testing.T) {
	hex64 := strings.Repeat("ab", 32)
	hex128 := strings.Repeat("ab", 64)
	for name, h := range map[string]string{
		"empty":            "",
		"no dollar":        "scrypt:32768:8:1",
		"one dollar":       "scrypt:32768:8:1$salt",
		"plain":            "plain$$secret",
		"md5 hmac":         "md5$salt$" + strings.Repeat("ab", 16),
		"scrypt no params": "scrypt$salt$" + hex128,
		"scrypt 2 params":  "scrypt:32768:8$salt$" + hex128,
		"N too big":        "scrypt:131072:8:1$salt$" + hex128,
		"N huge":           "scrypt:1073741824:8:1$salt$" + hex128,
		"N too small":      "scrypt:512:8:1$salt$" + hex128,
		"N not pow2":       "scrypt:20000:8:1$salt$" + hex128,
		"r too big":        "scrypt:1024:17:1$salt$" + hex128,
		"r zero":           "scrypt:1024:0:1$salt$" + hex128,
		"p too big":        "scrypt:1024:8:5$salt$" + hex128,
		"N·r too big":      "scrypt:65536:16:1$salt$" + hex128,
		"N·r·p too big":    "scrypt:65536:8:4$salt$" + hex128,
		"signed":           "scrypt:+1024:8:1$salt$" + hex128,
		"leading zero":     "scrypt:01024:8:1$salt$" + hex128,
		"overflow":         "scrypt:99999999999999999999:8:1$salt$" + hex128,
		"empty salt":       "scrypt:1024:8:1$$" + hex128,
		"long salt":        "scrypt:1024:8:1$" + strings.Repeat("s", 256) + "$" + hex128,
		"short digest":     "scrypt:1024:8:1$salt$" + hex64,
		"upper hex":        "scrypt:1024:8:1$salt$" + strings.ToUpper(hex128),
		"not hex":          "scrypt:1024:8:1$salt$" + strings.Repeat("zz", 64),
		"extra dollar":     "scrypt:1024:8:1$salt$" + hex128 + "$",
		"pbkdf2 sha1":      "pbkdf2:sha1:1000$salt$" + strings.Repeat("ab", 20),
		"pbkdf2 no iter":   "pbkdf2:sha256$salt$" + hex64,
		"pbkdf2 bare":      "pbkdf2$salt$" + hex64,
		"pbkdf2 too many":  "pbkdf2:sha256:2000001$salt$" + hex64,
		"pbkdf2 too few":   "pbkdf2:sha256:999$salt$" + hex64,
		"pbkdf2 long sum":  "pbkdf2:sha256:1000$salt$" + hex128,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseHash(h)
			if !errors.Is(err, ErrHash) {
				t.Fatalf("err = %v, want ErrHash", err)
			}
			if strings.Contains(err.Error(), "salt$") || (len(h) > 20 && strings.Contains(err.Error(), h[len(h)-20:])) {
				t.Fatalf("error shows the hash: %v", err)
			}
		})
	}
}

func FuzzParseHash(f *testing.F) {
	f.Add("scrypt:1024:8:1$a$" + strings.Repeat("ab", 64))
	f.Add("pbkdf2:sha256:1000$s$" + strings.Repeat("ab", 32))
	f.Fuzz(func(t *testing.T, s string) {
		h, err := ParseHash(s)
		if err != nil {
			return
		}
		// Whatever parses is within the bounds: cheap enough to check.
		if h.kind == "scrypt" && (h.n > maxScryptN || h.n*h.r*h.p > maxScryptWork) {
			t.Fatalf("out of bounds: %s", h.Class())
		}
		if h.kind == "pbkdf2:sha256" && h.iter > maxPBKDF2Iter {
			t.Fatalf("out of bounds: %s", h.Class())
		}
	})
}
