package authreq

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authreq/authreq/authreq/policy"
	"github.com/authreq/authreq/authreq/tokens"
	"github.com/authreq/authreq/internal/realtest"
)

// syncBuf is a log sink that tests can read while the server writes.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// newToken makes a token of user at level that expires at exp (zero:
// never), as a line for a token file.
func newToken(t testing.TB, user, level string, exp time.Time) (string, tokens.Token) {
	t.Helper()
	created := time.Now().Add(-time.Hour)
	if !exp.IsZero() && exp.Before(created) {
		created = exp.Add(-time.Hour)
	}
	tok, tk, err := tokens.New(user, level, "test", created, exp)
	if err != nil {
		t.Fatal(err)
	}
	return tok, tk
}

// otherLast is tok with its last character changed: a token that is not
// tok (replacing it by a fixed one would give tok back when it ends in it).
func otherLast(tok string) string {
	if strings.HasSuffix(tok, "a") {
		return tok[:len(tok)-1] + "b"
	}
	return tok[:len(tok)-1] + "a"
}

func writeTokens(t testing.TB, path string, ts ...tokens.Token) {
	t.Helper()
	var b strings.Builder
	b.WriteString("# test tokens\n")
	for _, tk := range ts {
		b.WriteString(tk.Format() + "\n")
	}
	// Atomic, as htpw writes: the watcher never sees half a file.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// tokenServer: htpasswd users alice, ed and root, and a token file; the
// mlflow preset with ed at EDIT and root an admin; logs kept in logs.
func tokenServer(t testing.TB, ts ...tokens.Token) (s *testServer, tokFile string, logs *syncBuf) {
	t.Helper()
	logs = &syncBuf{}
	dir := t.TempDir()
	tokFile = filepath.Join(dir, "tokens")
	writeTokens(t, tokFile, ts...)
	s = newTestServer(t, map[string]string{"alice": "alice-pw", "ed": "ed-pw", "root": "root-pw"}, func(c *Config) {
		c.Tokens.Files = []string{tokFile}
		c.Policy = policy.Config{Preset: "mlflow", DefaultPermission: "READ", Admins: &policy.Subjects{Users: []string{"root"}},
			Grants: []policy.Grant{{Subjects: policy.Subjects{Users: []string{"ed"}}, Level: "EDIT"}}}
	})
	// The same server, logging to logs.
	s.Close()
	srv, err := New(s.cfg, slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	s.Server = srv
	return s, tokFile, logs
}

func bearer(tok string) string { return "Bearer " + tok }

func TestTokensThroughAuth(t *testing.T) {
	aliceTok, aliceTk := newToken(t, "alice", "MANAGE", time.Time{})
	edRead, edReadTk := newToken(t, "ed", "READ", time.Now().Add(time.Hour))
	expired, expiredTk := newToken(t, "alice", "READ", time.Now().Add(-time.Minute))
	rootTok, rootTk := newToken(t, "root", "MANAGE", time.Time{})
	s, tokFile, logs := tokenServer(t, aliceTk, edReadTk, expiredTk, rootTk)
	get := "/api/2.0/mlflow/experiments/get?experiment_id=1"
	logMetric := "/api/2.0/mlflow/runs/log-metric"
	for _, tt := range []struct {
		name, method, uri, auth string
		code                    int
		user                    string
	}{
		{"bearer", "GET", get, bearer(aliceTok), 200, "alice"},
		{"basic with its user", "GET", get, basic("alice", aliceTok), 200, "alice"},
		{"basic with another user", "GET", get, basic("ed", aliceTok), 401, ""},
		{"basic with a user that does not exist", "GET", get, basic("nobody", aliceTok), 401, ""},
		{"expired bearer", "GET", get, bearer(expired), 401, ""},
		{"expired as basic", "GET", get, basic("alice", expired), 401, ""},
		{"unknown bearer", "GET", get, bearer(otherLast(aliceTok)), 401, ""},
		{"junk bearer", "GET", get, bearer("abc"), 401, ""},
		{"read token of an edit user reads", "GET", get, bearer(edRead), 200, "ed"},
		{"read token of an edit user cannot log a metric", "POST", logMetric, bearer(edRead), 403, ""},
		{"same as basic", "POST", logMetric, basic("ed", edRead), 403, ""},
		{"the edit user's password can", "POST", logMetric, basic("ed", "ed-pw"), 200, "ed"},
		{"a token never makes an admin", "POST", "/api/2.0/mlflow/users/create", bearer(rootTok), 403, ""},
		{"the admin's password does", "POST", "/api/2.0/mlflow/users/create", basic("root", "root-pw"), 200, "root"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp := s.do("GET", "/auth", map[string]string{"Authorization": tt.auth, "X-Original-URI": tt.uri, "X-Original-Method": tt.method})
			if resp.StatusCode != tt.code || resp.Header.Get("X-User") != tt.user {
				t.Fatalf("%d X-User=%q, want %d %q", resp.StatusCode, resp.Header.Get("X-User"), tt.code, tt.user)
			}
			if tt.code == 401 && resp.Header.Get("WWW-Authenticate") != challenge {
				t.Errorf("401 without the challenge")
			}
		})
	}
	// Token checks are timed like every store's.
	if got := s.metric(`authreq_backend_duration_seconds_count{backend="token"}`); got == "" || got == "0" {
		t.Errorf("token checks in authreq_backend_duration_seconds: %q", got)
	}
	// The admin's token: no X-Role admin on a route it may use.
	resp := s.do("GET", "/auth", map[string]string{"Authorization": bearer(rootTok), "X-Original-URI": get, "X-Original-Method": "GET"})
	if resp.StatusCode != 200 || resp.Header.Get("X-Role") == "admin" {
		t.Errorf("admin's token: %d X-Role=%q", resp.StatusCode, resp.Header.Get("X-Role"))
	}

	// Revoke: the file without alice's token; 401 within ~2 s.
	writeTokens(t, tokFile, edReadTk, expiredTk, rootTk)
	start := time.Now()
	realtest.Eventually(t, 3*time.Second, "revoked token refused", func() bool {
		return s.do("GET", "/auth", map[string]string{"Authorization": bearer(aliceTok), "X-Original-URI": get, "X-Original-Method": "GET"}).StatusCode == 401
	})
	t.Logf("revoked after %v", time.Since(start))
	if code := s.do("GET", "/auth", map[string]string{"Authorization": basic("alice", aliceTok), "X-Original-URI": get, "X-Original-Method": "GET"}).StatusCode; code != 401 {
		t.Errorf("revoked token as basic: %d", code)
	}

	audit := s.auditLog(t)
	if !strings.Contains(audit, `"user":"alice","token_id":"`+aliceTk.ID+`"`) || !strings.Contains(audit, `"backend":"token:htpasswd"`) {
		t.Errorf("audit lacks the token's user and id:\n%s", audit)
	}
	for _, tok := range []string{aliceTok, edRead, expired, rootTok} {
		secret := tok[len(tokens.Prefix)+13:]
		if strings.Contains(audit, secret) || strings.Contains(logs.String(), secret) {
			t.Errorf("a token's secret is in the audit log or the logs")
		}
	}
}

// Junk Bearer tokens are counted failures of their address, throttled
// under their own ids; valid tokens pass whatever the throttle says.
func TestTokensThrottle(t *testing.T) {
	tok, tk := newToken(t, "alice", "READ", time.Time{})
	s, _, _ := tokenServer(t, tk)
	hdr := func(auth string) map[string]string {
		return map[string]string{"Authorization": auth, "X-Original-URI": "/version", "X-Original-Method": "GET"}
	}
	throttled := false
	for i := range 80 {
		junk, _ := newToken(t, "alice", "READ", time.Time{})
		if i%2 == 0 {
			junk = "junk" + junk
		}
		resp := s.do("GET", "/auth", hdr(bearer(junk)))
		if resp.StatusCode != 401 {
			t.Fatalf("junk: %d", resp.StatusCode)
		}
		throttled = throttled || resp.Header.Get("Retry-After") != ""
	}
	if !throttled {
		t.Error("80 junk tokens from one address were never throttled")
	}
	if resp := s.do("GET", "/auth", hdr(bearer(tok))); resp.StatusCode != 200 {
		t.Errorf("valid token after a flood of junk from its address: %d", resp.StatusCode)
	}
	if !strings.Contains(s.auditLog(t), `"decision":"throttled"`) {
		t.Error("no throttled decision audited")
	}
}

func BenchmarkAuthToken(b *testing.B) {
	tok, tk := newToken(b, "alice", "READ", time.Time{})
	s, _, _ := tokenServer(b, tk)
	hdr := map[string]string{"Authorization": bearer(tok), "X-Original-URI": "/version", "X-Original-Method": "GET"}
	for b.Loop() {
		if s.do("GET", "/auth", hdr).StatusCode != 200 {
			b.Fatal("not 200")
		}
	}
}
