// Package tokens is the API-token user store and its file format: one
// token per line, only the SHA-256 of each token kept, watched and
// reloaded on change. cmd/htpw edits the files through this package.
//
// A line is
//
//	ID:USER:SHA256HEX:LEVEL:CREATED:EXPIRES:NAME
//
// where ID is 12 characters of [a-z2-7], USER a valid htpasswd user name,
// SHA256HEX the lower-case hex SHA-256 of the whole token string, LEVEL one
// of READ, USE, EDIT, MANAGE, CREATED and EXPIRES RFC 3339 times in UTC to
// the second ("2025-01-02T03:04:05Z"; EXPIRES may be "never"), and NAME
// printable text, possibly empty, possibly holding ':' (it is last).
// Since the times hold ':', a line is read by position, not split. '#'
// lines and blank lines are kept byte for byte on edit.
package tokens

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/authreq/authreq/htpasswd"
)

// Prefix starts every token, so that secret scanners can find leaked ones.
const Prefix = "authreq_"

// MaxFileSize bounds a token file.
const MaxFileSize = 16 << 20

const (
	idLen      = 12
	secretLen  = 20 // bytes of randomness: 160 bits
	timeLayout = "2006-01-02T15:04:05Z"
	never      = "never"
)

// Levels are the levels a token may carry, lowest first: the names of
// authreq's policy levels above NO_PERMISSIONS.
var Levels = []string{"READ", "USE", "EDIT", "MANAGE"}

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// Token is one line's metadata; never the token itself.
type Token struct {
	ID      string
	User    string
	Hash    [sha256.Size]byte // of the whole token string
	Level   string
	Created time.Time
	Expires time.Time // zero: never
	Name    string
}

// Expired tells whether the token has expired at now.
func (t Token) Expired(now time.Time) bool {
	return !t.Expires.IsZero() && !now.Before(t.Expires)
}

// ParseError is a line that does not parse. It never holds the line's text.
type ParseError struct {
	Line int
	Err  error
}

func (e *ParseError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }
func (e *ParseError) Unwrap() error { return e.Err }

// File is a parsed token file: every line as read, and the tokens.
type File struct {
	lines  []string // each with its newline, if it had one
	tokens []Token  // in file order
	at     []int    // at[i] is the line index of tokens[i]
}

// Parse reads a token file strictly: any bad line is an error naming it,
// as is a duplicated ID.
func Parse(r io.Reader) (*File, error) {
	f, bad, err := parse(r, false)
	if err != nil {
		return nil, err
	}
	if len(bad) > 0 {
		return nil, bad[0]
	}
	return f, nil
}

// ParseLenient reads a token file, skipping the lines that do not parse:
// it returns every good line's token and the bad lines, in file order. An
// id on more than one line is refused on every one of them (skipped), so
// that removing one of its lines can never leave the other in force. All
// lines are kept for Bytes. The error is a read error only.
func ParseLenient(r io.Reader) (*File, []*ParseError, error) {
	return parse(r, true)
}

func parse(r io.Reader, lenient bool) (*File, []*ParseError, error) {
	f := &File{}
	var bad []*ParseError
	br := bufio.NewReader(r)
	seen := make(map[string]int) // id → line number of its first line
	dup := make(map[string]bool)
	for n := 1; ; n++ {
		line, err := br.ReadString('\n')
		if line == "" && err != nil {
			if !errors.Is(err, io.EOF) {
				return nil, nil, err
			}
			break
		}
		f.lines = append(f.lines, line)
		text := strings.TrimSuffix(line, "\n")
		if strings.TrimSpace(text) == "" || strings.HasPrefix(text, "#") {
			continue
		}
		t, perr := parseLine(text)
		if perr != nil {
			bad = append(bad, &ParseError{Line: n, Err: perr})
			if !lenient {
				return f, bad, nil
			}
			continue
		}
		if first, ok := seen[t.ID]; ok {
			bad = append(bad, &ParseError{Line: n, Err: fmt.Errorf("token id %s already on line %d", t.ID, first)})
			if !lenient {
				return f, bad, nil
			}
			if !dup[t.ID] {
				dup[t.ID] = true
				bad = append(bad, &ParseError{Line: first, Err: fmt.Errorf("token id %s also on line %d; refused on both", t.ID, n)})
			}
			continue
		}
		seen[t.ID] = n
		f.tokens = append(f.tokens, t)
		f.at = append(f.at, len(f.lines)-1)
	}
	if len(dup) > 0 {
		var ts []Token
		var at []int
		for i, t := range f.tokens {
			if !dup[t.ID] {
				ts, at = append(ts, t), append(at, f.at[i])
			}
		}
		f.tokens, f.at = ts, at
		slices.SortStableFunc(bad, func(a, b *ParseError) int { return a.Line - b.Line })
	}
	return f, bad, nil
}

