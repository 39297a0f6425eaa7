package mlflow

import (
	"regexp"
	"slices"
	"strings"
	"testing"
)

type key struct{ method, path string }

func index(t *testing.T) map[key]Route {
	t.Helper()
	m := make(map[key]Route, len(Routes))
	for _, r := range Routes {
		m[key{r.Method, r.Path}] = r
	}
	return m
}

func TestEveryEntryParses(t *testing.T) {
	if len(Routes) < 400 {
		t.Fatalf("%d routes: the table looks truncated", len(Routes))
	}
	for _, r := range Routes {
		if err := validate(r); err != nil {
			t.Errorf("%s %s: %v", r.Method, r.Path, err)
		}
	}
}

func TestNoDuplicateMethodPath(t *testing.T) {
	seen := map[key]bool{}
	for _, r := range Routes {
		k := key{r.Method, r.Path}
		if seen[k] {
			t.Errorf("%s %s listed twice", r.Method, r.Path)
		}
		seen[k] = true
	}
}

// MLflow registers its REST routes under both /api/ and /ajax-api/; the
// few it registers under one prefix only say so in their note.
func TestAPIAndAjaxTwins(t *testing.T) {
	idx := index(t)
	for _, r := range Routes {
		var twin, only string
		switch {
		case strings.HasPrefix(r.Path, "/api/"):
			twin, only = "/ajax-api/"+strings.TrimPrefix(r.Path, "/api/"), "api-only"
		case strings.HasPrefix(r.Path, "/ajax-api/"):
			twin, only = "/api/"+strings.TrimPrefix(r.Path, "/ajax-api/"), "ajax-only"
		default:
			if strings.Contains(r.Note, "api-only") {
				t.Errorf("%s %s: marked one-prefix but has no /api/ or /ajax-api/ prefix", r.Method, r.Path)
			}
			continue
		}
		tw, ok := idx[key{r.Method, twin}]
		marked := strings.Contains(r.Note, only)
		switch {
		case !ok && !marked:
			t.Errorf("%s %s has no twin %s", r.Method, r.Path, twin)
		case ok && marked:
			t.Errorf("%s %s is marked %s but %s exists", r.Method, r.Path, only, twin)
		case ok && (tw.Action != r.Action || tw.Resource != r.Resource || tw.IDFrom != r.IDFrom || tw.Removed != r.Removed):
			t.Errorf("%s %s and its twin disagree: %+v vs %+v", r.Method, r.Path, r, tw)
		}
	}
}

// overlap tells whether some concrete path matches both patterns.
func overlap(a, b []string) bool {
	if len(a) == 0 || len(b) == 0 {
		return len(a) == len(b)
	}
	if isRest(a[0]) || isRest(b[0]) {
		return true // a rest placeholder is last and takes one or more segments
	}
	if isOne(a[0]) || isOne(b[0]) || a[0] == b[0] {
		if (isOne(a[0]) && a[0] != "" && b[0] == "") || (isOne(b[0]) && b[0] != "" && a[0] == "") {
			return false // a placeholder never matches the empty segment of a trailing slash
		}
		return overlap(a[1:], b[1:])
	}
	return false
}

func isRest(s string) bool { return strings.HasPrefix(s, "{") && strings.HasSuffix(s, "...}") }
func isOne(s string) bool  { return strings.HasPrefix(s, "{") && !isRest(s) }
func segments(p string) []string {
	if p == "/" {
		return nil
	}
	return strings.Split(p[1:], "/")
}

// Where a literal route and a placeholder route can match the same path
// (GET …/traces/get and GET …/traces/{trace_id}), the engine has to prefer
// the literal one; the table keeps such pairs at the same action so a
// wrong choice never changes the level.
func TestOverlappingRoutesAgree(t *testing.T) {
	for i, a := range Routes {
		for _, b := range Routes[i+1:] {
			if a.Method != b.Method || !overlap(segments(a.Path), segments(b.Path)) {
				continue
			}
			if a.Action != b.Action {
				t.Errorf("%s %s (%s) and %s (%s) can match the same path", a.Method, a.Path, a.Action, b.Path, b.Action)
			}
		}
	}
}

