package authreq

import (
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/authreq/authreq/authreq/audit"
)

// Every decision type gives one parseable line with the fields of the
// design, and no line holds the password or the credentials.
func TestAuditEveryDecision(t *testing.T) {
	const pw = "Very-Distinctive-Secret-42"
	s, _, _ := throttledServer(t, nil)
	s.from("198.51.100.1", "alice", "pw", "X-Request-ID", "r-allow")
	for range 5 {
		s.from("198.51.100.2", "alice", pw)
	}
	s.from("198.51.100.2", "alice", pw, "X-Request-ID", "r-throttled")
	s.use(downBackend{})
	s.from("198.51.100.3", "bob", pw, "X-Request-ID", "r-error")

	data, err := os.ReadFile(filepath.Join(s.dir, "audit.log"))
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{pw, base64.StdEncoding.EncodeToString([]byte("alice:" + pw)), "Authorization"} {
		if strings.Contains(string(data), secret) {
			t.Errorf("audit log holds %q", secret)
		}
	}
	seen := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("not JSON: %s", line)
		}
		for _, f := range []string{"time", "client_ip", "user", "method", "host", "decision", "cache_hit", "latency_seconds"} {
			if _, ok := rec[f]; !ok {
				t.Errorf("field %s missing: %s", f, line)
			}
		}
		if _, err := time.Parse(time.RFC3339Nano, rec["time"].(string)); err != nil {
			t.Errorf("time: %v", err)
		}
		seen[rec["decision"].(string)] = true
		if id, _ := rec["request_id"].(string); id != "" && id != "r-"+rec["decision"].(string) {
			t.Errorf("request id %s on a %s line", id, rec["decision"])
		}
	}
	for _, d := range []string{audit.Allow, audit.Deny, audit.Throttled, audit.Error} {
		if !seen[d] {
			t.Errorf("no %s line", d)
		}
	}
}

// A scripted sequence, then the counters.
func TestMetricsAfterSequence(t *testing.T) {
	s := newTestServer(t, map[string]string{"alice": "pw"}, nil)
	get := func(ip, user, pw string) { s.from(ip, user, pw) }
	get("198.51.100.1", "alice", "pw") // miss, allow
	get("198.51.100.1", "alice", "pw") // hit, allow
	get("198.51.100.1", "alice", "pw") // hit, allow
	for range 5 {
		get("198.51.100.2", "alice", "bad") // miss, deny ×5
	}
	get("198.51.100.2", "alice", "bad2") // miss, throttled
	s.do("GET", "/auth", nil)            // deny: no credentials
	want := map[string]string{
		`authreq_decisions_total{backend="htpasswd",result="allow"}`: "3",
		`authreq_decisions_total{backend="",result="deny"}`:          "6",
		`authreq_decisions_total{backend="",result="throttled"}`:     "1",
		`authreq_throttled_total{scope="user_ip"}`:                   "1",
		"authreq_cache_hits_total":                                   "2",
		"authreq_cache_misses_total":                                 "7",
		"authreq_cache_entries":                                      "1",
		"authreq_request_duration_seconds_count":                     "10",
		`authreq_backend_duration_seconds_count{backend="htpasswd"}`: "6", // every check, right or wrong
		"authreq_throttle_entries":                                   "4", // pair, IP and user of the failures; one trusted pair
		"authreq_reload_errors_total":                                "0",
	}
	for name, v := range want {
		if got := s.metric(name); got != v {
			t.Errorf("%s = %q, want %s", name, got, v)
		}
	}
}

// logrotate moves the file away; Reload (SIGHUP) reopens the path.
func TestAuditReopen(t *testing.T) {
	s := newTestServer(t, map[string]string{"alice": "pw"}, nil)
	path := filepath.Join(s.dir, "audit.log")
	s.do("GET", "/auth", nil)
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	s.do("GET", "/auth", nil) // still written to the moved file
	s.Reload()
	s.do("GET", "/auth", map[string]string{"Authorization": basic("alice", "pw")})
	old, _ := os.ReadFile(path + ".1")
	cur, _ := os.ReadFile(path)
	if strings.Count(string(old), "\n") != 2 || strings.Count(string(cur), "\n") != 1 || !strings.Contains(string(cur), `"decision":"allow"`) {
		t.Errorf("rotated:\n%s\ncurrent:\n%s", old, cur)
	}
}

// An audit log written next to a watched file works, but every line wakes
// the watcher: authreq says so at start, and says nothing when the log is
// elsewhere. The watch is on the directory itself, so a symlink to it is
// the same directory (cases from a hostile review: they got no warning).
func TestAuditBesideWatchedFileWarns(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "htpasswd")
	if err := os.WriteFile(file, []byte("alice:"+hashOf(t, "pw")+"\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(t.TempDir(), "logs") // → dir
	if err := os.Symlink(dir, link); err != nil {
		t.Fatal(err)
	}
	elsewhere := filepath.Join(t.TempDir(), "audit.log")
	for _, tc := range []struct {
		name, htpasswd, audit string
		warn                  bool
	}{
		{"beside the htpasswd file", file, filepath.Join(dir, "audit.log"), true},
		{"through a symlink to the watched directory", file, filepath.Join(link, "audit.log"), true},
		{"htpasswd through a symlink, audit by the real path", filepath.Join(link, "htpasswd"), filepath.Join(dir, "audit.log"), true},
		{"own directory", file, elsewhere, false},
		{"stdout", file, "stdout", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs strings.Builder
			cfg := DefaultConfig()
			cfg.Htpasswd.Files = []string{tc.htpasswd}
			cfg.Audit.Output = tc.audit
			s, err := New(cfg, slog.New(slog.NewTextHandler(&logs, nil)))
			if err != nil {
				t.Fatal(err)
			}
			s.Close()
			warned := strings.Contains(logs.String(), "audit.output is in the directory of a watched file")
			if warned != tc.warn {
				t.Errorf("warned %v, want %v; log:\n%s", warned, tc.warn, logs.String())
			}
		})
	}
}
