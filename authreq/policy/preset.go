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
	if strings.ContainsFunc(ws, func(c rune) bool { return c == ',' || c <= ' ' || c == 0x7f }) {
		// Repeated headers joined ("a, b": nginx 1.23+ variables,
		// Envoy), or not a name: which one MLflow reads is not for a
		// proxy to guess.
		return Decision{Reason: fmt.Sprintf("%s: workspace %q is not one name (admins only)", what, ws)}
	}
	fam := family(r.Resource)
	ids, bad := resourceIDs(r, req, params, rawQuery, &ws)
	if bad != "" {
		return Decision{Reason: fmt.Sprintf("%s: %s (admins only)", what, bad)}
	}
	// One grant set for the whole decision: a reload meanwhile must not
	// mix two.
	v := p.view()
	if v.broken[strings.TrimPrefix(id.Source, "token:")] {
		return Decision{Reason: what + ": the grants of the user's store could not be taken (admins only)"}
	}
	global := v.globalLevel(id, ws)
	// Routes that also reach resources of another family, whose ids are
	// in the body: the user needs READ there as weighed where ids are
	// not visible.
	for _, other := range alsoReads(r) {
		if l, why := v.hiddenLevel(id, ws, other, global); capped(id, l) < Read {
			return Decision{Reason: fmt.Sprintf("%s: needs %s on the %s it reads, has %s%s", what, Read, other, capped(id, l), why)}
		}
	}
	if fam == "" || len(ids) == 0 {
		level, why := v.hiddenLevel(id, ws, fam, global)
		if c := capped(id, level); c < level {
			level, why = c, why+" (capped by the token's level)"
		}
		if level < need {
			return Decision{Reason: fmt.Sprintf("%s: needs %s, has %s%s", what, need, level, why)}
		}
		return Decision{Allow: true, Reason: fmt.Sprintf("%s: %s", what, level)}
	}
	for _, rid := range ids {
		l, ok := v.resourceLevel(id, ws, fam, rid, global)
		if !ok {
			l = global
		}
		why := ""
		if c := capped(id, l); c < l {
			l, why = c, " (capped by the token's level)"
		}
		if l < need {
			return Decision{Reason: fmt.Sprintf("%s: needs %s on %s %s, has %s%s", what, need, fam, rid, l, why)}
		}
	}
	return Decision{Allow: true, Reason: fmt.Sprintf("%s: %s %v", what, fam, ids)}
}

// hiddenLevel is the level of id in ws on a route of family fam whose
// resource id a proxy cannot see (it is in the body, or the route names
// none): the global level, raised by grants on every resource of the
// family — but none under a store's deny of any resource of it, and
// lowered by any per-resource grant of the config that lowers it, since
// the invisible id may be that resource's. A deny of one experiment then
// holds on every route that could reach it.
func (v view) hiddenLevel(id identity.Identity, ws, fam string, global Level) (level Level, why string) {
	level = global
	if fam == "" {
		return level, ""
	}
	if f := v.familyFloor(id, ws, fam); f > level {
		level, why = f, fmt.Sprintf(" (a grant on every %s)", fam)
	}
	if level > NoPermissions && v.familyDenied(id, ws, fam) {
		level, why = NoPermissions, fmt.Sprintf(" (a deny of a %s applies where the %s is not visible)", fam, fam)
	}
	if low, ok := v.lowestResourceLevel(id, ws, fam); ok && low < level {
		level, why = low, fmt.Sprintf(" (a %s grant of %s applies where the %s is not visible)", fam, low, fam)
	}
	return level, why
}

// alsoReads names the other families a route reads resources of, by ids
// in the body: a model version is created from a run, whose experiment
// MLflow asks READ on; GraphQL reads experiments, runs and models alike.
func alsoReads(r route) []string {
	switch {
	case strings.HasSuffix(r.Path, "/mlflow/model-versions/create"):
		return []string{"experiment"}
	case r.Path == "/graphql":
		return []string{"experiment", "registered_model"}
	}
	return nil
}

// family is the kind of resource whose per-resource grants govern a route
// of resource r: experiments (their runs, traces, models, datasets and so
// on live in one) or registered models (their versions and prompts); ""
// for the rest, where only the global level applies.
func family(r string) string {
	switch r {
	case "experiment", "run", "trace", "logged_model", "dataset", "scorer", "issue", "label_schema", "review_queue":
		return "experiment"
	case "registered_model":
		return "registered_model"
	}
	return ""
}

var canonicalID = regexp.MustCompile(`^(0|[1-9][0-9]*)$`)

