// Package mlflowdb is a read-only user store over the database of MLflow's
// basic-auth app (`mlflow server --app-name basic-auth`): its users table
// (werkzeug password hashes, is_admin) is loaded into an immutable
// snapshot, re-read every refresh and on SIGHUP, with its permission rows
// for the policy (perms.go). A database that cannot be
// read keeps the last good snapshot; one never read since start answers
// identity.ErrUnavailable (503), never 401.
package mlflowdb

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/authreq/authreq/authreq/identity"
	"github.com/authreq/authreq/internal/decoy"
)

// user is one row of MLflow's users table.
type user struct {
	raw     string // the stored hash, to tell changes
	hash    *Hash  // nil: no usable hash (NULL, unknown form, out of bounds)
	admin   bool
	hashErr error
}

// snapshot is one read of the database; reloads swap it whole, so readers
// never lock.
type snapshot struct {
	users map[string]user
	// decoys: one hash per cost class in the table, weighted by its users,
	// as in htfile — an unknown name costs what a real user's check costs.
	decoys decoy.Set[*Hash]
	perms  *Permissions // nil with permissions: false
	at     time.Time
}

// Store is the MLflow auth database as a user store.
type Store struct {
	cfg      Config
	target   target
	db       *sql.DB
	log      *slog.Logger
	snap     atomic.Pointer[snapshot]
	decoyKey []byte
	mu       sync.Mutex // one load at a time
	lastErr  atomic.Pointer[error]
	changed  func(users []string)
	reloaded func(err error)
	stop     chan struct{}
	done     chan struct{}
	permsMu  sync.Mutex
	onPerms  func(Permissions)
}

var (
	_ identity.Authenticator  = (*Store)(nil)
	_ identity.Reloader       = (*Store)(nil)
	_ identity.ChangeNotifier = (*Store)(nil)
	_ identity.Readier        = (*Store)(nil)
	_ identity.Secondary      = (*Store)(nil)
)

// loadTimeout bounds one read of the database.
const loadTimeout = 10 * time.Second

// New opens the database of a validated, enabled cfg, reads it once and
// re-reads it every cfg.Refresh. A database that cannot be read at start
// is no error (MLflow may start after us): the store answers 503 for
// everyone until a read succeeds, retrying every few seconds. onReload, if
// not nil, is told each read's outcome (metrics).
func New(cfg Config, log *slog.Logger, onReload func(error)) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if !cfg.Enabled() {
		return nil, errors.New("mlflowAuthDB.uri: empty")
	}
	t, _ := parseURI(cfg.URI)
	db, err := open(t, cfg.PasswordFile)
	if err != nil {
		return nil, err
	}
	if onReload == nil {
		onReload = func(error) {}
	}
	s := &Store{cfg: cfg, target: t, db: db, log: log, changed: func([]string) {}, reloaded: onReload,
		decoyKey: make([]byte, 32), stop: make(chan struct{}), done: make(chan struct{})}
	rand.Read(s.decoyKey)
	s.Reload("start")
	go s.refreshLoop()
	return s, nil
}

func (s *Store) Name() string { return "mlflowdb" }

// Secondary: MLflow's users authenticate here only under names no other
// store knows — whoever can write MLflow's database must not be able to log
// in as a break-glass htpasswd account or a directory user of that name.
func (s *Store) Secondary() bool { return true }

// OnChange sets who is told of the users a read changed, added or removed.
// It takes the load lock: the refreshes may already run.
func (s *Store) OnChange(fn func(users []string)) {
	s.mu.Lock()
	s.changed = fn
	s.mu.Unlock()
}

// Close stops the refreshes and closes the database.
func (s *Store) Close() error {
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	<-s.done
	return s.db.Close()
}

func (s *Store) refreshLoop() {
	defer close(s.done)
	for {
		every := s.cfg.Refresh.D()
		if s.snap.Load() == nil {
			every = min(every, 2*time.Second) // never read yet: try again soon
		}
		select {
		case <-s.stop:
			return
		case <-time.After(every):
			s.Reload("refresh")
		}
	}
}

// Ready says why the store cannot answer as it should: never read (503
// for its users), or serving an old snapshot because the last read failed.
func (s *Store) Ready() error {
	p := s.lastErr.Load()
	if p == nil {
		return nil
	}
	snap := s.snap.Load()
	if snap == nil {
		return fmt.Errorf("%s never read since start: %v", s.target.shown, *p)
	}
	return fmt.Errorf("%s: last read failed, serving the users read at %s: %v", s.target.shown, snap.at.UTC().Format(time.RFC3339), *p)
}

// Reload reads the database now. A read that fails keeps the previous
// snapshot; one that succeeds takes effect whatever it holds, no users
// included.
func (s *Store) Reload(why string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), loadTimeout)
	defer cancel()
	t, err := s.load(ctx)
	if err != nil {
		s.lastErr.Store(&err)
		if s.snap.Load() == nil {
			s.log.Error("mlflowdb: cannot read the database; its users get 503 until it can be read", "db", s.target.shown, "trigger", why, "error", err.Error())
		} else {
			s.log.Error("mlflowdb: cannot read the database; keeping the users of the last read", "db", s.target.shown, "trigger", why, "error", err.Error())
		}
		s.reloaded(err)
		return err
	}
	old := s.snap.Load()
	// The rows first: a new user must not pass, even for a moment,
	// before the denies that come with it.
	s.tellPermissions(t.perms)
	s.snap.Store(t)
	s.lastErr.Store(nil)
	if t.perms != nil && (old == nil || old.perms == nil || old.perms.Skipped != t.perms.Skipped) && t.perms.Skipped > 0 {
		s.log.Warn("mlflowdb: permission rows that grant what a proxy cannot place (runs, scorers, versions, gateway and MCP objects, …) are ignored; those users get the policy's level without them",
			"db", s.target.shown, "skipped", t.perms.Skipped)
	}
	if old != nil {
		if changed := diff(old, t); len(changed) > 0 {
			s.changed(changed)
			s.log.Info("mlflowdb: users changed", "db", s.target.shown, "trigger", why, "users", len(t.users), "changed", len(changed))
		}
	} else {
		s.log.Info("mlflowdb: read", "db", s.target.shown, "trigger", why, "users", len(t.users))
	}
	s.reloaded(nil)
	return nil
}