// parseLine reads one token line by position. Each field is checked before
// the ':' that ends it, so an error names the first field that is wrong.
// Its errors never quote the hash.
func parseLine(s string) (Token, error) {
	var t Token
	// next cuts the field in front of the next ':'; ended tells that the
	// line stopped after it.
	next := func() (field string, ended bool) {
		field, rest, ok := strings.Cut(s, ":")
		s = rest
		return field, !ok
	}
	endsAfter := func(what string) error {
		return fmt.Errorf("the line ends after the %s: want ID:USER:SHA256HEX:LEVEL:CREATED:EXPIRES:NAME", what)
	}
	var ended bool
	if t.ID, ended = next(); !ValidID(t.ID) {
		return t, errors.New("id: want 12 characters of a-z and 2-7")
	} else if ended {
		return t, endsAfter("id")
	}
	t.User, ended = next()
	if err := htpasswd.ValidateUser(t.User); err != nil {
		return t, fmt.Errorf("user: %w", err)
	}
	if ended {
		return t, endsAfter("user")
	}
	hx, ended := next()
	if len(hx) != 2*sha256.Size || strings.ToLower(hx) != hx {
		return t, errors.New("hash: want 64 lower-case hex digits")
	}
	if _, err := hex.Decode(t.Hash[:], []byte(hx)); err != nil {
		return t, errors.New("hash: want 64 lower-case hex digits")
	}
	if ended {
		return t, endsAfter("hash")
	}
	var err error
	if t.Level, ended = next(); !ValidLevel(t.Level) {
		return t, fmt.Errorf("level %q: want READ, USE, EDIT or MANAGE", clip(t.Level))
	} else if ended {
		return t, endsAfter("level")
	}
	if len(s) < len(timeLayout)+1 || s[len(timeLayout)] != ':' {
		return t, errors.New("created: want an RFC 3339 UTC time to the second, as 2025-01-02T03:04:05Z, then ':'")
	}
	if t.Created, err = parseTime(s[:len(timeLayout)]); err != nil {
		return t, fmt.Errorf("created: %w", err)
	}
	s = s[len(timeLayout)+1:]
	switch {
	case strings.HasPrefix(s, never+":"):
		s = s[len(never)+1:]
	case len(s) >= len(timeLayout)+1 && s[len(timeLayout)] == ':':
		if t.Expires, err = parseTime(s[:len(timeLayout)]); err != nil {
			return t, fmt.Errorf("expires: %w", err)
		}
		s = s[len(timeLayout)+1:]
	default:
		return t, errors.New("expires: want never or an RFC 3339 UTC time to the second, then ':'")
	}
	if err := ValidName(s); err != nil {
		return t, err
	}
	t.Name = s
	return t, nil
}

func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(timeLayout, s)
	if err != nil || t.Format(timeLayout) != s {
		return time.Time{}, fmt.Errorf("%q is not an RFC 3339 UTC time to the second", clip(s))
	}
	return t, nil
}

func clip(s string) string {
	if len(s) > 20 {
		return s[:20] + "…"
	}
	return strings.ToValidUTF8(s, "?")
}

// ValidID tells whether s is a token id: 12 characters of [a-z2-7].
func ValidID(s string) bool {
	if len(s) != idLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('a' <= c && c <= 'z' || '2' <= c && c <= '7') {
			return false
		}
	}
	return true
}

// ValidLevel tells whether s is one of Levels, spelled exactly.
func ValidLevel(s string) bool {
	for _, l := range Levels {
		if s == l {
			return true
		}
	}
	return false
}

// ValidName checks a token's name: printable UTF-8, at most 200 bytes.
func ValidName(s string) error {
	if len(s) > 200 {
		return errors.New("name: longer than 200 bytes")
	}
	if !utf8.ValidString(s) {
		return errors.New("name: not UTF-8")
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\u2028' || r == '\u2029' {
			return errors.New("name: control character")
		}
	}
	return nil
}

