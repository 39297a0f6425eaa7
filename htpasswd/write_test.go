package htpasswd

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
)

func setUser(user, hash string) func(*File) error {
	return func(f *File) error { _, err := f.Set(user, hash); return err }
}

func TestUpdateCreatesAndKeepsMode(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "htpasswd")
	if err := Update(path, false, setUser("a", "{SHA}x")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Update of a missing file without create: %v", err)
	}
	if err := Update(path, true, setUser("a", "{SHA}x")); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != DefaultMode {
		t.Fatalf("new file mode %v, %v", fi.Mode(), err)
	}
	if err := os.Chmod(path, 0o604); err != nil {
		t.Fatal(err)
	}
	if err := Update(path, false, setUser("b", "{SHA}y")); err != nil {
		t.Fatal(err)
	}
	fi, _ = os.Stat(path)
	if fi.Mode().Perm() != 0o604 {
		t.Errorf("mode not kept: %v", fi.Mode())
	}
	if b, _ := os.ReadFile(path); string(b) != "a:{SHA}x\nb:{SHA}y\n" {
		t.Errorf("content %q", b)
	}
	if os.Geteuid() == 0 {
		if err := os.Chown(path, 1234, 5678); err != nil {
			t.Fatal(err)
		}
		if err := Update(path, false, setUser("c", "{SHA}z")); err != nil {
			t.Fatal(err)
		}
		if uid, gid := ownerOf(t, path); uid != 1234 || gid != 5678 {
			t.Errorf("owner not kept: %d:%d", uid, gid)
		}
	}
}

func TestUpdateFailureLeavesFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "htpasswd")
	orig := "# keep me\na:{SHA}x"
	if err := os.WriteFile(path, []byte(orig), 0o640); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	if err := Update(path, false, func(f *File) error { f.Delete("a"); return boom }); !errors.Is(err, boom) {
		t.Fatalf("fn error not returned: %v", err)
	}
	// A crash after the temp file is written, before the rename.
	beforeRename = func(string) error { return errors.New("crash") }
	defer func() { beforeRename = nil }()
	if err := Update(path, false, setUser("b", "{SHA}y")); err == nil {
		t.Fatal("crash not reported")
	}
	if b, _ := os.ReadFile(path); string(b) != orig {
		t.Errorf("file changed: %q", b)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temp file left behind: %s", e.Name())
		}
	}
	// A structurally broken file is not edited.
	if err := os.WriteFile(path, []byte("no colon\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	beforeRename = nil
	if err := Update(path, false, setUser("b", "{SHA}y")); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("broken file: %v", err)
	}
}

func TestUpdateConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "htpasswd")
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- Update(path, true, setUser(fmt.Sprintf("user%02d", i), "{SHA}x"))
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	f, err := ReadFile(path)
	if err != nil || f.Len() != 50 {
		t.Fatalf("%d users, %v", f.Len(), err)
	}
}

func TestUpdateThroughSymlink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "real")
	link := filepath.Join(dir, "link")
	os.WriteFile(target, []byte("a:{SHA}x\n"), 0o640)
	if err := os.Symlink("real", link); err != nil {
		t.Fatal(err)
	}
	if err := Update(link, false, setUser("b", "{SHA}y")); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Lstat(link); fi.Mode()&fs.ModeSymlink == 0 {
		t.Error("symlink replaced by a file")
	}
	if b, _ := os.ReadFile(target); string(b) != "a:{SHA}x\nb:{SHA}y\n" {
		t.Errorf("target %q", b)
	}
}

func TestReadFileErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := ReadFile(dir); err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Errorf("directory: %v", err)
	}
	if err := Update(dir, true, setUser("a", "{SHA}x")); err == nil {
		t.Error("Update of a directory succeeded")
	}
	missing := filepath.Join(dir, "nope", "htpasswd")
	if _, err := ReadFile(missing); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing: %v", err)
	}
	if os.Geteuid() != 0 { // root reads mode 000 files
		p := filepath.Join(dir, "unreadable")
		os.WriteFile(p, []byte("a:b\n"), 0o000)
		if _, err := ReadFile(p); !errors.Is(err, fs.ErrPermission) {
			t.Errorf("unreadable: %v", err)
		}
	}
}
func ownerOf(t *testing.T, path string) (uid, gid int) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return int(st.Uid), int(st.Gid)
}
