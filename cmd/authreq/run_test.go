package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
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

func writeUsers(t *testing.T, path string, users ...string) {
	t.Helper()
	var b strings.Builder
	for i := 0; i < len(users); i += 2 {
		h, _ := htpasswd.Generate(htpasswd.APR1, []byte(users[i+1]), 0)
		b.WriteString(users[i] + ":" + h + "\n")
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o640); err != nil {
		t.Fatal(err)
	}
}

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestCheckConfig(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yml")
	os.WriteFile(good, []byte("htpasswd:\n  files: [/etc/authreq/htpasswd]\ncache: {ttl: 0}\n"), 0o600)
	bad := filepath.Join(dir, "bad.yml")
	os.WriteFile(bad, []byte("htpasswd:\n  files: [/x]\ncache: {ttl: 5 minutes}\n"), 0o600)
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"check-config", "--config", good}, env(nil), nil, &out, &errb); code != 0 || out.String() != "config ok\n" {
		t.Errorf("good: %d %q %q", code, out.String(), errb.String())
	}
	out.Reset()
	errb.Reset()
	code := run(context.Background(), []string{"check-config", "--config", bad}, env(nil), nil, &out, &errb)
	if code != 1 || !strings.HasPrefix(errb.String(), "authreq: "+bad+": line 3:") {
		t.Errorf("bad: %d %q", code, errb.String())
	}
	errb.Reset()
	if code := run(context.Background(), []string{"check-config"}, env(nil), nil, &out, &errb); code != 1 || !strings.Contains(errb.String(), "no backend") {
		t.Errorf("no backend: %d %q", code, errb.String())
	}
	if code := run(context.Background(), []string{"--no-such-flag"}, env(nil), nil, &out, &errb); code != 2 {
		t.Errorf("bad flag: %d", code)
	}
}

func TestPrecedence(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "c.yml")
	os.WriteFile(conf, []byte("listen: 127.0.0.1:1111\nrealm: FromFile\nhtpasswd: {files: [/file]}\n"), 0o600)
	o, _, _ := parseFlags("t", []string{"--config", conf, "--listen", "127.0.0.1:3333"}, io.Discard)
	c, err := loadConfig(o, env(map[string]string{"AUTHREQ_LISTEN": "127.0.0.1:2222", "AUTHREQ_REALM": "FromEnv", "AUTHREQ_HTPASSWD": "/a,/b", "AUTHREQ_CACHE_TTL": "0"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:3333" || c.Realm != "FromEnv" || strings.Join(c.Htpasswd.Files, ",") != "/a,/b" || c.Cache.TTL != 0 {
		t.Errorf("flag > env > file: %+v", c)
	}
	o, _, _ = parseFlags("t", []string{"--htpasswd", "/x", "--htpasswd", "/y"}, io.Discard)
	c, err = loadConfig(o, env(map[string]string{"AUTHREQ_CONFIG": conf, "AUTHREQ_HTPASSWD": "/a"}))
	if err != nil || c.Listen != "127.0.0.1:1111" || strings.Join(c.Htpasswd.Files, ",") != "/x,/y" {
		t.Errorf("AUTHREQ_CONFIG and repeated --htpasswd: %+v %v", c, err)
	}
	if _, err := loadConfig(&options{cacheTTL: "soon", htpasswd: stringList{"/x"}}, env(nil)); err == nil || !strings.Contains(err.Error(), "cache.ttl") {
		t.Errorf("bad --cache-ttl: %v", err)
	}
}

// serve runs run() in the background until the returned stop is called.
func serve(t *testing.T, args []string, hup chan os.Signal) (stop func() int) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var out syncBuf
	go func() { done <- run(ctx, args, env(nil), hup, &out, &out) }()
	return func() int {
		cancel()
		select {
		case c := <-done:
			return c
		case <-time.After(15 * time.Second):
			t.Fatalf("no shutdown; output:\n%s", out.String())
			return -1
		}
	}
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func TestUnixSocketAndReloadSignal(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "htpasswd")
	writeUsers(t, file, "alice", "pw")
	sock := filepath.Join(dir, "authreq.sock")
	os.WriteFile(sock, nil, 0o600) // not a socket: must not be replaced
	code := run(context.Background(), []string{"--listen", "unix:" + sock, "--htpasswd", file}, env(nil), nil, io.Discard, io.Discard)
	if code != 1 {
		t.Fatalf("listening over a regular file: %d", code)
	}
	os.Remove(sock)
	hup := make(chan os.Signal, 1)
	stop := serve(t, []string{"--listen", "unix:" + sock, "--htpasswd", file, "--metrics-listen", "127.0.0.1:0"}, hup)
	realtest.Eventually(t, 5*time.Second, "socket", func() bool { _, err := os.Stat(sock); return err == nil })
	fi, _ := os.Stat(sock)
	if fi.Mode().Perm() != 0o660 {
		t.Errorf("socket mode %v", fi.Mode().Perm())
	}
	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return net.Dial("unix", sock)
	}}}
	status := func(user, pw string) int {
		req, _ := http.NewRequest("GET", "http://authreq/auth", nil)
		req.SetBasicAuth(user, pw)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if status("alice", "pw") != 200 || status("alice", "x") != 401 {
		t.Error("over the unix socket")
	}
	writeUsers(t, file, "alice", "new")
	hup <- syscall.SIGHUP
	realtest.Eventually(t, 5*time.Second, "reload", func() bool { return status("alice", "new") == 200 })
	if code := stop(); code != 0 {
		t.Errorf("exit %d", code)
	}
}

