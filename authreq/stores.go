package authreq

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"

	"github.com/authreq/authreq/authreq/htfile"
	"github.com/authreq/authreq/authreq/identity"
	"github.com/authreq/authreq/authreq/ldapauth"
	"github.com/authreq/authreq/authreq/mlflowdb"
	"github.com/authreq/authreq/authreq/policy"
	"github.com/authreq/authreq/authreq/tokens"
	"github.com/prometheus/client_golang/prometheus"
)

// addStores is the one factory of user stores: every store the config
// enables, in the order the chain asks them — API tokens first (cheap),
// htpasswd next, for local break-glass accounts, then MLflow's user
// database, then the directory. A new store is one case here,
// one config section and one directory. What a store can do beyond
// Authenticate is found by type assertion, never special-cased elsewhere:
// NetworkBound stores wait in a bound of their own instead of taking a CPU
// slot, Cheap stores never wait at all (and are also asked on their own,
// before the cache and the throttle), ChangeNotifiers drop their users' cached verifications, Readiers
// speak in /readyz, Reloaders reload on SIGHUP, collectors export metrics,
// io.Closers close.
func (s *Server) addStores(cfg *Config) error {
	if len(cfg.Tokens.Files) > 0 {
		// First: a token check is a hash and a map lookup.
		b, err := tokens.NewStore(cfg.Tokens, s.log, s.metrics.reloaded)
		if err != nil {
			return fmt.Errorf("tokens: %w", err)
		}
		s.add(b)
	}
	if len(cfg.Htpasswd.Files) > 0 {
		b, err := htfile.New(cfg.Htpasswd, s.log, s.metrics.reloaded)
		if err != nil {
			return fmt.Errorf("htpasswd: %w", err)
		}
		s.add(b)
	}
	if cfg.MLflowAuthDB.Enabled() {
		b, err := mlflowdb.New(cfg.MLflowAuthDB, s.log, s.metrics.reloaded)
		if err != nil {
			return err // names its key
		}
		s.add(b)
		if cfg.MLflowAuthDB.Permissions {
			b.OnPermissions(s.setStoreGrants)
		}
	}
	if cfg.LDAP.Enabled {
		b, err := ldapauth.NewStore(cfg.LDAP, s.log)
		if err != nil {
			return err
		}
		s.add(b)
	}
	warnAuditBesideWatched(cfg, s.log)
	return nil
}

// warnAuditBesideWatched warns when the audit log is written into a
// directory authreq watches for its htpasswd, group or token files: the
// watcher wakes for every change in those directories (it must, to see a
// Kubernetes Secret's symlink swap), so each audit line would cost a file
// event, a read and a wake-up, on every request: through nginx, the server
// CPU of a cached check rose by about half (make bench).
func warnAuditBesideWatched(cfg *Config, log *slog.Logger) {
	out := cfg.Audit.Output
	if out == "stdout" || out == "stderr" {
		return
	}
	// The watch is on the directory itself: compare where the paths lead,
	// through symlinks, not how they are spelled.
	dir := func(p string) string {
		if a, err := filepath.Abs(p); err == nil {
			p = a
		}
		d := filepath.Dir(p)
		if real, err := filepath.EvalSymlinks(d); err == nil {
			return real
		}
		return d
	}
	auditDir := dir(out)
	for _, f := range slices.Concat(cfg.Htpasswd.Files, cfg.Htpasswd.GroupFiles, cfg.Tokens.Files) {
		if dir(f) == auditDir {
			log.Warn("audit.output is in the directory of a watched file: every audit line wakes the file watcher; write the audit log elsewhere (e.g. /var/log/authreq/)",
				"audit", out, "watched", f)
			return
		}
	}
}

// collector is a store that exports metrics of its own.
type collector interface {
	Collectors() []prometheus.Collector
}

func (s *Server) add(b identity.Authenticator) {
	if c, ok := b.(collector); ok {
		s.metrics.reg.MustRegister(c.Collectors()...)
	}
	var gate identity.Gate = s.pool
	if n, ok := b.(identity.NetworkBound); ok && n.NetworkBound() {
		gate = s.netPool
	}
	if c, ok := b.(identity.Cheap); ok && c.Cheap() {
		gate = noWait{}
		s.cheap.Add(b, gate)
	}
	if c, ok := b.(identity.ChangeNotifier); ok {
		c.OnChange(s.cache.DropUsers)
	}
	s.backends.Add(b, gate)
}

// noWait is the gate of cheap stores: they take no slot and never wait.
type noWait struct{}

func (noWait) Do(_ context.Context, fn func()) error { fn(); return nil }

// setStoreGrants hands MLflow's permission rows to the policy as grants
// of their users: per resource, or workspace-wide.
func (s *Server) setStoreGrants(p mlflowdb.Permissions) {
	gs := make([]policy.Grant, 0, len(p.Rows))
	for _, r := range p.Rows {
		g := policy.Grant{Subjects: policy.Subjects{Users: []string{r.User}}, Level: r.Level, Deny: r.Level == mlflowdb.Deny}
		id := r.ID
		if id == mlflowdb.AnyPattern && p.Floor {
			id = policy.AnyResource // a role row's "*"; elsewhere "*" is a name
		}
		switch r.Kind {
		case "registered_model":
			g.RegisteredModels = []string{id}
		case "experiment":
			g.Experiments = []string{id}
		case "workspace": // everything in the workspace: a global grant or deny there
		default:
			continue
		}
		if r.Workspace != "" {
			g.Workspaces = []string{r.Workspace}
		}
		gs = append(gs, g)
	}
	if err := s.policy.SetStoreGrants("mlflowdb", gs, p.Floor); err != nil {
		s.log.Error("mlflowdb: permission rows refused by the policy; the database's users get no level until they are read again", "error", err.Error())
	}
}
