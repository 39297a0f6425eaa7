package tokens

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/authreq/authreq/authreq/identity"
	"github.com/authreq/authreq/htpasswd"
	"github.com/authreq/authreq/internal/filewatch"
)

// Config is the `tokens:` section of the configuration.
type Config struct {
	Files []string `yaml:"files"` // token files, as htpw token writes them; watched
}

// Validate checks the section; errors name the key under `tokens:`.
func (c Config) Validate() error {
	var errs []error
	for i, f := range c.Files {
		if f == "" {
			errs = append(errs, fmt.Errorf("tokens.files[%d]: empty path", i))
		}
	}
	return errors.Join(errs...)
}

// Errors of Lookup.
var (
	ErrUnknown = errors.New("unknown token")
	ErrExpired = errors.New("expired token")
)

// Table is one immutable load of the token files, by id.
type Table struct {
	byID map[string]Token
}

// NewTable indexes tokens by id; the first of a duplicated id wins.
func NewTable(ts []Token) *Table {
	t := &Table{byID: make(map[string]Token, len(ts))}
	for _, tk := range ts {
		if _, dup := t.byID[tk.ID]; !dup {
			t.byID[tk.ID] = tk
		}
	}
	return t
}

// Len is the number of tokens.
func (t *Table) Len() int { return len(t.byID) }

// Lookup finds the token tok: its id part picks the entry, and the
// SHA-256 of the whole string must equal the stored hash, compared in
// constant time.
func (t *Table) Lookup(tok string, now time.Time) (Token, error) {
	id, ok := IDOf(tok)
	if !ok {
		return Token{}, ErrUnknown
	}
	sum := sha256.Sum256([]byte(tok))
	e, ok := t.byID[id]
	if !ok || subtle.ConstantTimeCompare(sum[:], e.Hash[:]) != 1 {
		return Token{}, ErrUnknown
	}
	if e.Expired(now) {
		return Token{}, ErrExpired
	}
	return e, nil
}

