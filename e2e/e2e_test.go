// Package e2e runs authreq behind a real nginx with the shipped nginx/
// snippets, in front of the demo upstream.
package e2e

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/authreq/authreq/htpasswd"
	"github.com/authreq/authreq/internal/realtest"
)

var bins string // directory of the built binaries

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "authreq-e2e-")
	if err != nil {
		panic(err)
	}
	for _, pkg := range []string{"../cmd/authreq", "../examples/demo-upstream"} {
		if out, err := exec.Command("go", "build", "-o", dir+"/", pkg).CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "go build %s: %v\n%s", pkg, err, out)
			os.Exit(1)
		}
	}
	bins = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is a started program whose output is kept.
type proc struct {
	cmd *exec.Cmd
	mu  sync.Mutex
	out bytes.Buffer
}

func (p *proc) Write(b []byte) (int, error) { p.mu.Lock(); defer p.mu.Unlock(); return p.out.Write(b) }
func (p *proc) Output() string              { p.mu.Lock(); defer p.mu.Unlock(); return p.out.String() }

func (p *proc) stop() {
	if p.cmd.ProcessState != nil {
		return
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-done
	}
}

func start(t *testing.T, addr string, name string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(filepath.Join(bins, name), args...)}
	p.cmd.Stdout, p.cmd.Stderr = p, p
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("%s output:\n%s", name, p.Output())
		}
	})
	realtest.WaitTCP(t, addr, 10*time.Second)
	return p
}

type stack struct {
	nginx    *realtest.Nginx
	authreq  *proc
	authAddr string // authreq's host:port
	file     string
}

// startStack writes an htpasswd file with users, and starts authreq, the
// demo upstream and nginx configured with the shipped snippets.
func startStack(t *testing.T, users map[string]string, authreqArgs ...string) *stack {
	t.Helper()
	return startStackWith(t, false, users, authreqArgs...)
}