// resourceIDs are the ids of the experiment or registered model a request
// names where a proxy can see them: a GET's query (MLflow reads a GET's
// parameters from the query when it has any, else from its body), a
// request header, or the experiment id leading a proxied artifact path
// (which may also name the workspace). None seen: ids is empty. bad says
// why an id that is there cannot be believed: MLflow reads more spellings
// than one (int() takes "07", "+7", " 7", "٧"; an artifact path is decoded
// again until it stops changing), so only the one plain spelling passes.
func resourceIDs(r route, req Request, params map[string]string, rawQuery string, ws *string) (ids []string, bad string) {
	fam := family(r.Resource)
	if fam == "" {
		return nil, ""
	}
	check := func(v string) bool {
		if fam == "experiment" {
			return canonicalID.MatchString(v)
		}
		return v != "" && v == strings.TrimSpace(v) && !strings.ContainsFunc(v, func(c rune) bool { return c < 0x20 || c == 0x7f })
	}
	add := func(v string) string {
		if !check(v) {
			return fmt.Sprintf("%s id %q not in its one plain spelling", fam, v)
		}
		if !slices.Contains(ids, v) {
			ids = append(ids, v)
		}
		return ""
	}
	switch kind, from, _ := strings.Cut(r.IDFrom, ":"); kind {
	case "query":
		if req.Method != "GET" && req.Method != "HEAD" {
			return nil, "" // MLflow reads other methods' ids from the body
		}
		q, err := url.ParseQuery(rawQuery)
		if err != nil {
			return nil, "query not readable as MLflow would read it"
		}
		for _, v := range q[from] {
			if from == "path" { // an artifact path: the experiment id leads it
				e, why := artifactExperiment(v, ws)
				if why != "" {
					return nil, why
				}
				v = e
			}
			if why := add(v); why != "" {
				return nil, why
			}
		}
	case "header":
		for _, hv := range req.Header.Values(from) {
			for _, v := range strings.Split(hv, ",") {
				if why := add(strings.TrimSpace(v)); why != "" {
					return nil, why
				}
			}
		}
	case "path":
		if from != "{artifact_path}" {
			return nil, ""
		}
		e, why := artifactExperiment(params["artifact_path"], ws)
		if why != "" {
			return nil, why
		}
		if why := add(e); why != "" {
			return nil, why
		}
	}
	return ids, ""
}

// AnyResource in a store's floor grant stands for every experiment or
// registered model (MLflow's role pattern "*"). It is no name a resource
// can have (a registered model may well be named "*"), and the config
// refuses it.
const AnyResource = "\x00every"

// globalLevel is the highest level of the grants without resources that
// match id in workspace ws, else the default; raised by the workspace-wide
// floors that match (MLflow 3.13+'s workspace grants), and none at all
// under a workspace-wide deny, unless a floor makes the user the
// workspace's admin (MANAGE).
func (v view) globalLevel(id identity.Identity, ws string) Level {
	best, found := NoPermissions, false
	floor, denied := NoPermissions, false
	for _, g := range v.gs {
		if g.hasResources() || !g.inWorkspace(ws) || !g.matches(id) {
			continue
		}
		switch {
		case g.Deny:
			denied = true
		case g.floor:
			floor = max(floor, g.level)
		case !found || g.level > best:
			best, found = g.level, true
		}
	}
	switch {
	case floor == Manage:
		return Manage
	case denied:
		return NoPermissions
	case !found:
		best = v.deflt
	}
	return max(best, floor)
}

// workspaceAdmin tells whether a workspace-wide floor gives id MANAGE in
// ws: MLflow's workspace admin, whom no deny holds.
func (v view) workspaceAdmin(id identity.Identity, ws string) bool {
	for _, g := range v.gs {
		if g.floor && !g.Deny && !g.hasResources() && g.level == Manage && g.inWorkspace(ws) && g.matches(id) {
			return true
		}
	}
	return false
}

// familyFloor is the highest level of the floors for every resource of
// family fam (AnyResource) that match id in ws: the least the user has on
// whichever resource of the family a request names, seen or not.
func (v view) familyFloor(id identity.Identity, ws, fam string) Level {
	floor := NoPermissions
	for _, g := range v.gs {
		if g.floor && !g.Deny && slices.Contains(g.resources(fam), AnyResource) && g.inWorkspace(ws) && g.matches(id) {
			floor = max(floor, g.level)
		}
	}
	return floor
}

