// Package authreq is the authreq service as a library: an http.Handler that
// answers nginx auth_request subrequests (and ingress-nginx auth-url, Envoy
// HTTP ext_authz, Traefik ForwardAuth, Caddy forward_auth) from htpasswd
// files and LDAP, with a verification cache, hot reload, an audit log and
// Prometheus metrics.
package authreq

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/authreq/authreq/authreq/audit"
	"github.com/authreq/authreq/authreq/identity"
	"github.com/authreq/authreq/authreq/policy"
	"github.com/authreq/authreq/authreq/throttle"
	"github.com/authreq/authreq/authreq/vcache"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/singleflight"
)

// Server is the service. It is an http.Handler.
type Server struct {
	cfg      *Config
	log      *slog.Logger
	backends identity.Chain
	// cheap holds the stores that answer without waiting (API tokens),
	// asked before the cache and the throttle.
	cheap    identity.Chain
	cache    *vcache.Cache
	policy   *policy.Policy
	pool     *cpuPool // CPU-bound hash checks: one worker per core
	netPool  *semGate // directory checks, which wait on the network
	throttle *throttle.Throttle
	flight   singleflight.Group
	audit    *audit.Log
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
	s.cache = vcache.New(cfg.Cache.TTL.D(), cfg.Cache.MaxEntries, func() time.Time { return s.now() })
	th, err := throttle.Open(cfg.RateLimit, func() time.Time { return s.now() }, log)
	if err != nil {
		return nil, err
	}
	s.throttle = th
	s.metrics = newMetrics(func() float64 { return float64(s.cache.Len()) }, th)
	s.backends.Observe = func(backend string, d time.Duration) {
		s.metrics.backendDuration.WithLabelValues(backend).Observe(d.Seconds())
	}
	s.cheap.Observe = s.backends.Observe // token checks too, as backend "token"
	alog, err := audit.Open(cfg.Audit.Output)
	if err != nil {
		th.Close()
		return nil, err
	}
	s.audit = alog
	if s.policy, err = policy.New(cfg.Policy); err != nil {
		alog.Close()
		th.Close()
		return nil, err
	}
	s.pool = newCPUPool(cfg.workers(), cfg.VerifyQueueTimeout.D())
	s.netPool = newSemGate(max(1, cfg.LDAP.PoolSize), cfg.VerifyQueueTimeout.D())
	if err := s.addStores(cfg); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Close stops the stores (and their watchers), disconnects the shared
// throttle store and closes the audit log.
func (s *Server) Close() error {
	err := errors.Join(s.backends.Close(), s.throttle.Close(), s.audit.Close())
	s.pool.Close()
	return err
}

// Reload re-reads the htpasswd files now (SIGHUP) and reopens a file audit
// log (logrotate).
func (s *Server) Reload() {
	for _, b := range s.backends.Stores() {
		if r, ok := b.(identity.Reloader); ok {
			r.Reload("reload signal")
		}
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
		s.serveReady(w, r)
	case p == "/metrics" && s.cfg.MetricsListen == "":
		s.MetricsHandler().ServeHTTP(w, r)
	default:
		http.NotFound(w, r)
	}
}

// readiness is /readyz's body.
type readiness struct {
	Status   string            `json:"status"`   // ok, degraded
	Backends map[string]string `json:"backends"` // name → ok, or "degraded: why"
	// ThrottleStore is the shared throttle store's state (absent without
	// one): ok, or "degraded: why" while each replica throttles alone.
	ThrottleStore string `json:"throttleStore,omitempty"`
}

// serveReady answers 200 once the instance can answer — New has read every
// file, so from the first request on — even with a backend down: a probe
// that fails on a shared directory's outage would take every replica out
// of the Service at once, and with them the cached and break-glass users
// that are still served. The body names each backend's state, and the
// shared throttle store's; with ?strict=true a backend that is down or
// hanging, or the throttle store away, makes it a 503, for monitors and
// alerts.
func (s *Server) serveReady(w http.ResponseWriter, r *http.Request) {
	res := readiness{Status: "ok", Backends: make(map[string]string)}
	for _, b := range s.backends.Stores() {
		state := "ok"
		if r, ok := b.(identity.Readier); ok {
			if err := r.Ready(); err != nil {
				state, res.Status = "degraded: "+err.Error(), "degraded"
			}
		}
		res.Backends[b.Name()] = state
	}
	// A throttle store away is degraded, not down: every replica still
	// limits guessing on its own (each with the whole budget) and admits
	// right passwords, so the probe stays 200 — failing it would take
	// every replica out at once. Monitors asking ?strict=true get a 503:
	// the deployment's limits are multiplied until Redis returns.
	if name, err := s.throttle.Store(); name != "" {
		res.ThrottleStore = "ok"
		if err != nil {
			res.ThrottleStore, res.Status = "degraded: "+err.Error(), "degraded"
		}
	}
	code := http.StatusOK
	if strict, _ := strconv.ParseBool(r.URL.Query().Get("strict")); strict && res.Status != "ok" {
		code = http.StatusServiceUnavailable
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(res)
}
