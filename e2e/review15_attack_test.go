package e2e

// Attacks found by a hostile review of the deployment examples; each
// failed before its fix.

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"text/template"
	"time"

	"github.com/authreq/authreq/htpasswd"
	"github.com/authreq/authreq/internal/realtest"
)

// r15Policy: carol may not touch workspace team-a (EDIT elsewhere), dave
// experiment 7; bob has no role, no groups.
const r15Policy = `
originalRequest: %s
rateLimit: {clientAddressHeader: %s}
policy:
  preset: mlflow
  defaultPermission: EDIT
  admins: {users: [root]}
  grants:
    - {users: [carol], level: NO_PERMISSIONS, workspaces: [team-a]}
    - {users: [dave], level: NO_PERMISSIONS, experiments: ["7"]}
`

func r15Authreq(t *testing.T, form, addrHeader string) (string, *proc) {
	t.Helper()
	dir := t.TempDir()
	file := filepath.Join(dir, "htpasswd")
	for _, u := range []string{"carol", "bob", "dave", "root"} {
		err := htpasswd.Update(file, true, func(f *htpasswd.File) error {
			h, err := htpasswd.Generate(htpasswd.Bcrypt, []byte(u+"-pw"), 5)
			if err != nil {
				return err
			}
			_, err = f.Set(u, h)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	cfg := filepath.Join(dir, "authreq.yml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(r15Policy, form, addrHeader)), 0o644)
	addr := fmt.Sprintf("127.0.0.1:%d", realtest.FreePort(t))
	return addr, start(t, addr, "authreq", "--listen", addr, "--htpasswd", file, "--config", cfg)
}

// wsgiEnviron is what MLflow's Flask app reads of a request's headers: the
// MLflow server is FastAPI (uvicorn) with Flask mounted through
// Starlette's WSGIMiddleware, whose build_environ maps every header name
// to "HTTP_" + name.upper().replace("-", "_") and joins repeats with ",".
// Flask's request.headers["X-Role"] is then environ["HTTP_X_ROLE"].
func wsgiEnviron(h http.Header) map[string]string {
	env := map[string]string{}
	names := make([]string, 0, len(h))
	for k := range h {
		names = append(names, k)
	}
	sort.Strings(names) // Go writes header names sorted: the wire order
	for _, k := range names {
		key := "HTTP_" + strings.ReplaceAll(strings.ToUpper(k), "-", "_")
		for _, v := range h[k] {
			if old, ok := env[key]; ok {
				v = old + "," + v
			}
			env[key] = v
		}
	}
	return env
}

// TestR15EnvoyDropsWorkspace: examples/gateway-api/envoy-gateway.yaml
// lists only X-Forwarded-For in headersToExtAuth, and Envoy Gateway's HTTP
// ext_authz sends nothing but Host, Method, Path, Content-Length,
// Authorization and those. authreq never sees X-MLFLOW-WORKSPACE (nor
// X-Mlflow-Experiment-Id), decides as in workspace "default", and MLflow
// then acts in the client's workspace.
func TestR15EnvoyDropsWorkspace(t *testing.T) {
	docs := readYAML(t, "../examples/gateway-api/envoy-gateway.yaml")
	sp := docs["SecurityPolicy"]
	toExtAuth := strs(t, dig(sp, "spec", "extAuth", "headersToExtAuth"))
	authAddr, _ := r15Authreq(t, "envoy", "X-Real-IP")

	// What Envoy sends: the client's method, /auth + its path, and only
	// Authorization plus headersToExtAuth.
	envoyCheck := func(user, method, uri string, hdr map[string]string) int {
		client := http.Header{}
		for k, v := range hdr {
			client.Set(k, v)
		}
		chk, _ := http.NewRequest(method, "http://"+authAddr+"/auth"+uri, http.NoBody)
		chk.Host = "mlflow.example.com"
		chk.SetBasicAuth(user, user+"-pw")
		for _, h := range toExtAuth {
			for _, v := range client.Values(h) {
				chk.Header.Add(h, v)
			}
		}
		resp, _ := send(t, chk)
		return resp.StatusCode
	}
	// The same check with the header, as nginx/Traefik/Caddy deliver it.
	direct := func(user, method, uri string, hdr map[string]string) int {
		chk, _ := http.NewRequest(method, "http://"+authAddr+"/auth"+uri, http.NoBody)
		chk.Host = "mlflow.example.com"
		chk.SetBasicAuth(user, user+"-pw")
		for k, v := range hdr {
			chk.Header.Set(k, v)
		}
		resp, _ := send(t, chk)
		return resp.StatusCode
	}
	ws := map[string]string{"X-Mlflow-Workspace": "team-a"}
	create := "/api/2.0/mlflow/experiments/create"
	if got := direct("carol", "POST", create, ws); got != 403 {
		t.Fatalf("control: authreq given the workspace answers %d, want 403", got)
	}
	if got := envoyCheck("carol", "POST", create, ws); got != 403 {
		t.Errorf("through Envoy Gateway as shipped, carol's POST %s in workspace team-a: %d (authreq saw workspace \"default\"); MLflow acts in team-a, where carol has NO_PERMISSIONS", create, got)
	}
	tr := map[string]string{"X-Mlflow-Experiment-Id": "7"}
	if d, e := direct("dave", "POST", "/v1/traces", tr), envoyCheck("dave", "POST", "/v1/traces", tr); d != 403 || e != 403 {
		t.Errorf("dave's OTLP upload to experiment 7: %d with the header, %d through Envoy (want 403, 403)", d, e)
	}
}

// TestR15CaddyUnderscoreHeaders: real Caddy with examples/caddy/Caddyfile.
// Go servers (Caddy, Traefik) accept header names with '_' and pass them
// on; `request_header -X-Role` removes only X-Role. MLflow (uvicorn +
// WSGIMiddleware) reads X_Role as X-Role, X_Mlflow_Workspace as
// X-MLFLOW-WORKSPACE; authreq (Go) reads neither.
func TestR15CaddyUnderscoreHeaders(t *testing.T) {
	bin := realtest.Need(t, "caddy")
	authAddr, _ := r15Authreq(t, "forwarded", "X-Forwarded-For")

	var mu sync.Mutex
	var last http.Header
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		last = r.Header.Clone()
		mu.Unlock()
	}))
	defer up.Close()

	shipped, err := os.ReadFile("../examples/caddy/Caddyfile")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "Caddyfile")
	global := fmt.Sprintf("{\n\tadmin off\n\tauto_https off\n\tdefault_bind 127.0.0.1\n\tstorage file_system %s\n}\n\n", filepath.Join(dir, "data"))
	os.WriteFile(conf, append([]byte(global), shipped...), 0o644)
	port := realtest.FreePort(t)
	cmd := exec.Command(bin, "run", "--config", conf, "--adapter", "caddyfile")
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir,
		fmt.Sprintf("MLFLOW_SITE=http://127.0.0.1:%d", port), "AUTHREQ_ADDR="+authAddr, "MLFLOW_ADDR="+strings.TrimPrefix(up.URL, "http://"))
	p := &proc{cmd: cmd}
	cmd.Stdout, cmd.Stderr = p, p
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.stop)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	realtest.WaitTCP(t, base[len("http://"):], 10*time.Second)

	do := func(user, method, path string, hdr map[string]string) (int, map[string]string) {
		mu.Lock()
		last = nil
		mu.Unlock()
		req, _ := http.NewRequest(method, base+path, nil)
		req.SetBasicAuth(user, user+"-pw")
		for k, v := range hdr {
			req.Header[k] = []string{v} // as sent: no canonicalization
		}
		resp, _ := send(t, req)
		mu.Lock()
		defer mu.Unlock()
		return resp.StatusCode, wsgiEnviron(last)
	}

	// Identity: bob has no role and no groups. authreq refuses the
	// underscore spellings (it sees what the upstream would).
	code, env := do("bob", "GET", "/api/2.0/mlflow/experiments/search?max_results=1",
		map[string]string{"X_Role": "admin", "X_Groups": "mlflow-admins", "X_User": "root", "X_Auth_Request_User": "root"})
	if code != 403 {
		t.Errorf("bob with X_Role and friends: %d, want 403", code)
	}
	for _, k := range []string{"HTTP_X_ROLE", "HTTP_X_GROUPS", "HTTP_X_USER", "HTTP_X_AUTH_REQUEST_USER"} {
		if strings.Contains(env[k], "admin") || strings.Contains(env[k], "root") {
			t.Errorf("MLflow's Flask sees %s=%q: the client's own value", k, env[k])
		}
	}
	if code, _ := do("bob", "GET", "/api/2.0/mlflow/experiments/search?max_results=1", nil); code != 200 {
		t.Errorf("control: bob without them: %d", code)
	}

	// Policy: carol may not create in team-a.
	create := "/api/2.0/mlflow/experiments/create"
	if code, _ := do("carol", "POST", create, map[string]string{"X-Mlflow-Workspace": "team-a"}); code != 403 {
		t.Fatalf("control: carol in team-a: %d, want 403", code)
	}
	code, env = do("carol", "POST", create, map[string]string{"X_Mlflow_Workspace": "team-a"})
	if code != 403 || env["HTTP_X_MLFLOW_WORKSPACE"] == "team-a" {
		t.Errorf("carol's POST %s with X_Mlflow_Workspace: team-a: %d, MLflow reads workspace %q (want 403, never reached)", create, code, env["HTTP_X_MLFLOW_WORKSPACE"])
	}
}

