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
	Kind      string // "experiment", "registered_model", or "workspace" (3.13+: every resource of Workspace)
	ID        string // the experiment id, or the registered model's name; AnyPattern for every one (3.13+)
	Workspace string // "": any (3.8-era experiment rows have none)
	Level     string // READ, USE, EDIT, MANAGE; NO_PERMISSIONS (3.8-era only); Deny (3.13+)
}

// Permissions is one read of the permission rows.
type Permissions struct {
	// Floor: the rows come from MLflow 3.13+'s role tables, where
	// default_permission is a floor and rows only ever raise a user's
	// level; false for the 3.8-era per-resource tables, where a row
	// replaces default_permission (NO_PERMISSIONS denies).
	Floor   bool
	Rows    []Permission
	Skipped int // rows the policy cannot express (other resource types, unknown levels or patterns)
}

// AnyPattern is MLflow's role pattern for every resource of a type.
const AnyPattern = "*"

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

// rbacBeforeMigration is the revision of MLflow's auth schema that added
// the role tables: its runtime still read the per-resource tables, and
// roles only raised their rows. The next revisions moved the rows into
// roles (e5f6a7b8c9d0) and read roles only.
const rbacBeforeMigration = "c3d4e5f6a7b8"

// readPermissions reads MLflow's permission rows: the role tables when the
// schema has them and its rows were moved there (3.13+: the older
// per-resource tables stay on disk but are no longer maintained, so they
// are never read), else the per-resource tables (3.8 era; 3.10+ with
// workspace_permissions). A schema whose role tables came before the move
// is read as the older one, its role rows skipped: they could only have
// raised a level.
func readPermissions(ctx context.Context, db *sql.DB, driver string) (*Permissions, error) {
	rbac, err := hasTable(ctx, db, driver, "role_permissions")
	if err != nil {
		return nil, err
	}
	p := &Permissions{}
	if rbac {
		// Alembic keeps one row; anything else is not a schema
		// before the move.
		var n, before int
		if err := db.QueryRowContext(ctx, "SELECT count(*), count(CASE WHEN version_num = $1 THEN 1 END) FROM alembic_version", rbacBeforeMigration).Scan(&n, &before); err != nil {
			return nil, fmt.Errorf("alembic_version: %w", err)
		}
		if n != 1 || before != 1 {
			return readRolePermissions(ctx, db)
		}
		if err := db.QueryRowContext(ctx, "SELECT count(*) FROM role_permissions rp JOIN user_role_assignments a ON a.role_id = rp.role_id").Scan(&p.Skipped); err != nil {
			return nil, err
		}
	}
	if err := scanPerms(ctx, db, p, "experiment", false,
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
		// A user's level in a workspace where no row of a resource
		// is theirs: a global grant there, replacing the default
		// (NO_PERMISSIONS denies the workspace).
		if err := scanPerms(ctx, db, p, "workspace", true,
			"SELECT u.username, '*', w.workspace, w.permission FROM workspace_permissions w JOIN users u ON u.id = w.user_id"); err != nil {
			return nil, err
		}
	}
	if err := scanPerms(ctx, db, p, "registered_model", ws, q); err != nil {
		return nil, err
	}
	return p, nil
}

