package htpasswd

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Groups is a group file in Apache's AuthGroupFile format: one group per
// line, "group: user1 user2 …", members separated by white space; lines
// starting with '#' and blank lines are comments. A group may span several
// lines: its members are their union. Parse→Bytes gives back the input byte
// for byte, and edits touch only the lines they must.
type Groups struct {
	lines []groupLine
}

type groupLine struct {
	text    string // without the line ending
	eol     string // "\n", "\r\n", or "" for a last line without one
	group   string // "" for comments and blank lines
	members []string
}

// ErrInvalidGroup is wrapped by ValidateGroup's errors.
var ErrInvalidGroup = errors.New("invalid group name")

// ValidateGroup checks a group name: non-empty, at most MaxUserLen bytes of
// UTF-8, no white space, ':', ',', control characters or quotes, not
// starting with '#'.
func ValidateGroup(g string) error {
	switch {
	case g == "":
		return fmt.Errorf("%w: empty", ErrInvalidGroup)
	case len(g) > MaxUserLen:
		return fmt.Errorf("%w: longer than %d bytes", ErrInvalidGroup, MaxUserLen)
	case !utf8.ValidString(g):
		return fmt.Errorf("%w: not valid UTF-8", ErrInvalidGroup)
	case strings.ContainsFunc(g, func(r rune) bool {
		return unicode.IsSpace(r) || isControl(r) || r == ':' || r == ',' || r == '"' || r == '\''
	}):
		// ',' separates groups in X-Groups: "x,admins" would read as two.
		return fmt.Errorf("%w: contains white space, ':', ',', a quote or a control character", ErrInvalidGroup)
	case g[0] == '#':
		return fmt.Errorf("%w: starts with '#'", ErrInvalidGroup)
	}
	return nil
}

// validMember is ValidateUser plus what a group line cannot hold: white
// space (it separates members) and quotes (Apache would read them as
// quoting; refusing them keeps the two readings the same).
func validMember(u string) error {
	if err := ValidateUser(u); err != nil {
		return err
	}
	if strings.ContainsFunc(u, func(r rune) bool { return unicode.IsSpace(r) || r == '"' || r == '\'' }) {
		return fmt.Errorf("%w: a group member cannot contain white space or quotes", ErrInvalidUser)
	}
	return nil
}

// ParseGroups reads a group file. A line that is not a comment and has no
// ':', or whose group or member names are invalid, is a *ParseError naming
// the line: the whole file is then invalid (the service keeps its previous
// groups), as for htpasswd files.
func ParseGroups(r io.Reader) (*Groups, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxFileSize {
		return nil, ErrTooLarge
	}
	g := &Groups{}
	for n := 1; len(data) > 0; n++ {
		var text []byte
		eol := ""
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			text, data, eol = data[:i], data[i+1:], "\n"
			if bytes.HasSuffix(text, []byte("\r")) {
				text, eol = text[:len(text)-1], "\r\n"
			}
		} else {
			text, data = data, nil
		}
		l := groupLine{text: string(text), eol: eol}
		trimmed := strings.TrimSpace(l.text)
		if trimmed != "" && trimmed[0] != '#' {
			name, rest, ok := strings.Cut(trimmed, ":")
			if !ok {
				return nil, &ParseError{Line: n, Err: errors.New("not a comment and no ':'")}
			}
			name = strings.TrimSpace(name)
			if err := ValidateGroup(name); err != nil {
				return nil, &ParseError{Line: n, Err: err}
			}
			l.group = name
			for _, m := range strings.Fields(rest) {
				if err := validMember(m); err != nil {
					return nil, &ParseError{Line: n, Err: err}
				}
				l.members = append(l.members, m)
			}
		}
		g.lines = append(g.lines, l)
	}
	return g, nil
}

// Bytes is the file as text.
func (g *Groups) Bytes() []byte {
	var b bytes.Buffer
	for _, l := range g.lines {
		b.WriteString(l.text)
		b.WriteString(l.eol)
	}
	return b.Bytes()
}

// Members maps each group to its members, in file order, without repeats.
func (g *Groups) Members() map[string][]string {
	m := make(map[string][]string)
	for _, l := range g.lines {
		if l.group == "" {
			continue
		}
		if _, ok := m[l.group]; !ok {
			m[l.group] = []string{}
		}
		for _, u := range l.members {
			if !slices.Contains(m[l.group], u) {
				m[l.group] = append(m[l.group], u)
			}
		}
	}
	return m
}

// Of maps each user to the groups that name it, sorted.
func (g *Groups) Of() map[string][]string {
	of := make(map[string][]string)
	for group, users := range g.Members() {
		for _, u := range users {
			of[u] = append(of[u], group)
		}
	}
	for _, gs := range of {
		slices.Sort(gs)
	}
	return of
}

// Add puts user in group: on the group's first line, or on a new last line
// when the group has none. It reports whether anything changed.
func (g *Groups) Add(group, user string) (bool, error) {
	if err := ValidateGroup(group); err != nil {
		return false, err
	}
	if err := validMember(user); err != nil {
		return false, err
	}
	if slices.Contains(g.Members()[group], user) {
		return false, nil
	}
	for i, l := range g.lines {
		if l.group == group {
			g.lines[i].text = strings.TrimRight(l.text, " \t") + " " + user
			g.lines[i].members = append(slices.Clone(l.members), user)
			return true, nil
		}
	}
	if n := len(g.lines); n > 0 && g.lines[n-1].eol == "" {
		g.lines[n-1].eol = "\n"
	}
	g.lines = append(g.lines, groupLine{text: group + ": " + user, eol: "\n", group: group, members: []string{user}})
	return true, nil
}

// Remove takes user out of group, on every line of the group; a line left
// with no members is dropped. It reports whether anything changed.
func (g *Groups) Remove(group, user string) bool {
	changed := false
	out := g.lines[:0:0]
	for _, l := range g.lines {
		if l.group != group || !slices.Contains(l.members, user) {
			out = append(out, l)
			continue
		}
		changed = true
		members := slices.DeleteFunc(slices.Clone(l.members), func(m string) bool { return m == user })
		if len(members) == 0 {
			continue
		}
		l.members = members
		l.text = group + ": " + strings.Join(members, " ")
		out = append(out, l)
	}
	g.lines = out
	return changed
}

// ReadGroupsFile parses the group file at path. Errors name the path and,
// for a parse error, the line.
func ReadGroupsFile(path string) (*Groups, error) {
	data, err := ReadRegular(path, MaxFileSize)
	if err != nil {
		return nil, err
	}
	g, err := ParseGroups(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return g, nil
}

// UpdateGroups edits the group file at path as Update edits an htpasswd
// file: under the lock, read once without following a link, written
// atomically with the file's mode, owner, group and ACL; a missing file is
// created (mode 0640) when create is true. If fn fails, the file is left as
// it was.
func UpdateGroups(path string, create bool, fn func(*Groups) error) error {
	return update(path, create, MaxFileSize, func(data []byte) ([]byte, error) {
		g, err := ParseGroups(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if err := fn(g); err != nil {
			return nil, err
		}
		return g.Bytes(), nil
	})
}
