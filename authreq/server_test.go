package authreq

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authreq/authreq/authreq/htfile"
	"github.com/authreq/authreq/authreq/identity"
	"github.com/authreq/authreq/htpasswd"
	"github.com/authreq/authreq/internal/duration"
)

// hashOf makes a quick bcrypt (cost 4) hash for tests.
func hashOf(t testing.TB, pw string) string {
	t.Helper()
	h, err := htpasswd.Generate(htpasswd.Bcrypt, []byte(pw), 4)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

type testServer struct {
	*Server
	file string
	dir  string
}

// newTestServer starts a Server on an htpasswd file holding users
// (name → password), with edit applied to the config.
func newTestServer(t testing.TB, users map[string]string, edit func(*Config)) *testServer {
	t.Helper()
	var b strings.Builder
	for u, pw := range users {
		b.WriteString(u + ":" + hashOf(t, pw) + "\n")
	}
	return serveHtpasswd(t, b.String(), edit)
}

// serveHtpasswd starts a Server on an htpasswd file of the given lines,
// with edit applied to the config.
func serveHtpasswd(t testing.TB, lines string, edit func(*Config)) *testServer {
	t.Helper()
	dir := t.TempDir()
	file := filepath.Join(dir, "htpasswd")
	if err := os.WriteFile(file, []byte(lines), 0o640); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Htpasswd.Files = []string{file}
	cfg.Audit.Output = filepath.Join(dir, "audit.log")
	if edit != nil {
		edit(cfg)
	}
	s, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return &testServer{s, file, dir}
}

func basic(user, pw string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pw))
}

func (s *testServer) do(method, path string, hdr map[string]string) *http.Response {
	r := httptest.NewRequest(method, path, nil)
	r.RemoteAddr = "127.0.0.1:40000"
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	return w.Result()
}

const challenge = `Basic realm="Restricted", charset="UTF-8"`

func TestAnswers(t *testing.T) {
	s := newTestServer(t, map[string]string{"alice": "alice-pw", "b:ob": "x"}, nil)
	for _, m := range []string{"GET", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "PROPFIND"} {
		for _, p := range []string{"/auth", "/auth/", "/auth/api/2.0/mlflow/runs/search?x=1"} {
			resp := s.do(m, p, map[string]string{"Authorization": basic("alice", "alice-pw"), "X-User": "admin", "X-Role": "admin"})
			h := resp.Header
			if resp.StatusCode != 200 || h.Get("X-User") != "alice" || h.Get("X-Auth-Request-User") != "alice" ||
				h.Get("Cache-Control") != "no-store" || h.Get("X-Role") != "" || h.Get("X-Groups") != "" {
				t.Errorf("%s %s: %d %v", m, p, resp.StatusCode, h)
			}
		}
	}
	deny := []map[string]string{
		{},
		{"Proxy-Authorization": basic("alice", "alice-pw")}, // nginx forwards it upstream: never a way in
		{"X-User": "alice"},
		{"Authorization": basic("alice", "wrong")},
		{"Authorization": basic("alice", "")},
		{"Authorization": basic("nobody", "alice-pw")},
		{"Authorization": basic("", "alice-pw")},
		{"Authorization": "Basic !!!notbase64"},
		{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte("alice"))},
		{"Authorization": "Bearer abc"},
		{"Authorization": "Basic"},
		{"Authorization": "basic"},
		{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte("al\x00ice:alice-pw"))},
		{"Authorization": "Basic " + strings.Repeat("A", 8192)},
		{"Authorization": basic("b:ob", "x")},
	}
	for _, hdr := range deny {
		resp := s.do("GET", "/auth", hdr)
		if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") != challenge || resp.Header.Get("X-User") != "" || resp.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("%q: %d %v", hdr, resp.StatusCode, resp.Header)
		}
	}
	// Lower-case scheme is still Basic (RFC 7617: case-insensitive).
	if resp := s.do("GET", "/auth", map[string]string{"Authorization": "basic " + base64.StdEncoding.EncodeToString([]byte("alice:alice-pw"))}); resp.StatusCode != 200 {
		t.Errorf("lower-case scheme: %d", resp.StatusCode)
	}
}

func TestHeaderNamesAndRealm(t *testing.T) {
	s := newTestServer(t, map[string]string{"alice": "pw"}, func(c *Config) {
		c.Headers.User = "Remote-User"
		c.Realm = "MLflow tracking"
	})
	resp := s.do("GET", "/auth", map[string]string{"Authorization": basic("alice", "pw")})
	if resp.Header.Get("Remote-User") != "alice" || resp.Header.Get("X-Auth-Request-User") != "alice" {
		t.Errorf("%v", resp.Header)
	}
	resp = s.do("GET", "/auth", nil)
	if got := resp.Header.Get("WWW-Authenticate"); got != `Basic realm="MLflow tracking", charset="UTF-8"` {
		t.Errorf("challenge %q", got)
	}
}

