package policy

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/authreq/authreq/authreq/identity"
	"github.com/authreq/authreq/authreq/policy/mlflow"
)

// route is a preset's endpoint, compiled for matching.
type route struct {
	mlflow.Route
	segs     []string // literal segments, "{x}" or a last "{x...}"
	action   Action
	literals int // literal segments: the more, the more specific
}

// preset classifies a known upstream's endpoints.
type preset struct {
	name     string
	byMethod map[string][]route // most specific first
}

var digits = regexp.MustCompile(`^[0-9]+$`)

// newMLflowPreset compiles MLflow's route table.
func newMLflowPreset() *preset {
	p := &preset{name: "mlflow", byMethod: make(map[string][]route)}
	for _, r := range mlflow.Routes {
		c := route{Route: r, segs: strings.Split(r.Path[1:], "/"), action: Action(r.Action)}
		for _, s := range c.segs {
			if !strings.HasPrefix(s, "{") {
				c.literals++
			}
		}
		p.byMethod[r.Method] = append(p.byMethod[r.Method], c)
	}
	for _, rs := range p.byMethod {
		// A literal segment beats a placeholder: traces/get before
		// traces/{trace_id}; a rest placeholder comes last.
		slices.SortStableFunc(rs, func(a, b route) int {
			if a.literals != b.literals {
				return b.literals - a.literals
			}
			return len(b.segs) - len(a.segs)
		})
	}
	return p
}

// classify finds the route for method and the canonical path, with the
// values of its placeholders. HEAD is served as GET.
func (p *preset) classify(method, path string) (route, map[string]string, bool) {
	if method == "HEAD" {
		method = "GET"
	}
	segs := strings.Split(path[1:], "/")
	for _, r := range p.byMethod[method] {
		if params, ok := r.match(segs); ok {
			return r, params, true
		}
	}
	return route{}, nil, false
}

func (r route) match(segs []string) (map[string]string, bool) {
	var params map[string]string
	set := func(k, v string) {
		if params == nil {
			params = make(map[string]string)
		}
		params[k] = v
	}
	for i, s := range r.segs {
		if name, ok := strings.CutSuffix(strings.TrimPrefix(s, "{"), "...}"); ok && strings.HasPrefix(s, "{") {
			rest := segs[i:]
			if len(rest) == 0 || slices.Contains(rest, "") {
				return nil, false
			}
			set(name, strings.Join(rest, "/"))
			return params, true
		}
		if i >= len(segs) {
			return nil, false
		}
		if strings.HasPrefix(s, "{") {
			if segs[i] == "" {
				return nil, false
			}
			set(strings.Trim(s, "{}"), segs[i])
			continue
		}
		if s != segs[i] {
			return nil, false
		}
	}
	return params, len(segs) == len(r.segs)
}

// decide is the preset's answer for an authenticated non-admin.
func (p *Policy) decidePreset(id identity.Identity, req Request, path, rawQuery string) Decision {
	r, params, ok := p.preset.classify(req.Method, path)
	if !ok {
		return Decision{Reason: fmt.Sprintf("%s: not an endpoint %s serves for %s (admins only)", path, p.preset.name, req.Method)}
	}
	what := fmt.Sprintf("%s %s (%s)", req.Method, r.Path, r.action)
	switch r.action {
	case ActPublic, ActAuthenticated:
		return Decision{Allow: true, Reason: what}
	case ActAdmin:
		if r.Resource == "user" && r.IDFrom == "query:username" && req.Method == "GET" {
			// users/get: a user may read itself.
			q, _ := url.ParseQuery(rawQuery)
			if names := q["username"]; len(names) > 0 && !slices.ContainsFunc(names, func(n string) bool { return n != id.User }) {
				return Decision{Allow: true, Reason: what + ": the user itself"}
			}
		}
		return Decision{Reason: what + ": admins only"}
	}
	need, ok := r.action.Needs()
	if !ok {
		return Decision{Reason: what + ": unknown action (admins only)"}
	}
	ws := req.Workspace
	kind, ids := resourceIDs(r, req.Method, params, rawQuery, &ws)
	global := p.globalLevel(id, ws)
	if len(ids) == 0 {
		if global < need {
			return Decision{Reason: fmt.Sprintf("%s: needs %s, has %s", what, need, global)}
		}
		return Decision{Allow: true, Reason: fmt.Sprintf("%s: %s", what, global)}
	}
	for _, rid := range ids {
		l, ok := p.resourceLevel(id, ws, kind, rid)
		if !ok {
			l = global
		}
		if l < need {
			return Decision{Reason: fmt.Sprintf("%s: needs %s on %s %s, has %s", what, need, kind, rid, l)}
		}
	}
	return Decision{Allow: true, Reason: fmt.Sprintf("%s: %s %v", what, kind, ids)}
}

