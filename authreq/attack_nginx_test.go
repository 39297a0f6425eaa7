package authreq

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/authreq/authreq/internal/realtest"
)

// Through real nginx: the shipped snippets, nginx listening on a unix
// socket as well (behind another proxy); the client sends X-Forwarded-For.
func TestNginxUnixListenerClientCannotPickAddress(t *testing.T) {
	s := newTestServer(t, map[string]string{"alice": "alice-pw"}, nil)
	n := nginxInFront(t, s, "listen unix:{{PREFIX}}/front.sock;")
	sock := filepath.Join(n.Prefix, "front.sock")
	c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	before := s.checks(t)
	for i := range 120 {
		req, _ := http.NewRequest("GET", "http://front/", nil)
		req.SetBasicAuth(fmt.Sprint("user", i), "Summer2024!")
		req.Header.Set("X-Forwarded-For", fmt.Sprintf("203.0.113.%d", i))
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if i == 0 && resp.StatusCode != 401 {
			t.Fatalf("first guess: %d, want 401", resp.StatusCode)
		}
	}
	checked := s.checks(t) - before // nginx does not pass Retry-After on: count the hash checks
	if checked > 50 {
		t.Errorf("%d of 120 guesses from one client checked; perIP is 50", checked)
	}
}

// nginxInFront starts real nginx with the shipped snippets in front of s;
// extra goes into the server block (listeners, header options).
func nginxInFront(t *testing.T, s *testServer, extra string) *realtest.Nginx {
	t.Helper()
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	addr := strings.TrimPrefix(ts.URL, "http://")
	snippets, _ := filepath.Abs("../nginx")
	up := filepath.Join(t.TempDir(), "up.conf")
	os.WriteFile(up, []byte("upstream authreq { server "+addr+"; keepalive 4; }\n"), 0o644)
	return realtest.StartNginx(t, fmt.Sprintf(`
include %s;
server {
    listen 127.0.0.1:{{PORT}};
    %s
    include %s/authreq-location.conf;
    location / {
        include %s/authreq-protect.conf;
        proxy_pass http://%s/healthz; # "return" would answer before auth_request runs
    }
}`, up, extra, snippets, snippets, addr))
}
