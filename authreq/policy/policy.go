// Package policy decides what an authenticated identity may do with the
// original request: per-path rules for any upstream, permission levels,
// grants and admins. Without a policy every authenticated user may do
// everything (the behaviour before policies).
package policy

import (
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/authreq/authreq/authreq/identity"
	"github.com/authreq/authreq/authreq/request"
)

// Request is what the policy decides on: the original request as the
// proxy describes it, whether that description could be believed
// (request.ErrConflict, request.ErrNoForm), and the MLflow workspace it
// names (X-MLFLOW-WORKSPACE; "default" when absent).
type Request struct {
	request.Original
	Err       error
	Workspace string
	Header    http.Header // the auth request's headers: the client's, as the proxy passed them on
}

// Decision is the policy's answer.
type Decision struct {
	Allow  bool
	Admin  bool   // the identity is an admin: X-Role admin
	Reason string // why, for the audit log: the rule, or the level missing
}

// Policy is a validated Config.
type Policy struct {
	cfg    Config
	on     bool
	deflt  Level
	preset *preset // nil without one
	grants *atomic.Pointer[grantSet]
}

// New builds the policy of a validated cfg.
func New(cfg Config) (*Policy, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	p := &Policy{cfg: cfg, on: cfg.Enabled(), deflt: Read, grants: newGrantSet(cfg.Grants)}
	if cfg.DefaultPermission != "" {
		p.deflt, _ = ParseLevel(cfg.DefaultPermission)
	}
	if cfg.Preset == "mlflow" {
		p.preset = newMLflowPreset()
	}
	return p, nil
}

// Enabled tells whether there is a policy at all.
func (p *Policy) Enabled() bool { return p.on }

// Public tells whether req needs no credentials: the first rule that
// matches it says public. Only a request whose description is believed
// and whose path is canonical can be public.
func (p *Policy) Public(req Request) bool {
	if !p.on || req.Err != nil {
		return false
	}
	path, _, ok := CanonicalPath(req.URI)
	if !ok {
		return false
	}
	if r, _ := p.rule(req, path); r != nil {
		return r.Public
	}
	if p.preset != nil {
		r, _, ok := p.preset.classify(req.Method, path)
		return ok && r.action == ActPublic
	}
	return false
}

// Decide tells whether id may do req.
func (p *Policy) Decide(id identity.Identity, req Request) Decision {
	if !p.on {
		return Decision{Allow: true, Reason: "no policy"}
	}
	if p.isAdmin(id) {
		if id.TokenID != "" {
			// A token never makes an admin: admin-only routes refuse it,
			// and the levels below apply (capped by the token's).
			if id.MaxLevel == "" {
				id.MaxLevel = Manage.String()
			}
		} else {
			return Decision{Allow: true, Admin: true, Reason: "admin"}
		}
	}
	if req.Err != nil {
		return Decision{Reason: req.Err.Error()}
	}
	path, rawQuery, ok := CanonicalPath(req.URI)
	if !ok {
		return Decision{Reason: "path not canonical (empty, dot or encoded-slash segments, ';' or '\\')"}
	}
	if r, i := p.rule(req, path); r != nil {
		switch {
		case r.Public:
			return Decision{Allow: true, Reason: fmt.Sprintf("rules[%d]: public", i)}
		case r.Subjects.empty(), r.Subjects.match(id):
			if need, ok := p.tokenNeeds(id, req, path); !ok {
				return Decision{Reason: fmt.Sprintf("rules[%d]: the token's level %s is below %s", i, id.MaxLevel, need)}
			}
			return Decision{Allow: true, Reason: fmt.Sprintf("rules[%d]", i)}
		}
		return Decision{Reason: fmt.Sprintf("rules[%d]: not among its users, groups or roles", i)}
	}
	if p.preset != nil {
		return p.decidePreset(id, req, path, rawQuery)
	}
	// No rule matched and no preset classifies the endpoint: the policy
	// has nothing to say about it, so any authenticated user passes.
	return Decision{Allow: true, Reason: "no rule matched"}
}

// rule is the first rule that matches req (with path its canonical path),
// and its index.
func (p *Policy) rule(req Request, path string) (*Rule, int) {
	for i := range p.cfg.Rules {
		r := &p.cfg.Rules[i]
		if r.Host != "" && !strings.EqualFold(stripPort(req.Host), r.Host) {
			continue
		}
		if r.PathPrefix != "" && !strings.HasPrefix(path, r.PathPrefix) {
			continue
		}
		if r.re != nil && !r.re.MatchString(path) {
			continue
		}
		if len(r.Methods) > 0 && !methodIn(req.Method, r.Methods) {
			continue
		}
		return r, i
	}
	return nil, -1
}

// tokenNeeds checks an API token's level where a rule lets its user pass:
// the rule says who, the token still says how much. The level the request
// needs is the preset's for a route it knows (admins-only routes: above any
// token), else READ for GET and HEAD and EDIT for anything else. ok is true
// for identities without a cap.
func (p *Policy) tokenNeeds(id identity.Identity, req Request, path string) (need string, ok bool) {
	if id.MaxLevel == "" {
		return "", true
	}
	l := Edit
	if req.Method == "GET" || req.Method == "HEAD" {
		l = Read
	}
	if p.preset != nil {
		if r, _, found := p.preset.classify(req.Method, path); found {
			switch n, known := r.action.Needs(); {
			case r.action == ActPublic:
				return "", true
			case !known:
				return "an admin", false
			default:
				l = n
			}
		}
	}
	return l.String(), capped(id, l) >= l
}

// capped lowers l to the identity's cap (an API token's level), if any.
func capped(id identity.Identity, l Level) Level {
	if id.MaxLevel == "" {
		return l
	}
	c, err := ParseLevel(id.MaxLevel)
	if err != nil {
		return NoPermissions // an unknown cap allows nothing
	}
	return min(l, c)
}

func (p *Policy) isAdmin(id identity.Identity) bool {
	if p.cfg.Admins == nil {
		return strings.EqualFold(id.Role, "admin")
	}
	return p.cfg.Admins.match(id)
}

// match tells whether id is one of the subjects.
func (s Subjects) match(id identity.Identity) bool {
	for _, u := range s.Users {
		if u == id.User {
			return true
		}
	}
	for _, g := range s.Groups {
		for _, h := range id.Groups {
			if strings.EqualFold(g, h) {
				return true
			}
		}
	}
	for _, r := range s.Roles {
		if id.Role != "" && strings.EqualFold(r, id.Role) {
			return true
		}
	}
	return false
}

// methodIn: HEAD is served as GET, so a rule for GET covers HEAD.
func methodIn(m string, ms []string) bool {
	for _, x := range ms {
		if x == m || (m == "HEAD" && x == "GET") {
			return true
		}
	}
	return false
}

func stripPort(host string) string {
	if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.Contains(host[i:], "]") {
		return host[:i]
	}
	return host
}
