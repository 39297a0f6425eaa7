package authreq

// Regression tests from a hostile review of the audit-beside-watched-file
// warning; each failed before its fix.

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The watcher's inotify watch is on the directory itself (its inode): an
// audit log written there through another path to the same directory (a
// symlink, e.g. /var/log/authreq -> /etc/authreq, or the other way round)
// wakes it on every line just the same, but the warning compares path
// strings only and says nothing.
func TestReview16AuditWarningMissesSymlinkedDir(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "htpasswd")
	if err := os.WriteFile(file, []byte("alice:"+hashOf(t, "pw")+"\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(t.TempDir(), "logs")
	if err := os.Symlink(dir, link); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, htpasswd, audit string }{
		{"audit through a symlink to the watched directory", file, filepath.Join(link, "audit.log")},
		{"htpasswd through a symlink, audit by the real path", filepath.Join(link, "htpasswd"), filepath.Join(dir, "audit.log")},
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
			if !strings.Contains(logs.String(), "audit.output is in the directory of a watched file") {
				t.Errorf("no warning, yet %s and %s are in the same (watched) directory; log:\n%s", tc.audit, tc.htpasswd, logs.String())
			}
		})
	}
}