// resourceIDs are the ids of the experiment or registered model the
// request names where a proxy can see them: a GET's query, or the
// experiment id leading a proxied artifact path (which may also name the
// workspace). Ids in a body are invisible to auth_request: the global
// level applies then.
func resourceIDs(r route, method string, params map[string]string, rawQuery string, ws *string) (kind string, ids []string) {
	switch r.Resource {
	case "experiment", "registered_model":
	default:
		return "", nil
	}
	kind = r.Resource
	from, ok := strings.CutPrefix(r.IDFrom, "query:")
	if ok {
		if method != "GET" && method != "HEAD" {
			return kind, nil // MLflow reads a POST's ids from its body
		}
		q, _ := url.ParseQuery(rawQuery)
		for _, v := range q[from] {
			if from == "path" { // an artifact path: the experiment id leads it
				if v = artifactExperiment(v, ws); v == "" {
					continue
				}
			}
			if !slices.Contains(ids, v) {
				ids = append(ids, v)
			}
		}
		return kind, ids
	}
	if name, ok := strings.CutPrefix(r.IDFrom, "path:"); ok {
		v := params[strings.Trim(name, "{}")]
		if name == "{artifact_path}" {
			if e := artifactExperiment(v, ws); e != "" {
				return kind, []string{e}
			}
			return kind, nil
		}
		if v != "" {
			return kind, []string{v}
		}
	}
	return kind, nil
}

// globalLevel is the highest level of the grants without resources that
// match id in workspace ws, else the default.
func (p *Policy) globalLevel(id identity.Identity, ws string) Level {
	best, found := NoPermissions, false
	for _, g := range p.cfg.Grants {
		if len(g.Experiments)+len(g.RegisteredModels) > 0 || !g.inWorkspace(ws) || !g.Subjects.match(id) {
			continue
		}
		if !found || g.level > best {
			best, found = g.level, true
		}
	}
	if !found {
		return p.deflt
	}
	return best
}

// resourceLevel is the highest level of the grants for that resource that
// match id; ok is false when none does (the global level applies). Such a
// grant replaces the global level, so it may lower it.
func (p *Policy) resourceLevel(id identity.Identity, ws, kind, rid string) (Level, bool) {
	best, found := NoPermissions, false
	for _, g := range p.cfg.Grants {
		list := g.Experiments
		if kind == "registered_model" {
			list = g.RegisteredModels
		}
		if !slices.Contains(list, rid) || !g.inWorkspace(ws) || !g.Subjects.match(id) {
			continue
		}
		if !found || g.level > best {
			best, found = g.level, true
		}
	}
	return best, found
}

func (g Grant) inWorkspace(ws string) bool {
	return len(g.Workspaces) == 0 || slices.Contains(g.Workspaces, ws)
}

// artifactExperiment is the experiment id leading a proxied artifact path
// ("" when it leads with none), after an optional workspaces/<ws>/, which
// then names the workspace.
func artifactExperiment(v string, ws *string) string {
	segs := strings.Split(strings.TrimPrefix(v, "/"), "/")
	if len(segs) > 2 && segs[0] == "workspaces" {
		*ws, segs = segs[1], segs[2:]
	}
	if len(segs) > 0 && digits.MatchString(segs[0]) {
		return segs[0]
	}
	return ""
}