var commit = regexp.MustCompile(`\b[0-9a-f]{40}\b`)

func TestSourceNamesCommits(t *testing.T) {
	commits := commit.FindAllString(Source, -1)
	if len(commits) == 0 && !regexp.MustCompile(`@v\d+\.\d+\.\d+`).MatchString(Source) {
		t.Fatalf("Source names no commit or tag: %q", Source)
	}
	if !strings.Contains(Source, "mlflow/mlflow@") || !strings.Contains(Source, "mlflow/server/auth/__init__.py") {
		t.Errorf("Source does not name mlflow/mlflow's auth module: %q", Source)
	}
	var header strings.Builder
	for _, line := range strings.Split(routesTSV, "\n") {
		if strings.HasPrefix(line, "#") {
			header.WriteString(line + "\n")
		}
	}
	for _, c := range commits {
		if !strings.Contains(header.String(), c) {
			t.Errorf("commit %s of Source is not in routes.tsv's header", c)
		}
	}
	for _, c := range commit.FindAllString(header.String(), -1) {
		if !strings.Contains(Source, c) {
			t.Errorf("commit %s of routes.tsv's header is not in Source", c)
		}
	}
}

func TestWellKnownRoutes(t *testing.T) {
	idx := index(t)
	for _, c := range []struct {
		method, path, action, resource, idFrom string
	}{
		{"GET", "/api/2.0/mlflow/experiments/get", "read", "experiment", "query:experiment_id"},
		{"GET", "/ajax-api/2.0/mlflow/experiments/get", "read", "experiment", "query:experiment_id"},
		{"POST", "/api/2.0/mlflow/experiments/create", "create", "experiment", ""},
		{"POST", "/api/2.0/mlflow/experiments/delete", "delete", "experiment", ""},
		{"POST", "/api/2.0/mlflow/experiments/restore", "delete", "experiment", ""},
		{"POST", "/api/2.0/mlflow/experiments/search", "read", "experiment", ""},
		{"POST", "/api/2.0/mlflow/runs/log-metric", "update", "run", ""},
		{"POST", "/api/2.0/mlflow/runs/log-batch", "update", "run", ""},
		{"POST", "/api/2.0/mlflow/runs/create", "update", "experiment", ""},
		{"GET", "/api/2.0/mlflow/runs/get", "read", "run", ""},
		{"POST", "/api/2.0/mlflow/runs/search", "read", "run", ""},
		{"POST", "/api/2.0/mlflow/registered-models/create", "create", "registered_model", ""},
		{"GET", "/api/2.0/mlflow/registered-models/get", "read", "registered_model", "query:name"},
		{"DELETE", "/api/2.0/mlflow/registered-models/delete", "delete", "registered_model", ""},
		{"POST", "/api/2.0/mlflow/model-versions/create", "update", "registered_model", ""},
		{"GET", "/api/2.0/mlflow/model-versions/get", "read", "registered_model", "query:name"},
		{"POST", "/api/2.0/mlflow/users/create", "admin", "user", ""},
		{"PATCH", "/api/2.0/mlflow/users/update-admin", "admin", "user", ""},
		{"DELETE", "/api/2.0/mlflow/users/delete", "admin", "user", ""},
		{"GET", "/api/2.0/mlflow/users/get", "admin", "user", "query:username"},
		{"PATCH", "/api/2.0/mlflow/users/update-password", "admin", "user", ""},
		{"GET", "/signup", "admin", "user", ""},
		{"GET", "/health", "public", "", ""},
		{"GET", "/favicon.ico", "public", "", ""},
		{"GET", "/static-files/{path...}", "public", "", ""},
		{"GET", "/", "authenticated", "", ""},
		{"GET", "/version", "authenticated", "", ""},
		{"GET", "/graphql", "read", "", ""},
		{"POST", "/graphql", "read", "", ""},
		{"GET", "/get-artifact", "read", "run", ""},
		{"GET", "/model-versions/get-artifact", "read", "registered_model", "query:name"},
		{"POST", "/v1/traces", "update", "experiment", "header:X-Mlflow-Experiment-Id"},
		{"POST", "/gateway/{endpoint_name}/mlflow/invocations", "use", "gateway_endpoint", "path:{endpoint_name}"},
		{"POST", "/gateway/mlflow/v1/chat/completions", "use", "gateway_endpoint", ""},
		{"POST", "/gateway/openai/v1/chat/completions", "use", "gateway_endpoint", ""},
		{"POST", "/gateway/anthropic/v1/messages", "use", "gateway_endpoint", ""},
		{"GET", "/ajax-api/3.0/jobs/{job_id}", "read", "job", ""},
		{"PATCH", "/ajax-api/3.0/jobs/cancel/{job_id}", "update", "job", ""},
		{"GET", "/ajax-api/3.0/mlflow/jobs/{job_id}", "read", "job", ""},
		{"GET", "/api/2.0/mlflow-artifacts/artifacts/{artifact_path...}", "read", "experiment", "path:{artifact_path}"},
		{"PUT", "/api/2.0/mlflow-artifacts/artifacts/{artifact_path...}", "update", "experiment", "path:{artifact_path}"},
		{"DELETE", "/api/2.0/mlflow-artifacts/artifacts/{artifact_path...}", "delete", "experiment", "path:{artifact_path}"},
		{"GET", "/ajax-api/2.0/mlflow-artifacts/artifacts/{artifact_path...}", "read", "experiment", "path:{artifact_path}"},
		{"GET", "/api/2.0/mlflow-artifacts/artifacts", "read", "experiment", "query:path"},
		{"POST", "/api/2.0/mlflow-artifacts/mpu/create/{artifact_path...}", "update", "experiment", "path:{artifact_path}"},
		{"POST", "/api/2.0/mlflow-artifacts/mpu/complete/{artifact_path...}", "update", "experiment", "path:{artifact_path}"},
		{"POST", "/api/2.0/mlflow-artifacts/mpu/abort/{artifact_path...}", "update", "experiment", "path:{artifact_path}"},
		{"POST", "/api/3.0/mlflow/gateway/secrets/create", "create", "gateway_secret", ""},
		{"POST", "/api/2.0/mlflow/webhooks", "admin", "webhook", ""},
		{"POST", "/api/3.0/mlflow/workspaces", "admin", "workspace", ""},
		{"POST", "/api/3.0/mlflow/roles/create", "manage", "workspace", ""},
		{"GET", "/api/3.0/mlflow/traces/{trace_id}", "read", "trace", ""},
		{"GET", "/api/2.0/mlflow/traces", "read", "experiment", "query:experiment_ids"},
	} {
		r, ok := idx[key{c.method, c.path}]
		if !ok {
			t.Errorf("%s %s missing", c.method, c.path)
			continue
		}
		if r.Action != c.action || r.Resource != c.resource || r.IDFrom != c.idFrom {
			t.Errorf("%s %s: %s/%s/%s, want %s/%s/%s", c.method, c.path, r.Action, r.Resource, r.IDFrom, c.action, c.resource, c.idFrom)
		}
		if r.Removed != "" {
			t.Errorf("%s %s: marked removed in %s", c.method, c.path, r.Removed)
		}
	}
}

