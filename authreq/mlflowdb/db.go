package mlflowdb

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite" // the "sqlite" driver: pure Go, no cgo
)

// open prepares the database of t; nothing is connected yet.
func open(t target, passwordFile string) (*sql.DB, error) {
	switch t.driver {
	case driverSQLite:
		// Read-only, never created: a missing file is a read that fails,
		// not an empty database. Each read opens the file anew (no idle
		// connection), so a file replaced by a restore is seen.
		dsn := "file:" + (&url.URL{Path: t.path}).EscapedPath() + "?mode=ro&_pragma=busy_timeout(5000)"
		db, err := sql.Open("sqlite", dsn)
		if err != nil {
			return nil, err
		}
		db.SetMaxOpenConns(1)
		db.SetMaxIdleConns(0)
		return db, nil
	case driverPostgres:
		cc, err := pgx.ParseConfig(t.pgURL)
		if err != nil {
			return nil, fmt.Errorf("mlflowAuthDB.uri: %s", strings.ReplaceAll(err.Error(), t.pgURL, t.shown))
		}
		var opts []stdlib.OptionOpenDB
		if passwordFile != "" {
			if _, err := os.ReadFile(passwordFile); err != nil {
				return nil, fmt.Errorf("mlflowAuthDB.passwordFile: %w", err)
			}
			opts = append(opts, stdlib.OptionBeforeConnect(func(_ context.Context, c *pgx.ConnConfig) error {
				b, err := os.ReadFile(passwordFile)
				if err != nil {
					return fmt.Errorf("mlflowAuthDB.passwordFile: %w", err)
				}
				c.Password = strings.TrimRight(string(b), "\r\n")
				return nil
			}))
		}
		db := stdlib.OpenDB(*cc, opts...)
		db.SetMaxOpenConns(2)
		db.SetMaxIdleConns(1)
		return db, nil
	}
	return nil, fmt.Errorf("mlflowAuthDB.uri: unsupported driver %q", t.driver)
}

// userRow is a row of MLflow's users table.
type userRow struct {
	name  string
	hash  string // "" for NULL
	admin bool
}

// readUsers reads users(username, password_hash, is_admin); rows without
// a name are skipped (the column is nullable in MLflow's schema).
func readUsers(ctx context.Context, db *sql.DB) ([]userRow, error) {
	rows, err := db.QueryContext(ctx, "SELECT username, password_hash, is_admin FROM users")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []userRow
	for rows.Next() {
		// Scanned loosely: one odd row (is_admin 2, a number for a name)
		// must disable that user, not fail every refresh and freeze the
		// last snapshot, with deleted users in it, for good.
		var name, hash, admin any
		if err := rows.Scan(&name, &hash, &admin); err != nil {
			return nil, err
		}
		n, ok := name.(string)
		if b, isBytes := name.([]byte); isBytes {
			n, ok = string(b), true
		}
		if !ok || n == "" {
			continue
		}
		h, _ := hash.(string)
		if b, isBytes := hash.([]byte); isBytes {
			h = string(b)
		}
		out = append(out, userRow{name: n, hash: h, admin: isTrue(admin)})
	}
	return out, rows.Err()
}

// isTrue reads is_admin as MLflow writes it (a boolean, or 0/1 in SQLite);
// anything else is not an admin.
func isTrue(v any) bool {
	switch v := v.(type) {
	case bool:
		return v
	case int64:
		return v == 1
	case []byte:
		return string(v) == "1" || string(v) == "true"
	case string:
		return v == "1" || v == "true"
	}
	return false
}
