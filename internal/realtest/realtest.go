// Package realtest starts the real programs the integration tests talk to
// (nginx, Apache's htpasswd, slapd, PostgreSQL, Redis) on 127.0.0.1, in temp dirs, and stops
// them when the test ends.
//
// A missing binary fails the test when CI is set (CI=true) and skips it
// otherwise, so a developer without nginx can still run the unit tests
// while CI proves everything.
package realtest

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Need returns the path of binary name, looked up in PATH and in the sbin
// directories Debian installs daemons to. Without it the test fails under
// CI and is skipped elsewhere.
func Need(t testing.TB, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/local/sbin"} {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s not found: CI must have it (make test installs it)", name)
	}
	t.Skipf("%s not found; run `make test` as root to install it", name)
	return ""
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// WaitTCP waits until something accepts connections on addr, or fails the
// test after timeout.
func WaitTCP(t testing.TB, addr string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing listens on %s after %s: %v", addr, timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func tcpUp(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// Nginx is a running nginx started by StartNginx.
type Nginx struct {
	Port   int    // the port the server block listens on
	URL    string // http://127.0.0.1:Port
	Prefix string // nginx's prefix directory (logs, temp files)
	cmd    *exec.Cmd
}

// StartNginx writes a complete nginx.conf around httpBody (the content of
// the http{} block; the string {{PORT}} in it is replaced with a free port,
// {{PREFIX}} with the prefix directory) and starts nginx in the foreground
// with a temp prefix. The config is checked with nginx -t first; both
// failures fail the test with nginx's own message. nginx is stopped when
// the test ends.
func StartNginx(t testing.TB, httpBody string) *Nginx {
	t.Helper()
	bin := Need(t, "nginx")
	prefix := t.TempDir()
	for _, d := range []string{"logs", "tmp"} {
		if err := os.MkdirAll(filepath.Join(prefix, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	port := FreePort(t)
	body := strings.ReplaceAll(httpBody, "{{PORT}}", strconv.Itoa(port))
	body = strings.ReplaceAll(body, "{{PREFIX}}", prefix)
	user := ""
	if os.Geteuid() == 0 {
		// Workers would otherwise drop to nobody and could not read the
		// test's 0700 temp dirs.
		user = "user root;\n"
	}
	conf := fmt.Sprintf(`%sworker_processes 1;
daemon off;
master_process on;
pid %[2]s/nginx.pid;
error_log %[2]s/logs/error.log info;
events { worker_connections 256; }
http {
  access_log %[2]s/logs/access.log;
  client_body_temp_path %[2]s/tmp/body;
  proxy_temp_path %[2]s/tmp/proxy;
  fastcgi_temp_path %[2]s/tmp/fastcgi;
  uwsgi_temp_path %[2]s/tmp/uwsgi;
  scgi_temp_path %[2]s/tmp/scgi;
%[3]s
}
`, user, prefix, body)
	confPath := filepath.Join(prefix, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "-t", "-p", prefix, "-c", confPath).CombinedOutput(); err != nil {
		t.Fatalf("nginx -t: %v\n%s\nconfig:\n%s", err, out, conf)
	}
	cmd := exec.Command(bin, "-p", prefix, "-c", confPath)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	n := &Nginx{Port: port, URL: fmt.Sprintf("http://127.0.0.1:%d", port), Prefix: prefix, cmd: cmd}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt) // SIGINT: fast shutdown
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			if b, err := os.ReadFile(filepath.Join(prefix, "logs", "error.log")); err == nil {
				t.Logf("nginx error.log:\n%s", b)
			}
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(n.URL + "/")
		if err == nil {
			resp.Body.Close()
			return n
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx did not come up on %s: %v\n%s", n.URL, err, stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ErrorLog returns the content of nginx's error.log so far.
func (n *Nginx) ErrorLog() string {
	b, _ := os.ReadFile(filepath.Join(n.Prefix, "logs", "error.log"))
	return string(b)
}

// Eventually polls cond until it holds or timeout passes, then fails the
// test. For effects that take time (reloads, restarts); never for speed.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