// The per-resource permission routes of 3.8..3.12 are gone from the newest
// release (users/permissions/* and roles/* replaced them): admin-only.
func TestRemovedPermissionRoutesAreAdmin(t *testing.T) {
	idx := index(t)
	for _, p := range []string{
		"/api/2.0/mlflow/experiments/permissions/create",
		"/api/2.0/mlflow/registered-models/permissions/create",
		"/api/3.0/mlflow/scorers/permissions/create",
		"/api/3.0/mlflow/gateway/secrets/permissions/create",
		"/api/3.0/mlflow/gateway/endpoints/permissions/create",
		"/api/3.0/mlflow/gateway/model-definitions/permissions/create",
	} {
		r, ok := idx[key{"POST", p}]
		if !ok || r.Removed == "" || r.Action != "admin" {
			t.Errorf("POST %s: %+v, want removed and admin", p, r)
		}
	}
	n := 0
	for _, r := range Routes {
		if strings.Contains(r.Path, "/permissions/") && !strings.Contains(r.Path, "/users/permissions/") &&
			!strings.Contains(r.Path, "/roles/permissions/") && !strings.Contains(r.Path, "/users/current/permissions") {
			n++
			if r.Removed == "" {
				t.Errorf("%s %s: a per-resource permission route still served?", r.Method, r.Path)
			}
		}
	}
	if n != 24 {
		t.Errorf("%d per-resource permission routes, want 24 (6 resource types × 4)", n)
	}
}