// diff lists the users whose hash or admin flag changed, and those added
// or removed: telling of the added too moves the cache's generation on (as
// htfile does).
func diff(old, t *snapshot) []string {
	var changed []string
	for name, u := range old.users {
		if n, ok := t.users[name]; !ok || n.raw != u.raw || n.admin != u.admin {
			changed = append(changed, name)
		}
	}
	for name := range t.users {
		if _, ok := old.users[name]; !ok {
			changed = append(changed, name)
		}
	}
	return changed
}

// load reads the users table into a new snapshot.
func (s *Store) load(ctx context.Context) (*snapshot, error) {
	rows, err := readUsers(ctx, s.db)
	if err != nil {
		return nil, err
	}
	t := &snapshot{users: make(map[string]user, len(rows)), at: time.Now()}
	if s.cfg.Permissions {
		if t.perms, err = readPermissions(ctx, s.db, s.target.driver); err != nil {
			return nil, fmt.Errorf("permissions: %w", err)
		}
	}
	for _, r := range rows {
		u := user{raw: r.hash, admin: r.admin}
		if r.hash == "" {
			u.hashErr = errors.New("no password hash")
		} else if h, err := ParseHash(r.hash); err != nil {
			u.hashErr = err
		} else {
			u.hash = h
			t.decoys.Add(h.Class(), h)
		}
		if u.hashErr != nil {
			if old := s.snap.Load(); old == nil || old.users[r.name].raw != u.raw {
				s.log.Warn("mlflowdb: unusable password hash; this user cannot log in", "user", r.name, "reason", u.hashErr.Error())
			}
		}
		t.users[r.name] = u
	}
	if t.decoys.Len() == 0 {
		t.decoys.Add("fallback", fallbackDecoy)
	}
	return t, nil
}

// fallbackDecoy stands in when no user has a usable hash: werkzeug's
// default, what MLflow writes.
var fallbackDecoy = func() *Hash {
	sum := make([]byte, scryptKeyLen)
	rand.Read(sum)
	h, err := ParseHash("scrypt:32768:8:1$" + rand.Text()[:16] + "$" + hex.EncodeToString(sum))
	if err != nil {
		panic("mlflowdb: cannot make a decoy hash: " + err.Error())
	}
	return h
}()

// decoyFor picks an unknown name's decoy by weighted rendezvous hashing
// over a keyed hash of the name (as htfile does): the table's own mix of
// cost classes, unpredictable without the key, the same for the same name.
func (s *Store) decoyFor(t *snapshot, name string) *Hash {
	return t.decoys.For(s.decoyKey, name)
}

// Authenticate checks a Basic password against the user's werkzeug hash.
// An unknown name, or one without a usable hash, costs a decoy check and
// is identity.ErrUnknownUser (a later store may know it); before the first
// successful read every name is identity.ErrUnavailable.
// Lookup finds a user with a usable hash, and its role, without a
// password (identity.Lookuper: for its API tokens). A database never read
// since start cannot tell: an error, so the token is refused with a 503.
func (s *Store) Lookup(_ context.Context, user string) (identity.Identity, bool, error) {
	t := s.snap.Load()
	if t == nil {
		return identity.Identity{}, false, fmt.Errorf("%w: the MLflow user database was never read since start", identity.ErrUnavailable)
	}
	u, ok := t.users[user]
	if !ok || u.hash == nil {
		return identity.Identity{}, false, nil
	}
	return u.identity(user), true, nil
}

func (s *Store) Authenticate(_ context.Context, c identity.Credentials) (identity.Identity, error) {
	basic, ok := c.(identity.Basic)
	if !ok {
		return identity.Identity{}, fmt.Errorf("%w: the MLflow user database takes Basic credentials only", identity.ErrUnknownUser)
	}
	t := s.snap.Load()
	if t == nil {
		return identity.Identity{}, fmt.Errorf("%w: the MLflow user database was never read since start", identity.ErrUnavailable)
	}
	u, ok := t.users[basic.User]
	if !ok || u.hash == nil {
		s.decoyFor(t, basic.User).Verify([]byte(basic.Password))
		return identity.Identity{}, fmt.Errorf("%w: no usable hash in the MLflow user database", identity.ErrUnknownUser)
	}
	if !u.hash.Verify([]byte(basic.Password)) {
		return identity.Identity{}, fmt.Errorf("%w: wrong password", identity.ErrBadCredentials)
	}
	return u.identity(basic.User), nil
}

// identity is how the user logs in: role admin for is_admin.
func (u user) identity(name string) identity.Identity {
	id := identity.Identity{User: name, Role: "user", Source: "mlflowdb"}
	if u.admin {
		id.Role = "admin"
	}
	return id
}
