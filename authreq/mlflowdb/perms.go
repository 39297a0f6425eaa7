package mlflowdb

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
)

// Permission is one of MLflow's per-resource permission rows, for the
// policy: user may do Level on the experiment or registered model ID.
type Permission struct {
	User      string
	Kind      string // "experiment" or "registered_model"
	ID        string // the experiment id, or the registered model's name
	Workspace string // "": any (3.8-era experiment rows have none)
	Level     string // READ, USE, EDIT, MANAGE, NO_PERMISSIONS (3.8-era only)
}

// Permissions is one read of the permission rows.
type Permissions struct {
	// Floor: the rows come from MLflow 3.13+'s role tables, where
	// default_permission is a floor and rows only ever raise a user's
	// level; false for the 3.8-era per-resource tables, where a row
	// replaces default_permission (NO_PERMISSIONS denies).
	Floor   bool
	Rows    []Permission
	Skipped int // rows the policy cannot express (wildcards, other resource types, workspace grants)
}

var levels = []string{"NO_PERMISSIONS", "READ", "USE", "EDIT", "MANAGE"}

// OnPermissions sets who is told the permission rows after each read that
// succeeds (permissions: true only); it is told the current ones at once
// if the database was read already.
func (s *Store) OnPermissions(fn func(Permissions)) {
	s.permsMu.Lock()
	s.onPerms = fn
	s.permsMu.Unlock()
	if t := s.snap.Load(); t != nil && t.perms != nil {
		fn(*t.perms)
	}
}

func (s *Store) tellPermissions(p *Permissions) {
	if p == nil {
		return
	}
	s.permsMu.Lock()
	fn := s.onPerms
	s.permsMu.Unlock()
	if fn != nil {
		fn(*p)
	}
}

// hasTable tells whether the database holds table name.
func hasTable(ctx context.Context, db *sql.DB, driver, name string) (bool, error) {
	q := "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = $1"
	if driver == driverPostgres {
		// Found the way the queries find tables: through the whole
		// search_path, not only current_schema().
		q = "SELECT count(*) FROM (SELECT to_regclass($1) AS t) r WHERE r.t IS NOT NULL"
	}
	var n int
	if err := db.QueryRowContext(ctx, q, name).Scan(&n); err != nil {
		return false, err
	}
	return n > 0, nil
}

// readPermissions reads MLflow's permission rows: the role tables when the
// schema has them (3.13+: the older per-resource tables stay on disk there
// but are no longer maintained, so they are never read), else the
// per-resource tables of the 3.8 era.
func readPermissions(ctx context.Context, db *sql.DB, driver string) (*Permissions, error) {
	rbac, err := hasTable(ctx, db, driver, "role_permissions")
	if err != nil {
		return nil, err
	}
	if rbac {
		return readRolePermissions(ctx, db)
	}
	p := &Permissions{}
	if err := scanPerms(ctx, db, p, "experiment",
		"SELECT u.username, e.experiment_id, '', e.permission FROM experiment_permissions e JOIN users u ON u.id = e.user_id"); err != nil {
		return nil, err
	}
	// The workspace migration (MLflow 3.10) added workspace_permissions
	// and a workspace column to registered_model_permissions.
	ws, err := hasTable(ctx, db, driver, "workspace_permissions")
	if err != nil {
		return nil, err
	}
	q := "SELECT u.username, m.name, '', m.permission FROM registered_model_permissions m JOIN users u ON u.id = m.user_id"
	if ws {
		q = "SELECT u.username, m.name, m.workspace, m.permission FROM registered_model_permissions m JOIN users u ON u.id = m.user_id"
		var n int
		if err := db.QueryRowContext(ctx, "SELECT count(*) FROM workspace_permissions").Scan(&n); err != nil {
			return nil, err
		}
		p.Skipped += n
	}
	if err := scanPerms(ctx, db, p, "registered_model", q); err != nil {
		return nil, err
	}
	return p, nil
}

// scanPerms reads rows (user, id, workspace, permission) of one kind.
func scanPerms(ctx context.Context, db *sql.DB, p *Permissions, kind, q string) error {
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var user, id, ws, perm sql.NullString
		if err := rows.Scan(&user, &id, &ws, &perm); err != nil {
			return err
		}
		if !user.Valid || user.String == "" || !id.Valid {
			p.Skipped++
			continue
		}
		level := perm.String
		if !slices.Contains(levels, level) {
			// A row here replaces the default for its resource: dropping
			// one MLflow cannot read (NULL, unknown) would hand back the
			// default, more than MLflow gives. It denies instead.
			p.Skipped++
			level = "NO_PERMISSIONS"
		}
		p.Rows = append(p.Rows, Permission{User: user.String, Kind: kind, ID: id.String, Workspace: ws.String, Level: level})
	}
	return rows.Err()
}

// readRolePermissions reads the grants of MLflow 3.13+'s roles, per user
// and workspace. Only concrete experiment and registered-model grants
// become policy grants; wildcard patterns ("*"), workspace-wide grants and
// other resource types (scorers, prompts, gateway objects) are counted as
// skipped: the policy cannot express them yet, and skipping a grant can
// only ever deny, never allow more.
func readRolePermissions(ctx context.Context, db *sql.DB) (*Permissions, error) {
	rows, err := db.QueryContext(ctx, `SELECT u.username, r.workspace, rp.resource_type, rp.resource_pattern, rp.permission
FROM role_permissions rp
JOIN roles r ON r.id = rp.role_id
JOIN user_role_assignments a ON a.role_id = r.id
JOIN users u ON u.id = a.user_id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	p := &Permissions{Floor: true}
	for rows.Next() {
		var user, ws, typ, pattern, perm sql.NullString
		if err := rows.Scan(&user, &ws, &typ, &pattern, &perm); err != nil {
			return nil, err
		}
		kind := typ.String
		switch {
		case !user.Valid || user.String == "" || !ws.Valid,
			kind != "experiment" && kind != "registered_model",
			pattern.String == "" || strings.Contains(pattern.String, "*"),
			!slices.Contains(levels[1:], perm.String):
			p.Skipped++
			continue
		}
		p.Rows = append(p.Rows, Permission{User: user.String, Kind: kind, ID: pattern.String, Workspace: ws.String, Level: perm.String})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("role_permissions: %w", err)
	}
	return p, nil
}
