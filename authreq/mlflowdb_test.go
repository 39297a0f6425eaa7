package authreq

import (
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/scrypt"
	_ "modernc.org/sqlite"
)

// mlflowHash is a werkzeug scrypt hash at the lowest N mlflowdb accepts.
func mlflowHash(t testing.TB, pw, salt string) string {
	sum, err := scrypt.Key([]byte(pw), []byte(salt), 1024, 8, 1, 64)
	if err != nil {
		t.Fatal(err)
	}
	return "scrypt:1024:8:1$" + salt + "$" + hex.EncodeToString(sum)
}

// mlflowDB is an MLflow basic-auth database in SQLite, made from one of
// mlflowdb/testdata's schemas and rows of the test's.
type mlflowDB struct {
	t    *testing.T
	db   *sql.DB
	path string
}

func newMLflowDB(t *testing.T, schema string, qs ...string) *mlflowDB {
	t.Helper()
	path := filepath.Join(t.TempDir(), "basic_auth.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s, err := os.ReadFile("mlflowdb/testdata/" + schema)
	if err != nil {
		t.Fatal(err)
	}
	d := &mlflowDB{t: t, db: db, path: path}
	d.exec(string(s))
	d.exec(qs...)
	return d
}

func (d *mlflowDB) exec(qs ...string) {
	d.t.Helper()
	for _, q := range qs {
		if _, err := d.db.Exec(q); err != nil {
			d.t.Fatalf("%s: %v", q, err)
		}
	}
}

// server serves the database's users alone, with the mlflow preset.
func (d *mlflowDB) server(deflt string) *testServer {
	return newTestServer(d.t, nil, func(c *Config) {
		c.Htpasswd.Files = nil
		c.MLflowAuthDB.URI = "sqlite:///" + d.path
		c.Policy.Preset = "mlflow"
		c.Policy.DefaultPermission = deflt
	})
}

// mlflowAuth is /auth's answer for user in workspace ws ("": none named).
func mlflowAuth(t *testing.T, s *testServer, user, pw, ws, method, uri string) int {
	t.Helper()
	h := map[string]string{"Authorization": basic(user, pw), "X-Original-URI": uri, "X-Original-Method": method}
	if ws != "" {
		h["X-Mlflow-Workspace"] = ws
	}
	return s.do("GET", "/auth", h).StatusCode
}

// TestMLflowAuthDB: users of MLflow's basic-auth database log in through
// /auth beside the htpasswd users; is_admin is X-Role admin; a changed
// password drops the cached verification on the next read; a database
// that cannot be read keeps its users and makes /readyz?strict=true fail.
func TestMLflowAuthDB(t *testing.T) {
	d := newMLflowDB(t, "schema-3.13.sql", "INSERT INTO users VALUES (1, 'admin', '"+mlflowHash(t, "password1234", "a1")+"', TRUE), (2, 'alice', '"+mlflowHash(t, "alice-pw", "a2")+"', FALSE)")
	path := d.path
	s := newTestServer(t, map[string]string{"root": "root-pw"}, func(c *Config) {
		c.MLflowAuthDB.URI = "sqlite:///" + path
	})
	for _, c := range []struct {
		user, pw string
		code     int
		role     string
	}{
		{"admin", "password1234", 200, "admin"},
		{"alice", "alice-pw", 200, "user"},
		{"root", "root-pw", 200, ""},
		{"alice", "wrong", 401, ""},
		{"nobody", "alice-pw", 401, ""},
	} {
		res := s.do("GET", "/auth", map[string]string{"Authorization": basic(c.user, c.pw)})
		if res.StatusCode != c.code {
			t.Fatalf("%s: %d, want %d", c.user, res.StatusCode, c.code)
		}
		if c.code == 200 && (res.Header.Get("X-User") != c.user || res.Header.Get("X-Role") != c.role) {
			t.Fatalf("%s: X-User %q X-Role %q", c.user, res.Header.Get("X-User"), res.Header.Get("X-Role"))
		}
	}
	ready := func(strict bool) (int, map[string]string) {
		t.Helper()
		p := "/readyz"
		if strict {
			p += "?strict=true"
		}
		res := s.do("GET", p, nil)
		var body readiness
		if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
			t.Fatal(err)
		}
		return res.StatusCode, body.Backends
	}
	if code, b := ready(true); code != 200 || b["mlflowdb"] != "ok" {
		t.Fatalf("readyz: %d %v", code, b)
	}

	// Alice's password changes in MLflow; the next read drops her cached
	// verification.
	d.exec("UPDATE users SET password_hash = '" + mlflowHash(t, "new-pw", "a3") + "' WHERE username = 'alice'")
	s.Reload()
	if res := s.do("GET", "/auth", map[string]string{"Authorization": basic("alice", "alice-pw")}); res.StatusCode != 401 {
		t.Fatalf("old password after the change: %d", res.StatusCode)
	}
	if res := s.do("GET", "/auth", map[string]string{"Authorization": basic("alice", "new-pw")}); res.StatusCode != 200 {
		t.Fatalf("new password: %d", res.StatusCode)
	}

	// The database goes away: the users of the last read still log in,
	// /readyz says degraded, and strict fails.
	if err := os.Rename(path, path+".away"); err != nil {
		t.Fatal(err)
	}
	s.Reload()
	if res := s.do("GET", "/auth", map[string]string{"Authorization": basic("admin", "password1234")}); res.StatusCode != 200 {
		t.Fatalf("admin from the last snapshot: %d", res.StatusCode)
	}
	code, b := ready(false)
	if code != 200 || !strings.HasPrefix(b["mlflowdb"], "degraded: ") {
		t.Fatalf("readyz: %d %v", code, b)
	}
	if code, _ := ready(true); code != http.StatusServiceUnavailable {
		t.Fatalf("readyz?strict=true: %d", code)
	}
}