func TestEndpoints(t *testing.T) {
	s := newTestServer(t, map[string]string{"alice": "pw"}, nil)
	if resp := s.do("GET", "/healthz", nil); resp.StatusCode != 200 {
		t.Errorf("healthz %d", resp.StatusCode)
	}
	if resp := s.do("GET", "/readyz", nil); resp.StatusCode != 200 {
		t.Errorf("readyz %d", resp.StatusCode)
	}
	if resp := s.do("GET", "/authx", nil); resp.StatusCode != 404 {
		t.Errorf("/authx %d", resp.StatusCode)
	}
	s.do("GET", "/auth", map[string]string{"Authorization": basic("alice", "pw")})
	s.do("GET", "/auth", map[string]string{"Authorization": basic("alice", "pw")})
	s.do("GET", "/auth", map[string]string{"Authorization": basic("alice", "bad")})
	s.do("GET", "/auth", nil)
	resp := s.do("GET", "/metrics", nil)
	body, _ := io.ReadAll(resp.Body)
	for _, want := range []string{
		`authreq_decisions_total{backend="htpasswd",result="allow"} 2`,
		`authreq_decisions_total{backend="",result="deny"} 2`,
		"authreq_cache_hits_total 1",
		"authreq_cache_misses_total 2",
		"authreq_cache_entries 1",
		"authreq_request_duration_seconds_count 4",
		`authreq_backend_duration_seconds_count{backend="htpasswd"} 2`,
		"authreq_build_info{",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	// With metricsListen set, /metrics moves off the main handler.
	s2 := newTestServer(t, map[string]string{"alice": "pw"}, func(c *Config) { c.MetricsListen = "127.0.0.1:0" })
	if resp := s2.do("GET", "/metrics", nil); resp.StatusCode != 404 {
		t.Errorf("/metrics on the main listener with metricsListen set: %d", resp.StatusCode)
	}
}

// countingBackend counts checks and can block them.
type countingBackend struct {
	calls atomic.Int32
	gate  chan struct{}
}

func (b *countingBackend) Name() string { return "count" }
func (b *countingBackend) Ready() error { return nil }
func (b *countingBackend) Close() error { return nil }
func (b *countingBackend) Authenticate(_ context.Context, c identity.Credentials) (identity.Identity, error) {
	user, pw := c.Principal(), c.(identity.Basic).Password
	b.calls.Add(1)
	if b.gate != nil {
		<-b.gate
	}
	if pw != "pw" {
		return identity.Identity{}, identity.ErrBadCredentials
	}
	return identity.Identity{User: user, Source: "count"}, nil
}

func TestSingleflightAndCache(t *testing.T) {
	s := newTestServer(t, map[string]string{"x": "y"}, nil)
	b := &countingBackend{gate: make(chan struct{})}
	s.use(b)
	var wg sync.WaitGroup
	codes := make(chan int, 20)
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes <- s.do("GET", "/auth", map[string]string{"Authorization": basic("alice", "pw")}).StatusCode
		}()
	}
	// Let the requests pile up on the one check, then release it.
	deadline := time.Now().Add(5 * time.Second)
	for b.calls.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	close(b.gate)
	wg.Wait()
	close(codes)
	for c := range codes {
		if c != 200 {
			t.Errorf("status %d", c)
		}
	}
	first := b.calls.Load()
	if first < 1 || first > 2 { // a straggler may arrive after the first check cached
		t.Errorf("%d checks for 20 identical concurrent requests", first)
	}
	s.do("GET", "/auth", map[string]string{"Authorization": basic("alice", "pw")})
	if b.calls.Load() != first {
		t.Error("cached credentials checked again")
	}
	s.do("GET", "/auth", map[string]string{"Authorization": basic("alice", "other")})
	s.do("GET", "/auth", map[string]string{"Authorization": basic("alice", "other")})
	if b.calls.Load() != first+2 {
		t.Error("failures must not be cached")
	}
}

func TestPoolTimeoutFailsClosed(t *testing.T) {
	s := newTestServer(t, map[string]string{"x": "y"}, func(c *Config) {
		c.VerifyWorkers = 1
		c.VerifyQueueTimeout = duration.Duration(50 * time.Millisecond)
	})
	b := &countingBackend{gate: make(chan struct{})}
	s.use(b)
	done := make(chan int)
	go func() {
		done <- s.do("GET", "/auth", map[string]string{"Authorization": basic("slow", "pw")}).StatusCode
	}()
	for b.calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	resp := s.do("GET", "/auth", map[string]string{"Authorization": basic("other", "pw")})
	if resp.StatusCode != 503 || resp.Header.Get("X-User") != "" {
		t.Errorf("queue full: %d", resp.StatusCode)
	}
	close(b.gate)
	if c := <-done; c != 200 {
		t.Errorf("slow request: %d", c)
	}
	body, _ := io.ReadAll(s.do("GET", "/metrics", nil).Body)
	if !strings.Contains(string(body), "authreq_verify_queue_timeouts_total 1") {
		t.Error("queue timeout not counted")
	}
}

