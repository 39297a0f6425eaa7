package policy

import (
	"strings"
	"testing"

	"github.com/authreq/authreq/authreq/identity"
	"github.com/authreq/authreq/authreq/policy/mlflow"
)

// levelsPolicy: defaultPermission NO_PERMISSIONS, one user per level, root
// an admin.
func levelsPolicy(t *testing.T) (*Policy, map[string]identity.Identity) {
	p := mustPolicy(t, `
preset: mlflow
defaultPermission: NO_PERMISSIONS
admins: {users: [root]}
grants:
  - {users: [reader], level: READ}
  - {users: [user], level: USE}
  - {users: [editor], level: EDIT}
  - {groups: [managers], level: MANAGE}
`)
	return p, map[string]identity.Identity{
		"NO_PERMISSIONS": {User: "nobody"}, "READ": {User: "reader"}, "USE": {User: "user"},
		"EDIT": {User: "editor"}, "MANAGE": {User: "mia", Groups: []string{"managers"}}, "admin": {User: "root"},
	}
}

// expect is what the preset must answer for a route's action at a level
// ("admin" for an admin).
func expect(action, level string) bool {
	if level == "admin" {
		return true
	}
	switch Action(action) {
	case ActPublic, ActAuthenticated:
		return true
	case ActAdmin:
		return false
	}
	need, _ := Action(action).Needs()
	have, _ := ParseLevel(level)
	return have >= need
}

// Every endpoint of the table, at every level, as GET and HEAD alike.
func TestMLflowPresetEveryRoute(t *testing.T) {
	p, users := levelsPolicy(t)
	for _, r := range mlflow.Routes {
		path := r.Example()
		methods := []string{r.Method}
		if r.Method == "GET" {
			methods = append(methods, "HEAD")
		}
		for _, m := range methods {
			for level, id := range users {
				rq := req(m, path, "mlflow.example")
				d := p.Decide(id, rq)
				if want := expect(r.Action, level); d.Allow != want {
					t.Errorf("%s %s (%s) as %s: %+v, want allow %v", m, path, r.Action, level, d, want)
				}
			}
			if got := p.Public(req(m, path, "mlflow.example")); got != (r.Action == "public") {
				t.Errorf("%s %s (%s): public %v", m, path, r.Action, got)
			}
		}
	}
}

// Anything that is not exactly a known endpoint is unknown: admins only.
func TestMLflowPresetUnknown(t *testing.T) {
	p, users := levelsPolicy(t)
	for _, u := range []string{
		"/api/2.0/mlflow/experiments/get/",           // trailing slash
		"/API/2.0/mlflow/experiments/get",            // case
		"/api/2.0/mlflow/Experiments/get",            // case
		"/api/2.0/mlflow/experiments/%64elete",       // decodes to a known path: fine, it is delete
		"/api/2.0/mlflow/experiments/nonexistent",    // unknown
		"/api/2.0/mlflow//experiments/get",           // empty segment
		"/api/2.0/mlflow/experiments/get;jsessionid", // parameter
		"/api/2.0/mlflow/../mlflow/experiments/get",  // dot segments
		"/api/9.0/mlflow/experiments/get",
		"/health/x", "/static-files", "/etc/passwd",
	} {
		for level, id := range users {
			want := level == "admin"
			method := "GET"
			if strings.Contains(u, "%64elete") {
				method, want = "POST", level == "admin" || level == "MANAGE"
			}
			if d := p.Decide(id, req(method, u, "h")); d.Allow != want {
				t.Errorf("%s %s as %s: %+v, want %v", method, u, level, d, want)
			}
		}
	}
	// A known path with a method MLflow does not route for it.
	for level, id := range users {
		if d := p.Decide(id, req("DELETE", "/api/2.0/mlflow/experiments/get", "h")); d.Allow != (level == "admin") {
			t.Errorf("DELETE on a GET endpoint as %s: %+v", level, d)
		}
	}
}

