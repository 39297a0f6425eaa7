package authreq

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/authreq/authreq/htpasswd"
)

// table is one immutable load of the htpasswd files; reloads swap it whole,
// so readers never lock.
type table struct {
	users map[string]htpasswd.Entry
	// dummy is checked for unknown users: the hash of the best-protected
	// user (strongest scheme, highest cost), so that a miss costs what a
	// wrong password for that user costs. The result is thrown away.
	dummy htpasswd.Hash
}

// htpasswdBackend checks passwords against one or more htpasswd files.
type htpasswdBackend struct {
	files      []string
	rejectWeak bool
	log        *slog.Logger
	tab        atomic.Pointer[table]
	mu         sync.Mutex // one reload at a time
	// changed is told which users' hashes changed or vanished in a reload.
	changed func(users []string)
	// reloaded reports each reload's outcome (metrics).
	reloaded func(err error)
}

var _ Backend = (*htpasswdBackend)(nil)

// fallbackDummy stands in when no file has a usable hash.
var fallbackDummy = func() htpasswd.Hash {
	pw := make([]byte, 16)
	rand.Read(pw)
	h, _ := htpasswd.Generate(htpasswd.Bcrypt, pw, htpasswd.DefaultBcryptCost)
	p, _ := htpasswd.ParseHash(h)
	return p
}

func newHtpasswdBackend(files []string, rejectWeak bool, log *slog.Logger) (*htpasswdBackend, error) {
	b := &htpasswdBackend{files: files, rejectWeak: rejectWeak, log: log, changed: func([]string) {}, reloaded: func(error) {}}
	t, err := b.load()
	if err != nil {
		return nil, err
	}
	b.tab.Store(t)
	return b, nil
}

func (b *htpasswdBackend) Name() string { return "htpasswd" }
func (b *htpasswdBackend) Ready() error { return nil } // New fails on a file it cannot load
func (b *htpasswdBackend) Close() error { return nil }

// load reads every file; the first file listed wins for a user in several.
func (b *htpasswdBackend) load() (*table, error) {
	t := &table{users: make(map[string]htpasswd.Entry)}
	var strongest htpasswd.Hash
	for _, path := range b.files {
		f, err := htpasswd.ReadFile(path)
		if err != nil {
			return nil, err // names the file and, for a parse error, the line
		}
		for _, e := range f.Entries() {
			if _, dup := t.users[e.User]; dup {
				continue
			}
			switch {
			case e.HashErr != nil:
				b.log.Warn("htpasswd: unusable hash; this user cannot log in", "file", path, "line", e.Line, "user", e.User, "reason", e.HashErr.Error())
			case b.rejectWeak && e.Parsed.Scheme().Weak():
				b.log.Warn("htpasswd: weak hash refused (rejectWeakHashes); this user cannot log in", "file", path, "line", e.Line, "user", e.User, "scheme", string(e.Parsed.Scheme()))
				e.Parsed = nil
				e.HashErr = errors.New("weak hash scheme refused")
			default:
				if stronger(e.Parsed, strongest) {
					strongest = e.Parsed
				}
			}
			t.users[e.User] = e
		}
	}
	t.dummy = strongest
	if t.dummy == nil {
		t.dummy = fallbackDummy()
	}
	return t, nil
}

var schemeRank = map[htpasswd.Scheme]int{
	htpasswd.Bcrypt: 5, htpasswd.SHA512Crypt: 4, htpasswd.SHA256Crypt: 3,
	htpasswd.APR1: 2, htpasswd.MD5Crypt: 2, htpasswd.DESCrypt: 1,
}

func stronger(a, b htpasswd.Hash) bool {
	if b == nil {
		return true
	}
	ra, rb := schemeRank[a.Scheme()], schemeRank[b.Scheme()]
	if ra != rb {
		return ra > rb
	}
	return a.Cost() > b.Cost()
}

// Authenticate checks password; an unknown user or an unusable hash costs a
// check of the dummy hash, so timing does not tell which users exist.
func (b *htpasswdBackend) Authenticate(_ context.Context, user, password string) (Identity, error) {
	t := b.tab.Load()
	e, ok := t.users[user]
	if !ok || e.Parsed == nil {
		t.dummy.Verify([]byte(password))
		return Identity{}, fmt.Errorf("%w: no such user or unusable hash", ErrBadCredentials)
	}
	if !e.Parsed.Verify([]byte(password)) {
		return Identity{}, fmt.Errorf("%w: wrong password", ErrBadCredentials)
	}
	return Identity{User: user, Backend: "htpasswd"}, nil
}

// reload re-reads the files. A failure, or an empty result where the old
// table had users (a truncated file caught mid-write), keeps the old table.
func (b *htpasswdBackend) reload(why string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	old := b.tab.Load()
	t, err := b.load()
	if err == nil && len(t.users) == 0 && len(old.users) > 0 {
		err = fmt.Errorf("files parse to no users while %d were loaded; keeping them", len(old.users))
	}
	if err != nil {
		b.log.Error("htpasswd: reload failed; keeping the previous users", "trigger", why, "error", err.Error())
		b.reloaded(err)
		return err
	}
	b.tab.Store(t)
	var changed []string
	for u, e := range old.users {
		if n, ok := t.users[u]; !ok || n.Hash != e.Hash {
			changed = append(changed, u)
		}
	}
	if len(changed) > 0 {
		b.changed(changed)
	}
	b.log.Info("htpasswd: reloaded", "trigger", why, "users", len(t.users), "changed", len(changed))
	b.reloaded(nil)
	return nil
}
