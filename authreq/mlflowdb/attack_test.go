package mlflowdb

import (
	"errors"
	"io"
	"strings"
	"testing"

	"database/sql"
	"github.com/authreq/authreq/internal/realtest"
)

// A password given as a query parameter of the URI (libpq, psycopg2 and
// pgx all take ?password=) would show in every log line and in /readyz's
// body: it is refused, naming the parameter and never its value.
func TestPasswordInQueryRefused(t *testing.T) {
	for _, q := range []string{"password=hunter2", "sslpassword=hunter2", "PassFile=/tmp/x&sslmode=disable"} {
		_, err := parseURI("postgresql://mlflow@127.0.0.1:1/mlflow_auth?" + q)
		if err == nil || strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), "use passwordFile") {
			t.Errorf("%s: %v", q, err)
		}
	}
	tg, err := parseURI("postgresql://mlflow:hunter2@127.0.0.1:1/mlflow_auth?sslmode=disable")
	if err != nil || strings.Contains(tg.shown, "hunter2") || strings.Contains(tg.shown, "sslmode") {
		t.Errorf("shown %q, %v", tg.shown, err)
	}
}

// one row whose is_admin is not 0/1 (SQLite stores whatever it
// is given) fails every read, so the store serves the old snapshot
// forever: a user deleted (or demoted) in MLflow keeps logging in (as admin).
func TestOddRowDisablesOnlyItsUser(t *testing.T) {
	d, path := newSQLite(t, "schema-3.8.sql")
	d.addUser(1, "alice", werkzeugScrypt(t, "alice-pw", "s1"), true)
	s := newStore(t, "sqlite:///"+path, io.Discard)
	if id, err := login(s, "alice", "alice-pw"); err != nil || id.Role != "admin" {
		t.Fatalf("before: %v %v", id, err)
	}
	d.exec("INSERT INTO users (id, username, password_hash, is_admin) VALUES (2, 'x', NULL, 2)")
	d.exec("DELETE FROM users WHERE username = 'alice'")
	if err := s.Reload("test"); err != nil {
		t.Logf("reload: %v", err)
	}
	if id, err := login(s, "alice", "alice-pw"); err == nil {
		t.Errorf("alice deleted in the DB still logs in as %q after the refresh", id.Role)
	}
	_ = errors.New
}

// on PostgreSQL, hasTable looks only in current_schema(), while
// the queries resolve unqualified names through search_path. With the
// default search_path ("$user", public) and a schema named after the login
// role (empty, or holding anything but role_permissions), a 3.13+ database
// in public is read as 3.8-era: the stale experiment_permissions rows
// (unmaintained after the migration) come back, with replace semantics.
func TestPostgresSchemaFoundAsQueriesFindIt(t *testing.T) {
	pg := realtest.StartPostgres(t)
	pg.CreateDB("mlflow_auth")
	db, err := sql.Open("pgx", pg.URL("mlflow_auth"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	d := testDB{t, db}
	d.execSchema("schema-3.13.sql")
	d.addUser(2, "alice", werkzeugScrypt(t, "alice-pw", "s1"), false)
	// A stale row left by the 3.8 era: revoked since in the role tables.
	d.exec("INSERT INTO experiment_permissions (id, experiment_id, user_id, permission) VALUES (1, '9', 2, 'MANAGE')")
	d.exec("CREATE SCHEMA postgres")
	s := newStore(t, pg.URL("mlflow_auth"), io.Discard)
	var got Permissions
	s.OnPermissions(func(p Permissions) { got = p })
	if !got.Floor || len(got.Rows) != 0 {
		t.Errorf("3.13 database read as 3.8-era: floor %v rows %+v", got.Floor, got.Rows)
	}
}
