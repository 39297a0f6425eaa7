package mlflowdb

import (
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/authreq/authreq/internal/duration"
)

// Config is the `mlflowAuthDB:` section: the database of MLflow's
// basic-auth app (`mlflow server --app-name basic-auth`), read-only.
type Config struct {
	// URI is MLflow's database_uri, in SQLAlchemy's syntax:
	// sqlite:///relative.db, sqlite:////absolute.db,
	// postgresql://user@host:5432/db (also postgresql+psycopg2:// and the
	// other postgresql+driver forms). Empty: the store is off.
	URI string `yaml:"uri"`
	// PasswordFile holds the PostgreSQL password (read at each new
	// connection, so a rotated Secret is picked up); it wins over a
	// password in URI.
	PasswordFile string `yaml:"passwordFile"`
	// Refresh is how often users (and permissions) are re-read.
	Refresh duration.Duration `yaml:"refresh"`
	// Permissions: MLflow's permission rows become per-resource grants of
	// the policy (OnPermissions).
	Permissions bool `yaml:"permissions"`
}

// Defaults are the section's defaults.
func Defaults() Config {
	return Config{Refresh: duration.Duration(30 * time.Second), Permissions: true}
}

// Enabled tells whether the section turns the store on.
func (c Config) Enabled() bool { return c.URI != "" }

// Validate checks the section; errors name the key under mlflowAuthDB:.
func (c Config) Validate() error {
	if !c.Enabled() {
		if c.PasswordFile != "" {
			return errors.New("mlflowAuthDB.passwordFile: set, but mlflowAuthDB.uri is empty (the store is off)")
		}
		return nil
	}
	var errs []error
	t, err := parseURI(c.URI)
	if err != nil {
		errs = append(errs, fmt.Errorf("mlflowAuthDB.uri: %w", err))
	} else if c.PasswordFile != "" && t.driver != driverPostgres {
		errs = append(errs, errors.New("mlflowAuthDB.passwordFile: only for a postgresql:// uri"))
	}
	if c.Refresh.D() < time.Second {
		errs = append(errs, errors.New("mlflowAuthDB.refresh: must be at least 1s"))
	}
	return errors.Join(errs...)
}

const (
	driverSQLite   = "sqlite"
	driverPostgres = "pgx"
)

// target is a parsed URI: the database/sql driver and its data source.
type target struct {
	driver string
	path   string // SQLite: the file, absolute
	pgURL  string // PostgreSQL: the URL as pgx takes it
	shown  string // for logs: without a password
}

// parseURI reads a SQLAlchemy URL of a database MLflow's auth app takes.
// Its errors never show a password.
func parseURI(s string) (target, error) {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return target{}, errors.New("want sqlite:///path or postgresql://user@host:port/db")
	}
	dialect, drv, _ := strings.Cut(scheme, "+")
	switch dialect {
	case "sqlite":
		if drv != "" && drv != "pysqlite" {
			return target{}, fmt.Errorf("sqlite+%s: unknown driver (want sqlite:// or sqlite+pysqlite://)", drv)
		}
		// SQLAlchemy: sqlite:///rel.db is relative to the working
		// directory, sqlite:////abs.db absolute; sqlite:// is in memory.
		p, ok := strings.CutPrefix(rest, "/")
		if !ok || p == "" || p == ":memory:" {
			return target{}, errors.New("sqlite: want a file, sqlite:///relative.db or sqlite:////absolute.db")
		}
		if strings.ContainsAny(p, "?#") {
			return target{}, errors.New("sqlite: query parameters are not supported")
		}
		abs, err := filepath.Abs(p)
		if err != nil {
			return target{}, fmt.Errorf("sqlite: %v", err)
		}
		return target{driver: driverSQLite, path: abs, shown: "sqlite:///" + p}, nil
	case "postgresql":
		switch drv {
		case "", "psycopg2", "psycopg", "pg8000", "asyncpg", "psycopg2cffi":
		default:
			return target{}, fmt.Errorf("postgresql+%s: unknown driver", drv)
		}
		u, err := url.Parse("postgresql://" + rest)
		if err != nil {
			return target{}, errors.New("postgresql: not a URL (user@host:port/db)")
		}
		if u.Path == "" || u.Path == "/" {
			return target{}, errors.New("postgresql: no database name (postgresql://user@host:5432/db)")
		}
		for k := range u.Query() {
			switch strings.ToLower(k) {
			case "password", "sslpassword", "passfile":
				// It would show in every log line and in /readyz.
				return target{}, fmt.Errorf("postgresql: %s in the URI: use passwordFile", k)
			}
		}
		shown := *u
		shown.User = url.User(u.User.Username())
		shown.RawQuery = ""
		return target{driver: driverPostgres, pgURL: u.String(), shown: shown.String()}, nil
	case "postgres":
		return target{}, errors.New("postgres://: SQLAlchemy (and so MLflow) wants postgresql://")
	}
	return target{}, fmt.Errorf("%s: unsupported database (want sqlite or postgresql)", dialect)
}