// TestR15IngressNginxHostConfusion: the real ingress-nginx auth location
// (testdata/ingress-nginx.conf.tmpl, as the controller generates it)
// sends X-Original-URL $scheme://$http_host$request_uri: the client's raw
// Host header. nginx picks the server by $host, the Host up to its first
// ':', and accepts '#', '?' and '@' after it. With Host
// "mlflow.example.com:#" nginx routes the request to MLflow unchanged,
// while authreq parses X-Original-URL "http://mlflow.example.com:#/api/…"
// as path "/" (the rest is a fragment): every rule or preset route on the
// real path is skipped. ("mlflow.example.com:1@other.host" likewise
// changes the host authreq's `host:` rules see.)
func TestR15IngressNginxHostConfusion(t *testing.T) {
	ing := readYAML(t, "../examples/ingress-nginx/ingress.yaml")["Ingress"]
	ann, _ := dig(ing, "metadata", "annotations").(map[string]any)
	rawURL, _ := ann["nginx.ingress.kubernetes.io/auth-url"].(string)
	authAddr, ap := r15Authreq(t, "ingress-nginx", "X-Real-IP")

	// MLflow stand-in that accepts any Host (uvicorn/h11 does) and says
	// what it was asked.
	var mu sync.Mutex
	var got []string
	upLn, err := netListen()
	if err != nil {
		t.Fatal(err)
	}
	defer upLn.Close()
	go rawUpstream(upLn, func(line string) { mu.Lock(); got = append(got, line); mu.Unlock() })

	u, _ := url.Parse(strings.Replace(rawURL, authreqService, authAddr, 1))
	v := ingressNginxAuth{AuthURL: u.String(), AuthHost: u.Hostname(), Upstream: upLn.Addr().String()}
	for _, h := range strings.Split(ann["nginx.ingress.kubernetes.io/auth-response-headers"].(string), ",") {
		h = strings.TrimSpace(h)
		v.ResponseHeaders = append(v.ResponseHeaders, struct{ Name, Var string }{h, strings.ReplaceAll(strings.ToLower(h), "-", "_")})
	}
	tmpl := template.Must(template.ParseFiles("testdata/ingress-nginx.conf.tmpl"))
	var conf strings.Builder
	tmpl.Execute(&conf, v)
	n := realtest.StartNginx(t, conf.String())
	addr := strings.TrimPrefix(n.URL, "http://")

	raw := func(method, uri, host, user string) int {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		cred := base64.StdEncoding.EncodeToString([]byte(user + ":" + user + "-pw"))
		fmt.Fprintf(c, "%s %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Basic %s\r\nConnection: close\r\n\r\n", method, uri, host, cred)
		line, _ := bufio.NewReader(c).ReadString('\n')
		var code int
		fmt.Sscanf(line, "HTTP/1.1 %d", &code)
		return code
	}
	// dave: NO_PERMISSIONS on experiment 7; bob: other users' records
	// are admins-only.
	for _, tc := range []struct{ user, method, uri string }{
		{"dave", "GET", "/api/2.0/mlflow/experiments/get?experiment_id=7"},
		{"dave", "GET", "/api/2.0/mlflow-artifacts/artifacts/7/model/model.pkl"},
		{"bob", "GET", "/api/2.0/mlflow/users/get?username=root"},
	} {
		if c := raw(tc.method, tc.uri, "mlflow.example.com", tc.user); c != 403 {
			t.Fatalf("control: %s %s as %s: %d, want 403", tc.method, tc.uri, tc.user, c)
		}
		if c := raw(tc.method, tc.uri, "mlflow.example.com:#", tc.user); c != 403 {
			t.Errorf("%s %s as %s with Host \"mlflow.example.com:#\": %d, want 403", tc.method, tc.uri, tc.user, c)
		}
	}
	mu.Lock()
	t.Logf("MLflow received: %q", got)
	mu.Unlock()
	if strings.Contains(ap.Output(), `"uri":"/",`) {
		t.Logf("authreq's audit shows uri \"/\" for those requests")
	}
}

