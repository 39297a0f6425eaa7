package mlflowdb

import (
	"database/sql"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/authreq/authreq/authreq/identity"
	"github.com/authreq/authreq/internal/realtest"
	_ "github.com/jackc/pgx/v5/stdlib"
)

// TestPostgres runs the store against a real PostgreSQL, one database per
// MLflow schema, through the URI forms MLflow's users write; then stops the
// server: the users of the last read stay, readiness says why.
func TestPostgres(t *testing.T) {
	pg := realtest.StartPostgres(t)
	for i, schema := range []string{"schema-3.8.sql", "schema-3.13.sql"} {
		name := "mlflow_auth_" + string(rune('a'+i))
		pg.CreateDB(name)
		db, err := sql.Open("pgx", pg.URL(name))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		d := testDB{t, db}
		d.execSchema(schema)
		fill(t, d)
		fillPerms(d, schema)
		uri := pg.URL(name)
		if i == 1 {
			uri = strings.Replace(uri, "postgresql://", "postgresql+psycopg2://", 1)
		}
		t.Run(strings.TrimSuffix(schema, ".sql"), func(t *testing.T) {
			s := newStore(t, uri, io.Discard)
			if err := s.Ready(); err != nil {
				t.Fatal(err)
			}
			checkUsers(t, s)
			t.Run("permissions", func(t *testing.T) { checkPerms(t, s, schema) })
			d.addUser(6, "carol", werkzeugScrypt(t, "carol-pw", "s6"), true)
			if err := s.Reload("test"); err != nil {
				t.Fatal(err)
			}
			if id, err := login(s, "carol", "carol-pw"); err != nil || id.Role != "admin" {
				t.Fatalf("carol: %+v %v", id, err)
			}
		})
	}

	t.Run("password file", func(t *testing.T) {
		pw := filepath.Join(t.TempDir(), "pw")
		os.WriteFile(pw, []byte("not-checked-under-trust\n"), 0o600)
		cfg := Defaults()
		cfg.URI, cfg.PasswordFile = pg.URL("mlflow_auth_a"), pw
		s, err := New(cfg, discardLog(), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if _, err := login(s, "alice", "alice-pw"); err != nil {
			t.Fatal(err)
		}
		cfg.PasswordFile = pw + ".missing"
		if _, err := New(cfg, discardLog(), nil); err == nil || !strings.Contains(err.Error(), "mlflowAuthDB.passwordFile") {
			t.Fatalf("missing password file: %v", err)
		}
	})

	t.Run("outage", func(t *testing.T) {
		s := newStore(t, pg.URL("mlflow_auth_a"), io.Discard)
		pg.Stop()
		defer pg.Start()
		if err := s.Reload("test"); err == nil {
			t.Fatal("read from a stopped server")
		}
		if _, err := login(s, "alice", "alice-pw"); err != nil {
			t.Fatalf("snapshot lost: %v", err)
		}
		if err := s.Ready(); err == nil || strings.Contains(err.Error(), "never read") {
			t.Fatalf("Ready = %v", err)
		}
		// A store started while the server is down answers 503.
		s2 := newStore(t, pg.URL("mlflow_auth_a"), io.Discard)
		if _, err := login(s2, "alice", "alice-pw"); !errors.Is(err, identity.ErrUnavailable) {
			t.Fatalf("never read: %v", err)
		}
	})
}
