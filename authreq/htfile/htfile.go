// Package htfile is the htpasswd user store: one or more htpasswd files,
// loaded into an immutable table, watched and reloaded on change.
package htfile

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/authreq/authreq/authreq/identity"
	"github.com/authreq/authreq/htpasswd"
	"github.com/authreq/authreq/internal/decoy"
	"github.com/authreq/authreq/internal/filewatch"
	"github.com/authreq/authreq/internal/userfold"
)

// table is one immutable load of the htpasswd files; reloads swap it whole,
// so readers never lock.
type table struct {
	users map[string]htpasswd.Entry
	// groups maps a user to the groups of the group files that name it,
	// sorted: X-Groups, and the policy's groups.
	groups map[string][]string
	// claimed holds every name of the files, usable hash or not, folded as
	// a directory compares names: what a secondary store must yield to.
	claimed map[string]bool
	// decoys are checked for a name that has no usable hash: one hash of
	// each cost class (scheme and cost) found in the files, weighted by how
	// many users have it. A keyed hash of the name picks the class, so an
	// unknown name costs what a real user's check costs, in the files' own
	// mix, and the same name always costs the same. The result is thrown
	// away.
	decoys decoy.Set[htpasswd.Hash]
}

// Store checks passwords against one or more htpasswd files.
type Store struct {
	files      []string
	groupFiles []string
	rejectWeak bool
	log        *slog.Logger
	tab        atomic.Pointer[table]
	decoyKey   []byte     // random for the life of the process: picks an unknown name's decoy
	mu         sync.Mutex // one reload at a time
	watch      *filewatch.Watcher
	// changed is told which users' hashes changed or vanished in a reload.
	changed func(users []string)
	// reloaded reports each reload's outcome (metrics).
	reloaded func(err error)
}

var (
	_ identity.Authenticator  = (*Store)(nil)
	_ identity.Reloader       = (*Store)(nil)
	_ identity.ChangeNotifier = (*Store)(nil)
	_ identity.Lookuper       = (*Store)(nil)
	_ identity.Claimer        = (*Store)(nil)
)

// fallbackDummy stands in when no file has a usable hash: bcrypt at the
// cost htpw writes.
// The password is random text: random bytes may hold a NUL, which
// Generate refuses (nginx would cut the password there).
var fallbackDummy = func() htpasswd.Hash {
	h, err := htpasswd.Generate(htpasswd.Bcrypt, []byte(rand.Text()), htpasswd.DefaultBcryptCost)
	if err != nil {
		panic("htfile: cannot make a decoy hash: " + err.Error())
	}
	p, err := htpasswd.ParseHash(h)
	if err != nil {
		panic("htfile: cannot read a decoy hash: " + err.Error())
	}
	return p
}

// Config is the `htpasswd:` section of the configuration.
type Config struct {
	Files            []string `yaml:"files"`            // the first file listed wins for a user in several
	GroupFiles       []string `yaml:"groupFiles"`       // Apache AuthGroupFile format, "group: user1 user2"; watched
	RejectWeakHashes bool     `yaml:"rejectWeakHashes"` // plain, {SHA}, {SSHA}, DES crypt, $1$ never match
}

// Validate checks the section; errors name the key under `htpasswd:`.
func (c Config) Validate() error {
	var errs []error
	for i, f := range c.Files {
		if f == "" {
			errs = append(errs, fmt.Errorf("htpasswd.files[%d]: empty path", i))
		}
	}
	for i, f := range c.GroupFiles {
		if f == "" {
			errs = append(errs, fmt.Errorf("htpasswd.groupFiles[%d]: empty path", i))
		}
	}
	if len(c.GroupFiles) > 0 && len(c.Files) == 0 {
		errs = append(errs, errors.New("htpasswd.groupFiles: groups of htpasswd users need htpasswd.files"))
	}
	return errors.Join(errs...)
}

// New loads every file of cfg (a broken one is an error naming the file
// and line: the service refuses to start on it) and watches them.
// onReload, if not nil, is told each reload's outcome (metrics).
func New(cfg Config, log *slog.Logger, onReload func(error)) (*Store, error) {
	files, rejectWeak := cfg.Files, cfg.RejectWeakHashes
	if onReload == nil {
		onReload = func(error) {}
	}
	b := &Store{files: files, groupFiles: cfg.GroupFiles, rejectWeak: rejectWeak, log: log, changed: func([]string) {}, reloaded: onReload,
		decoyKey: make([]byte, 32)}
	rand.Read(b.decoyKey)
	// Watch before the first load, so that no change between the two
	// goes unseen.
	w := filewatch.New("htpasswd", append(slices.Clone(files), cfg.GroupFiles...), log)
	t, err := b.load()
	if err != nil {
		w.Close()
		return nil, err
	}
	b.tab.Store(t)
	w.Start(b.Reload)
	b.watch = w
	return b, nil
}

// Close stops watching the files; Reload still works.
func (b *Store) Close() error {
	b.watch.Close()
	return nil
}

func (b *Store) Name() string { return "htpasswd" }

// OnChange sets who is told of the users a reload changed or removed.
func (b *Store) OnChange(fn func(users []string)) { b.changed = fn }