func netListen() (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") }

// rawUpstream answers every request 200 and reports its request line and
// Host, without validating anything (as uvicorn's h11 does not validate
// the Host's characters).
func rawUpstream(ln net.Listener, seen func(string)) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func(c net.Conn) {
			defer c.Close()
			br := bufio.NewReader(c)
			req, err := http.ReadRequest(br)
			if err != nil {
				line := ""
				seen("unparsed: " + err.Error() + line)
				return
			}
			seen(req.Method + " " + req.RequestURI + " Host=" + req.Host + " X-User=" + req.Header.Get("X-User"))
			io.Copy(io.Discard, req.Body)
			fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
		}(c)
	}
}

// TestR15BlockedNginxSnippetHost: BLOCKED. The shipped nginx snippets (both
// locations) send $host and $request_uri, so the Host trick above changes
// nothing there.
func TestR15BlockedNginxSnippetHost(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "authreq.yml")
	os.WriteFile(cfg, []byte("policy:\n  preset: mlflow\n  defaultPermission: EDIT\n  grants:\n    - {users: [dave], level: NO_PERMISSIONS, experiments: [\"7\"]}\n"), 0o644)
	for _, cached := range []bool{false, true} {
		s := startStackWith(t, cached, map[string]string{"dave": "dave-pw"}, "--config", cfg)
		for _, host := range []string{"mlflow.example.com:#", "mlflow.example.com:1@x", "mlflow.example.com:?"} {
			c, err := net.Dial("tcp", strings.TrimPrefix(s.nginx.URL, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			cred := base64.StdEncoding.EncodeToString([]byte("dave:dave-pw"))
			fmt.Fprintf(c, "GET /api/2.0/mlflow/experiments/get?experiment_id=7 HTTP/1.1\r\nHost: %s\r\nAuthorization: Basic %s\r\nConnection: close\r\n\r\n", host, cred)
			line, _ := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if !strings.HasPrefix(line, "HTTP/1.1 403") {
				t.Errorf("cached=%v Host %q: %q", cached, host, line)
			}
		}
	}
}