// An outage of a later backend is a 503, not a 401.
func TestChainFailsClosed(t *testing.T) {
	s := newTestServer(t, map[string]string{"local": "pw"}, nil)
	s.backends.Add(downBackend{}, s.netPool)
	if resp := s.do("GET", "/auth", map[string]string{"Authorization": basic("local", "pw")}); resp.StatusCode != 200 {
		t.Errorf("local user with the directory down: %d", resp.StatusCode)
	}
	if resp := s.do("GET", "/auth", map[string]string{"Authorization": basic("remote", "pw")}); resp.StatusCode != 503 {
		t.Errorf("directory user with the directory down: %d", resp.StatusCode)
	}
}

type downBackend struct{}

func (downBackend) Name() string { return "down" }
func (downBackend) Ready() error { return errors.New("down") }
func (downBackend) Close() error { return nil }
func (downBackend) Authenticate(context.Context, identity.Credentials) (identity.Identity, error) {
	return identity.Identity{}, identity.ErrUnavailable
}

func TestAuditLog(t *testing.T) {
	const pw = "Distinctive-Pa55word"
	s := newTestServer(t, map[string]string{"alice": pw}, nil)
	s.do("POST", "/auth", map[string]string{"Authorization": basic("alice", pw), "X-Original-URI": "/api/2.0/mlflow/runs/create",
		"X-Original-Method": "POST", "X-Forwarded-Host": "mlflow.example", "X-Request-ID": "req-1", "X-Real-IP": "198.51.100.7"})
	s.do("GET", "/auth/ajax-api/x", map[string]string{"Authorization": basic("alice", "wrong-"+pw)})
	b, err := os.ReadFile(filepath.Join(s.dir, "audit.log"))
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{pw, base64.StdEncoding.EncodeToString([]byte("alice:" + pw)), "$2a$", "$2y$"} {
		if strings.Contains(string(b), secret) {
			t.Errorf("audit log contains a secret %q", secret)
		}
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines", len(lines))
	}
	for i, want := range []string{
		`"request_id":"req-1","client_ip":"198.51.100.7","user":"alice","method":"POST","uri":"/api/2.0/mlflow/runs/create","host":"mlflow.example","decision":"allow"`,
		`"user":"alice","method":"GET","uri":"/ajax-api/x","host":"example.com","decision":"deny","reason":"bad credentials"`,
	} {
		if !strings.Contains(lines[i], want) {
			t.Errorf("line %d: %s\nwant %s", i, lines[i], want)
		}
	}
}

func BenchmarkAuthCached(b *testing.B) {
	s := newTestServer(b, map[string]string{"x": "y"}, nil)
	hash, _ := htpasswd.Generate(htpasswd.Bcrypt, []byte("pw"), 10)
	os.WriteFile(s.file, []byte("alice:"+hash+"\n"), 0o640)
	s.Reload()
	hdr := map[string]string{"Authorization": basic("alice", "pw")}
	s.do("GET", "/auth", hdr)
	for b.Loop() {
		if s.do("GET", "/auth", hdr).StatusCode != 200 {
			b.Fatal("not 200")
		}
	}
}

func BenchmarkAuthCold(b *testing.B) {
	s := newTestServer(b, map[string]string{"x": "y"}, func(c *Config) { c.Cache.TTL = 0 })
	hash, _ := htpasswd.Generate(htpasswd.Bcrypt, []byte("pw"), 10)
	os.WriteFile(s.file, []byte("alice:"+hash+"\n"), 0o640)
	s.Reload()
	hdr := map[string]string{"Authorization": basic("alice", "pw")}
	for b.Loop() {
		if s.do("GET", "/auth", hdr).StatusCode != 200 {
			b.Fatal("not 200")
		}
	}
}

// use replaces the server's backends, each on the CPU pool.
func (s *testServer) use(bs ...identity.Authenticator) {
	s.backends = identity.Chain{Observe: s.backends.Observe}
	for _, b := range bs {
		s.backends.Add(b, s.pool)
	}
}

// htpasswd is the server's htpasswd store.
func (s *testServer) htpasswd() *htfile.Store {
	for _, b := range s.backends.Stores() {
		if h, ok := b.(*htfile.Store); ok {
			return h
		}
	}
	panic("no htpasswd store")
}