// SIGTERM to the real binary: it stops accepting, finishes what is in
// flight and exits 0.
func TestGracefulShutdown(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "authreq")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "htpasswd")
	// bcrypt cost 13 (password "pw"): about half a second of checking,
	// still in flight at SIGTERM. Made beforehand: hashing it under the
	// race detector takes far longer.
	os.WriteFile(file, []byte("alice:$2y$13$N4WgLL8dtEDLl4Vd/iSTcuA9De2UDFki2bt7vMpMqRv1Z1zIx93c.\n"), 0o640)
	addr := fmt.Sprintf("127.0.0.1:%d", realtest.FreePort(t))
	cmd := exec.Command(bin, "--listen", addr, "--htpasswd", file)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	realtest.WaitTCP(t, addr, 10*time.Second)
	result := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest("GET", "http://"+addr+"/auth", nil)
		req.SetBasicAuth("alice", "pw")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			result <- -1
			return
		}
		resp.Body.Close()
		result <- resp.StatusCode
	}()
	time.Sleep(150 * time.Millisecond) // let the request be accepted
	cmd.Process.Signal(syscall.SIGTERM)
	if code := <-result; code != 200 {
		t.Errorf("in-flight request: %d", code)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("exit: %v", err)
	}
}

func TestExplain(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "authreq.yml")
	os.WriteFile(cfg, []byte(`
htpasswd: {files: [`+filepath.Join(dir, "htpasswd")+`]}
policy:
  preset: mlflow
  defaultPermission: READ
  grants: [{groups: [ml-engineers], level: EDIT}]
  rules: [{pathPrefix: /metrics, roles: [admin]}]
`), 0o644)
	for _, tt := range []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"--user", "bob", "GET", "/api/2.0/mlflow/experiments/get?experiment_id=1"}, 0, "allow: GET /api/2.0/mlflow/experiments/get (read)"},
		{[]string{"--user", "bob", "--groups", "ml-engineers", "POST", "/api/2.0/mlflow/experiments/delete"}, 3, "forbidden (403): POST /api/2.0/mlflow/experiments/delete (delete): needs MANAGE, has EDIT"},
		{[]string{"GET", "/health"}, 0, "allow: public"},
		{[]string{"--user", "bob", "GET", "/metrics"}, 3, "forbidden (403): rules[0]"},
		{[]string{"--role", "admin", "GET", "/nope"}, 0, "allow (X-Role: admin)"},
		{[]string{"GET"}, 2, ""},
	} {
		var out, errb bytes.Buffer
		code := run(context.Background(), append([]string{"explain", "--config", cfg}, tt.args...), env(nil), nil, &out, &errb)
		if code != tt.code || !strings.HasPrefix(out.String(), tt.out) {
			t.Errorf("%v: %d %q %q, want %d %q", tt.args, code, out.String(), errb.String(), tt.code, tt.out)
		}
	}
}
