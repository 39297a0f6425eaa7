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
	d.exec("INSERT INTO roles (id, name, workspace) VALUES (1, '__user_2__', 'default'), (2, 'ml-team', 'team-a')")
	d.exec(`INSERT INTO role_permissions (id, role_id, resource_type, resource_pattern, permission) VALUES
		(1, 1, 'experiment', '9', 'EDIT'),
		(2, 2, 'registered_model', 'churn', 'READ'),
		(3, 2, 'experiment', '*', 'EDIT'),
		(4, 2, 'workspace', '*', 'USE'),
		(5, 2, 'scorer', '9/s', 'READ')`)
	d.exec("INSERT INTO user_role_assignments (id, user_id, role_id) VALUES (1, 2, 1), (2, 2, 2), (3, 3, 2)")
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
		want, floor, skipped = []string{
			"alice experiment 9 default EDIT",
			"alice registered_model churn team-a READ",
			"bob registered_model churn team-a READ",
		}, true, 6
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
