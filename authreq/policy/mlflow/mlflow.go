// Package mlflow is the route table of the `mlflow` policy preset: every
// route MLflow serves (the newest release, plus what 3.8 and later served)
// and what a proxy needs to allow it. It is data only; the policy engine
// decides with it. The table lives in routes.tsv, whose header says where
// it was read from and what each column means.
package mlflow

import (
	_ "embed"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Route is one endpoint MLflow serves and what the proxy needs to allow it.
type Route struct {
	Method   string // GET POST PUT PATCH DELETE (HEAD is matched as GET by the engine)
	Path     string // exact path; a segment "{name}" matches one non-empty segment, a last segment "{name...}" matches the rest (one or more segments)
	Action   string // public | authenticated | read | use | create | update | delete | manage | admin
	Resource string // "" | experiment | registered_model | …: what per-resource grants apply to
	IDFrom   string // where the resource id is visible to a proxy: "" | "query:experiment_id" | "query:name" | "path:{experiment_id}" …
	Since    string // first MLflow version serving it, e.g. "3.8" (informational)
	Removed  string // version of the newest release that removed it ("" = still served); removed routes are Action admin
	Note     string // optional, why (e.g. "name in body: admin-only at the proxy")
}

// Routes is the table; Source records where it was read from.
var Routes []Route

// Source names the files and commits the table was read from; routes.tsv's
// header says the same at more length.
const Source = "mlflow/mlflow@000d336a1aa8c48094d37b6e6a6a7f9447b8538d: mlflow/server/auth/__init__.py; " +
	"mlflow/mlflow@0026b08dc1b90b63efce78302b7d6df63f1eac63: mlflow/protos/service.proto; " +
	"mlflow/mlflow@0008d55605ec6e54560b7e4f8ae012036a31b16f: mlflow/server/fastapi_app.py, mlflow/server/assistant/api.py; " +
	"mlflow/mlflow@045bceb7f65f80fed00ebc24b4c9f7f7a572a0b2: mlflow/server/mcp_server_api.py; " +
	"harupy/mlflow@a89bed67689f916c79a8e1c1ad6cfb5cd7649c77 (mlflow master, 3.11.2.dev0): mlflow/server/handlers.py, " +
	"mlflow/server/__init__.py, mlflow/server/auth/routes.py, mlflow/protos/{model_registry,mlflow_artifacts,webhooks}.proto, " +
	"mlflow/server/{job_api,otel_api,gateway_api}.py"

//go:embed routes.tsv
var routesTSV string

func init() {
	rs, err := parseRoutes(routesTSV)
	if err != nil {
		panic("mlflow: routes.tsv: " + err.Error())
	}
	Routes = rs
}

var (
	methods   = []string{"GET", "POST", "PUT", "PATCH", "DELETE"}
	actions   = []string{"public", "authenticated", "read", "use", "create", "update", "delete", "manage", "admin"}
	resources = []string{
		"experiment", "run", "trace", "logged_model", "dataset", "issue", "label_schema", "review_queue",
		"scorer", "registered_model", "gateway_secret", "gateway_endpoint", "gateway_model_definition",
		"webhook", "workspace", "job", "mcp_server", "user",
	}
	placeholder = regexp.MustCompile(`^\{([a-z][a-z0-9_]*)(\.\.\.)?\}$`)
	queryParam  = regexp.MustCompile(`^query:[a-z][a-z0-9_]*$`)
	headerName  = regexp.MustCompile(`^header:[A-Za-z][A-Za-z0-9-]*$`)
	version     = regexp.MustCompile(`^(\d+)\.(\d+)(\+?)$`)
)

// columns is the number of tab-separated fields of a table line.
const columns = 8

// parseRoutes reads the table: one route a line, tab-separated, "-" for an
// empty field; blank lines and lines starting with # are skipped. Errors
// name the line.
func parseRoutes(data string) ([]Route, error) {
	var out []Route
	for i, line := range strings.Split(data, "\n") {
		line = strings.TrimSuffix(line, "\r")
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != columns {
			return nil, fmt.Errorf("line %d: %d tab-separated fields, want %d", i+1, len(f), columns)
		}
		for j := range f {
			if f[j] == "-" {
				f[j] = ""
			}
		}
		r := Route{Method: f[0], Path: f[1], Action: f[2], Resource: f[3], IDFrom: f[4], Since: f[5], Removed: f[6], Note: f[7]}
		if err := validate(r); err != nil {
			return nil, fmt.Errorf("line %d: %s %s: %w", i+1, r.Method, r.Path, err)
		}
		out = append(out, r)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no routes")
	}
	return out, nil
}

// validate checks one route against the column grammar in routes.tsv's header.
func validate(r Route) error {
	if !slices.Contains(methods, r.Method) {
		return fmt.Errorf("method %q: want one of %v", r.Method, methods)
	}
	names, err := pathPlaceholders(r.Path)
	if err != nil {
		return err
	}
	if !slices.Contains(actions, r.Action) {
		return fmt.Errorf("action %q: want one of %v", r.Action, actions)
	}
	if r.Resource != "" && !slices.Contains(resources, r.Resource) {
		return fmt.Errorf("resource %q: want empty or one of %v", r.Resource, resources)
	}
	if (r.Action == "public" || r.Action == "authenticated") && r.Resource != "" {
		return fmt.Errorf("a %s route names no resource", r.Action)
	}
	switch {
	case r.IDFrom == "":
	case r.Resource == "":
		return fmt.Errorf("id_from %q without a resource", r.IDFrom)
	case strings.HasPrefix(r.IDFrom, "path:"):
		name, ok := strings.CutPrefix(r.IDFrom, "path:")
		m := placeholder.FindStringSubmatch(name)
		if !ok || m == nil || m[2] != "" || !slices.Contains(names, m[1]) {
			return fmt.Errorf("id_from %q: want path:{name} for a placeholder of the path", r.IDFrom)
		}
	case strings.HasPrefix(r.IDFrom, "query:"):
		if !queryParam.MatchString(r.IDFrom) {
			return fmt.Errorf("id_from %q: want query:<parameter>", r.IDFrom)
		}
		if r.Method != "GET" {
			return fmt.Errorf("id_from %q on a %s: only a GET's query is read", r.IDFrom, r.Method)
		}
	case strings.HasPrefix(r.IDFrom, "header:"):
		if !headerName.MatchString(r.IDFrom) {
			return fmt.Errorf("id_from %q: want header:<Name>", r.IDFrom)
		}
	default:
		return fmt.Errorf("id_from %q: want query:, path: or header:", r.IDFrom)
	}
	since, err := parseVersion(r.Since)
	if err != nil {
		return fmt.Errorf("since: %w", err)
	}
	if since < 3_008 {
		return fmt.Errorf("since %q: the table starts at 3.8", r.Since)
	}
	if r.Removed != "" {
		removed, err := parseVersion(r.Removed)
		if err != nil {
			return fmt.Errorf("removed: %w", err)
		}
		if removed <= since {
			return fmt.Errorf("removed %q is not after since %q", r.Removed, r.Since)
		}
		if r.Action != "admin" {
			return fmt.Errorf("removed in %s but action %q: removed routes are admin", r.Removed, r.Action)
		}
	}
	if strings.ContainsAny(r.Note, "\t\n") {
		return fmt.Errorf("note holds a tab or newline")
	}
	return nil
}

// pathPlaceholders checks a path's syntax and returns its placeholder names.
// A single trailing slash is allowed: MLflow serves POST /ajax-api/3.0/jobs/.
func pathPlaceholders(p string) ([]string, error) {
	if !strings.HasPrefix(p, "/") {
		return nil, fmt.Errorf("path %q does not start with /", p)
	}
	if strings.ContainsAny(p, "?#% \t") {
		return nil, fmt.Errorf("path %q holds a query, fragment, escape or space", p)
	}
	if p == "/" {
		return nil, nil
	}
	segs := strings.Split(strings.TrimSuffix(p[1:], "/"), "/")
	var names []string
	for i, s := range segs {
		if s == "" {
			return nil, fmt.Errorf("path %q has an empty segment", p)
		}
		if !strings.ContainsAny(s, "{}") {
			continue
		}
		m := placeholder.FindStringSubmatch(s)
		if m == nil {
			return nil, fmt.Errorf("path %q: segment %q: a placeholder is a whole segment {name} or {name...}", p, s)
		}
		if m[2] != "" && (i != len(segs)-1 || strings.HasSuffix(p, "/")) {
			return nil, fmt.Errorf("path %q: {%s...} is not the last segment", p, m[1])
		}
		if slices.Contains(names, m[1]) {
			return nil, fmt.Errorf("path %q: placeholder %s twice", p, m[1])
		}
		names = append(names, m[1])
	}
	return names, nil
}

// parseVersion turns "3.8" (or "3.12+") into 3008 (3012) for comparison.
func parseVersion(v string) (int, error) {
	m := version.FindStringSubmatch(v)
	if m == nil {
		return 0, fmt.Errorf("version %q: want major.minor, optionally followed by +", v)
	}
	major, _ := strconv.Atoi(m[1])
	minor, _ := strconv.Atoi(m[2])
	return major*1000 + minor, nil
}

// Example is a path the route matches: each placeholder filled, one
// segment as "x1", a rest as "a/b", an artifact path leading with
// experiment 1. For tests and documentation.
func (r Route) Example() string {
	segs := strings.Split(r.Path[1:], "/")
	for i, s := range segs {
		switch {
		case s == "{artifact_path...}":
			segs[i] = "1/model/MLmodel"
		case strings.HasSuffix(s, "...}"):
			segs[i] = "a/b"
		case strings.HasPrefix(s, "{"):
			segs[i] = "x1"
		}
	}
	return "/" + strings.Join(segs, "/")
}
