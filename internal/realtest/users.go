package realtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// NeedRoot is for tests that run a program as another, unprivileged user
// (see AsUser), which only root can do. Not root, the test fails under CI
// and is skipped elsewhere.
func NeedRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatal("not root: CI must run the tests as root, to act as unprivileged users")
	}
	t.Skip("not root: cannot run programs as other users")
}

// AsUser makes cmd run as uid with primary group gid and the supplementary
// groups given, and nothing else of root's. Numeric ids need no entry in
// /etc/passwd or /etc/group. Call NeedRoot first.
func AsUser(cmd *exec.Cmd, uid, gid uint32, groups ...uint32) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	if groups == nil {
		groups = []uint32{} // an empty list, not "keep root's groups"
	}
	cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uid, Gid: gid, Groups: groups}
}

// PublicDir returns a new directory that every user can enter and read
// (mode 0755, unlike t.TempDir's), for programs run with AsUser and the
// files they work on. It is removed when the test ends.
func PublicDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "realtest-public-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// CopyExecutable copies the program at src into dir (mode 0755) and
// returns the copy's path: a program in a private directory (a test
// binary, one built into t.TempDir) cannot be started by another user.
func CopyExecutable(t testing.TB, src, dir string) string {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, filepath.Base(src))
	if err := os.WriteFile(dst, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return dst
}
