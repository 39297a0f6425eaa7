package htpasswd

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"
)

// MaxFileSize bounds what Parse reads: a larger input is an error, not a
// partial table.
const MaxFileSize = 64 << 20

// MaxUserLen is the longest user name accepted, in bytes.
const MaxUserLen = 255

// ErrInvalidUser is wrapped by ValidateUser's errors.
var ErrInvalidUser = errors.New("invalid user name")

// ErrTooLarge is returned for input over MaxFileSize.
var ErrTooLarge = fmt.Errorf("larger than %d MiB", MaxFileSize>>20)

// ParseError is a structural error in an htpasswd file: a non-comment line
// without ':', or an invalid user name. It names the line (1-based) and never
// holds the line's text.
type ParseError struct {
	Line int
	Err  error
}

func (e *ParseError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }
func (e *ParseError) Unwrap() error { return e.Err }

// Entry is one user of a file: the first line that names the user.
type Entry struct {
	User    string
	Hash    string // the hash text; never print or log it
	Comment string // text after a second ':' (Apache's -C comment), if any
	Line    int    // 1-based line number
	// Parsed is the parsed hash, nil when the hash is malformed or of an
	// unknown scheme (then HashErr says why, without the hash text). Such a
	// user can never log in.
	Parsed  Hash
	HashErr error
}

// Scheme is the entry's hash scheme (Identify of Hash).
func (e Entry) Scheme() Scheme { return Identify(e.Hash) }

// Problem is something lint reports.
type Problem struct {
	Line int
	User string
	Kind ProblemKind
	Msg  string // human text, never the hash
}

// ProblemKind classifies a Problem.
type ProblemKind string

const (
	// Structural errors, which make the whole file invalid (Lint only).
	MalformedLine ProblemKind = "malformed-line" // a line without ':'
	InvalidUser   ProblemKind = "invalid-user"   // see ValidateUser

	MalformedHash ProblemKind = "malformed-hash"
	UnknownScheme ProblemKind = "unknown-scheme"
	DuplicateUser ProblemKind = "duplicate-user"
	WeakScheme    ProblemKind = "weak-scheme"
	SlowHash      ProblemKind = "slow-hash" // see Costly
)

// line is one line of a file, kept exactly: text plus its line ending.
type line struct {
	text string // without the line ending
	eol  string // "\n", "\r\n", or "" for a last line without one
	user string // "" for comments and blank lines
}

// File is a parsed htpasswd file. It keeps every line so that WriteTo
// reproduces the input byte for byte. The zero value is an empty file.
// A File is not safe for concurrent mutation.
type File struct {
	lines []line
}

// Parse reads an htpasswd file. Lines starting with '#' and blank lines
// (empty or only spaces and tabs) are kept as they are; CRLF and a last line
// without newline work. A structural error (a line without ':', an invalid
// user name) returns a *ParseError naming the line. A malformed hash is not
// an error: that entry loads with HashErr set. Input over MaxFileSize is an
// error.
func Parse(r io.Reader) (*File, error) {
	f, _, err := parse(r, false)
	return f, err
}

// Lint reads an htpasswd file as Parse does, but does not stop at a
// structural error: it returns every problem in the file in line order,
// the structural errors (MalformedLine, InvalidUser; Parse refuses a file
// with any) along with what Problems reports for the well-formed lines.
// users is the number of distinct users on well-formed lines. Like
// ParseError, a structural Problem holds neither the line's text nor its
// user name. The error is for reading only (ErrTooLarge included).
func Lint(r io.Reader) (users int, problems []Problem, err error) {
	f, bad, err := parse(r, true)
	if err != nil {
		return 0, nil, err
	}
	problems = f.Problems()
	for _, pe := range bad {
		kind := MalformedLine
		if errors.Is(pe.Err, ErrInvalidUser) {
			kind = InvalidUser
		}
		problems = append(problems, Problem{Line: pe.Line, Kind: kind,
			Msg: pe.Err.Error() + "; the whole file is refused until this line is fixed"})
	}
	slices.SortStableFunc(problems, func(a, b Problem) int { return cmp.Compare(a.Line, b.Line) })
	return f.Len(), problems, nil
}