func TestEveryAPIVersionIsOneMLflowRegisters(t *testing.T) {
	prefix := regexp.MustCompile(`^/(ajax-)?api/(\d+\.\d+)`)
	for _, r := range Routes {
		if m := prefix.FindStringSubmatch(r.Path); m != nil && m[2] != "2.0" && m[2] != "3.0" {
			t.Errorf("%s %s: API version %s", r.Method, r.Path, m[2])
		}
	}
}

func TestParseErrorsNameTheLine(t *testing.T) {
	good := "GET\t/health\tpublic\t-\t-\t3.8\t-\tok"
	for _, c := range []struct{ data, want string }{
		{"# header\n" + good + "\nGET\t/x\n", "line 3: 2 tab-separated fields"},
		{good + "\nFETCH\t/x\tread\t-\t-\t3.8\t-\t-", "line 2: FETCH /x: method"},
		{good + "\nGET\tx\tread\t-\t-\t3.8\t-\t-", "line 2: GET x: path"},
		{good + "\nGET\t/a/{b\tread\t-\t-\t3.8\t-\t-", "line 2"},
		{good + "\nGET\t/a/{rest...}/b\tread\t-\t-\t3.8\t-\t-", "is not the last segment"},
		{good + "\nGET\t/a//b\tread\t-\t-\t3.8\t-\t-", "empty segment"},
		{good + "\nGET\t/x\tsuperuser\t-\t-\t3.8\t-\t-", "line 2: GET /x: action"},
		{good + "\nGET\t/x\tread\tplanet\t-\t3.8\t-\t-", "resource"},
		{good + "\nGET\t/x\tread\texperiment\tbody:id\t3.8\t-\t-", "id_from"},
		{good + "\nPOST\t/x\tread\texperiment\tquery:experiment_id\t3.8\t-\t-", "only a GET's query"},
		{good + "\nGET\t/x/{a}\tread\texperiment\tpath:{b}\t3.8\t-\t-", "placeholder of the path"},
		{good + "\nGET\t/x\tread\t-\t-\t3.7\t-\t-", "starts at 3.8"},
		{good + "\nGET\t/x\tread\t-\t-\tlatest\t-\t-", "since"},
		{good + "\nGET\t/x\tread\t-\t-\t3.8\t3.13\t-", "removed routes are admin"},
		{good + "\nGET\t/x\tadmin\t-\t-\t3.13\t3.9\t-", "not after since"},
		{"# only comments\n", "no routes"},
	} {
		_, err := parseRoutes(c.data)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("parse(%q) = %v, want an error containing %q", c.data, err, c.want)
		}
	}
	rs, err := parseRoutes("# c\n\n" + good + "\r\n")
	if err != nil || len(rs) != 1 || rs[0] != (Route{"GET", "/health", "public", "", "", "3.8", "", "ok"}) {
		t.Errorf("parse(good) = %+v, %v", rs, err)
	}
}

func TestOverlapHelper(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want bool
	}{
		{"/a/get", "/a/{id}", true},
		{"/a/{id}/x", "/a/get", false},
		{"/a/{rest...}", "/a/b/c", true},
		{"/a/{rest...}", "/a", false},
		{"/jobs/", "/jobs/{id}", false},
		{"/", "/", true},
		{"/", "/{x...}", false},
	} {
		if got := overlap(segments(c.a), segments(c.b)); got != c.want || overlap(segments(c.b), segments(c.a)) != c.want {
			t.Errorf("overlap(%s, %s) = %v, want %v", c.a, c.b, got, c.want)
		}
	}
	if !slices.Equal(segments("/a/b/"), []string{"a", "b", ""}) {
		t.Error("segments keeps a trailing slash as an empty segment")
	}
}
