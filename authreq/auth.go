package authreq

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/authreq/authreq/authreq/audit"
	"github.com/authreq/authreq/authreq/identity"
	"github.com/authreq/authreq/authreq/policy"
	"github.com/authreq/authreq/authreq/request"
	"github.com/authreq/authreq/authreq/throttle"
	"github.com/authreq/authreq/authreq/tokens"
	"github.com/authreq/authreq/authreq/vcache"
	"github.com/authreq/authreq/internal/userfold"
)

// serveAuth answers one auth subrequest: 200 with identity headers, 401
// with a Basic challenge, or 503 for our own faults (nginx shows 500):
// never a 401 for an outage, never a 200 on doubt.
// noStore is every answer's Cache-Control, one slice for all: a header
// value slice is only read (an Add would append to a copy).
var noStore = []string{"no-store"}

func (s *Server) serveAuth(w http.ResponseWriter, r *http.Request) {
	start := s.now()
	rec := &audit.Record{Time: start, RequestID: r.Header.Get("X-Request-Id"), ClientIP: request.ClientIPFrom(r, s.cfg.RateLimit.Trusted(), s.cfg.RateLimit.ClientAddressHeader)}
	orig, origErr := request.OriginalOf(r, s.cfg.OriginalRequest)
	rec.Method, rec.URI, rec.Host = orig.Method, request.Clip(orig.URI, 2048), request.Clip(orig.Host, 256)
	h := w.Header()
	h["Cache-Control"] = noStore

	defer func() {
		d := s.now().Sub(start)
		rec.Latency = d.Seconds()
		s.metrics.requestDuration.Observe(d.Seconds())
		s.metrics.decisions.WithLabelValues(rec.Decision, rec.Backend).Inc()
		s.audit.Write(rec)
	}()

	preq := policy.Request{Original: orig, Err: origErr, Workspace: workspace(r), Header: r.Header}
	if s.policy.Public(preq) {
		// A public rule: no credentials needed, none checked, no
		// identity passed on.
		rec.Decision, rec.Reason = audit.Allow, "public"
		w.WriteHeader(http.StatusOK)
		return
	}

	if name, as, bad := s.underscoreSpelling(r.Header); bad {
		rec.Decision, rec.Reason = audit.Forbidden, fmt.Sprintf("header %q: an underscore spelling of %s, which the upstream may read as that header", request.Clip(name, 64), as)
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	}

	cred, present, ok := request.Credentials(r)
	if !ok {
		rec.Decision, rec.Reason = audit.Deny, "no credentials"
		if present {
			rec.Reason = "malformed credentials"
		}
		s.challenge(w)
		return
	}
	var id identity.Identity
	var hit, done bool
	if isToken(cred) {
		var answered bool
		if id, done, answered = s.serveToken(w, r, cred, rec); answered {
			return
		}
	}
	if !done {
		basic := cred.(identity.Basic)
		user, password := basic.User, basic.Password
		rec.User = user

		key := s.cache.Key(user, password)
		id, hit = s.cache.Get(key)
		if hit {
			s.metrics.cacheHits.Inc()
			// Cached answers skip the throttle: they were right already, and
			// whoever shares an address with a guesser keeps working. They
			// still mark the address as one this user works from.
			s.throttle.Seen(user, rec.ClientIP)
		} else {
			s.metrics.cacheMisses.Inc()
			res := s.check(r.Context(), key, user, password, rec.ClientIP)
			if !s.answerFailure(w, rec, res, user) {
				return
			}
			id = res.id
		}
	}
	if id.TokenID != "" {
		rec.User, rec.TokenID = id.User, id.TokenID
	}
	rec.Backend, rec.Role, rec.CacheHit = id.Source, id.Role, hit
	d := s.policy.Decide(id, preq)
	if !d.Allow {
		// Authenticated, not allowed: 403 without a challenge (nginx passes
		// 403 through; a challenge would only prompt for other credentials).
		rec.Decision, rec.Reason = audit.Forbidden, d.Reason
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	}
	if d.Admin && id.TokenID == "" { // a token never makes an admin
		id.Role = "admin"
		rec.Role = id.Role
	}
	rec.Decision = audit.Allow
	h.Set(s.cfg.Headers.User, id.User)
	h.Set("X-Auth-Request-User", id.User)
	if len(id.Groups) > 0 {
		h.Set(s.cfg.Headers.Groups, groupsHeader(id.Groups))
	}
	if id.Role != "" {
		h.Set(s.cfg.Headers.Role, id.Role)
	}
	w.WriteHeader(http.StatusOK)
}