// Tokens lists the file's tokens in file order.
func (f *File) Tokens() []Token { return append([]Token(nil), f.tokens...) }

// Bytes is the file's content: every line as read, edits applied.
func (f *File) Bytes() []byte {
	var b bytes.Buffer
	for _, l := range f.lines {
		b.WriteString(l)
	}
	return b.Bytes()
}

// Format is t's line, without the newline.
func (t Token) Format() string {
	exp := never
	if !t.Expires.IsZero() {
		exp = t.Expires.UTC().Format(timeLayout)
	}
	return strings.Join([]string{t.ID, t.User, hex.EncodeToString(t.Hash[:]), t.Level,
		t.Created.UTC().Format(timeLayout), exp, t.Name}, ":")
}

// Add appends t (checked as Parse would read it) as a new line.
func (f *File) Add(t Token) error {
	line := t.Format()
	parsed, err := parseLine(line)
	if err != nil {
		return err
	}
	for _, o := range f.tokens {
		if o.ID == t.ID {
			return fmt.Errorf("token id %s already exists", t.ID)
		}
	}
	if n := len(f.lines); n > 0 && !strings.HasSuffix(f.lines[n-1], "\n") {
		f.lines[n-1] += "\n"
	}
	f.lines = append(f.lines, line+"\n")
	f.tokens = append(f.tokens, parsed)
	f.at = append(f.at, len(f.lines)-1)
	return nil
}

// Remove deletes the token with id; it reports whether there was one.
func (f *File) Remove(id string) bool {
	for i, t := range f.tokens {
		if t.ID != id {
			continue
		}
		at := f.at[i]
		f.lines = append(f.lines[:at], f.lines[at+1:]...)
		f.tokens = append(f.tokens[:i], f.tokens[i+1:]...)
		f.at = append(f.at[:i], f.at[i+1:]...)
		for j := i; j < len(f.at); j++ {
			f.at[j]--
		}
		return true
	}
	return false
}

// RemoveLines deletes every line whose first field (the text before its
// first ':') is exactly id, whether or not the line parses; it returns how
// many it deleted. It is revocation's edit: a damaged line of a leaked
// token goes too, and no other line is touched.
func (f *File) RemoveLines(id string) int {
	if id == "" {
		return 0
	}
	var lines []string
	var tokens []Token
	var at []int
	removed, ti := 0, 0
	for i, l := range f.lines {
		var tk *Token
		if ti < len(f.at) && f.at[ti] == i {
			tk = &f.tokens[ti]
			ti++
		}
		if first, _, _ := strings.Cut(strings.TrimSuffix(l, "\n"), ":"); first == id {
			removed++
			continue
		}
		if tk != nil {
			tokens, at = append(tokens, *tk), append(at, len(lines))
		}
		lines = append(lines, l)
	}
	f.lines, f.tokens, f.at = lines, tokens, at
	return removed
}

// New makes a token for user: the token string, to be shown once, and its
// line's metadata, which holds only the token's hash. expires zero means
// never.
func New(user, level, name string, created, expires time.Time) (string, Token, error) {
	var idb [8]byte
	secret := make([]byte, secretLen)
	rand.Read(idb[:])
	rand.Read(secret)
	id := strings.ToLower(b32.EncodeToString(idb[:]))[:idLen]
	tok := Prefix + id + "_" + strings.ToLower(b32.EncodeToString(secret))
	t := Token{ID: id, User: user, Hash: sha256.Sum256([]byte(tok)), Level: level,
		Created: created.UTC().Truncate(time.Second), Name: name}
	if !expires.IsZero() {
		t.Expires = expires.UTC().Truncate(time.Second)
	}
	if _, err := parseLine(t.Format()); err != nil {
		return "", Token{}, err
	}
	return tok, t, nil
}

// IDOf is the id part of a token string ("authreq_<id>_<secret>"), if it
// has that shape.
func IDOf(tok string) (string, bool) {
	rest, ok := strings.CutPrefix(tok, Prefix)
	if !ok || len(rest) < idLen+1 || rest[idLen] != '_' || !ValidID(rest[:idLen]) {
		return "", false
	}
	return rest[:idLen], true
}