// parse reads a file. It stops at the first structural error, unless all
// is true: then it keeps going, returning each structural error and
// keeping its line in the File as a line that is no entry, so that the
// other lines keep their numbers.
func parse(r io.Reader, all bool) (*File, []*ParseError, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxFileSize+1))
	if err != nil {
		return nil, nil, err
	}
	if len(data) > MaxFileSize {
		return nil, nil, ErrTooLarge
	}
	f := &File{}
	var bad []*ParseError
	n := 0
	for len(data) > 0 {
		n++
		var text, eol string
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			text, eol, data = string(data[:i]), "\n", data[i+1:]
		} else {
			text, data = string(data), nil
		}
		if strings.HasSuffix(text, "\r") {
			text, eol = text[:len(text)-1], "\r"+eol
		}
		l, err := parseLine(text)
		if err != nil {
			pe := &ParseError{Line: n, Err: err}
			if !all {
				return nil, nil, pe
			}
			bad = append(bad, pe)
			l = line{text: text}
		}
		l.eol = eol
		f.lines = append(f.lines, l)
	}
	return f, bad, nil
}

func parseLine(text string) (line, error) {
	if isBlank(text) || text[0] == '#' {
		return line{text: text}, nil
	}
	user, _, ok := strings.Cut(text, ":")
	if !ok {
		return line{}, errors.New("missing ':' between user and hash")
	}
	if err := ValidateUser(user); err != nil {
		return line{}, err
	}
	return line{text: text, user: user}, nil
}

func isBlank(s string) bool { return strings.Trim(s, " \t") == "" }

// fields splits an entry line into hash and comment.
func (l line) fields() (hash, comment string) {
	rest := l.text[len(l.user)+1:]
	hash, comment, _ = strings.Cut(rest, ":")
	return hash, comment
}

func (l line) entry(n int) Entry {
	hash, comment := l.fields()
	e := Entry{User: l.user, Hash: hash, Comment: comment, Line: n}
	e.Parsed, e.HashErr = ParseHash(hash)
	return e
}

