package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"text/template"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/authreq/authreq/htpasswd"
	"github.com/authreq/authreq/internal/realtest"
)

// The deployment examples under examples/ against a running authreq: real
// nginx (as ingress-nginx and NGINX Gateway Fabric configure it) and real
// Caddy with the shipped files; Envoy Gateway and Traefik, which cannot
// run here, as the exact requests they send and the answers they pass on.

// The services' addresses in the shipped files, replaced by test ports.
const (
	authreqService = "authreq.authreq.svc.cluster.local:9091"
	clientIP       = "127.0.0.1" // every test client connects from here
)

// proxyPolicy is the authreq config every proxy is tested with: a public
// path, a rule that gives 403s, an admin and a group.
const proxyPolicy = `
originalRequest: %s
htpasswd: {groupFiles: [%s]}
rateLimit: {clientAddressHeader: %s}
policy:
  admins: {users: [root]}
  rules:
    - {pathPrefix: /health, public: true}
    - {pathPrefix: /api/, methods: [DELETE], users: [ann]}
`

// startAuthreq starts authreq with alice (group ml-engineers), ann and
// root, reading the original request in form, and returns its address.
func startAuthreq(t *testing.T, form, clientAddressHeader string) (string, *proc) {
	t.Helper()
	dir := t.TempDir()
	file := filepath.Join(dir, "htpasswd")
	for _, u := range []string{"alice", "ann", "root"} {
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
	groups := filepath.Join(dir, "groups")
	cfg := filepath.Join(dir, "authreq.yml")
	if err := os.WriteFile(groups, []byte("ml-engineers: alice\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(proxyPolicy, form, groups, clientAddressHeader)), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", realtest.FreePort(t))
	p := start(t, addr, "authreq", "--listen", addr, "--htpasswd", file, "--config", cfg)
	return addr, p
}

func startUpstream(t *testing.T) string {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", realtest.FreePort(t))
	start(t, addr, "demo-upstream", "-listen", addr)
	return addr
}

// readYAML decodes the YAML documents of an example file into one value
// per document, by kind.
func readYAML(t *testing.T, path string) map[string]map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	docs := map[string]map[string]any{}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	for {
		var d map[string]any
		if err := dec.Decode(&d); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		kind, _ := d["kind"].(string)
		if name := dig(d, "metadata", "name"); kind == "Middleware" {
			kind += "/" + name.(string) // Traefik: two of them
		}
		docs[kind] = d
	}
	return docs
}

// dig walks nested maps; nil when a key is missing.
func dig(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func strs(t *testing.T, v any) []string {
	t.Helper()
	l, ok := v.([]any)
	if !ok {
		t.Fatalf("want a list, have %T", v)
	}
	var out []string
	for _, s := range l {
		out = append(out, s.(string))
	}
	return out
}

// reply is what a client got back through a proxy, and what the upstream
// saw of its request (when it got one).
type reply struct {
	code      int
	challenge string
	up        seen
}

// clientReq is one request of the shared table, as a client sends it.
type clientReq struct {
	name, method, path, user string
	hdr                      map[string]string
	body                     string
}

// proxyCase is a request and what must come of it through any proxy.
type proxyCase struct {
	clientReq
	code          int
	xuser, groups string
	role          string
}

var spoof = map[string]string{"X-User": "root", "X-Groups": "mlflow-admins", "X-Role": "admin", "X-Auth-Request-User": "root"}

// proxyCases hold for every proxy in front of authreq with proxyPolicy.
var proxyCases = []proxyCase{
	{clientReq: clientReq{name: "no credentials", method: "GET", path: "/api/2.0/mlflow/experiments/search?max_results=1"}, code: 401},
	{clientReq: clientReq{name: "wrong password", method: "GET", path: "/", user: "alice:nope"}, code: 401},
	{clientReq: clientReq{name: "identity headers alone", method: "GET", path: "/", hdr: spoof}, code: 401},
	{clientReq: clientReq{name: "public path", method: "GET", path: "/health"}, code: 200},
	{clientReq: clientReq{name: "good credentials, spoofed identity", method: "GET", path: "/api/2.0/mlflow/experiments/search?max_results=1", user: "alice", hdr: spoof},
		code: 200, xuser: "alice", groups: "ml-engineers"},
	{clientReq: clientReq{name: "admin", method: "GET", path: "/", user: "root"}, code: 200, xuser: "root", role: "admin"},
	{clientReq: clientReq{name: "policy 403", method: "DELETE", path: "/api/2.0/x", user: "alice"}, code: 403},
	{clientReq: clientReq{name: "policy 403, another proxy's headers", method: "DELETE", path: "/api/2.0/x", user: "alice",
		hdr: map[string]string{"X-Original-URI": "/health", "X-Original-URL": "http://h/health", "X-Forwarded-Uri": "/health", "X-Forwarded-Method": "GET"}}, code: 403},
	{clientReq: clientReq{name: "policy allows", method: "DELETE", path: "/api/2.0/x", user: "ann"}, code: 200, xuser: "ann"},
	{clientReq: clientReq{name: "body to the upstream", method: "POST", path: "/api/2.0/mlflow/runs/create", user: "ann", body: strings.Repeat("x", 100000)},
		code: 200, xuser: "ann"},
}

const basicChallenge = `Basic realm="Restricted", charset="UTF-8"`

// check runs proxyCases through do and checks every answer: 401s carry
// authreq's challenge, 403s none, and the upstream sees authreq's
// identity only.
func check(t *testing.T, do func(clientReq) reply) {
	t.Helper()
	for _, tc := range proxyCases {
		t.Run(tc.name, func(t *testing.T) {
			r := do(tc.clientReq)
			if r.code != tc.code {
				t.Fatalf("%s %s: %d, want %d", tc.method, tc.path, r.code, tc.code)
			}
			switch r.code {
			case 401:
				if r.challenge != basicChallenge {
					t.Errorf("401 challenge %q, want %q", r.challenge, basicChallenge)
				}
			case 403:
				if r.challenge != "" {
					t.Errorf("403 with a challenge %q", r.challenge)
				}
			case 200:
				u := r.up
				if u.User != tc.xuser || u.Groups != tc.groups || u.Role != tc.role {
					t.Errorf("upstream saw X-User %q X-Groups %q X-Role %q, want %q %q %q", u.User, u.Groups, u.Role, tc.xuser, tc.groups, tc.role)
				}
				if u.AuthUser != "" && u.AuthUser != tc.xuser {
					t.Errorf("upstream saw X-Auth-Request-User %q", u.AuthUser)
				}
				if u.Method != tc.method || u.Path != tc.path || u.BodyBytes != int64(len(tc.body)) {
					t.Errorf("upstream saw %s %s with %d bytes", u.Method, u.Path, u.BodyBytes)
				}
			}
		})
	}
}

// viaHTTP sends c to a real proxy at base and reads the demo upstream's
// account of what it received.
func viaHTTP(t *testing.T, base, host string, c clientReq) reply {
	t.Helper()
	req, err := http.NewRequest(c.method, base+c.path, strings.NewReader(c.body))
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	setCredentials(req, c.user)
	for k, v := range c.hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r := reply{code: resp.StatusCode, challenge: resp.Header.Get("WWW-Authenticate")}
	if resp.StatusCode == 200 {
		r.up = decodeSeen(t, b)
	}
	return r
}

func setCredentials(req *http.Request, user string) {
	if user == "" {
		return
	}
	name, pw, ok := strings.Cut(user, ":")
	if !ok {
		pw = name + "-pw"
	}
	req.SetBasicAuth(name, pw)
}

func decodeSeen(t *testing.T, b []byte) seen {
	t.Helper()
	var s seen
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("upstream answer: %v: %s", err, b)
	}
	return s
}

// ingressNginxAuth is what the controller reads from the Ingress's
// annotations, for the template in testdata.
type ingressNginxAuth struct {
	AuthURL, AuthHost, Upstream string
	ResponseHeaders             []struct{ Name, Var string }
}

// TestIngressNginx runs nginx with the auth configuration ingress-nginx
// generates for examples/ingress-nginx/ingress.yaml (reproduced from the
// controller's template in testdata/ingress-nginx.conf.tmpl).
func TestIngressNginx(t *testing.T) {
	ing := readYAML(t, "../examples/ingress-nginx/ingress.yaml")["Ingress"]
	ann, _ := dig(ing, "metadata", "annotations").(map[string]any)
	for k := range ann {
		if strings.Contains(k, "snippet") {
			t.Errorf("annotation %s: the example must work without snippets", k)
		}
	}
	rawURL, _ := ann["nginx.ingress.kubernetes.io/auth-url"].(string)
	if !strings.Contains(rawURL, authreqService) {
		t.Fatalf("auth-url %q does not name %s", rawURL, authreqService)
	}
	authAddr, ap := startAuthreq(t, "ingress-nginx", "X-Real-IP")
	up := startUpstream(t)
	u, err := url.Parse(strings.Replace(rawURL, authreqService, authAddr, 1))
	if err != nil {
		t.Fatal(err)
	}
	v := ingressNginxAuth{AuthURL: u.String(), AuthHost: u.Hostname(), Upstream: up}
	headers, _ := ann["nginx.ingress.kubernetes.io/auth-response-headers"].(string)
	for _, h := range strings.Split(headers, ",") {
		h = strings.TrimSpace(h)
		v.ResponseHeaders = append(v.ResponseHeaders, struct{ Name, Var string }{h, strings.ReplaceAll(strings.ToLower(h), "-", "_")})
	}
	if len(v.ResponseHeaders) != 4 {
		t.Fatalf("auth-response-headers %q: want X-User, X-Groups, X-Role, X-Auth-Request-User", headers)
	}
	tmpl := template.Must(template.ParseFiles("testdata/ingress-nginx.conf.tmpl"))
	var conf strings.Builder
	if err := tmpl.Execute(&conf, v); err != nil {
		t.Fatal(err)
	}
	n := realtest.StartNginx(t, conf.String())
	check(t, func(c clientReq) reply { return viaHTTP(t, n.URL, "mlflow.example.com", c) })

	// The controller does not strip the password on its way to MLflow
	// (that would take a snippet): the README says so.
	if r := viaHTTP(t, n.URL, "", clientReq{method: "GET", path: "/", user: "alice"}); !r.up.Authorization {
		t.Error("ingress-nginx no longer passes Authorization on: update examples/ingress-nginx/README.md")
	}
	realtest.Eventually(t, 5*time.Second, "audit line", func() bool {
		return strings.Contains(ap.Output(), `"uri":"/api/2.0/mlflow/experiments/search?max_results=1","host":"mlflow.example.com"`)
	})
}

// TestNginxGatewayFabricSnippets runs nginx with the SnippetsFilter of
// examples/gateway-api/nginx-gateway-fabric.yaml placed as NGF places
// snippets: the http one in http{}, the server one in the server, the
// location one at the top of the route's location, before NGF's own
// proxy_set_header lines (internal/controller/nginx/config, v2.6.7).
func TestNginxGatewayFabricSnippets(t *testing.T) {
	sf := readYAML(t, "../examples/gateway-api/nginx-gateway-fabric.yaml")["SnippetsFilter"]
	authAddr, _ := startAuthreq(t, "nginx", "X-Real-IP")
	up := startUpstream(t)
	snip := map[string]string{}
	for _, s := range dig(sf, "spec", "snippets").([]any) {
		ctx, val := dig(s, "context").(string), dig(s, "value").(string)
		snip[ctx] = strings.ReplaceAll(val, authreqService, authAddr)
	}
	dir := t.TempDir()
	for ctx, val := range snip {
		if err := os.WriteFile(filepath.Join(dir, ctx+".conf"), []byte(val), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	n := realtest.StartNginx(t, fmt.Sprintf(`
map $http_host $gw_api_compliant_host {
    '' $host;
    default $http_host;
}
map $http_upgrade $connection_upgrade {
    default upgrade;
    '' close;
}
include %[1]s/http.conf;
server {
    listen 127.0.0.1:{{PORT}};
    server_name mlflow.example.com;
    include %[1]s/http.server.conf;
    location / {
        include %[1]s/http.server.location.conf;
        proxy_http_version 1.1;
        proxy_set_header Host "$gw_api_compliant_host";
        proxy_set_header X-Forwarded-For "$proxy_add_x_forwarded_for";
        proxy_set_header X-Real-IP "$remote_addr";
        proxy_set_header X-Forwarded-Proto "$scheme";
        proxy_set_header X-Forwarded-Host "$host";
        proxy_set_header X-Forwarded-Port "$server_port";
        proxy_set_header Upgrade "$http_upgrade";
        proxy_set_header Connection "$connection_upgrade";
        proxy_pass http://%[2]s$request_uri;
    }
}`, dir, up))
	check(t, func(c clientReq) reply { return viaHTTP(t, n.URL, "mlflow.example.com", c) })
	if r := viaHTTP(t, n.URL, "", clientReq{method: "GET", path: "/", user: "alice"}); r.up.Authorization || r.up.ProxyAuth {
		t.Error("the password reached the upstream")
	}
}

// TestCaddy runs Debian's caddy with examples/caddy/Caddyfile as shipped,
// its addresses given by the environment variables it reads, behind test
// global options: no admin endpoint, no automatic HTTPS, loopback only,
// storage in a temp dir.
func TestCaddy(t *testing.T) {
	bin := realtest.Need(t, "caddy")
	authAddr, ap := startAuthreq(t, "forwarded", "X-Forwarded-For")
	up := startUpstream(t)
	shipped, err := os.ReadFile("../examples/caddy/Caddyfile")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "Caddyfile")
	global := fmt.Sprintf("{\n\tadmin off\n\tauto_https off\n\tdefault_bind 127.0.0.1\n\tstorage file_system %s\n}\n\n", filepath.Join(dir, "data"))
	if err := os.WriteFile(conf, append([]byte(global), shipped...), 0o644); err != nil {
		t.Fatal(err)
	}
	port := realtest.FreePort(t)
	cmd := exec.Command(bin, "run", "--config", conf, "--adapter", "caddyfile")
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir,
		fmt.Sprintf("MLFLOW_SITE=http://127.0.0.1:%d", port), "AUTHREQ_ADDR="+authAddr, "MLFLOW_ADDR="+up)
	p := &proc{cmd: cmd}
	cmd.Stdout, cmd.Stderr = p, p
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("caddy output:\n%s", p.Output())
		}
	})
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	realtest.WaitTCP(t, base[len("http://"):], 10*time.Second)
	check(t, func(c clientReq) reply {
		r := viaHTTP(t, base, "", c)
		// Caddy before 2.9 (Debian's 2.6) copies a header authreq's answer
		// lacks as its placeholder's text: never the client's value, and
		// no group or role anyone holds. The README says so.
		for name, v := range map[string]*string{"X-User": &r.up.User, "X-Groups": &r.up.Groups, "X-Role": &r.up.Role} {
			if *v == "{http.reverse_proxy.header."+name+"}" {
				*v = ""
			}
		}
		return r
	})

	r := viaHTTP(t, base, "", clientReq{method: "GET", path: "/", user: "alice", hdr: map[string]string{"X-Real-IP": "6.6.6.6", "X-Forwarded-For": "6.6.6.7"}})
	if r.up.Authorization || r.up.ProxyAuth {
		t.Error("the password reached the upstream")
	}
	// Caddy passes the client's X-Real-IP on and replaces X-Forwarded-For:
	// with clientAddressHeader X-Forwarded-For, neither spoof is believed.
	realtest.Eventually(t, 5*time.Second, "audit line", func() bool {
		return strings.Contains(ap.Output(), `"client_ip":"127.0.0.1","user":"alice"`)
	})
	if out := ap.Output(); strings.Contains(out, "6.6.6.") {
		t.Errorf("authreq believed a client's address:\n%s", out)
	}
}