// TestMLflowAuthDBPermissions: MLflow's 3.8-era permission rows are
// per-resource grants at /auth — an explicit NO_PERMISSIONS denies that
// experiment — and a deleted row stops counting at the next read.
func TestMLflowAuthDBPermissions(t *testing.T) {
	d := newMLflowDB(t, "schema-3.8.sql",
		"INSERT INTO users VALUES (2, 'bob', '"+mlflowHash(t, "bob-pw", "b1")+"', FALSE)",
		"INSERT INTO experiment_permissions (id, experiment_id, user_id, permission) VALUES (1, '7', 2, 'NO_PERMISSIONS'), (2, '9', 2, 'EDIT')")
	s := d.server("READ")
	auth := func(method, uri string) int { t.Helper(); return mlflowAuth(t, s, "bob", "bob-pw", "", method, uri) }
	for _, c := range []struct {
		method, uri string
		code        int
	}{
		{"GET", "/api/2.0/mlflow/experiments/get?experiment_id=7", 403},
		{"GET", "/api/2.0/mlflow/experiments/get?experiment_id=8", 200},
		{"PUT", "/api/2.0/mlflow-artifacts/artifacts/9/model.pkl", 200},
		{"PUT", "/api/2.0/mlflow-artifacts/artifacts/8/model.pkl", 403},
	} {
		if got := auth(c.method, c.uri); got != c.code {
			t.Errorf("%s %s: %d, want %d", c.method, c.uri, got, c.code)
		}
	}
	d.exec("DELETE FROM experiment_permissions WHERE experiment_id = '7'")
	s.Reload()
	if got := auth("GET", "/api/2.0/mlflow/experiments/get?experiment_id=7"); got != 200 {
		t.Errorf("after the row is deleted: %d", got)
	}
}

