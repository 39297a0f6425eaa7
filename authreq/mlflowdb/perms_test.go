package mlflowdb

import (
	"slices"
	"strings"
	"testing"
)

// fillPerms adds permission rows in the tables of schema: the 3.8-era
// per-resource tables always (3.13+ keeps them on disk, stale), and the
// role tables for 3.13+.
func fillPerms(d testDB, schema string) {
	d.exec("INSERT INTO experiment_permissions (id, experiment_id, user_id, permission) VALUES (1, '7', 2, 'NO_PERMISSIONS'), (2, '9', 2, 'EDIT'), (3, '10', 3, NULL)")
	d.exec("INSERT INTO registered_model_permissions (id, name, user_id, permission) VALUES (1, 'prod', 3, 'MANAGE')")
	if schema != "schema-3.13.sql" {
		return
	}
	d.exec("INSERT INTO workspace_permissions (workspace, user_id, permission) VALUES ('team-a', 2, 'EDIT'), ('team-b', 3, 'NO_PERMISSIONS')")
	d.exec("INSERT INTO roles (id, name, workspace) VALUES (1, '__user_2__', 'default'), (2, 'ml-team', 'team-a'), (3, 'admin', 'team-w')")
	d.exec(`INSERT INTO role_permissions (id, role_id, resource_type, resource_pattern, permission) VALUES
		(1, 1, 'experiment', '9', 'EDIT'),
		(2, 2, 'registered_model', 'churn', 'READ'),
		(3, 2, 'experiment', '*', 'EDIT'),
		(4, 2, 'workspace', '*', 'USE'),
		(5, 2, 'scorer', '9/s', 'READ'),
		(6, 2, 'experiment', '1*', 'MANAGE'),
		(7, 1, 'workspace', 'default', 'MANAGE'),
		(8, 1, 'registered_model', 'prod', 'NO_PERMISSIONS'),
		(9, 1, 'registered_model', '*', 'OWNER'),
		(10, 3, 'workspace', '*', 'MANAGE'),
		(11, 2, 'run', '*', 'DENY'),
		(12, 2, 'gateway_secret', 's1', 'DENY'),
		(13, 2, 'registered_model', '*', 'EDIT'),
		(14, 2, 'prompt', '*', 'READ'),
		(15, 1, 'prompt', 'p1', 'MANAGE'),
		(16, 1, 'prompt', '*', 'EDIT'),
		(17, 2, 'gateway_endpoint', 'e1', 'USE')`)
	d.exec("INSERT INTO user_role_assignments (id, user_id, role_id) VALUES (1, 2, 1), (2, 2, 2), (3, 3, 2), (4, 3, 3)")
}

func permStrings(p Permissions) []string {
	var out []string
	for _, r := range p.Rows {
		out = append(out, strings.Join([]string{r.User, r.Kind, r.ID, r.Workspace, r.Level}, " "))
	}
	slices.Sort(out)
	return out
}

