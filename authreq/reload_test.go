package authreq

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/authreq/authreq/internal/realtest"
)

func (s *testServer) status(user, pw string) int {
	return s.do("GET", "/auth", map[string]string{"Authorization": basic(user, pw)}).StatusCode
}

func (s *testServer) metric(name string) string {
	body, _ := io.ReadAll(s.do("GET", "/metrics", nil).Body)
	for _, l := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(l, name+" ") {
			return strings.TrimPrefix(l, name+" ")
		}
	}
	return ""
}

func TestReloadWays(t *testing.T) {
	tests := []struct {
		name  string
		write func(t *testing.T, s *testServer, content string)
	}{
		{"atomic rename", func(t *testing.T, s *testServer, content string) {
			tmp := filepath.Join(s.dir, ".htpasswd.tmp")
			os.WriteFile(tmp, []byte(content), 0o640)
			if err := os.Rename(tmp, s.file); err != nil {
				t.Fatal(err)
			}
		}},
		{"truncate and write in place", func(t *testing.T, s *testServer, content string) {
			f, err := os.OpenFile(s.file, os.O_WRONLY|os.O_TRUNC, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.WriteString(content)
			f.Close()
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestServer(t, map[string]string{"alice": "old"}, nil)
			if s.status("alice", "old") != 200 {
				t.Fatal("alice")
			}
			tt.write(t, s, "alice:"+hashOf(t, "new")+"\nbob:"+hashOf(t, "bob")+"\n")
			realtest.Eventually(t, 5*time.Second, "new password", func() bool { return s.status("alice", "new") == 200 })
			if s.status("alice", "old") != 401 {
				t.Error("old password still works after the change (cache not invalidated)")
			}
			if s.status("bob", "bob") != 200 {
				t.Error("added user")
			}
		})
	}
}

// A Kubernetes Secret volume: the file is a symlink through ..data to a
// timestamped directory, and an update swaps ..data atomically.
func TestReloadKubernetesSecretSwap(t *testing.T) {
	dir := t.TempDir()
	write := func(ts, content string) {
		d := filepath.Join(dir, ts)
		os.Mkdir(d, 0o755)
		os.WriteFile(filepath.Join(d, "auth"), []byte(content), 0o644)
	}
	write("..2026_11_24_10_00_00.1", "alice:"+hashOf(t, "old")+"\n")
	os.Symlink("..2026_11_24_10_00_00.1", filepath.Join(dir, "..data"))
	os.Symlink("..data/auth", filepath.Join(dir, "auth"))
	s := newTestServer(t, map[string]string{"x": "y"}, func(c *Config) { c.Htpasswd.Files = []string{filepath.Join(dir, "auth")} })
	if s.status("alice", "old") != 200 {
		t.Fatal("alice")
	}
	// What the kubelet's atomic writer does.
	write("..2026_11_24_10_05_00.2", "alice:"+hashOf(t, "new")+"\n")
	os.Symlink("..2026_11_24_10_05_00.2", filepath.Join(dir, "..data_tmp"))
	if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(filepath.Join(dir, "..2026_11_24_10_00_00.1"))
	realtest.Eventually(t, 5*time.Second, "Secret update", func() bool { return s.status("alice", "new") == 200 })
	if s.status("alice", "old") != 401 {
		t.Error("old password still works")
	}
}

func TestReloadKeepsUsersOnBadFile(t *testing.T) {
	for _, tt := range []struct {
		name   string
		break_ func(s *testServer)
	}{
		{"structural error", func(s *testServer) { os.WriteFile(s.file, []byte("alice:x\nno colon on line two\n"), 0o640) }},
		{"deleted", func(s *testServer) { os.Remove(s.file) }},
		{"unreadable", func(s *testServer) { os.Remove(s.file); os.Mkdir(s.file, 0o755) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestServer(t, map[string]string{"alice": "pw"}, nil)
			tt.break_(s)
			realtest.Eventually(t, 5*time.Second, "reload error counted", func() bool { return s.metric("authreq_reload_errors_total") >= "1" })
			if s.status("alice", "pw") != 200 {
				t.Error("previous users lost")
			}
			if s.do("GET", "/readyz", nil).StatusCode != 200 {
				t.Error("not ready while serving the previous users")
			}
			// A good file afterwards loads normally.
			os.RemoveAll(s.file)
			os.WriteFile(s.file, []byte("bob:"+hashOf(t, "b")+"\n"), 0o640)
			realtest.Eventually(t, 5*time.Second, "recovery", func() bool { return s.status("bob", "b") == 200 })
			if s.status("alice", "pw") != 401 {
				t.Error("removed user still works")
			}
		})
	}
}

// A valid file that holds no users — the last one deleted, or only
// comments left — takes effect: deleting the last user revokes it.
func TestReloadEmptyFileRevokes(t *testing.T) {
	for name, content := range map[string]string{
		"empty":         "",
		"comments only": "# alice left the team\n\n# bob too\n",
		"blank lines":   "\n \n\t\n",
	} {
		t.Run(name, func(t *testing.T) {
			s := newTestServer(t, map[string]string{"alice": "pw"}, nil)
			if s.status("alice", "pw") != 200 {
				t.Fatal("alice cannot log in")
			}
			// 15 s: a bound for a machine loaded by parallel test packages;
			// an idle one revokes within the watcher's debounce.
			os.WriteFile(s.file, []byte(content), 0o640)
			realtest.Eventually(t, 15*time.Second, "revocation", func() bool { return s.status("alice", "pw") == 401 })
			if got := s.metric("authreq_reload_errors_total"); got != "0" {
				t.Errorf("reload errors %s", got)
			}
		})
	}
}

func TestReloadSignal(t *testing.T) {
	s := newTestServer(t, map[string]string{"alice": "pw"}, nil)
	s.htpasswd().Close() // stops the watcher: only the explicit reload may act
	os.WriteFile(s.file, []byte("alice:"+hashOf(t, "new")+"\n"), 0o640)
	s.Reload()
	if s.status("alice", "new") != 200 || s.status("alice", "pw") != 401 {
		t.Error("Reload did not apply the file")
	}
	if got := s.metric(`authreq_reloads_total{result="success"}`); got != "1" {
		t.Errorf("reloads_total success = %q", got)
	}
}

func TestStartRefusesBrokenFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "htpasswd")
	os.WriteFile(file, []byte("# ok\nalice:x\nbroken\n"), 0o640)
	cfg := DefaultConfig()
	cfg.Htpasswd.Files = []string{file}
	_, err := New(cfg, nil)
	if err == nil || !strings.Contains(err.Error(), file+": line 3") {
		t.Errorf("start on a broken file: %v", err)
	}
	cfg.Htpasswd.Files = []string{filepath.Join(dir, "missing")}
	if _, err := New(cfg, nil); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("start on a missing file: %v", err)
	}
}
