// Package authreq is the authreq service as a library: an http.Handler that
// answers nginx auth_request subrequests (and ingress-nginx auth-url, Envoy
// HTTP ext_authz, Traefik ForwardAuth, Caddy forward_auth) from htpasswd
// files and LDAP, with a verification cache, hot reload, an audit log and
// Prometheus metrics.
package authreq

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/singleflight"
)

// Server is the service. It is an http.Handler.
type Server struct {
	cfg      *Config
	log      *slog.Logger
	backends chain
	htp      *htpasswdBackend // nil without htpasswd files
	watch    *watcher
	cache    *cache
	pool     *verifyPool
	throttle *throttle
	flight   singleflight.Group
	audit    *auditLog
	metrics  *metrics
	now      func() time.Time
}

// New validates cfg and builds the service: it loads every htpasswd file
// (a broken one is an error naming the file and line: the service refuses
// to start on it), connects the LDAP pool, and starts watching the files.
func New(cfg *Config, log *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s := &Server{cfg: cfg, log: log, now: time.Now}
	s.cache = newCache(cfg.Cache.TTL.D(), cfg.Cache.MaxEntries, func() time.Time { return s.now() })
	s.throttle = newThrottle(cfg.RateLimit, func() time.Time { return s.now() })
	s.metrics = newMetrics(func() float64 { return float64(s.cache.Len()) }, func() float64 { return float64(s.throttle.Len()) })
	s.pool = newVerifyPool(cfg.workers(), cfg.VerifyQueueTimeout.D())
	audit, err := openAudit(cfg.Audit.Output)
	if err != nil {
		return nil, err
	}
	s.audit = audit
	if len(cfg.Htpasswd.Files) > 0 {
		w := newWatcher(cfg.Htpasswd.Files, log)
		b, err := newHtpasswdBackend(cfg.Htpasswd.Files, cfg.Htpasswd.RejectWeakHashes, log)
		if err != nil {
			w.Close()
			audit.Close()
			return nil, fmt.Errorf("htpasswd: %w", err)
		}
		b.changed = s.cache.DropUsers
		b.reloaded = s.metrics.reloaded
		s.htp = b
		s.backends = append(s.backends, b)
		w.start(b.reload)
		s.watch = w
	}
	if cfg.LDAP.Enabled {
		b, err := newLDAPBackend(cfg.LDAP, log, s.metrics.reg)
		if err != nil {
			s.Close()
			return nil, err
		}
		s.backends = append(s.backends, b)
	}
	return s, nil
}

// Close stops the watchers and closes the backends and the audit log.
func (s *Server) Close() error {
	if s.watch != nil {
		s.watch.Close()
	}
	var errs []error
	for _, b := range s.backends {
		errs = append(errs, b.Close())
	}
	errs = append(errs, s.audit.Close())
	return errors.Join(errs...)
}

// Reload re-reads the htpasswd files now (SIGHUP) and reopens a file audit
// log (logrotate).
func (s *Server) Reload() {
	if s.htp != nil {
		s.htp.reload("reload signal")
	}
	if err := s.audit.Reopen(); err != nil {
		s.log.Error("audit: reopen failed", "error", err.Error())
	}
}

// MetricsHandler serves /metrics, for a separate metricsListen.
func (s *Server) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{})
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch p := r.URL.Path; {
	case p == "/auth" || strings.HasPrefix(p, "/auth/"):
		s.serveAuth(w, r)
	case p == "/healthz":
		io.WriteString(w, "ok\n")
	case p == "/readyz":
		for _, b := range s.backends {
			if err := b.Ready(); err != nil {
				http.Error(w, b.Name()+": "+err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		io.WriteString(w, "ready\n")
	case p == "/metrics" && s.cfg.MetricsListen == "":
		s.MetricsHandler().ServeHTTP(w, r)
	default:
		http.NotFound(w, r)
	}
}
