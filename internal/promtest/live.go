package promtest

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/authreq/authreq/htpasswd"
	"github.com/authreq/authreq/internal/realtest"
)

// Live builds and starts the real authreq binary on 127.0.0.1 with an
// htpasswd file and an LDAP directory that is down (so the pool's series
// exist), makes the requests after which every labelled series has
// appeared — an allow, a cache hit, a deny, a throttled request, a 503,
// a failed reload — and returns a scrape of its /metrics. authreq is
// stopped when the test ends.
func Live(t testing.TB) *Exposition {
	t.Helper()
	goBin := realtest.Need(t, "go")
	dir := t.TempDir()
	bin := filepath.Join(dir, "authreq")
	if out, err := exec.Command(goBin, "build", "-o", bin, "github.com/authreq/authreq/cmd/authreq").CombinedOutput(); err != nil {
		t.Fatalf("go build authreq: %v\n%s", err, out)
	}
	hash, err := htpasswd.Generate(htpasswd.Bcrypt, []byte("right"), 5)
	if err != nil {
		t.Fatal(err)
	}
	users := filepath.Join(dir, "htpasswd")
	if err := os.WriteFile(users, []byte("alice:"+hash+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", realtest.FreePort(t))
	config := fmt.Sprintf(`listen: %s
htpasswd:
  files: [%q]
ldap:
  enabled: true
  uri: ldap://127.0.0.1:%d/dc=example,dc=org
  allowInsecure: true
  lookupBind: uid=%%s,ou=people,dc=example,dc=org
  timeout: 1s
rateLimit:
  failures: {perUserAndIP: 1, perIP: 50, perUser: 20, window: 10m}
audit:
  output: %q
`, addr, users, realtest.FreePort(t), filepath.Join(dir, "audit.log"))
	configPath := filepath.Join(dir, "authreq.yml")
	if err := os.WriteFile(configPath, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}

	var out lockedBuffer
	cmd := exec.Command(bin, "--config", configPath, "--log-format", "text")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("authreq output:\n%s", out.String())
		}
	})
	realtest.WaitTCP(t, addr, 10*time.Second)
	base := "http://" + addr

	for _, c := range []struct {
		user, password string
		want           int
	}{
		{"alice", "right", http.StatusOK},           // allow, a password check
		{"alice", "right", http.StatusOK},           // allow from the cache
		{"alice", "wrong", http.StatusUnauthorized}, // htpasswd's definite no
		{"alice", "wrong", http.StatusUnauthorized}, // throttled
		{"bob", "x", http.StatusServiceUnavailable}, // only LDAP could tell: down
	} {
		req, _ := http.NewRequest(http.MethodGet, base+"/auth", nil)
		req.SetBasicAuth(c.user, c.password)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Fatalf("/auth as %s:%s: %s, want %d", c.user, c.password, resp.Status, c.want)
		}
	}
	// A file that no longer parses: the reload fails, the users stay.
	if err := os.WriteFile(users, []byte("not an htpasswd line\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var e *Exposition
	realtest.Eventually(t, 10*time.Second, "a failed reload in /metrics", func() bool {
		e, err = Scrape(base + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		_, _, ok := e.series("authreq_reloads_total")
		return ok
	})
	for _, name := range []string{"authreq_decisions_total", "authreq_throttled_total", "authreq_backend_duration_seconds_bucket", "authreq_ldap_pool_open_connections"} {
		if _, _, ok := e.series(name); !ok {
			t.Fatalf("authreq exports no %s after the requests that make it appear", name)
		}
	}
	return e
}

// lockedBuffer is a process's output, written by two copying goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
