package authreq

import (
	"context"
	"errors"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// serveAuth answers one auth subrequest: 200 with identity headers, 401
// with a Basic challenge, or 503 for our own faults (nginx shows 500):
// never a 401 for an outage, never a 200 on doubt.
func (s *Server) serveAuth(w http.ResponseWriter, r *http.Request) {
	start := s.now()
	rec := &auditRecord{Time: start, RequestID: r.Header.Get("X-Request-ID"), ClientIP: clientIP(r, s.cfg.RateLimit.trusted)}
	rec.Method, rec.URI, rec.Host = original(r)
	h := w.Header()
	h.Set("Cache-Control", "no-store")

	defer func() {
		d := s.now().Sub(start)
		rec.Latency = d.Seconds()
		s.metrics.requestDuration.Observe(d.Seconds())
		s.metrics.decisions.WithLabelValues(rec.Decision, rec.Backend).Inc()
		s.audit.Write(rec)
	}()

	user, password, present, ok := credentials(r)
	if !ok {
		rec.Decision, rec.Reason = decisionDeny, "no credentials"
		if present {
			rec.Reason = "malformed credentials"
		}
		s.challenge(w)
		return
	}
	rec.User = user

	key := s.cache.Key(user, password)
	id, hit := s.cache.Get(key)
	if hit {
		s.metrics.cacheHits.Inc()
	} else {
		s.metrics.cacheMisses.Inc()
		// Cached answers skip the throttle: they were right already, and
		// whoever shares an address with a guesser keeps working.
		if ok, retry, scope := s.throttle.allow(user, rec.ClientIP); !ok {
			rec.Decision, rec.Reason = decisionThrottled, "too many failures ("+scope+")"
			s.metrics.throttled.WithLabelValues(scope).Inc()
			w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(retry.Seconds()))))
			s.challenge(w)
			return
		}
		var err error
		id, err = s.verify(r.Context(), key, user, password)
		switch {
		case errors.Is(err, ErrBadCredentials):
			s.throttle.failure(user, rec.ClientIP)
			rec.Decision, rec.Reason = decisionDeny, "bad credentials"
			s.challenge(w)
			return
		case err != nil:
			rec.Decision, rec.Reason = decisionError, err.Error()
			if errors.Is(err, errQueueTimeout) {
				s.metrics.queueTimeouts.Inc()
			}
			s.log.Error("auth: cannot decide; failing closed", "user", user, "error", err.Error())
			w.Header().Set("Retry-After", "1")
			http.Error(w, "authentication unavailable", http.StatusServiceUnavailable)
			return
		}
	}
	if !hit {
		s.throttle.success(user, rec.ClientIP)
	}
	rec.Decision, rec.Backend, rec.Role, rec.CacheHit = decisionAllow, id.Backend, id.Role, hit
	h.Set(s.cfg.Headers.User, id.User)
	h.Set("X-Auth-Request-User", id.User)
	if len(id.Groups) > 0 {
		h.Set(s.cfg.Headers.Groups, strings.Join(id.Groups, ","))
	}
	if id.Role != "" {
		h.Set(s.cfg.Headers.Role, id.Role)
	}
	w.WriteHeader(http.StatusOK)
}

// verify runs a password check in the bounded pool. Identical concurrent
// checks (same HMAC key) share one run; the result is cached unless the
// files changed meanwhile.
func (s *Server) verify(ctx context.Context, key cacheKey, user, password string) (Identity, error) {
	gen := s.cache.Gen()
	// The shared run must not die with whichever request started it.
	ctx = context.WithoutCancel(ctx)
	v, err, _ := s.flight.Do(string(key[:]), func() (any, error) {
		release, err := s.pool.acquire(ctx)
		if err != nil {
			return Identity{}, err
		}
		defer release()
		start := time.Now()
		id, err := s.backends.Authenticate(ctx, user, password)
		backend := id.Backend
		if backend == "" {
			backend = "none"
		}
		s.metrics.backendDuration.WithLabelValues(backend).Observe(time.Since(start).Seconds())
		if err == nil {
			s.cache.Put(key, id, gen)
		}
		return id, err
	})
	return v.(Identity), err
}

func (s *Server) challenge(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Basic realm="`+s.cfg.Realm+`", charset="UTF-8"`)
	http.Error(w, "authentication required", http.StatusUnauthorized)
}

// original tells what the client asked nginx (or another proxy) for, from
// the headers each proxy sets; under Envoy's ext_authz the original path
// follows /auth in our own path.
func original(r *http.Request) (method, uri, host string) {
	hdr := func(names ...string) string {
		for _, n := range names {
			if v := r.Header.Get(n); v != "" {
				return v
			}
		}
		return ""
	}
	method = hdr("X-Original-Method", "X-Forwarded-Method")
	uri = hdr("X-Original-URI", "X-Forwarded-Uri")
	host = hdr("X-Forwarded-Host")
	if u, err := url.Parse(r.Header.Get("X-Original-URL")); err == nil && u.Host != "" {
		if uri == "" {
			uri = u.RequestURI()
		}
		if host == "" {
			host = u.Host
		}
	}
	if uri == "" {
		if rest, ok := strings.CutPrefix(r.URL.Path, "/auth"); ok && rest != "" {
			uri = rest
			if r.URL.RawQuery != "" {
				uri += "?" + r.URL.RawQuery
			}
		}
	}
	if method == "" {
		method = r.Method
	}
	if host == "" {
		host = r.Host
	}
	return method, truncate(uri, 2048), truncate(host, 256)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…(" + strconv.Itoa(len(s)) + " bytes)"
}