// checkPerms: 3.8-era rows as they are (NO_PERMISSIONS included, NULL
// skipped), replacing; 3.13+ rows from the role tables only, floors, with
// what the policy cannot express skipped.
func checkPerms(t *testing.T, s *Store, schema string) {
	var got []Permissions
	s.OnPermissions(func(p Permissions) { got = append(got, p) })
	if len(got) != 1 {
		t.Fatalf("told %d times at OnPermissions, want once", len(got))
	}
	p := got[0]
	want, floor, skipped := []string{
		"alice experiment 7  NO_PERMISSIONS",
		"alice experiment 9  EDIT",
		"bob experiment 10  NO_PERMISSIONS", // a row MLflow cannot read denies, never hands back the default
		"bob registered_model prod  MANAGE",
	}, false, 1
	if schema == "schema-3.13.sql" {
		// Role 2 (team-a) is alice's and bob's, role 1 (default)
		// alice's, role 3 (team-w) bob's. Skipped: positive rows the
		// policy cannot place (a workspace USE, a scorer, a gateway
		// endpoint: role 2's twice), a workspace row not "*", and a grant
		// on every prompt without one on every model.
		want, floor, skipped = []string{
			"alice experiment * team-a DENY", // a deny of every run: of the family
			"alice experiment * team-a EDIT",
			"alice experiment 1* team-a MANAGE", // MLflow matches it literally
			"alice experiment 9 default EDIT",
			"alice registered_model * default DENY", // an unknown level denies
			"alice registered_model * team-a READ",  // every model EDIT, every prompt READ
			"alice registered_model churn team-a READ",
			"alice registered_model p1 default MANAGE", // a prompt is a registered model here
			"alice registered_model prod default DENY", // NO_PERMISSIONS denies
			"alice workspace * team-a DENY",            // a deny of a gateway secret: the workspace
			"bob experiment * team-a DENY",
			"bob experiment * team-a EDIT",
			"bob experiment 1* team-a MANAGE",
			"bob registered_model * team-a READ",
			"bob registered_model churn team-a READ",
			"bob workspace * team-a DENY",
			"bob workspace * team-w MANAGE",
		}, true, 8
		// 3.13's registered_model_permissions has a workspace column.
		want38 := "bob registered_model prod default MANAGE"
		if slices.Contains(permStrings(p), want38) {
			t.Errorf("read the stale 3.8-era table: %v", permStrings(p))
		}
	}
	if g := permStrings(p); !slices.Equal(g, want) || p.Floor != floor || p.Skipped != skipped {
		t.Errorf("permissions %q floor %v skipped %d,\nwant %q floor %v skipped %d", g, p.Floor, p.Skipped, want, floor, skipped)
	}
	if err := s.Reload("test"); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Errorf("told %d times after a read, want twice", len(got))
	}
}

func TestSQLitePermissions(t *testing.T) {
	for _, schema := range []string{"schema-3.8.sql", "schema-3.13.sql"} {
		t.Run(strings.TrimSuffix(schema, ".sql"), func(t *testing.T) {
			d, path := newSQLite(t, schema)
			fill(t, d)
			fillPerms(d, schema)
			checkPerms(t, newStore(t, "sqlite:///"+path, discardWriter{}), schema)
		})
	}
}

type discardWriter struct{}

func (discardWriter) Write(p []byte) (int, error) { return len(p), nil }

// TestSQLitePermissionsBeforeTheMove: a schema with the role tables but not
// yet the migration that moved the rows into them (MLflow's revision
// c3d4e5f6a7b8, whose runtime still read the per-resource tables and
// workspace_permissions) is read as the older schema; its role rows,
// which could only raise, are skipped.
func TestSQLitePermissionsBeforeTheMove(t *testing.T) {
	d, path := newSQLite(t, "schema-3.13.sql")
	fill(t, d)
	fillPerms(d, "schema-3.13.sql")
	d.exec("UPDATE alembic_version SET version_num = 'c3d4e5f6a7b8'")
	var got []Permissions
	newStore(t, "sqlite:///"+path, discardWriter{}).OnPermissions(func(p Permissions) { got = append(got, p) })
	if len(got) != 1 {
		t.Fatalf("told %d times", len(got))
	}
	want := []string{
		"alice experiment 7  NO_PERMISSIONS",
		"alice experiment 9  EDIT",
		"alice workspace * team-a EDIT", // the level where no row of a resource is alice's
		"bob experiment 10  NO_PERMISSIONS",
		"bob registered_model prod default MANAGE",
		"bob workspace * team-b NO_PERMISSIONS", // nothing in team-b
	}
	// Skipped: the NULL permission, and the 27 role rows of users (a row for each user holding its role).
	if g := permStrings(got[0]); !slices.Equal(g, want) || got[0].Floor || got[0].Skipped != 28 {
		t.Errorf("permissions %q floor %v skipped %d,\nwant %q floor false skipped 28", g, got[0].Floor, got[0].Skipped, want)
	}
}
