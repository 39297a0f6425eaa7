package authreq

import (
	"testing"

	"github.com/authreq/authreq/authreq/policy"
)

// a row in MLflow's users table named like the htpasswd
// break-glass admin logs in as that admin with the row's password: the
// chain goes on after htpasswd's "wrong password", the DB user succeeds
// with X-User root, and policy.admins.users [root] makes it an admin.
func TestDBUserCannotShadowHtpasswdAdmin(t *testing.T) {
	path := newMLflowDB(t, "schema-3.8.sql",
		"INSERT INTO users VALUES (5, 'root', '"+mlflowHash(t, "mlflow-side-pw", "r1")+"', FALSE)").path
	s := newTestServer(t, map[string]string{"root": "break-glass-pw"}, func(c *Config) {
		c.MLflowAuthDB.URI = "sqlite:///" + path
		c.Policy.Preset = "mlflow"
		c.Policy.DefaultPermission = "READ"
		c.Policy.Admins = &policy.Subjects{Users: []string{"root"}}
	})
	res := s.do("GET", "/auth", map[string]string{"Authorization": basic("root", "mlflow-side-pw"),
		"X-Original-URI": "/api/2.0/mlflow/users/create", "X-Original-Method": "POST"})
	if res.StatusCode == 200 {
		t.Errorf("MLflow-DB row 'root' (is_admin FALSE) passes an admin-only endpoint as htpasswd's root: %d X-User %q X-Role %q",
			res.StatusCode, res.Header.Get("X-User"), res.Header.Get("X-Role"))
	}
}

// MLflow-DB permission rows of 'alice' are grants of any
// 'alice', whichever store authenticated her (htpasswd here).
func TestDBGrantsStayWithDBUsers(t *testing.T) {
	path := newMLflowDB(t, "schema-3.8.sql",
		"INSERT INTO users VALUES (2, 'alice', '"+mlflowHash(t, "db-alice-pw", "a1")+"', FALSE)",
		"INSERT INTO experiment_permissions (id, experiment_id, user_id, permission) VALUES (1, '9', 2, 'EDIT')").path
	s := newTestServer(t, map[string]string{"alice": "htpasswd-alice-pw"}, func(c *Config) {
		c.MLflowAuthDB.URI = "sqlite:///" + path
		c.Policy.Preset = "mlflow"
		c.Policy.DefaultPermission = "READ"
	})
	res := s.do("GET", "/auth", map[string]string{"Authorization": basic("alice", "htpasswd-alice-pw"),
		"X-Original-URI": "/api/2.0/mlflow-artifacts/artifacts/9/model.pkl", "X-Original-Method": "PUT"})
	if res.StatusCode == 200 {
		t.Errorf("htpasswd alice got the MLflow-DB alice's EDIT on experiment 9 (X-User %q)", res.Header.Get("X-User"))
	}
}
