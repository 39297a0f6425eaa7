package tokens

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/authreq/authreq/authreq/identity"
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

// ReadFile parses the token file at path; errors name the path and line.
func ReadFile(path string) (*File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	fi, err := fh.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	data, err := io.ReadAll(io.LimitReader(fh, MaxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, MaxFileSize)
	}
	f, err := Parse(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// Store accepts API tokens from one or more token files.
type Store struct {
	files    []string
	log      *slog.Logger
	tab      atomic.Pointer[Table]
	mu       sync.Mutex // one reload at a time
	watch    *filewatch.Watcher
	reloaded func(error)
	// Now is the clock expiry is judged by; tests replace it.
	Now func() time.Time
}

var (
	_ identity.Authenticator = (*Store)(nil)
	_ identity.Reloader      = (*Store)(nil)
	_ identity.Cheap         = (*Store)(nil)
)

// NewStore loads every file of cfg (a broken one is an error naming the
// file and line) and watches them. onReload, if not nil, is told each
// reload's outcome (metrics).
func NewStore(cfg Config, log *slog.Logger, onReload func(error)) (*Store, error) {
	if onReload == nil {
		onReload = func(error) {}
	}
	s := &Store{files: cfg.Files, log: log, reloaded: onReload, Now: time.Now}
	w := filewatch.New("tokens", cfg.Files, log)
	t, err := s.load()
	if err != nil {
		w.Close()
		return nil, err
	}
	s.tab.Store(t)
	w.Start(s.Reload)
	s.watch = w
	return s, nil
}

func (s *Store) load() (*Table, error) {
	var all []Token
	for _, p := range s.files {
		f, err := ReadFile(p)
		if err != nil {
			return nil, err
		}
		all = append(all, f.Tokens()...)
	}
	return NewTable(all), nil
}

// Reload re-reads the files. One that cannot be read (vanished) or does
// not parse keeps the old table, logged.
func (s *Store) Reload(why string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := s.load()
	if err != nil {
		s.log.Error("tokens: reload failed; keeping the previous tokens", "trigger", why, "error", err.Error())
		s.reloaded(err)
		return err
	}
	s.tab.Store(t)
	s.log.Info("tokens: reloaded", "trigger", why, "tokens", t.Len())
	s.reloaded(nil)
	return nil
}

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
	t, err := s.tab.Load().Lookup(tok, s.Now())
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
