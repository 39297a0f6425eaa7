// Package userfold folds a user name to one key per name a directory would
// match: every spelling that OpenLDAP's caseIgnoreMatch (and the RFC 4518
// string preparation behind it) takes for the same name gets the same key,
// so that a failure budget kept per key cannot be multiplied by typing
// "ａlice" (fullwidth), "𝐚lice" (mathematical bold), "ⓐlice" (circled),
// "ALİCE" or " alice" instead of "alice".
//
// The key may fold more than a directory does (ß and "ss" share a key, as
// do a name and the same name with a soft hyphen in it): for budgets that
// errs on the safe side. It never folds less, as far as tested against
// OpenLDAP. It is a key, not a display name.
package userfold

import (
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// MaxLen bounds the input Key looks at and the key it returns, in bytes,
// so that a megabyte-long name in a Basic header costs no more than a long
// one; names that long (user names are at most 255 bytes) cannot log in
// anyway.
const MaxLen = 4096

// folders are cases.Fold Casers, which must not be shared between
// goroutines.
var folders = sync.Pool{New: func() any { c := cases.Fold(); return &c }}

// Key returns name folded for comparison: Unicode NFKC with full case
// folding (NFKC(fold(NFKC(s)))), with U+0130 (İ) taken as i as OpenLDAP
// does, control and default-ignorable characters dropped, every kind of
// space made U+0020, runs of spaces collapsed to one and leading and
// trailing spaces removed (LDAP's insignificant-space handling), repeated
// until the result no longer changes. Key(Key(s)) == Key(s) for every s;
// invalid UTF-8 becomes U+FFFD.
func Key(name string) string {
	if k, ok := asciiKey(name); ok {
		return k
	}
	x := truncate(name)
	for range 8 {
		y := truncate(fold(x))
		if y == x {
			break
		}
		x = y
	}
	return x
}

// fold is one round of Key.
func fold(s string) string {
	s = strings.Map(prepare, s)
	s = norm.NFKC.String(s)
	c := folders.Get().(*cases.Caser)
	s = c.String(s)
	folders.Put(c)
	s = norm.NFKC.String(s)
	return strings.Join(strings.Fields(s), " ")
}

// prepare maps one character as RFC 4518's Map step does: spaces and
// separators to U+0020, other controls, format characters and
// default-ignorable ones to nothing. U+0130 becomes i (its simple lowercase,
// which OpenLDAP uses), not full folding's "i̇" (i with a combining dot).
func prepare(r rune) rune {
	switch {
	case r == '\u0130':
		return 'i'
	case r == '\t' || r == '\n' || r == '\v' || r == '\f' || r == '\r' || r == '\u0085',
		unicode.In(r, unicode.Zs, unicode.Zl, unicode.Zp):
		return ' '
	case unicode.In(r, unicode.Cc, unicode.Cf, unicode.Variation_Selector, unicode.Other_Default_Ignorable_Code_Point):
		return -1
	}
	return r
}

// truncate cuts s to at most MaxLen bytes at a character boundary, and
// drops a trailing space the cut may leave.
func truncate(s string) string {
	if len(s) <= MaxLen {
		return s
	}
	i := MaxLen
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return strings.TrimRight(s[:i], " ")
}

// asciiKey is Key for printable ASCII, where NFKC changes nothing and
// folding is lowercasing; it does not allocate when name is a key already.
func asciiKey(name string) (string, bool) {
	canonical := len(name) <= MaxLen
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c < 0x20 || c >= 0x7f:
			return "", false
		case 'A' <= c && c <= 'Z':
			canonical = false
		case c == ' ' && (i == 0 || i == len(name)-1 || name[i-1] == ' '):
			canonical = false
		}
	}
	if canonical {
		return name, true
	}
	return truncate(strings.Join(strings.Fields(strings.ToLower(truncate(name))), " ")), true
}