// familyDenied tells whether a store's deny of some resource of family
// fam, or of everything, holds for id in ws: where a request's id is not
// visible, it may be the denied one.
func (v view) familyDenied(id identity.Identity, ws, fam string) bool {
	for _, g := range v.gs {
		if g.Deny && (!g.hasResources() || len(g.resources(fam)) > 0) && g.inWorkspace(ws) && g.matches(id) {
			return !v.workspaceAdmin(id, ws)
		}
	}
	return false
}

func (g Grant) hasResources() bool { return len(g.Experiments)+len(g.RegisteredModels) > 0 }

// resources is the grant's list for family fam.
func (g Grant) resources(fam string) []string {
	switch fam {
	case "experiment":
		return g.Experiments
	case "registered_model":
		return g.RegisteredModels
	}
	return nil
}

// lowestResourceLevel is the lowest level of the per-resource grants of
// family fam that match id in ws; ok is false when there is none.
func (v view) lowestResourceLevel(id identity.Identity, ws, fam string) (Level, bool) {
	low, found := Manage, false
	for _, g := range v.gs {
		if g.floor {
			continue // never lowers
		}
		if len(g.resources(fam)) == 0 || !g.inWorkspace(ws) || !g.matches(id) {
			continue
		}
		if !found || g.level < low {
			low, found = g.level, true
		}
	}
	return low, found
}

// resourceLevel is the highest level of the grants for that resource that
// match id; ok is false when none does (the global level applies). Such a
// grant replaces the global level, so it may lower it. A store's deny
// comes next (MLflow 3.16: it beats every grant but a workspace admin's),
// then floors (MLflow 3.13+ rows), which only raise the global level.
func (v view) resourceLevel(id identity.Identity, ws, kind, rid string, global Level) (Level, bool) {
	best, found := NoPermissions, false
	floor, floored, denied := NoPermissions, false, false
	for _, g := range v.gs {
		if !g.names(kind, rid) || !g.inWorkspace(ws) || !g.matches(id) {
			continue
		}
		switch {
		case g.Deny:
			denied = true
		case g.floor:
			floor, floored = max(floor, g.level), true
		case !found || g.level > best:
			best, found = g.level, true
		}
	}
	switch {
	case found:
		// A per-resource grant of the config is the operator's word at
		// the proxy: it decides, whatever the store's rows say.
		return best, true
	case denied && !v.workspaceAdmin(id, ws):
		return NoPermissions, true
	case !floored:
		return NoPermissions, false
	}
	return max(global, floor), true
}

// names tells whether the grant is for resource rid of family fam: by id,
// for every one (floors and denies only), or, for a deny naming no
// resource, as part of everything it denies.
func (g Grant) names(fam, rid string) bool {
	if g.Deny && !g.hasResources() {
		return true
	}
	list := g.resources(fam)
	return slices.Contains(list, rid) || g.floor && slices.Contains(list, AnyResource)
}

func (g Grant) inWorkspace(ws string) bool {
	return len(g.Workspaces) == 0 || slices.Contains(g.Workspaces, ws)
}

// artifactExperiment is the experiment id leading a proxied artifact path,
// after an optional workspaces/<ws>/, which must name the request's. MLflow
// decodes an artifact path again until it stops changing and reads a
// "file:" URI as a path, so a path that still holds a '%' or a ':' after
// the one decoding here, or that does not lead with an id, or that names
// another workspace than the request's, cannot be believed (why says so).
func artifactExperiment(v string, ws *string) (id, why string) {
	if strings.ContainsAny(v, "%:\\") {
		return "", "artifact path with an escape, a scheme or a backslash"
	}
	segs := strings.Split(strings.TrimPrefix(v, "/"), "/")
	if len(segs) > 2 && segs[0] == "workspaces" {
		if segs[1] != *ws {
			// Which of the two MLflow weighs is not for a proxy to
			// guess: believing the path would let it pick the rows.
			return "", "artifact path in another workspace than the request's"
		}
		segs = segs[2:]
	}
	if len(segs) == 0 || !digits.MatchString(segs[0]) {
		return "", "artifact path that does not lead with an experiment id"
	}
	return segs[0], ""
}

// matches tells whether the grant is for id. A grant read from a user store
// (MLflow's database) is for that store's users only: an htpasswd or LDAP
// user who shares a name with an MLflow user is another person, and a
// token counts as its user's store.
func (g Grant) matches(id identity.Identity) bool {
	if g.source != "" && g.source != strings.TrimPrefix(id.Source, "token:") {
		return false
	}
	return g.Subjects.match(id)
}
