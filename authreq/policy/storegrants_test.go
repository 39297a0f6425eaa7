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

	t.Run("every resource and workspace-wide floors (3.13+)", func(t *testing.T) {
		p := mustPolicy(t, "preset: mlflow\ndefaultPermission: READ\ngrants:\n  - {users: [bob], level: NO_PERMISSIONS, experiments: [\"13\"], workspaces: [team-d]}\n")
		bobs := func(l string, exps, models []string, ws string) Grant {
			return Grant{Subjects: Subjects{Users: []string{"bob"}}, Level: l, Experiments: exps, RegisteredModels: models, Workspaces: []string{ws}}
		}
		err := p.SetStoreGrants("mlflowdb", []Grant{
			bobs("EDIT", []string{AnyResource}, nil, "team-a"),
			bobs("MANAGE", nil, []string{AnyResource}, "team-m"),
			bobs("EDIT", nil, nil, "team-w"), // workspace-wide
			bobs("EDIT", []string{AnyResource}, nil, "team-d"),
		}, true)
		if err != nil {
			t.Fatal(err)
		}
		for _, bad := range []Grant{bobs("READ", []string{AnyResource}, nil, "x")} {
			if err := p.SetStoreGrants("other", []Grant{bad}, false); err == nil {
				t.Errorf("%q accepted in a replacing grant", AnyResource)
			}
		}
		in := func(r Request, ws string) Request { r.Workspace = ws; return r }
		runCreate := req("POST", "/api/2.0/mlflow/runs/create", "h")
		modelDelete := req("DELETE", "/api/2.0/mlflow/registered-models/delete", "h")
		gatewayCreate := req("POST", "/api/3.0/mlflow/gateway/endpoints/create", "h")
		check(t, p, upd("8"), false)                   // default workspace: READ only
		check(t, p, in(upd("8"), "team-a"), true)      // every experiment of team-a
		check(t, p, in(runCreate, "team-a"), true)     // the id in the body: any is one of them
		check(t, p, in(modelDelete, "team-a"), false)  // experiments only
		check(t, p, in(modelDelete, "team-m"), true)   // every model of team-m
		check(t, p, in(runCreate, "team-m"), false)    // models only
		check(t, p, in(upd("8"), "team-w"), true)      // workspace-wide: every kind
		check(t, p, in(modelDelete, "team-w"), false)  // …up to its level (EDIT < MANAGE)
		check(t, p, in(gatewayCreate, "team-w"), true) // …beyond experiments and models
		check(t, p, in(upd("8"), "team-d"), true)
		check(t, p, in(upd("13"), "team-d"), false) // the operator's deny at the proxy holds
		check(t, p, in(runCreate, "team-d"), false) // …where the id may be 13, too
	})

	t.Run("denies (3.16)", func(t *testing.T) {
		p := mustPolicy(t, "preset: mlflow\ndefaultPermission: READ\ngrants:\n  - {users: [bob], level: READ, experiments: [\"5\"], workspaces: [team-a]}\n")
		g := func(l string, deny bool, exps []string, ws string) Grant {
			return Grant{Subjects: Subjects{Users: []string{"bob"}}, Level: l, Deny: deny, Experiments: exps, Workspaces: []string{ws}}
		}
		err := p.SetStoreGrants("mlflowdb", []Grant{
			g("EDIT", false, []string{AnyResource}, "team-a"),
			g("", true, []string{"7"}, "team-a"),
			g("", true, []string{"5"}, "team-a"),
			g("EDIT", false, []string{AnyResource}, "team-g"),
			g("", true, nil, "team-g"), // everything in team-g
			g("MANAGE", false, nil, "team-m"),
			g("", true, []string{"7"}, "team-m"),
			g("", true, nil, "team-m"),
		}, true)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.SetStoreGrants("other", []Grant{g("", true, nil, "x")}, false); err == nil {
			t.Error("a deny accepted in a set of replacing grants")
		}
		in := func(r Request, ws string) Request { r.Workspace = ws; return r }
		runCreate := req("POST", "/api/2.0/mlflow/runs/create", "h")
		modelDelete := req("DELETE", "/api/2.0/mlflow/registered-models/delete", "h")
		gateway := req("GET", "/api/3.0/mlflow/gateway/endpoints/list", "h")
		check(t, p, in(upd("8"), "team-a"), true)
		check(t, p, in(upd("7"), "team-a"), false)  // the deny beats the floor on every experiment
		check(t, p, in(get("7"), "team-a"), false)  // …and the default
		check(t, p, in(runCreate, "team-a"), false) // the body's id may be 7
		check(t, p, in(get("5"), "team-a"), true)   // a config grant decides over a store's deny
		check(t, p, in(get("8"), "team-g"), false)  // a deny of everything beats floors…
		check(t, p, in(gateway, "team-g"), false)   // …and the default, on every kind
		check(t, p, in(runCreate, "team-g"), false) // …seen or not
		check(t, p, in(upd("7"), "team-m"), true)   // a workspace admin: no deny holds
		check(t, p, in(runCreate, "team-m"), true)
		check(t, p, in(modelDelete, "team-m"), true)
		check(t, p, in(get("7"), "default"), true) // denies stay in their workspace
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
