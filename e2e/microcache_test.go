package e2e

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/authreq/authreq/htpasswd"
	"github.com/authreq/authreq/internal/realtest"
)

// validity is proxy_cache_valid in authreq-location-cached.conf.
const validity = 5 * time.Second

// asked is how many /auth requests authreq has answered: the ones nginx did
// not answer from its micro-cache.
func (s *stack) asked(t *testing.T) int {
	t.Helper()
	resp, err := http.Get("http://" + s.authAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "authreq_request_duration_seconds_count "); ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				t.Fatalf("metrics: %q: %v", sc.Text(), err)
			}
			return n
		}
	}
	t.Fatal("metrics: no authreq_request_duration_seconds_count")
	return 0
}

// TestMicroCacheThroughNginx: 200 answers come from nginx's cache (authreq
// is asked once), with the identity of the credentials that earned them;
// 401, 403 and 5xx answers are never stored (authreq is asked each time).
func TestMicroCacheThroughNginx(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "authreq.yml")
	// The directory is down (nothing listens on its port): a name in no
	// htpasswd file gets a 503.
	os.WriteFile(cfg, []byte(fmt.Sprintf(`
ldap: {enabled: true, uri: "ldap://127.0.0.1:%d/dc=x", allowInsecure: true, lookupBind: "uid=%%s,dc=x", timeout: 1s}
policy:
  rules:
    - {pathPrefix: /api/, methods: [DELETE], users: [ann]}
`, realtest.FreePort(t))), 0o644)
	s := startStackWith(t, true, map[string]string{"alice": "alice-pw", "bob": "bob-pw", "ann": "ann-pw"}, "--config", cfg)

	for _, tt := range []struct {
		name          string
		method, path  string
		user, pw      string
		code, asked   int // for each of the repeats
		first         int // authreq asked for the first of them
		times         int
		xuser, spoofd string
	}{
		{"200 cached", "GET", "/x", "alice", "alice-pw", 200, 0, 1, 5, "alice", ""},
		{"other credentials, same request", "GET", "/x", "bob", "bob-pw", 200, 0, 1, 3, "bob", ""},
		{"other path", "GET", "/y", "alice", "alice-pw", 200, 0, 1, 2, "alice", ""},
		{"other query", "GET", "/y?a=1", "alice", "alice-pw", 200, 0, 1, 2, "alice", ""},
		{"other method", "POST", "/x", "alice", "alice-pw", 200, 0, 1, 2, "alice", ""},
		{"a spoofed X-User changes nothing", "GET", "/x", "bob", "bob-pw", 200, 0, 0, 2, "bob", "alice"},
		{"401 wrong password", "GET", "/x", "alice", "wrong", 401, 1, 1, 3, "", ""},
		{"401 no credentials", "GET", "/x", "", "", 401, 1, 1, 3, "", ""},
		{"403 policy", "DELETE", "/api/x", "alice", "alice-pw", 403, 1, 1, 3, "", ""},
		{"503 directory down (nginx 500)", "GET", "/x", "dave", "dave-pw", 500, 1, 1, 3, "", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			hdr := map[string]string{}
			if tt.spoofd != "" {
				hdr["X-User"] = tt.spoofd
			}
			for i := range tt.times {
				before := s.asked(t)
				resp, sn := s.get(t, tt.method, tt.path, tt.user, tt.pw, hdr, "")
				want := tt.asked
				if i == 0 {
					want = tt.first
				}
				if got := s.asked(t) - before; resp.StatusCode != tt.code || got != want || sn.User != tt.xuser || sn.AuthUser != tt.xuser {
					t.Errorf("request %d: %d, authreq asked %d times (want %d, %d), upstream saw %+v", i, resp.StatusCode, got, tt.code, want, sn)
				}
			}
		})
	}
}