// startStackWith is startStack; cached picks the micro-cache
// (authreq-cache-zone.conf and authreq-location-cached.conf, with the
// cache in a temp dir) over authreq-location.conf.
func startStackWith(t *testing.T, cached bool, users map[string]string, authreqArgs ...string) *stack {
	t.Helper()
	dir := t.TempDir()
	file := filepath.Join(dir, "htpasswd")
	for u, pw := range users {
		err := htpasswd.Update(file, true, func(f *htpasswd.File) error {
			h, err := htpasswd.Generate(htpasswd.Bcrypt, []byte(pw), 5)
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
	authAddr := fmt.Sprintf("127.0.0.1:%d", realtest.FreePort(t))
	upAddr := fmt.Sprintf("127.0.0.1:%d", realtest.FreePort(t))
	ap := start(t, authAddr, "authreq", append([]string{"--listen", authAddr, "--htpasswd", file, "--log-format", "text"}, authreqArgs...)...)
	start(t, upAddr, "demo-upstream", "-listen", upAddr)

	// The shipped snippets, verbatim but for authreq's address.
	snippets, err := filepath.Abs("../nginx")
	if err != nil {
		t.Fatal(err)
	}
	up, err := os.ReadFile(filepath.Join(snippets, "authreq-upstream.conf"))
	if err != nil {
		t.Fatal(err)
	}
	upFile := filepath.Join(dir, "authreq-upstream.conf")
	os.WriteFile(upFile, bytes.Replace(up, []byte("127.0.0.1:9091"), []byte(authAddr), 1), 0o644)
	location, zone := filepath.Join(snippets, "authreq-location.conf"), ""
	if cached {
		location = filepath.Join(snippets, "authreq-location-cached.conf")
		z, err := os.ReadFile(filepath.Join(snippets, "authreq-cache-zone.conf"))
		if err != nil {
			t.Fatal(err)
		}
		zone = filepath.Join(dir, "authreq-cache-zone.conf")
		z = bytes.Replace(z, []byte("proxy_cache_path /var/cache/nginx/authreq "), []byte("proxy_cache_path "+filepath.Join(dir, "cache")+" "), 1)
		os.WriteFile(zone, z, 0o644)
		zone = "include " + zone + ";"
	}
	n := realtest.StartNginx(t, fmt.Sprintf(`
include %s;
%s
server {
    listen 127.0.0.1:{{PORT}};
    include %s;
    location / {
        include %s/authreq-protect.conf;
        proxy_pass http://%s;
    }
}`, upFile, zone, location, snippets, upAddr))
	return &stack{nginx: n, authreq: ap, authAddr: authAddr, file: file}
}

type seen struct {
	Path          string `json:"path"`
	Method        string `json:"method"`
	User          string `json:"x_user"`
	AuthUser      string `json:"x_auth_request_user"`
	Groups        string `json:"x_groups"`
	Role          string `json:"x_role"`
	Authorization bool   `json:"authorization_forwarded"`
	ProxyAuth     bool   `json:"proxy_authorization_forwarded"`
	BodyBytes     int64  `json:"body_bytes"`
}

func (s *stack) get(t *testing.T, method, path, user, pw string, hdr map[string]string, body string) (*http.Response, seen) {
	t.Helper()
	req, _ := http.NewRequest(method, s.nginx.URL+path, strings.NewReader(body))
	if user != "" {
		req.SetBasicAuth(user, pw)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var sn seen
	if resp.StatusCode == 200 {
		if err := json.Unmarshal(b, &sn); err != nil {
			t.Fatalf("upstream answer: %v: %s", err, b)
		}
	}
	return resp, sn
}

const challenge = `Basic realm="Restricted", charset="UTF-8"`

func TestThroughNginx(t *testing.T) {
	s := startStack(t, map[string]string{"alice": "alice-pw"})
	resp, _ := s.get(t, "GET", "/", "", "", nil, "")
	if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") != challenge {
		t.Errorf("no credentials: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	resp, _ = s.get(t, "GET", "/", "alice", "wrong", nil, "")
	if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") != challenge {
		t.Errorf("wrong password: %d", resp.StatusCode)
	}
	resp, sn := s.get(t, "GET", "/api/2.0/mlflow/experiments/search?max_results=1", "alice", "alice-pw",
		map[string]string{"X-User": "admin", "X-Auth-Request-User": "admin", "X-Role": "admin", "X-Real-IP": "6.6.6.6"}, "")
	if resp.StatusCode != 200 || sn.User != "alice" || sn.AuthUser != "alice" || sn.Role != "" || sn.Authorization {
		t.Errorf("right password: %d %+v", resp.StatusCode, sn)
	}
	// A spoofed X-User without credentials gets nothing.
	if resp, _ := s.get(t, "GET", "/", "", "", map[string]string{"X-User": "alice"}, ""); resp.StatusCode != 401 {
		t.Errorf("X-User alone: %d", resp.StatusCode)
	}
	// Proxy-Authorization is not a way in, and never reaches the upstream:
	// nginx would forward it, password and all.
	proxyAuth := "Basic " + base64.StdEncoding.EncodeToString([]byte("alice:alice-pw"))
	if resp, _ := s.get(t, "GET", "/", "", "", map[string]string{"Proxy-Authorization": proxyAuth}, ""); resp.StatusCode != 401 {
		t.Errorf("Proxy-Authorization alone: %d", resp.StatusCode)
	}
	resp, sn = s.get(t, "GET", "/", "alice", "alice-pw", map[string]string{"Proxy-Authorization": proxyAuth}, "")
	if resp.StatusCode != 200 || sn.ProxyAuth || sn.Authorization {
		t.Errorf("Proxy-Authorization forwarded: %d %+v", resp.StatusCode, sn)
	}
	// The body goes to the upstream, not to authreq.
	body := strings.Repeat("x", 100000)
	resp, sn = s.get(t, "POST", "/api/2.0/mlflow/runs/create", "alice", "alice-pw", nil, body)
	if resp.StatusCode != 200 || sn.BodyBytes == 0 || sn.Method != "POST" {
		t.Errorf("POST: %d %+v", resp.StatusCode, sn)
	}
	// authreq saw the original request and the client's address from nginx.
	realtest.Eventually(t, 5*time.Second, "audit line", func() bool {
		return strings.Contains(s.authreq.Output(), `"uri":"/api/2.0/mlflow/runs/create","host":"127.0.0.1","decision":"allow"`)
	})
	out := s.authreq.Output()
	if !strings.Contains(out, `"method":"POST"`) || strings.Contains(out, "6.6.6.6") || strings.Contains(out, "alice-pw") {
		t.Errorf("audit log:\n%s", out)
	}
}

func TestAuthreqDownFailsClosed(t *testing.T) {
	s := startStack(t, map[string]string{"alice": "alice-pw"})
	if resp, _ := s.get(t, "GET", "/", "alice", "alice-pw", nil, ""); resp.StatusCode != 200 {
		t.Fatalf("before: %d", resp.StatusCode)
	}
	s.authreq.stop()
	resp, _ := s.get(t, "GET", "/", "alice", "alice-pw", nil, "")
	if resp.StatusCode != 500 {
		t.Errorf("authreq down: %d, want 500", resp.StatusCode)
	}
}

func TestFileEditedWhileRunning(t *testing.T) {
	s := startStack(t, map[string]string{"alice": "old-pw"})
	if resp, _ := s.get(t, "GET", "/", "alice", "old-pw", nil, ""); resp.StatusCode != 200 {
		t.Fatalf("before: %d", resp.StatusCode)
	}
	err := htpasswd.Update(s.file, false, func(f *htpasswd.File) error {
		h, _ := htpasswd.Generate(htpasswd.APR1, []byte("new-pw"), 0)
		_, err := f.Set("alice", h)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	realtest.Eventually(t, 5*time.Second, "new password", func() bool {
		resp, _ := s.get(t, "GET", "/", "alice", "new-pw", nil, "")
		return resp.StatusCode == 200
	})
	if resp, _ := s.get(t, "GET", "/", "alice", "old-pw", nil, ""); resp.StatusCode != 401 {
		t.Errorf("old password after the change: %d", resp.StatusCode)
	}
}

// LDAP users through nginx: groups and role reach the upstream, whatever
// the client claimed.
func TestLDAPThroughNginx(t *testing.T) {
	const base = "dc=mlflow,dc=test"
	d := realtest.StartSlapd(t, base, "../authreq/ldapauth/testdata/mlflow.ldif")
	conf := filepath.Join(t.TempDir(), "authreq.yml")
	os.WriteFile(conf, []byte(d.MLflowLDAPConfig()), 0o600)
	s := startStack(t, map[string]string{"breakglass": "local-pw"}, "--config", conf)
	spoof := map[string]string{"X-Groups": "test-admin", "X-Role": "admin"}
	for _, tc := range []struct {
		user, pw            string
		code                int
		groups, role, xuser string
	}{
		{"alice", "alice-pass", 200, "test-admin,test-user", "admin", "alice"},
		{"bob", "bob-pass", 200, "test-user", "user", "bob"},
		{"carol", "carol-pass", 401, "", "", ""},
		{"bob", "wrong", 401, "", "", ""},
		{"breakglass", "local-pw", 200, "", "", "breakglass"},
	} {
		resp, sn := s.get(t, "GET", "/", tc.user, tc.pw, spoof, "")
		if resp.StatusCode != tc.code || sn.Groups != tc.groups || sn.Role != tc.role || sn.User != tc.xuser {
			t.Errorf("%s: %d %+v", tc.user, resp.StatusCode, sn)
		}
	}
}

// A policy through real nginx: a public path needs no credentials, a
// forbidden request's 403 reaches the client without a challenge, and a
// client cannot reach the public rule by adding another proxy's header.
func TestPolicyThroughNginx(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "authreq.yml")
	os.WriteFile(cfg, []byte(`
policy:
  rules:
    - {pathPrefix: /health, public: true}
    - {pathPrefix: /api/, methods: [DELETE], users: [ann]}
`), 0o644)
	s := startStack(t, map[string]string{"alice": "alice-pw", "ann": "ann-pw"}, "--config", cfg)
	if resp, sn := s.get(t, "GET", "/health", "", "", nil, ""); resp.StatusCode != 200 || sn.User != "" {
		t.Errorf("public path without credentials: %d %+v", resp.StatusCode, sn)
	}
	resp, _ := s.get(t, "DELETE", "/api/2.0/x", "alice", "alice-pw", nil, "")
	if resp.StatusCode != 403 || resp.Header.Get("WWW-Authenticate") != "" {
		t.Errorf("forbidden: %d %v", resp.StatusCode, resp.Header)
	}
	if resp, sn := s.get(t, "DELETE", "/api/2.0/x", "ann", "ann-pw", nil, ""); resp.StatusCode != 200 || sn.User != "ann" || sn.Method != "DELETE" {
		t.Errorf("allowed: %d %+v", resp.StatusCode, sn)
	}
	// The snippet drops a client's X-Forwarded-Uri: no conflict, and no
	// way to the public rule.
	if resp, _ := s.get(t, "DELETE", "/api/2.0/x", "alice", "alice-pw", map[string]string{"X-Forwarded-Uri": "/health", "X-Original-URI": "/health"}, ""); resp.StatusCode != 403 {
		t.Errorf("spoofed original-request headers: %d", resp.StatusCode)
	}
	if resp, _ := s.get(t, "GET", "/health/../api/2.0/x", "", "", nil, ""); resp.StatusCode == 200 {
		t.Errorf("dot segments reached the public rule: %d", resp.StatusCode)
	}
}

// The mlflow preset through real nginx, with a group file: a reader may
// read and not delete, an engineer (by group) may log, nobody but admins
// reaches an unknown endpoint, and /health needs no credentials.
func TestMLflowPresetThroughNginx(t *testing.T) {
	dir := t.TempDir()
	groups := filepath.Join(dir, "groups")
	os.WriteFile(groups, []byte("ml-engineers: ed\n"), 0o644)
	cfg := filepath.Join(dir, "authreq.yml")
	os.WriteFile(cfg, []byte(`
htpasswd: {groupFiles: [`+groups+`]}
policy:
  preset: mlflow
  defaultPermission: READ
  admins: {users: [root]}
  grants: [{groups: [ml-engineers], level: EDIT}]
`), 0o644)
	s := startStack(t, map[string]string{"rita": "rita-pw", "ed": "ed-pw", "root": "root-pw"}, "--config", cfg)
	for _, tt := range []struct {
		method, path, user string
		code               int
	}{
		{"GET", "/health", "", 200},
		{"GET", "/api/2.0/mlflow/experiments/get?experiment_id=1", "rita", 200},
		{"POST", "/api/2.0/mlflow/experiments/delete", "rita", 403},
		{"POST", "/api/2.0/mlflow/runs/log-metric", "rita", 403},
		{"POST", "/api/2.0/mlflow/runs/log-metric", "ed", 200},
		{"POST", "/ajax-api/2.0/mlflow/experiments/delete", "ed", 403},
		{"GET", "/api/2.0/mlflow/not-an-endpoint", "ed", 403},
		{"GET", "/api/2.0/mlflow/not-an-endpoint", "root", 200},
		{"POST", "/api/2.0/mlflow/users/create", "ed", 403},
		{"POST", "/api/2.0/mlflow/experiments/delete", "root", 200},
	} {
		resp, sn := s.get(t, tt.method, tt.path, tt.user, tt.user+"-pw", nil, "{}")
		if resp.StatusCode != tt.code || (tt.code == 200 && sn.User != tt.user) {
			t.Errorf("%s %s as %q: %d %+v, want %d", tt.method, tt.path, tt.user, resp.StatusCode, sn, tt.code)
		}
		if tt.code == 403 && resp.Header.Get("WWW-Authenticate") != "" {
			t.Errorf("%s %s: 403 with a challenge", tt.method, tt.path)
		}
	}
	if _, sn := s.get(t, "GET", "/api/2.0/mlflow/experiments/get?experiment_id=1", "ed", "ed-pw", nil, ""); sn.Groups != "ml-engineers" {
		t.Errorf("X-Groups for a group-file user: %q", sn.Groups)
	}
}