func TestMLflowPresetResources(t *testing.T) {
	p := mustPolicy(t, `
preset: mlflow
defaultPermission: READ
grants:
  - {users: [bob], level: EDIT, experiments: ["7"]}
  - {users: [carol], level: NO_PERMISSIONS, registeredModels: [prod]}
  - {users: [dan], level: MANAGE, workspaces: [team-a]}
  - {roles: [user], level: EDIT}
`)
	bob, carol, dan := identity.Identity{User: "bob"}, identity.Identity{User: "carol"}, identity.Identity{User: "dan"}
	ldapUser := identity.Identity{User: "lu", Role: "user"}
	ws := func(r Request, w string) Request { r.Workspace = w; return r }
	for _, tt := range []struct {
		name  string
		id    identity.Identity
		r     Request
		allow bool
	}{
		{"read any experiment", bob, req("GET", "/api/2.0/mlflow/experiments/get?experiment_id=8", "h"), true},
		{"update own experiment via artifacts", bob, req("PUT", "/api/2.0/mlflow-artifacts/artifacts/7/model.pkl", "h"), true},
		{"update another via artifacts", bob, req("PUT", "/api/2.0/mlflow-artifacts/artifacts/8/model.pkl", "h"), false},
		{"artifact path in the request's workspace", bob, ws(req("PUT", "/api/2.0/mlflow-artifacts/artifacts/workspaces/w/7/m", "h"), "w"), true},
		{"two workspaces joined", bob, ws(req("GET", "/api/2.0/mlflow/experiments/get?experiment_id=8", "h"), "w, x"), false},
		{"artifact path in another workspace", bob, req("PUT", "/api/2.0/mlflow-artifacts/artifacts/workspaces/w/7/m", "h"), false},
		{"list artifacts of 7 (query path)", carol, req("GET", "/api/2.0/mlflow-artifacts/artifacts?path=7/model", "h"), true},
		{"delete 7 needs MANAGE", bob, req("DELETE", "/api/2.0/mlflow-artifacts/artifacts/7/model.pkl", "h"), false},
		{"every repeated id must pass", bob, req("GET", "/api/2.0/mlflow/experiments/get?experiment_id=7&experiment_id=8", "h"), true},
		{"ids in a POST body are not seen: global level", bob, req("POST", "/api/2.0/mlflow/runs/create?experiment_id=7", "h"), false},
		{"a per-resource grant may lower", carol, req("GET", "/api/2.0/mlflow/registered-models/get?name=prod", "h"), false},
		{"other models keep the global level", carol, req("GET", "/api/2.0/mlflow/registered-models/get?name=dev", "h"), true},
		{"repeated names: every one must pass", carol, req("GET", "/api/2.0/mlflow/registered-models/get?name=dev&name=prod", "h"), false},
		{"workspace grant in its workspace", dan, ws(req("POST", "/api/2.0/mlflow/experiments/delete", "h"), "team-a"), true},
		{"workspace grant elsewhere", dan, ws(req("POST", "/api/2.0/mlflow/experiments/delete", "h"), "team-b"), false},
		{"role grant", ldapUser, req("POST", "/api/2.0/mlflow/runs/log-metric", "h"), true},
		{"users/get of oneself", bob, req("GET", "/api/2.0/mlflow/users/get?username=bob", "h"), true},
		{"users/get of another", bob, req("GET", "/api/2.0/mlflow/users/get?username=carol", "h"), false},
		{"users/get of oneself and another", bob, req("GET", "/api/2.0/mlflow/users/get?username=bob&username=carol", "h"), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if d := p.Decide(tt.id, tt.r); d.Allow != tt.allow {
				t.Errorf("%+v, want %v", d, tt.allow)
			}
		})
	}
}

func TestMLflowPresetSpotChecks(t *testing.T) {
	p, _ := levelsPolicy(t)
	for _, tt := range []struct{ method, path, action string }{
		{"GET", "/api/2.0/mlflow/experiments/get", "read"},
		{"POST", "/api/2.0/mlflow/experiments/create", "create"},
		{"POST", "/ajax-api/2.0/mlflow/experiments/delete", "delete"},
		{"POST", "/api/2.0/mlflow/runs/log-metric", "update"},
		{"POST", "/api/2.0/mlflow/users/create", "admin"},
		{"GET", "/health", "public"},
		{"GET", "/", "authenticated"},
		{"GET", "/static-files/js/main.js", "public"},
	} {
		r, _, ok := p.preset.classify(tt.method, tt.path)
		if !ok || string(r.action) != tt.action {
			t.Errorf("%s %s: %v %q, want %q", tt.method, tt.path, ok, r.action, tt.action)
		}
	}
}
