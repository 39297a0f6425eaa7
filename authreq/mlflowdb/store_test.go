package mlflowdb

import (
	"context"
	"crypto/pbkdf2"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authreq/authreq/authreq/identity"
	"github.com/authreq/authreq/internal/duration"
	"golang.org/x/crypto/scrypt"
)

// werkzeugScrypt makes a hash as werkzeug does, at the lowest N accepted
// so the tests are quick (TestHashVectors proves the format against
// hashlib).
func werkzeugScrypt(t testing.TB, password, salt string) string {
	sum, err := scrypt.Key([]byte(password), []byte(salt), 1024, 8, 1, 64)
	if err != nil {
		t.Fatal(err)
	}
	return "scrypt:1024:8:1$" + salt + "$" + hex.EncodeToString(sum)
}

func werkzeugPBKDF2(t testing.TB, password, salt string) string {
	sum, err := pbkdf2.Key(sha256.New, password, []byte(salt), 1000, 32)
	if err != nil {
		t.Fatal(err)
	}
	return "pbkdf2:sha256:1000$" + salt + "$" + hex.EncodeToString(sum)
}

// testDB is a database with MLflow's schema, written to as MLflow would.
type testDB struct {
	t  testing.TB
	db *sql.DB
}

// execSchema runs a schema file of testdata.
func (d testDB) execSchema(file string) {
	d.t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		d.t.Fatal(err)
	}
	if _, err := d.db.Exec(string(b)); err != nil {
		d.t.Fatalf("%s: %v", file, err)
	}
}

func (d testDB) exec(q string, args ...any) {
	d.t.Helper()
	if _, err := d.db.Exec(q, args...); err != nil {
		d.t.Fatalf("%s: %v", q, err)
	}
}

func (d testDB) addUser(id int, name, hash string, admin bool) {
	d.t.Helper()
	d.exec("INSERT INTO users (id, username, password_hash, is_admin) VALUES ($1, $2, $3, $4)", id, name, hash, admin)
}