// TestMicroCachePolicy: one user's answers are reused only for requests
// the policy sees as the same: workspace, query, method, host and the
// experiment header each make another entry.
func TestMicroCachePolicy(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "authreq.yml")
	os.WriteFile(cfg, []byte(`
policy:
  preset: mlflow
  defaultPermission: READ
  admins: {users: [root]}
  grants:
    - {users: [ed], level: EDIT, workspaces: [team-a]}
    - {users: [ed], level: EDIT, experiments: ["5"]}
    - {users: [ed], level: NO_PERMISSIONS, registeredModels: [secret]}
  rules:
    - {host: open.example, pathPrefix: /h/}
    - {pathPrefix: /h/, users: [ann]}
    - {pathPrefix: /files/, methods: [GET]}
    - {pathPrefix: /files/, users: [ann]}
`), 0o644)
	s := startStackWith(t, true, map[string]string{"ed": "ed-pw", "ann": "ann-pw"}, "--config", cfg)
	const logMetric = "/api/2.0/mlflow/runs/log-metric"
	type req struct {
		method, path, host string
		hdr                [][2]string
	}
	for _, tt := range []struct {
		name      string
		yes, no   req // ed may do yes, not no
		sharedKey bool
	}{
		{"workspace", req{"POST", logMetric, "", [][2]string{{"X-Mlflow-Workspace", "team-a"}}},
			req{"POST", logMetric, "", [][2]string{{"X-Mlflow-Workspace", "team-b"}}}, false},
		{"no workspace header", req{"POST", logMetric, "", [][2]string{{"X-Mlflow-Workspace", "team-a"}}},
			req{"POST", logMetric, "", nil}, false},
		{"query", req{"GET", "/api/2.0/mlflow/registered-models/get?name=open", "", nil},
			req{"GET", "/api/2.0/mlflow/registered-models/get?name=secret", "", nil}, false},
		{"method", req{"GET", "/files/a", "", nil}, req{"DELETE", "/files/a", "", nil}, false},
		{"host", req{"GET", "/h/a", "open.example", nil}, req{"GET", "/h/a", "other.example", nil}, false},
		{"experiment header", req{"POST", "/v1/traces", "", [][2]string{{"X-Mlflow-Experiment-Id", "5"}}},
			req{"POST", "/v1/traces", "", [][2]string{{"X-Mlflow-Experiment-Id", "6"}}}, false},
		// authreq is sent the first value only, and the key holds it.
		{"experiment header twice", req{"POST", "/v1/traces", "", [][2]string{{"X-Mlflow-Experiment-Id", "5"}}},
			req{"POST", "/v1/traces", "", [][2]string{{"X-Mlflow-Experiment-Id", "6"}, {"X-Mlflow-Experiment-Id", "5"}}}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			do := func(r req) (int, string) {
				hr, _ := http.NewRequest(r.method, s.nginx.URL+r.path, strings.NewReader("{}"))
				hr.SetBasicAuth("ed", "ed-pw")
				if r.host != "" {
					hr.Host = r.host
				}
				for _, h := range r.hdr {
					hr.Header.Add(h[0], h[1])
				}
				resp, err := http.DefaultClient.Do(hr)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				return resp.StatusCode, resp.Status
			}
			for i := range 2 {
				before := s.asked(t)
				if code, st := do(tt.yes); code != 200 {
					t.Fatalf("allowed request %d: %s", i, st)
				}
				if n := s.asked(t) - before; i > 0 && n != 0 {
					t.Errorf("allowed request %d: authreq asked %d times, want a cache hit", i, n)
				}
				before = s.asked(t)
				if code, st := do(tt.no); code != 403 {
					t.Errorf("refused request %d after an allowed one: %s", i, st)
				}
				if n := s.asked(t) - before; n != 1 {
					t.Errorf("refused request %d: authreq asked %d times, want 1", i, n)
				}
			}
		})
	}
}

// TestMicroCacheRevocation: a deleted user stops working within the
// cache's validity plus authreq's reload; and an expired answer is never
// served, not even while authreq is down.
func TestMicroCacheRevocation(t *testing.T) {
	s := startStackWith(t, true, map[string]string{"alice": "alice-pw", "bob": "bob-pw"})
	for _, u := range []string{"alice", "bob"} {
		if resp, _ := s.get(t, "GET", "/", u, u+"-pw", nil, ""); resp.StatusCode != 200 {
			t.Fatalf("%s before: %d", u, resp.StatusCode)
		}
	}
	err := htpasswd.Update(s.file, false, func(f *htpasswd.File) error {
		f.Delete("alice")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	deleted := time.Now()
	// validity, authreq's reload (about a second) and slack for a busy
	// machine: the README's bound is validity plus the reload.
	bound := validity + 3*time.Second
	realtest.Eventually(t, bound, "deleted user refused", func() bool {
		resp, _ := s.get(t, "GET", "/", "alice", "alice-pw", nil, "")
		return resp.StatusCode == 401
	})
	t.Logf("deleted user refused %s after the write", time.Since(deleted).Round(10*time.Millisecond))

	// bob's answer is still fresh; with authreq gone it lasts until it
	// expires, and no longer.
	s.authreq.stop()
	realtest.Eventually(t, validity+time.Second, "answer expired with authreq down", func() bool {
		resp, _ := s.get(t, "GET", "/", "bob", "bob-pw", nil, "")
		return resp.StatusCode == 500
	})
}