// TestMLflowAuthDBRolePermissions: an MLflow 3.13+ database's role rows
// through /auth, as MLflow 3.16 resolves them: grants on one resource or
// every one raise the default, denies beat them, a workspace admin beats
// the denies, and each holds in its role's workspace only.
func TestMLflowAuthDBRolePermissions(t *testing.T) {
	d := newMLflowDB(t, "schema-3.13.sql",
		"INSERT INTO users VALUES (2, 'bob', '"+mlflowHash(t, "bob-pw", "b1")+"', FALSE)",
		// Stale 3.8-era rows the role migration copied: never read.
		"INSERT INTO experiment_permissions (id, experiment_id, user_id, permission) VALUES (1, '8', 2, 'MANAGE')",
		"INSERT INTO roles (id, name, workspace) VALUES (1, '__user_2__', 'default'), (2, 'ml', 'team-a'), (3, 'admin', 'team-m')",
		`INSERT INTO role_permissions (id, role_id, resource_type, resource_pattern, permission) VALUES
			(1, 1, 'experiment', '9', 'EDIT'),
			(2, 2, 'experiment', '*', 'EDIT'),
			(3, 2, 'experiment', '7', 'DENY'),
			(4, 3, 'workspace', '*', 'MANAGE'),
			(5, 3, 'experiment', '7', 'DENY')`,
		"INSERT INTO user_role_assignments (id, user_id, role_id) VALUES (1, 2, 1), (2, 2, 2), (3, 2, 3)",
	)
	s := d.server("READ")
	auth := func(ws, method, uri string) int {
		t.Helper()
		return mlflowAuth(t, s, "bob", "bob-pw", ws, method, uri)
	}
	for _, c := range []struct {
		ws, method, uri string
		code            int
	}{
		{"", "PUT", "/api/2.0/mlflow-artifacts/artifacts/9/m.pkl", 200},
		{"", "PUT", "/api/2.0/mlflow-artifacts/artifacts/8/m.pkl", 403}, // the stale row counts for nothing
		{"", "GET", "/api/2.0/mlflow/experiments/get?experiment_id=8", 200},
		{"team-a", "PUT", "/api/2.0/mlflow-artifacts/artifacts/8/m.pkl", 200},
		{"team-a", "POST", "/api/2.0/mlflow/runs/create", 403}, // the body's experiment may be 7
		{"team-a", "GET", "/api/2.0/mlflow/experiments/get?experiment_id=7", 403},
		{"team-a", "DELETE", "/api/2.0/mlflow/registered-models/delete", 403},
		{"team-m", "GET", "/api/2.0/mlflow/experiments/get?experiment_id=7", 200},
		{"team-m", "DELETE", "/api/2.0/mlflow/registered-models/delete", 200},
		{"team-x", "GET", "/api/2.0/mlflow/experiments/get?experiment_id=8", 200},
		{"team-x", "PUT", "/api/2.0/mlflow-artifacts/artifacts/8/m.pkl", 403},
	} {
		if got := auth(c.ws, c.method, c.uri); got != c.code {
			t.Errorf("%s %s in %q: %d, want %d", c.method, c.uri, c.ws, got, c.code)
		}
	}
	// A deny taken back: the grant on every experiment holds for 7 too.
	d.exec("DELETE FROM role_permissions WHERE id = 3")
	s.Reload()
	if got := auth("team-a", "PUT", "/api/2.0/mlflow-artifacts/artifacts/7/m.pkl"); got != 200 {
		t.Errorf("after the deny is deleted: %d", got)
	}
}

// TestMLflowAuthDBTokens: API tokens of MLflow-DB users work as their user
// does (the database's grants; an admin's token is no admin), stop with
// the user, and a token of a name another store holds is that store's
// user, never the database's.
func TestMLflowAuthDBTokens(t *testing.T) {
	d := newMLflowDB(t, "schema-3.8.sql",
		"INSERT INTO users VALUES (2, 'bob', '"+mlflowHash(t, "bob-pw", "b1")+"', FALSE)",
		"INSERT INTO users VALUES (3, 'boss', '"+mlflowHash(t, "boss-pw", "b2")+"', TRUE)",
		"INSERT INTO users VALUES (4, 'alice', '"+mlflowHash(t, "db-alice-pw", "a1")+"', FALSE)",
		"INSERT INTO experiment_permissions (id, experiment_id, user_id, permission) VALUES (1, '9', 2, 'EDIT'), (2, '9', 4, 'EDIT')")
	bobTok, bobTk := newToken(t, "bob", "MANAGE", time.Time{})
	bossTok, bossTk := newToken(t, "boss", "MANAGE", time.Time{})
	aliceTok, aliceTk := newToken(t, "alice", "MANAGE", time.Time{})
	f := filepath.Join(t.TempDir(), "tokens")
	writeTokens(t, f, bobTk, bossTk, aliceTk)
	s := newTestServer(t, map[string]string{"alice": "htpasswd-alice-pw"}, func(c *Config) {
		c.MLflowAuthDB.URI = "sqlite:///" + d.path
		c.Tokens.Files = []string{f}
		c.Policy.Preset = "mlflow"
		c.Policy.DefaultPermission = "READ"
	})
	put9 := "/api/2.0/mlflow-artifacts/artifacts/9/m.pkl"
	for _, c := range []struct {
		name, tok, method, uri string
		code                   int
	}{
		{"bob's grant", bobTok, "PUT", put9, 200},
		{"bob's default", bobTok, "PUT", "/api/2.0/mlflow-artifacts/artifacts/8/m.pkl", 403},
		{"an admin's token is no admin", bossTok, "POST", "/api/2.0/mlflow/users/create", 403},
		{"htpasswd's alice: not the database's grant", aliceTok, "PUT", put9, 403},
	} {
		res := s.do("GET", "/auth", tokenHdr(bearer(c.tok), c.method, c.uri))
		if res.StatusCode != c.code {
			t.Errorf("%s: %d X-User %q, want %d", c.name, res.StatusCode, res.Header.Get("X-User"), c.code)
		}
	}
	d.exec("DELETE FROM experiment_permissions WHERE user_id = 2; DELETE FROM users WHERE id = 2")
	s.Reload()
	if res := s.do("GET", "/auth", tokenHdr(bearer(bobTok), "GET", "/version")); res.StatusCode != 401 {
		t.Errorf("bob was deleted from the database; his token answers %d", res.StatusCode)
	}
}