// newSQLite makes a SQLite file with schema and returns its path.
func newSQLite(t testing.TB, schema string) (testDB, string) {
	path := filepath.Join(t.TempDir(), "basic_auth.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	d := testDB{t, db}
	d.execSchema(schema)
	return d, path
}

// logBuf collects the store's log lines.
type logBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func newStore(t testing.TB, uri string, log io.Writer) *Store {
	t.Helper()
	cfg := Defaults()
	cfg.URI = uri
	cfg.Refresh = duration.Duration(time.Hour) // the tests reload by hand
	s, err := New(cfg, slog.New(slog.NewTextHandler(log, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func login(s *Store, user, password string) (identity.Identity, error) {
	return s.Authenticate(context.Background(), identity.Basic{User: user, Password: password})
}

// checkUsers runs the answers every schema must give.
func checkUsers(t *testing.T, s *Store) {
	for _, c := range []struct {
		name, user, password string
		role                 string
		err                  error
	}{
		{"scrypt", "alice", "alice-pw", "user", nil},
		{"pbkdf2", "bob", "bob-pw", "user", nil},
		{"admin", "admin", "password1234", "admin", nil},
		{"wrong password", "alice", "bob-pw", "", identity.ErrBadCredentials},
		{"unknown user", "mallory", "alice-pw", "", identity.ErrUnknownUser},
		{"case matters", "Alice", "alice-pw", "", identity.ErrUnknownUser},
		{"null hash", "nohash", "", "", identity.ErrUnknownUser},
		{"hash out of bounds", "costly", "x", "", identity.ErrUnknownUser},
	} {
		t.Run(c.name, func(t *testing.T) {
			id, err := login(s, c.user, c.password)
			if c.err != nil {
				if !errors.Is(err, c.err) {
					t.Fatalf("err = %v, want %v", err, c.err)
				}
				if c.err == identity.ErrBadCredentials && errors.Is(err, identity.ErrUnknownUser) {
					t.Fatalf("a wrong password must be a definite no, not unknown: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if id.User != c.user || id.Role != c.role || id.Source != "mlflowdb" {
				t.Fatalf("identity = %+v", id)
			}
		})
	}
	t.Run("bearer", func(t *testing.T) {
		_, err := s.Authenticate(context.Background(), identity.Bearer{Token: "x"})
		if !errors.Is(err, identity.ErrUnknownUser) {
			t.Fatalf("err = %v", err)
		}
	})
}

// fill adds the users checkUsers expects.
func fill(t testing.TB, d testDB) {
	d.addUser(1, "admin", werkzeugScrypt(t, "password1234", "adminsalt"), true)
	d.addUser(2, "alice", werkzeugScrypt(t, "alice-pw", "s1"), false)
	d.addUser(3, "bob", werkzeugPBKDF2(t, "bob-pw", "s2"), false)
	d.exec("INSERT INTO users (id, username, password_hash, is_admin) VALUES (4, 'nohash', NULL, NULL)")
	d.addUser(5, "costly", "scrypt:1048576:8:1$salt$"+strings.Repeat("ab", 64), false)
}

func TestSQLiteSchemas(t *testing.T) {
	for _, schema := range []string{"schema-3.8.sql", "schema-3.13.sql"} {
		t.Run(strings.TrimSuffix(schema, ".sql"), func(t *testing.T) {
			d, path := newSQLite(t, schema)
			fill(t, d)
			var log logBuf
			s := newStore(t, "sqlite:///"+path, &log)
			if err := s.Ready(); err != nil {
				t.Fatal(err)
			}
			checkUsers(t, s)
			if !strings.Contains(log.String(), "user=costly") || strings.Contains(log.String(), "abab") {
				t.Errorf("the unusable hash is not logged by user, or the hash shows:\n%s", log.String())
			}
		})
	}
}

func TestSQLiteRelativeURI(t *testing.T) {
	d, path := newSQLite(t, "schema-3.8.sql")
	fill(t, d)
	t.Chdir(filepath.Dir(path))
	s := newStore(t, "sqlite:///basic_auth.db", io.Discard)
	if _, err := login(s, "alice", "alice-pw"); err != nil {
		t.Fatal(err)
	}
}

func TestRefreshSeesChanges(t *testing.T) {
	d, path := newSQLite(t, "schema-3.13.sql")
	fill(t, d)
	s := newStore(t, "sqlite:///"+path, io.Discard)
	var told []string
	s.OnChange(func(users []string) { told = append(told, users...) })

	d.addUser(6, "carol", werkzeugScrypt(t, "carol-pw", "s6"), false)
	d.exec("DELETE FROM users WHERE username = 'bob'")
	d.exec("UPDATE users SET password_hash = $1 WHERE username = 'alice'", werkzeugScrypt(t, "new-pw", "s7"))
	d.exec("UPDATE users SET is_admin = TRUE WHERE username = 'nohash'")
	if err := s.Reload("test"); err != nil {
		t.Fatal(err)
	}
	slices.Sort(told)
	if want := []string{"alice", "bob", "carol", "nohash"}; !slices.Equal(told, want) {
		t.Errorf("told %v, want %v", told, want)
	}
	if _, err := login(s, "carol", "carol-pw"); err != nil {
		t.Errorf("added user: %v", err)
	}
	if _, err := login(s, "bob", "bob-pw"); !errors.Is(err, identity.ErrUnknownUser) {
		t.Errorf("removed user: %v", err)
	}
	if _, err := login(s, "alice", "alice-pw"); !errors.Is(err, identity.ErrBadCredentials) {
		t.Errorf("old password: %v", err)
	}
	if _, err := login(s, "alice", "new-pw"); err != nil {
		t.Errorf("new password: %v", err)
	}
	// Removing every user is a valid state: no one logs in.
	d.exec("DELETE FROM users")
	if err := s.Reload("test"); err != nil {
		t.Fatal(err)
	}
	if _, err := login(s, "admin", "password1234"); !errors.Is(err, identity.ErrUnknownUser) {
		t.Errorf("after deleting all: %v", err)
	}
}

// TestRefreshLoop: the periodic refresh alone picks a new user up.
func TestRefreshLoop(t *testing.T) {
	d, path := newSQLite(t, "schema-3.8.sql")
	fill(t, d)
	cfg := Defaults()
	cfg.URI = "sqlite:///" + path
	cfg.Refresh = duration.Duration(time.Second)
	s, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	d.addUser(6, "carol", werkzeugScrypt(t, "carol-pw", "s6"), false)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := login(s, "carol", "carol-pw"); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("carol not seen after 5s with refresh 1s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestUnreadableKeepsSnapshot: a database that cannot be read keeps the
// users of the last read, and says so in readiness; a read that works again
// clears it.
func TestUnreadableKeepsSnapshot(t *testing.T) {
	d, path := newSQLite(t, "schema-3.8.sql")
	fill(t, d)
	var log logBuf
	s := newStore(t, "sqlite:///"+path, &log)
	moved := path + ".away"
	if err := os.Rename(path, moved); err != nil {
		t.Fatal(err)
	}
	if err := s.Reload("test"); err == nil {
		t.Fatal("reading a missing file worked")
	}
	if _, err := login(s, "alice", "alice-pw"); err != nil {
		t.Errorf("snapshot lost: %v", err)
	}
	err := s.Ready()
	if err == nil || !strings.Contains(err.Error(), "last read failed") {
		t.Errorf("Ready = %v", err)
	}
	if !strings.Contains(log.String(), "keeping the users of the last read") {
		t.Errorf("not logged:\n%s", log.String())
	}
	if err := os.Rename(moved, path); err != nil {
		t.Fatal(err)
	}
	if err := s.Reload("test"); err != nil {
		t.Fatal(err)
	}
	if err := s.Ready(); err != nil {
		t.Errorf("Ready after recovery = %v", err)
	}
}

// TestNeverRead: before the first read every name is unavailable (503),
// never unknown (401); the store reads the database once it appears.
func TestNeverRead(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "basic_auth.db")
	s := newStore(t, "sqlite:///"+path, io.Discard)
	if _, err := login(s, "alice", "alice-pw"); !errors.Is(err, identity.ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
	if err := s.Ready(); err == nil || !strings.Contains(err.Error(), "never read") {
		t.Fatalf("Ready = %v", err)
	}
	if _, err := os.Stat(path); err == nil {
		t.Fatal("the store created the database file")
	}
	d, p2 := newSQLite(t, "schema-3.8.sql")
	fill(t, d)
	b, err := os.ReadFile(p2)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.Reload("test"); err != nil {
		t.Fatal(err)
	}
	if _, err := login(s, "alice", "alice-pw"); err != nil {
		t.Fatal(err)
	}
}

func TestConfig(t *testing.T) {
	abs, _ := filepath.Abs("rel.db")
	for _, c := range []struct {
		uri, want, err string
	}{
		{uri: "sqlite:///rel.db", want: "sqlite:" + abs},
		{uri: "sqlite:////var/lib/mlflow/basic_auth.db", want: "sqlite:/var/lib/mlflow/basic_auth.db"},
		{uri: "sqlite+pysqlite:////x.db", want: "sqlite:/x.db"},
		{uri: "postgresql://mlflow@db:5432/mlflow_auth", want: "pgx:postgresql://mlflow@db:5432/mlflow_auth"},
		{uri: "postgresql+psycopg2://mlflow:s3cret@db/auth?sslmode=require", want: "pgx:postgresql://mlflow:s3cret@db/auth?sslmode=require"},
		{uri: "sqlite://", err: "mlflowAuthDB.uri: sqlite: want a file"},
		{uri: "sqlite:///:memory:", err: "mlflowAuthDB.uri: sqlite: want a file"},
		{uri: "sqlite:///x.db?mode=rw", err: "query parameters"},
		{uri: "mysql://u@h/db", err: "mlflowAuthDB.uri: mysql: unsupported database"},
		{uri: "postgres://u@h/db", err: "wants postgresql://"},
		{uri: "postgresql+odbc://u@h/db", err: "unknown driver"},
		{uri: "postgresql://u:s3cret@h", err: "no database name"},
		{uri: "basic_auth.db", err: "mlflowAuthDB.uri: want sqlite:///path"},
	} {
		t.Run(c.uri, func(t *testing.T) {
			cfg := Defaults()
			cfg.URI = c.uri
			err := cfg.Validate()
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err = %v, want %q", err, c.err)
				}
				if strings.Contains(err.Error(), "s3cret") {
					t.Fatalf("error shows the password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tg, _ := parseURI(c.uri)
			got := tg.driver + ":" + tg.path + tg.pgURL
			if got != c.want {
				t.Fatalf("got %s, want %s", got, c.want)
			}
			if strings.Contains(tg.shown, "s3cret") {
				t.Fatalf("shown has the password: %s", tg.shown)
			}
		})
	}
	for name, c := range map[string]struct {
		cfg Config
		err string
	}{
		"refresh zero":         {Config{URI: "sqlite:///x.db"}, "mlflowAuthDB.refresh: must be at least 1s"},
		"password for sqlite":  {Config{URI: "sqlite:///x.db", PasswordFile: "/p", Refresh: duration.Duration(time.Second)}, "mlflowAuthDB.passwordFile: only for a postgresql"},
		"password without uri": {Config{PasswordFile: "/p"}, "mlflowAuthDB.passwordFile: set, but"},
		"off":                  {Config{}, ""},
	} {
		t.Run(name, func(t *testing.T) {
			err := c.cfg.Validate()
			if (c.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.err)) {
				t.Fatalf("err = %v, want %q", err, c.err)
			}
		})
	}
}

func discardLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