// isToken tells credentials that may be an API token: a Bearer token, or
// a Basic password in the token's form.
func isToken(c identity.Credentials) bool {
	switch c := c.(type) {
	case identity.Bearer:
		return true
	case identity.Basic:
		return strings.HasPrefix(c.Password, tokens.Prefix)
	}
	return false
}

// serveToken asks the cheap stores (API tokens) first, before the cache
// and the throttle: a valid token costs a hash and a map lookup, takes no
// throttle budget and no CPU slot, and is never cached (so that a revoke
// or an expiry holds at once). done reports that id is the answer;
// answered that a failure was answered. A Basic password that is no valid
// token of its user goes on to the other stores (neither is set, nothing
// is written). A Bearer token that is not valid is a counted failure for
// the client address, throttled under the token's id: a per-token key,
// never one budget shared by every junk token. (The throttle bounds the
// work, not the odds: a token holds 160 random bits.)
func (s *Server) serveToken(w http.ResponseWriter, r *http.Request, cred identity.Credentials, rec *audit.Record) (id identity.Identity, done, answered bool) {
	bearer, isBearer := cred.(identity.Bearer)
	if len(s.cheap.Stores()) == 0 {
		if isBearer {
			rec.Decision, rec.Reason = audit.Deny, "bearer tokens are not accepted: no token store"
			s.challenge(w)
		}
		return identity.Identity{}, false, isBearer
	}
	id, err := s.cheap.Authenticate(r.Context(), cred)
	if err == nil {
		// The token's user must still be a user, with the groups and role
		// it has when it logs in otherwise: a token must not outlive its
		// user, nor escape what the policy says of the user's groups.
		var u identity.Identity
		var found bool
		u, found, err = s.backends.Lookup(r.Context(), id.User)
		switch {
		case err == nil && found:
			// The user's store, too: grants read from a store are for
			// its users only.
			id.Groups, id.Role, id.Source = u.Groups, u.Role, "token:"+u.Source
			return id, true, false
		case err == nil:
			err = fmt.Errorf("%w: the token's user is in no user store", identity.ErrBadCredentials)
		}
		rec.User, rec.TokenID = id.User, id.TokenID
		s.answerFailure(w, rec, checked{err: err}, id.User)
		return identity.Identity{}, false, true
	}
	if !isBearer {
		return identity.Identity{}, false, false
	}
	tid, hasID := tokens.IDOf(bearer.Token)
	if !hasID {
		sum := sha256.Sum256([]byte(bearer.Token))
		tid = "?" + hex.EncodeToString(sum[:8])
	}
	res := checked{err: err}
	if errors.Is(err, identity.ErrBadCredentials) {
		resv, ok, retry, scope := s.throttle.Reserve("token:"+tid, rec.ClientIP)
		if !ok {
			res = checked{throttled: true, retry: retry, scope: scope}
		} else {
			resv.Done(throttle.Failure)
		}
	}
	if hasID {
		rec.TokenID = tid
	}
	s.answerFailure(w, rec, res, "")
	return identity.Identity{}, false, true
}

// answerFailure answers a failed check (throttled, bad credentials, or our
// own fault) and reports false; it reports true, writing nothing, when res
// is a success.
func (s *Server) answerFailure(w http.ResponseWriter, rec *audit.Record, res checked, user string) bool {
	switch err := res.err; {
	case res.throttled:
		rec.Decision, rec.Reason = audit.Throttled, "too many failures ("+res.scope+")"
		if res.scope == throttle.ScopeBusy {
			rec.Reason = "too many checks at once for the shared throttle store (busy)"
		}
		s.metrics.throttled.WithLabelValues(res.scope).Inc()
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(res.retry.Seconds())))))
		s.challenge(w)
		return false
	case errors.Is(err, identity.ErrBadCredentials):
		rec.Decision, rec.Reason = audit.Deny, "bad credentials"
		s.challenge(w)
		return false
	case err != nil:
		rec.Decision, rec.Reason = audit.Error, err.Error()
		if errors.Is(err, errQueueTimeout) {
			s.metrics.queueTimeouts.Inc()
		}
		s.log.Error("auth: cannot decide; failing closed", "user", user, "error", err.Error())
		w.Header().Set("Retry-After", "1")
		http.Error(w, "authentication unavailable", http.StatusServiceUnavailable)
		return false
	}
	return true
}

