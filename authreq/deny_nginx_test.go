package authreq

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/authreq/authreq/authreq/policy"
	"github.com/authreq/authreq/internal/realtest"
)

// Reviewer 4, through real nginx with the shipped snippets: bob has EDIT but
// NO_PERMISSIONS on experiment 7, carol NO_PERMISSIONS on model prod. Each
// request below reaches a stub MLflow with what MLflow would serve from the
// denied resource; every one must be refused (403) and never reach it.
func TestPerResourceDenyThroughNginx(t *testing.T) {
	s := newTestServer(t, map[string]string{"bob": "bob-pw", "carol": "carol-pw"}, func(c *Config) {
		c.Policy = policy.Config{Preset: "mlflow", DefaultPermission: "READ", Grants: []policy.Grant{
			{Subjects: policy.Subjects{Users: []string{"bob"}}, Level: "EDIT"},
			{Subjects: policy.Subjects{Users: []string{"bob"}}, Level: "NO_PERMISSIONS", Experiments: []string{"7"}},
			{Subjects: policy.Subjects{Users: []string{"carol"}}, Level: "NO_PERMISSIONS", RegisteredModels: []string{"prod"}},
		}}
	})
	ts := httptest.NewServer(s)
	defer ts.Close()
	type seen struct{ raw, body, expHdr string }
	var mu sync.Mutex
	var got []seen
	mlflowStub := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, seen{r.RequestURI, string(b), r.Header.Get("X-Mlflow-Experiment-Id")})
		mu.Unlock()
		w.WriteHeader(200)
	}))
	defer mlflowStub.Close()
	snippets, _ := filepath.Abs("../nginx")
	up := filepath.Join(t.TempDir(), "up.conf")
	os.WriteFile(up, []byte("upstream authreq { server "+strings.TrimPrefix(ts.URL, "http://")+"; keepalive 4; }\n"), 0o644)
	n := realtest.StartNginx(t, fmt.Sprintf(`
include %s;
server {
    listen 127.0.0.1:{{PORT}};
    include %s/authreq-location.conf;
    location / {
        include %s/authreq-protect.conf;
        proxy_pass http://%s;
    }
}`, up, snippets, snippets, strings.TrimPrefix(mlflowStub.URL, "http://")))

	for _, tt := range []struct {
		name, user, method, path, body string
		hdr                            map[string]string
	}{
		{"baseline", "bob", "GET", "/api/2.0/mlflow-artifacts/artifacts/7/r1/artifacts/model.pkl", "", nil},
		{"artifact %2537 (MLflow's validate_path_is_safe decodes again: 7)", "bob", "GET", "/api/2.0/mlflow-artifacts/artifacts/%2537/r1/artifacts/model.pkl", "", nil},
		{"artifact upload %2537", "bob", "PUT", "/api/2.0/mlflow-artifacts/artifacts/%2537/r1/artifacts/model.pkl", "evil", nil},
		{"artifact file:7 (validate_path_is_safe turns file: URIs into paths)", "bob", "GET", "/api/2.0/mlflow-artifacts/artifacts/file:7/r1/artifacts/model.pkl", "", nil},
		{"experiment_id=07 (SqlAlchemyStore: int())", "bob", "GET", "/api/2.0/mlflow/experiments/get?experiment_id=07", "", nil},
		{"experiment_id=+7", "bob", "GET", "/api/2.0/mlflow/experiments/get?experiment_id=+7", "", nil},
		{"GET with the id in a body, no query", "carol", "GET", "/api/2.0/mlflow/registered-models/get", `{"name":"prod"}`, nil},
		{"OTLP into experiment 7 by header", "bob", "POST", "/v1/traces", "spans", map[string]string{"X-Mlflow-Experiment-Id": "7", "Content-Type": "application/x-protobuf"}},
	} {
		var body io.Reader
		if tt.body != "" {
			body = strings.NewReader(tt.body)
		}
		req, _ := http.NewRequest(tt.method, n.URL+"/", body)
		req.URL = &url.URL{Scheme: "http", Host: strings.TrimPrefix(n.URL, "http://"), Opaque: tt.path}
		if p, q, ok := strings.Cut(tt.path, "?"); ok {
			req.URL.Opaque, req.URL.RawQuery = p, q
		}
		req.SetBasicAuth(tt.user, tt.user+"-pw")
		for k, v := range tt.hdr {
			req.Header.Set(k, v)
		}
		mu.Lock()
		got = nil
		mu.Unlock()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		mu.Lock()
		g := got
		mu.Unlock()
		if resp.StatusCode != 403 {
			t.Errorf("%s: %s %s as %s: %d, want 403; MLflow got %+v", tt.name, tt.method, tt.path, tt.user, resp.StatusCode, g)
		}
	}
}