// WriteTo writes the file, byte for byte as parsed where unchanged.
func (f *File) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for _, l := range f.lines {
		n, err := io.WriteString(w, l.text+l.eol)
		total += int64(n)
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// Bytes returns the file's content.
func (f *File) Bytes() []byte {
	var b bytes.Buffer
	f.WriteTo(&b)
	return b.Bytes()
}

// Entries returns the effective users in file order: for a duplicated user
// only the first line counts, as in nginx and Apache.
func (f *File) Entries() []Entry {
	seen := make(map[string]bool)
	var out []Entry
	for i, l := range f.lines {
		if l.user == "" || seen[l.user] {
			continue
		}
		seen[l.user] = true
		out = append(out, l.entry(i+1))
	}
	return out
}

// Lookup returns the effective entry for user.
func (f *File) Lookup(user string) (Entry, bool) {
	if i := f.find(user); i >= 0 {
		return f.lines[i].entry(i + 1), true
	}
	return Entry{}, false
}

func (f *File) find(user string) int {
	for i, l := range f.lines {
		if l.user != "" && l.user == user {
			return i
		}
	}
	return -1
}

// Len is the number of distinct users.
func (f *File) Len() int {
	seen := make(map[string]bool)
	for _, l := range f.lines {
		if l.user != "" {
			seen[l.user] = true
		}
	}
	return len(seen)
}

// Set sets user's hash: it replaces the hash on the user's first line
// (keeping its comment field and line ending) or appends "user:hash" as a
// new line, with the file's usual line ending. It validates user with
// ValidateUser and refuses a hash containing ':' or a line break. added
// reports whether the user was new.
func (f *File) Set(user, hash string) (added bool, err error) {
	if err := ValidateUser(user); err != nil {
		return false, err
	}
	if strings.ContainsAny(hash, ":\r\n") {
		return false, errors.New("hash contains ':' or a line break")
	}
	if i := f.find(user); i >= 0 {
		text := user + ":" + hash
		if _, comment, ok := strings.Cut(f.lines[i].text[len(user)+1:], ":"); ok {
			text += ":" + comment
		}
		f.lines[i].text = text
		return false, nil
	}
	eol := f.eol()
	// A last line without a line feed (none at all, or a lone CR) gets one.
	if n := len(f.lines); n > 0 && !strings.HasSuffix(f.lines[n-1].eol, "\n") {
		if f.lines[n-1].eol == "" {
			f.lines[n-1].eol = eol
		} else {
			f.lines[n-1].eol += "\n"
		}
	}
	f.lines = append(f.lines, line{text: user + ":" + hash, eol: eol, user: user})
	return true, nil
}

// eol is the file's dominant line ending.
func (f *File) eol() string {
	crlf, lf := 0, 0
	for _, l := range f.lines {
		switch l.eol {
		case "\r\n":
			crlf++
		case "\n":
			lf++
		}
	}
	if crlf > lf {
		return "\r\n"
	}
	return "\n"
}

// Delete removes every line for user and reports whether there was one.
func (f *File) Delete(user string) bool {
	kept := f.lines[:0]
	found := false
	for _, l := range f.lines {
		if l.user != "" && l.user == user {
			found = true
			continue
		}
		kept = append(kept, l)
	}
	f.lines = kept
	return found
}

// Problems lists what lint reports, in line order: unusable hashes, weak
// schemes, hashes whose check costs seconds (Costly), and duplicate users
// (whose later lines nothing reads).
func (f *File) Problems() []Problem {
	first := make(map[string]int)
	var out []Problem
	for i, l := range f.lines {
		if l.user == "" {
			continue
		}
		n := i + 1
		if fl, dup := first[l.user]; dup {
			out = append(out, Problem{Line: n, User: l.user, Kind: DuplicateUser,
				Msg: fmt.Sprintf("user %q already defined on line %d; this line is ignored", l.user, fl)})
			continue
		}
		first[l.user] = n
		e := l.entry(n)
		switch {
		case errors.Is(e.HashErr, ErrUnknownScheme):
			out = append(out, Problem{Line: n, User: l.user, Kind: UnknownScheme,
				Msg: fmt.Sprintf("user %q: unknown hash scheme; this user can never log in", l.user)})
		case e.HashErr != nil:
			out = append(out, Problem{Line: n, User: l.user, Kind: MalformedHash,
				Msg: fmt.Sprintf("user %q: %v; this user can never log in", l.user, e.HashErr)})
		case e.Parsed.Scheme().Weak():
			out = append(out, Problem{Line: n, User: l.user, Kind: WeakScheme,
				Msg: fmt.Sprintf("user %q: weak hash scheme %s; set a new password with bcrypt", l.user, e.Parsed.Scheme())})
		case Costly(e.Parsed):
			cost := fmt.Sprintf("rounds=%d", e.Parsed.Cost())
			if e.Parsed.Scheme() == Bcrypt {
				cost = fmt.Sprintf("cost %d", e.Parsed.Cost())
			}
			out = append(out, Problem{Line: n, User: l.user, Kind: SlowHash,
				Msg: fmt.Sprintf("user %q: %s %s: each check takes seconds of CPU, so every wrong guess pins a CPU "+
					"(authreq warns at load and never uses it as a timing decoy); set a new password with the default cost", l.user, e.Parsed.Scheme(), cost)})
		}
	}
	return out
}

// ValidateUser checks a user name: non-empty, at most MaxUserLen bytes, valid
// UTF-8, no ':', no control characters (DEL included), no leading '#' (the
// line would be a comment) and no leading or trailing white space (which
// nginx would take as part of the name, unseen).
func ValidateUser(user string) error {
	switch {
	case user == "":
		return fmt.Errorf("%w: empty", ErrInvalidUser)
	case len(user) > MaxUserLen:
		return fmt.Errorf("%w: longer than %d bytes", ErrInvalidUser, MaxUserLen)
	case !utf8.ValidString(user):
		return fmt.Errorf("%w: not valid UTF-8", ErrInvalidUser)
	case strings.ContainsRune(user, ':'):
		return fmt.Errorf("%w: contains ':'", ErrInvalidUser)
	case strings.ContainsFunc(user, isControl):
		return fmt.Errorf("%w: contains a control character", ErrInvalidUser)
	case user[0] == '#':
		return fmt.Errorf("%w: starts with '#'", ErrInvalidUser)
	case strings.TrimSpace(user) != user:
		return fmt.Errorf("%w: starts or ends with white space", ErrInvalidUser)
	}
	return nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) }