// checked is the outcome of one password check, shared by the identical
// requests that waited for it.
type checked struct {
	id        identity.Identity
	err       error
	throttled bool
	retry     time.Duration
	scope     string
}

// check decides cold credentials: throttle, then the backends. Identical
// concurrent requests (same credentials, same client address, same
// generation of the user tables) share one run, which takes one throttle
// reservation and counts at most one failure: N copies of one guess are one
// guess. The generation is in the key so that a request arriving after a
// reload never joins a check that started against the old tables; the
// result is cached unless the tables changed meanwhile.
func (s *Server) check(ctx context.Context, key vcache.Key, user, password, ip string) checked {
	gen := s.cache.Gen()
	var fk strings.Builder
	fk.Write(key[:])
	fk.WriteString(strconv.FormatUint(gen, 10))
	fk.WriteByte(0)
	fk.WriteString(ip)
	// The shared run must not die with whichever request started it.
	ctx = context.WithoutCancel(ctx)
	v, _, _ := s.flight.Do(fk.String(), func() (any, error) {
		// Reserve before verifying: in-flight checks count against the
		// budgets, so concurrent guesses cannot all pass a check made
		// before any of them failed.
		resv, ok, retry, scope := s.throttle.Reserve(user, ip)
		if !ok {
			return checked{throttled: true, retry: retry, scope: scope}, nil
		}
		defer resv.Done(throttle.Undecided) // a no-op after the Done below; releases on a panic
		if s.throttle.Trusted(user, ip) {
			ctx = withPriority(ctx, userfold.Key(user)) // ahead of a flood of strangers
		}
		id, err := s.backends.Authenticate(ctx, identity.Basic{User: user, Password: password})
		switch {
		case err == nil:
			resv.Done(throttle.Success)
			if id.TokenID == "" { // a token answer is never cached: a revoke holds at once
				s.cache.Put(key, id, gen)
			}
		case errors.Is(err, identity.ErrBadCredentials):
			resv.Done(throttle.Failure)
		default:
			resv.Done(throttle.Undecided)
		}
		return checked{id: id, err: err}, nil
	})
	return v.(checked)
}

func (s *Server) challenge(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Basic realm="`+s.cfg.Realm+`", charset="UTF-8"`)
	http.Error(w, "authentication required", http.StatusUnauthorized)
}

// workspace is the MLflow workspace the request names (MLflow 3.10 and
// later): the X-MLFLOW-WORKSPACE header, "default" when absent.
func workspace(r *http.Request) string {
	if ws := r.Header.Get("X-Mlflow-Workspace"); ws != "" {
		return ws
	}
	return "default"
}

// groupsHeader joins group names with ',', escaping a ',' (or '%') inside
// a name, which LDAP allows: "x,mlflow-admins" must not read as two groups
// to an upstream that splits X-Groups.
func groupsHeader(groups []string) string {
	esc := strings.NewReplacer("%", "%25", ",", "%2C")
	out := make([]string, len(groups))
	for i, g := range groups {
		out[i] = esc.Replace(g)
	}
	return strings.Join(out, ",")
}

// underscoreSpelling finds a request header whose name, with '_' read as
// '-', is one whose value authreq sets or decides on: the identity
// headers, Authorization, the original-request and client-address
// headers, MLflow's own. nginx drops such names by default; Caddy and
// Traefik pass them on, to authreq and to the upstream alike, and a WSGI
// or CGI upstream (MLflow's Flask app) reads X_Role as X-Role — so a
// client could add to the identity authreq vouches for, or name another
// workspace than the one authreq decided on.
func (s *Server) underscoreSpelling(h http.Header) (name, as string, found bool) {
	for k := range h {
		if strings.IndexByte(k, '_') < 0 {
			continue
		}
		c := http.CanonicalHeaderKey(strings.ReplaceAll(k, "_", "-"))
		switch {
		case c == "Authorization", c == "X-Auth-Request-User", c == "X-Real-Ip", c == "X-Request-Id",
			strings.HasPrefix(c, "X-Original-"), strings.HasPrefix(c, "X-Forwarded-"), strings.HasPrefix(c, "X-Mlflow-"),
			c == http.CanonicalHeaderKey(s.cfg.Headers.User), c == http.CanonicalHeaderKey(s.cfg.Headers.Groups),
			c == http.CanonicalHeaderKey(s.cfg.Headers.Role), c == "X-User", c == "X-Groups", c == "X-Role":
			return k, c, true
		}
	}
	return "", "", false
}