// scanPerms reads rows (user, id, workspace, permission) of one kind;
// hasWS: the query reads a workspace column (3.10+).
func scanPerms(ctx context.Context, db *sql.DB, p *Permissions, kind string, hasWS bool, q string) error {
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
		if !user.Valid || user.String == "" || !id.Valid || hasWS && ws.String == "" {
			// An empty workspace matches none in MLflow ("" here
			// would mean every one).
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
// and workspace, as MLflow 3.16 resolves them: a row names a resource by
// id or name, or every one of its type (pattern "*"); positive rows only
// raise a user's level over default_permission, DENY rows forbid and beat
// everything but a workspace admin (a workspace-wide MANAGE row).
//
// The policy sees experiments (with what lives in them) and registered
// models (with prompts and versions) as two families, and the request's
// workspace. So: experiment, registered_model and prompt rows become
// grants of their family; a workspace-wide MANAGE row becomes a
// workspace-wide grant (a USE row there only lets a member create, which
// the policy already asks EDIT for, and is skipped). Other positive rows
// (runs, traces, scorers, versions, gateway and MCP objects) are skipped:
// that can only deny. A deny the policy cannot place exactly is widened
// instead of skipped, since skipping it would allow what MLflow forbids:
// of a sub-resource, to every resource of its family; of a type outside
// both families (gateway, MCP, types newer than this code), to everything
// in the workspace. The legacy NO_PERMISSIONS level, and levels unknown
// here, deny too.
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
	every := make(map[[3]string]string) // {user, workspace, type} → the highest "*" level of a model or prompt
	for rows.Next() {
		var user, ws, typ, pattern, perm sql.NullString
		if err := rows.Scan(&user, &ws, &typ, &pattern, &perm); err != nil {
			return nil, err
		}
		r, ok := roleRow(user, ws, typ, pattern, perm)
		switch {
		case !ok:
			p.Skipped++
		case r.Kind == "registered_model" && r.ID == AnyPattern && r.Level != Deny:
			k := [3]string{r.User, r.Workspace, typ.String}
			every[k] = higher(every[k], r.Level)
		default:
			p.Rows = append(p.Rows, r)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("role_permissions: %w", err)
	}
	// A proxy cannot tell a prompt's name from a model's: a grant on
	// every one of them counts for the family up to the lower of the
	// two, and not at all without both.
	for k, l := range every {
		if k[2] != "registered_model" {
			continue
		}
		if pl, ok := every[[3]string{k[0], k[1], "prompt"}]; ok {
			p.Rows = append(p.Rows, Permission{User: k[0], Kind: "registered_model", ID: AnyPattern, Workspace: k[1], Level: lower(l, pl)})
		} else {
			p.Skipped++
		}
	}
	for k := range every {
		if _, ok := every[[3]string{k[0], k[1], "registered_model"}]; k[2] == "prompt" && !ok {
			p.Skipped++
		}
	}
	return p, nil
}

// Deny is the level of a permission that forbids (MLflow 3.16's DENY).
const Deny = "DENY"

// families places MLflow's resource types: experiment or registered_model
// for those whose ids the policy matches, "sub:<family>" for types that
// live in one, whose ids it cannot see.
var families = map[string]string{
	"experiment": "experiment", "registered_model": "registered_model", "prompt": "registered_model",
	"run": "sub:experiment", "trace": "sub:experiment", "assessment": "sub:experiment",
	"logged_model": "sub:experiment", "review_queue": "sub:experiment",
	"scorer": "sub:experiment", "scorer_version": "sub:experiment",
	"registered_model_version": "sub:registered_model", "prompt_version": "sub:registered_model",
}

// roleRow is one role_permissions row as a permission of its user, when
// the policy can express it (see readRolePermissions). MLflow matches a
// pattern by equality, or "*" for every resource of the type.
func roleRow(user, ws, typ, pattern, perm sql.NullString) (Permission, bool) {
	if !user.Valid || user.String == "" || !ws.Valid || ws.String == "" || !pattern.Valid || pattern.String == "" {
		return Permission{}, false // matches nothing in MLflow
	}
	r := Permission{User: user.String, Workspace: ws.String, ID: pattern.String, Level: perm.String}
	deny := !slices.Contains(levels[1:], r.Level)
	if deny {
		r.Level = Deny
	}
	fam, known := families[typ.String]
	switch {
	case typ.String == "workspace":
		switch {
		case deny: // MLflow grants none; read as what it says, never skipped
			r.Kind, r.ID = "workspace", AnyPattern
		case r.Level != "MANAGE" || r.ID != AnyPattern:
			return Permission{}, false // not a workspace admin; MLflow takes only "*" here
		default:
			r.Kind = "workspace"
		}
	case fam == "experiment" || fam == "registered_model":
		r.Kind = fam
	case !deny:
		return Permission{}, false
	case known: // a deny of something inside a family: all of it
		r.Kind, r.ID = strings.TrimPrefix(fam, "sub:"), AnyPattern
	default: // a deny of a type no family holds: the whole workspace
		r.Kind, r.ID = "workspace", AnyPattern
	}
	return r, true
}

func higher(a, b string) string {
	if slices.Index(levels, b) > slices.Index(levels, a) {
		return b
	}
	return a
}

func lower(a, b string) string {
	if slices.Index(levels, b) < slices.Index(levels, a) {
		return b
	}
	return a
}