// ReadFile parses the token file at path strictly; errors name the path
// and line.
func ReadFile(path string) (*File, error) {
	data, err := readData(path)
	if err != nil {
		return nil, err
	}
	f, err := Parse(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// ReadFileLenient parses the token file at path as ParseLenient does. Its
// error is about the file (missing: fs.ErrNotExist; unreadable; not a
// regular file; too large), never about a line.
func ReadFileLenient(path string) (*File, []*ParseError, error) {
	data, err := readData(path)
	if err != nil {
		return nil, nil, err
	}
	return ParseLenient(bytes.NewReader(data))
}

// readData reads a token file. Anything but a regular file is refused
// before it is opened: a FIFO would block the open, and with it this
// reload and every later one, so that no revocation took effect again.
func readData(path string) ([]byte, error) { return htpasswd.ReadRegular(path, MaxFileSize) }

// Store accepts API tokens from one or more token files.
//
// Revocation fails closed. Each file is read on its own and the table is
// rebuilt from all of them on every reload: a line that does not parse is
// skipped (logged with file and line, counted, shown in /readyz), every
// good line is kept, so a removed line revokes its token even in a damaged
// file and a damaged line refuses that token only. A file confirmed
// missing holds no tokens. Only a file that exists but cannot be read
// (permissions, not a regular file, too large) keeps its last good tokens,
// and the store reports itself degraded.
type Store struct {
	files    []string
	log      *slog.Logger
	st       atomic.Pointer[state]
	mu       sync.Mutex  // one reload at a time; guards last
	last     []fileState // by index of files
	watch    *filewatch.Watcher
	reloaded func(error)
	// Now is the clock expiry is judged by; tests replace it.
	Now func() time.Time
}

// state is one load: the table and what /readyz says of it.
type state struct {
	tab      *Table
	degraded error // nil: every file read cleanly
}

// fileState is what the last read of one file gave.
type fileState struct {
	tokens  []Token
	bad     int   // lines skipped
	missing bool  // confirmed absent (ENOENT): no tokens
	err     error // unreadable: tokens are the last good ones
	read    bool  // read successfully at least once
}

var (
	_ identity.Authenticator = (*Store)(nil)
	_ identity.Reloader      = (*Store)(nil)
	_ identity.Cheap         = (*Store)(nil)
	_ identity.Readier       = (*Store)(nil)
)

// NewStore loads every file of cfg and watches them. Bad lines are skipped
// and a missing file holds no tokens, as on reload; a file that exists but
// cannot be read is an error, for there are no earlier tokens to keep.
// onReload, if not nil, is told each reload's outcome (metrics): an error
// when a file has bad lines or cannot be read.
func NewStore(cfg Config, log *slog.Logger, onReload func(error)) (*Store, error) {
	if onReload == nil {
		onReload = func(error) {}
	}
	s := &Store{files: cfg.Files, log: log, reloaded: onReload, Now: time.Now,
		last: make([]fileState, len(cfg.Files))}
	w := filewatch.New("tokens", cfg.Files, log)
	st, err := s.load("start")
	for _, f := range s.last {
		if f.err != nil && !f.read {
			w.Close()
			return nil, f.err
		}
	}
	s.st.Store(st)
	s.log.Info("tokens: loaded", "tokens", st.tab.Len())
	if err != nil {
		s.reloaded(err)
	}
	w.Start(s.Reload)
	s.watch = w
	return s, nil
}

// load reads every file into s.last and builds the table from them. Its
// error summarises the bad lines and unreadable files; the state is
// usable whatever it says. s.mu is held, or s is not yet shared.
func (s *Store) load(why string) (*state, error) {
	var all []Token
	var problems []error
	for i, p := range s.files {
		prev := s.last[i]
		f, bad, err := ReadFileLenient(p)
		var cur fileState
		switch {
		case errors.Is(err, fs.ErrNotExist):
			cur = fileState{missing: true, read: prev.read}
			if !prev.missing {
				s.log.Warn("tokens: token file missing; none of its tokens are accepted until it is back", "file", p, "trigger", why)
			}
		case err != nil:
			cur = prev
			cur.err = err
			s.log.Error("tokens: cannot read a token file; keeping its last good tokens", "file", p, "trigger", why,
				"tokens", len(prev.tokens), "error", err.Error())
			problems = append(problems, fmt.Errorf("%s: unreadable, its last good tokens kept: %w", p, err))
		default:
			cur = fileState{tokens: f.Tokens(), bad: len(bad), read: true}
			if prev.missing {
				s.log.Info("tokens: token file is back", "file", p, "trigger", why)
			}
			for j, pe := range bad {
				if j == maxLoggedBadLines {
					s.log.Error("tokens: more bad lines not logged", "file", p, "bad_lines", len(bad))
					break
				}
				// pe never holds the line's hash.
				s.log.Error("tokens: bad line skipped; its token is refused", "file", p, "line", pe.Line, "error", pe.Err.Error())
			}
			if len(bad) > 0 {
				problems = append(problems, fmt.Errorf("%s: %d bad lines", p, len(bad)))
			}
		}
		s.last[i] = cur
		all = append(all, cur.tokens...)
	}
	// An id in more than one file: refused, as within a file.
	files := make(map[string]int)
	for i := range s.last {
		seen := make(map[string]bool)
		for _, t := range s.last[i].tokens {
			if !seen[t.ID] {
				seen[t.ID] = true
				files[t.ID]++
			}
		}
	}
	ts := all[:0:0]
	dups := 0
	for _, t := range all {
		if files[t.ID] > 1 {
			dups++
			continue
		}
		ts = append(ts, t)
	}
	if dups > 0 {
		s.log.Error("tokens: token ids in more than one file are refused", "lines", dups)
		problems = append(problems, fmt.Errorf("%d token lines share their id with another file", dups))
	}
	degraded := errors.Join(problems...)
	if degraded != nil {
		degraded = errors.New(strings.ReplaceAll(degraded.Error(), "\n", "; "))
	}
	return &state{tab: NewTable(ts), degraded: degraded}, degraded
}

// maxLoggedBadLines bounds the log lines of one file's bad lines per load.
const maxLoggedBadLines = 20

// Reload re-reads the files and rebuilds the table from them (see Store).
// Its error (bad lines, unreadable files) does not stop the new table from
// taking effect.
func (s *Store) Reload(why string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.load(why)
	s.st.Store(st)
	if err != nil {
		s.log.Warn("tokens: reloaded, degraded", "trigger", why, "tokens", st.tab.Len(), "error", err.Error())
	} else {
		s.log.Info("tokens: reloaded", "trigger", why, "tokens", st.tab.Len())
	}
	s.reloaded(err)
	return err
}

// Ready reports the bad lines and unreadable files of the last load, for
// /readyz: "FILE: N bad lines".
func (s *Store) Ready() error { return s.st.Load().degraded }

// Close stops watching the files.
func (s *Store) Close() error {
	s.watch.Close()
	return nil
}

func (s *Store) Name() string { return "token" }

// Cheap: a token check is a SHA-256 and a map lookup.
func (s *Store) Cheap() bool { return true }

// Authenticate takes a Bearer token, or a Basic password that is a token of
// that very user. An unknown or expired Bearer token is a definite no;
// credentials that are not a token are not this store's
// (identity.ErrUnknownUser).
func (s *Store) Authenticate(_ context.Context, c identity.Credentials) (identity.Identity, error) {
	var tok, user string
	switch c := c.(type) {
	case identity.Bearer:
		tok = c.Token
		if !strings.HasPrefix(tok, Prefix) {
			return identity.Identity{}, fmt.Errorf("%w: not an authreq token", identity.ErrUnknownUser)
		}
	case identity.Basic:
		if !strings.HasPrefix(c.Password, Prefix) {
			return identity.Identity{}, fmt.Errorf("%w: password is not a token", identity.ErrUnknownUser)
		}
		tok, user = c.Password, c.User
	default:
		return identity.Identity{}, fmt.Errorf("%w: not a token", identity.ErrUnknownUser)
	}
	t, err := s.st.Load().tab.Lookup(tok, s.Now())
	switch {
	case err == nil && user != "" && t.User != user:
		err = fmt.Errorf("%w: token of another user", identity.ErrUnknownUser)
	case err != nil && user != "":
		err = fmt.Errorf("%w: %v", identity.ErrUnknownUser, err)
	case err != nil:
		err = fmt.Errorf("%w: %v", identity.ErrBadCredentials, err)
	}
	if err != nil {
		return identity.Identity{}, err
	}
	return identity.Identity{User: t.User, Source: "token", TokenID: t.ID, MaxLevel: t.Level}, nil
}
