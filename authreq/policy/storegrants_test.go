package policy

import (
	"testing"

	"github.com/authreq/authreq/authreq/identity"
)

// TestStoreGrants: grants a store read (MLflow's permission rows) beside
// the config's; 3.8-era rows replace the global level (an explicit
// NO_PERMISSIONS denies), 3.13+ rows are floors that only raise it; a new
// set replaces the store's old one.
func TestStoreGrants(t *testing.T) {
	get := func(exp string) Request { return req("GET", "/api/2.0/mlflow/experiments/get?experiment_id="+exp, "h") }
	upd := func(exp string) Request {
		return req("PUT", "/api/2.0/mlflow-artifacts/artifacts/"+exp+"/m.pkl", "h")
	}
	bob := identity.Identity{User: "bob", Source: "mlflowdb", Role: "user"}
	check := func(t *testing.T, p *Policy, r Request, want bool) {
		t.Helper()
		if d := p.Decide(bob, r); d.Allow != want {
			t.Errorf("%s %s: %+v, want %v", r.Method, r.URI, d, want)
		}
	}

	t.Run("replace", func(t *testing.T) {
		p := mustPolicy(t, "preset: mlflow\ndefaultPermission: READ\n")
		err := p.SetStoreGrants("mlflowdb", []Grant{
			{Subjects: Subjects{Users: []string{"bob"}}, Level: "NO_PERMISSIONS", Experiments: []string{"7"}},
			{Subjects: Subjects{Users: []string{"bob"}}, Level: "EDIT", Experiments: []string{"9"}},
		}, false)
		if err != nil {
			t.Fatal(err)
		}
		check(t, p, get("7"), false) // an explicit deny
		check(t, p, get("8"), true)
		check(t, p, upd("9"), true)
		check(t, p, upd("8"), false)
		// Rows gone in the next read: back to the default.
		if err := p.SetStoreGrants("mlflowdb", nil, false); err != nil {
			t.Fatal(err)
		}
		check(t, p, get("7"), true)
		check(t, p, upd("9"), false)
	})

	t.Run("floor", func(t *testing.T) {
		p := mustPolicy(t, "preset: mlflow\ndefaultPermission: READ\n")
		err := p.SetStoreGrants("mlflowdb", []Grant{
			{Subjects: Subjects{Users: []string{"bob"}}, Level: "NO_PERMISSIONS", Experiments: []string{"7"}},
			{Subjects: Subjects{Users: []string{"bob"}}, Level: "EDIT", Experiments: []string{"9"}, Workspaces: []string{"default"}},
		}, true)
		if err != nil {
			t.Fatal(err)
		}
		check(t, p, get("7"), true) // a floor never lowers
		check(t, p, upd("9"), true)
		check(t, p, upd("8"), false)
		other := upd("9")
		other.Workspace = "team-b"
		check(t, p, other, false)
		// A body-only id: the global level, not lowered by a floor.
		check(t, p, req("POST", "/api/2.0/mlflow/runs/create", "h"), false)
	})

	t.Run("a config per-resource grant decides over a floor", func(t *testing.T) {
		p := mustPolicy(t, "preset: mlflow\ndefaultPermission: READ\ngrants:\n  - {users: [bob], level: NO_PERMISSIONS, experiments: [\"7\"]}\n")
		if err := p.SetStoreGrants("mlflowdb", []Grant{{Subjects: Subjects{Users: []string{"bob"}}, Level: "READ", Experiments: []string{"7"}}}, true); err != nil {
			t.Fatal(err)
		}
		check(t, p, get("7"), false) // the operator's deny at the proxy holds
		check(t, p, get("8"), true)
	})

	t.Run("refused", func(t *testing.T) {
		p := mustPolicy(t, "preset: mlflow\n")
		if err := p.SetStoreGrants("mlflowdb", []Grant{{Subjects: Subjects{Users: []string{"bob"}}, Level: "OWNER"}}, false); err == nil {
			t.Error("unknown level accepted")
		}
		if err := p.SetStoreGrants("mlflowdb", []Grant{{Level: "READ"}}, false); err == nil {
			t.Error("grant without subjects accepted")
		}
	})
}