// load reads every file; the first file listed wins for a user in several.
func (b *Store) load() (*table, error) {
	t := &table{users: make(map[string]htpasswd.Entry), groups: make(map[string][]string), claimed: make(map[string]bool)}
	for _, path := range b.groupFiles {
		g, err := htpasswd.ReadGroupsFile(path)
		if err != nil {
			return nil, err
		}
		for u, gs := range g.Of() {
			t.groups[u] = append(t.groups[u], gs...)
		}
	}
	for u, gs := range t.groups {
		slices.Sort(gs)
		t.groups[u] = slices.Compact(gs)
	}
	for _, path := range b.files {
		f, err := htpasswd.ReadFile(path) // refuses a FIFO before opening it
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
			case htpasswd.Costly(e.Parsed):
				// Valid (nginx accepts it), but no decoy: a spray of unknown
				// names must not be able to pin every CPU slot on it.
				b.log.Warn("htpasswd: hash so costly that each check takes seconds of CPU; rehash it with htpw passwd", "file", path, "line", e.Line, "user", e.User,
					"scheme", string(e.Parsed.Scheme()), "cost", e.Parsed.Cost())
			default:
				t.decoys.Add(string(e.Parsed.Scheme())+"/"+strconv.Itoa(e.Parsed.Cost()), e.Parsed)
			}
			t.users[e.User] = e
			t.claimed[userfold.Key(e.User)] = true
		}
	}
	if t.decoys.Len() == 0 {
		t.decoys.Add("fallback", fallbackDummy())
	}
	return t, nil
}

// decoyFor picks the decoy an unknown name is checked against, by weighted
// rendezvous hashing over a keyed hash of the name: the choice follows the
// files' mix of cost classes, cannot be predicted without the key, and for
// most names survives a reload that changes the mix a little.
func (b *Store) decoyFor(t *table, user string) htpasswd.Hash {
	return t.decoys.For(b.decoyKey, user)
}

// Authenticate checks password; an unknown user or an unusable hash costs a
// check of a decoy hash, so timing does not tell which users exist. A
// wrong password for a user with a usable hash is a definite no; a name
// without one is identity.ErrUnknownUser, for a later backend to decide.
func (b *Store) Authenticate(_ context.Context, c identity.Credentials) (identity.Identity, error) {
	basic, ok := c.(identity.Basic)
	if !ok {
		return identity.Identity{}, fmt.Errorf("%w: htpasswd takes Basic credentials only", identity.ErrUnknownUser)
	}
	user, password := basic.User, basic.Password
	t := b.tab.Load()
	e, ok := t.users[user]
	if !ok || e.Parsed == nil {
		b.decoyFor(t, user).Verify([]byte(password))
		return identity.Identity{}, fmt.Errorf("%w: no usable hash in the htpasswd files", identity.ErrUnknownUser)
	}
	if !e.Parsed.Verify([]byte(password)) {
		return identity.Identity{}, fmt.Errorf("%w: wrong password", identity.ErrBadCredentials)
	}
	return identity.Identity{User: user, Groups: t.groups[user], Source: "htpasswd"}, nil
}

// Lookup finds a user with a usable hash, and its groups, without a
// password (identity.Lookuper).
func (b *Store) Lookup(_ context.Context, user string) (identity.Identity, bool, error) {
	t := b.tab.Load()
	if e, ok := t.users[user]; !ok || e.Parsed == nil {
		return identity.Identity{}, false, nil
	}
	return identity.Identity{User: user, Groups: t.groups[user], Source: "htpasswd"}, true, nil
}

// Claims tells whether the files name user, whatever its hash (a locked
// "user:!" line included), folded as a directory compares names.
func (b *Store) Claims(_ context.Context, user string) (bool, error) {
	return b.tab.Load().claimed[userfold.Key(user)], nil
}

// Reload re-reads the files. A file that cannot be read (vanished, no
// permission) or does not parse keeps the old table: that is a broken
// deployment, not an edit. A valid file takes effect whatever it holds, no
// users at all included, so that deleting the last user revokes it. A file
// caught half-written by an in-place editor fails closed for a moment and
// is loaded whole by the reload that its next write triggers.
func (b *Store) Reload(why string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	old := b.tab.Load()
	t, err := b.load()
	if err != nil {
		b.log.Error("htpasswd: reload failed; keeping the previous users", "trigger", why, "error", err.Error())
		b.reloaded(err)
		return err
	}
	b.tab.Store(t)
	// Users whose hash changed or vanished, and users added: telling of
	// the added too moves the cache's generation on, so that a check that
	// started against the old table (where a new name was unknown) is
	// never shared with a request that arrives after this reload.
	var changed []string
	for u, e := range old.users {
		if n, ok := t.users[u]; !ok || n.Hash != e.Hash || !slices.Equal(old.groups[u], t.groups[u]) {
			changed = append(changed, u)
		}
	}
	for u := range t.users {
		if _, ok := old.users[u]; !ok {
			changed = append(changed, u)
		}
	}
	if len(changed) > 0 {
		b.changed(changed)
	}
	if len(t.users) == 0 {
		b.log.Warn("htpasswd: reloaded; the files hold no users now, so no one logs in through them", "trigger", why, "changed", len(changed))
	} else {
		b.log.Info("htpasswd: reloaded", "trigger", why, "users", len(t.users), "changed", len(changed))
	}
	b.reloaded(nil)
	return nil
}
