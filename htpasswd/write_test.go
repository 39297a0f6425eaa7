package htpasswd

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/authreq/authreq/internal/realtest"
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
	// The lock file is 0660 whatever the umask, and one left 0600 by an
	// earlier version is widened by its owner's next edit.
	lock := path + ".lock"
	if fi, err := os.Stat(lock); err != nil || fi.Mode().Perm() != 0o660 {
		t.Errorf("lock file %v, %v; want mode 0660", fi.Mode(), err)
	}
	if err := os.Chmod(lock, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Update(path, false, setUser("b", "{SHA}y")); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(lock); fi.Mode().Perm() != 0o660 {
		t.Errorf("old lock file still %v", fi.Mode())
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
		if _, gid := ownerOf(t, lock); gid != 5678 {
			t.Errorf("lock file group %d, want the file's, 5678", gid)
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

// A crash between writing the temp file and renaming it leaves the temp
// file: a whole copy of the hashes, readable as the file is. The next edit
// removes it, under the lock, and nothing else: only regular files of the
// editor's with one link and exactly our temp files' names.
func TestUpdateRemovesStaleTempFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "htpasswd")
	must(t, os.WriteFile(path, []byte("a:{SHA}x\n"), 0o640))
	stale := []string{
		".htpasswd.tmp-0123456789abcdef", // this version's
		".htpasswd.tmp-3141592653",       // os.CreateTemp's, in earlier versions
	}
	kept := []string{
		".htpasswd.tmp-notours",
		".htpasswd.tmp-",
		".htpasswd.tmp-123456789012345678901",
		".htpasswd.tmp-0123456789ABCDEF",
		".htpasswd.lock.tmp-123",
		".other.tmp-123",
		"htpasswd.tmp-123",
	}
	for _, name := range append(stale, kept...) {
		must(t, os.WriteFile(filepath.Join(dir, name), []byte("a:{SHA}x\n"), 0o640))
	}
	// A link of that name, and a file with a second link.
	must(t, os.Symlink("htpasswd", filepath.Join(dir, ".htpasswd.tmp-1")))
	must(t, os.Link(filepath.Join(dir, ".htpasswd.tmp-notours"), filepath.Join(dir, ".htpasswd.tmp-2")))
	kept = append(kept, ".htpasswd.tmp-1", ".htpasswd.tmp-2")
	if os.Geteuid() == 0 { // another user's
		name := ".htpasswd.tmp-3"
		must(t, os.WriteFile(filepath.Join(dir, name), nil, 0o600))
		must(t, os.Chown(filepath.Join(dir, name), 4321, 4321))
		kept = append(kept, name)
	}
	if err := Update(path, false, setUser("b", "{SHA}y")); err != nil {
		t.Fatal(err)
	}
	for _, name := range stale {
		if _, err := os.Lstat(filepath.Join(dir, name)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("stale temp file %s not removed: %v", name, err)
		}
	}
	for _, name := range kept {
		if _, err := os.Lstat(filepath.Join(dir, name)); err != nil {
			t.Errorf("%s removed: %v", name, err)
		}
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

// An edit does not follow a symbolic link at FILE: the error names FILE,
// and neither the link nor its target changes. Reading follows it.
func TestUpdateRefusesSymlink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "real")
	link := filepath.Join(dir, "link")
	os.WriteFile(target, []byte("a:{SHA}x\n"), 0o640)
	if err := os.Symlink("real", link); err != nil {
		t.Fatal(err)
	}
	if err := Update(link, false, setUser("b", "{SHA}y")); !errors.Is(err, ErrSymlink) || !strings.Contains(err.Error(), link) {
		t.Errorf("Update through a link: %v", err)
	}
	if err := Update(link, true, setUser("b", "{SHA}y")); !errors.Is(err, ErrSymlink) {
		t.Errorf("Update with create through a link: %v", err)
	}
	if err := WriteFileAtomic(link, []byte("b:{SHA}y\n"), 0o640); !errors.Is(err, ErrSymlink) {
		t.Errorf("WriteFileAtomic through a link: %v", err)
	}
	// A dangling link is no missing file to create.
	dangling := filepath.Join(dir, "dangling")
	os.Symlink("nowhere", dangling)
	if err := Update(dangling, true, setUser("b", "{SHA}y")); !errors.Is(err, ErrSymlink) {
		t.Errorf("Update with create through a dangling link: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "nowhere")); !errors.Is(err, fs.ErrNotExist) {
		t.Error("a dangling link's target was created")
	}
	if fi, _ := os.Lstat(link); fi.Mode()&fs.ModeSymlink == 0 {
		t.Error("symlink replaced by a file")
	}
	if b, _ := os.ReadFile(target); string(b) != "a:{SHA}x\n" {
		t.Errorf("target %q", b)
	}
	if f, err := ReadFile(link); err != nil || f.Len() != 1 {
		t.Errorf("ReadFile through a link: %v", err)
	}
}

// A writer that does not take the lock replaces the file during the edit:
// the edit writes nothing rather than overwrite it with stale content.
func TestUpdateFileReplacedDuringEdit(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "htpasswd")
	os.WriteFile(path, []byte("a:{SHA}x\n"), 0o640)
	beforeRename = func(string) error {
		os.WriteFile(filepath.Join(dir, "other"), []byte("z:{SHA}z\n"), 0o640)
		return os.Rename(filepath.Join(dir, "other"), path)
	}
	defer func() { beforeRename = nil }()
	if err := Update(path, false, setUser("b", "{SHA}y")); !errors.Is(err, ErrChanged) || !strings.Contains(err.Error(), path) {
		t.Errorf("Update of a file replaced meanwhile: %v", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "z:{SHA}z\n" {
		t.Errorf("content %q, want the other writer's", b)
	}
	// The same for a file created meanwhile.
	fresh := filepath.Join(dir, "fresh")
	beforeRename = func(string) error { return os.WriteFile(fresh, []byte("z:{SHA}z\n"), 0o640) }
	if err := Update(fresh, true, setUser("b", "{SHA}y")); !errors.Is(err, ErrChanged) {
		t.Errorf("Update of a file created meanwhile: %v", err)
	}
	beforeRename = nil
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temp file left behind: %s", e.Name())
		}
	}
}

// A FIFO at FILE is refused, not waited on.
func TestUpdateRefusesFIFO(t *testing.T) {
	path := filepath.Join(t.TempDir(), "htpasswd")
	if err := syscall.Mkfifo(path, 0o640); err != nil {
		t.Skip(err)
	}
	if err := Update(path, false, setUser("b", "{SHA}y")); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("Update of a FIFO: %v", err)
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

// editorFileEnv and editorUserEnv tell TestEditorChild what to edit.
const (
	editorFileEnv = "HTPASSWD_TEST_EDITOR_FILE"
	editorUserEnv = "HTPASSWD_TEST_EDITOR_DELETE"
)

// TestEditorChild is no test of its own: TestUpdateByUnprivilegedEditor
// runs the test binary as an unprivileged user with only this test
// selected, to delete a user from a file with Update.
func TestEditorChild(t *testing.T) {
	path := os.Getenv(editorFileEnv)
	if path == "" {
		t.Skip("run by TestUpdateByUnprivilegedEditor")
	}
	user := os.Getenv(editorUserEnv)
	err := Update(path, false, func(f *File) error {
		if !f.Delete(user) {
			return fmt.Errorf("no user %q", user)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("edit error: %v", err)
	}
}

// An editor who is not root cannot keep the file's owner. The file must
// keep its group, through which the service reads it, or the edit must
// fail and leave the file alone. Ids are numeric: no /etc/group entries.
func TestUpdateByUnprivilegedEditor(t *testing.T) {
	realtest.NeedRoot(t)
	const group, editor, other = 4242, 4243, 4244
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	pub := realtest.PublicDir(t)
	bin := realtest.CopyExecutable(t, exe, pub)
	deleteAs := func(path, user string, uid uint32, groups ...uint32) (string, error) {
		cmd := exec.Command(bin, "-test.run=^TestEditorChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), editorFileEnv+"="+path, editorUserEnv+"="+user)
		realtest.AsUser(cmd, uid, uid, groups...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	// setup makes dir/htpasswd with three users, owned as given.
	setup := func(t *testing.T, name string, dirUID, dirGID, fileUID, fileGID int, dirMode, fileMode fs.FileMode) string {
		dir := filepath.Join(pub, name)
		if err := os.Mkdir(dir, dirMode); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "htpasswd")
		if err := os.WriteFile(path, []byte("alice:{SHA}x\nbob:{SHA}y\ncarol:{SHA}z\n"), fileMode); err != nil {
			t.Fatal(err)
		}
		for p, m := range map[string]fs.FileMode{dir: dirMode, path: fileMode} {
			if err := os.Chmod(p, m); err != nil { // no umask
				t.Fatal(err)
			}
		}
		if err := os.Chown(dir, dirUID, dirGID); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(path, fileUID, fileGID); err != nil {
			t.Fatal(err)
		}
		return path
	}

	t.Run("group member keeps the group", func(t *testing.T) {
		path := setup(t, "member", 0, group, 0, group, 0o770, 0o660)
		if out, err := deleteAs(path, "alice", editor, group); err != nil {
			t.Fatalf("edit as a member of the file's group: %v\n%s", err, out)
		}
		uid, gid := ownerOf(t, path)
		if gid != group {
			t.Errorf("file group %d after the edit, want %d: the service can no longer read it", gid, group)
		}
		if uid != editor {
			t.Errorf("owner %d, want the editor %d (only root can keep root as owner)", uid, editor)
		}
		if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o660 {
			t.Errorf("mode %v, want 0660", fi.Mode())
		}
		if b, _ := os.ReadFile(path); string(b) != "bob:{SHA}y\ncarol:{SHA}z\n" {
			t.Errorf("content %q", b)
		}
		// The lock file serves every member of the group.
		lock := path + ".lock"
		if fi, err := os.Stat(lock); err != nil {
			t.Error(err)
		} else if fi.Mode().Perm() != 0o660 {
			t.Errorf("lock file mode %v, want 0660", fi.Mode())
		}
		if _, gid := ownerOf(t, lock); gid != group {
			t.Errorf("lock file group %d, want %d", gid, group)
		}
		if out, err := deleteAs(path, "bob", other, group); err != nil {
			t.Fatalf("edit by another member of the group: %v\n%s", err, out)
		}
		if _, gid := ownerOf(t, path); gid != group {
			t.Errorf("file group %d after the second edit, want %d", gid, group)
		}
		if b, _ := os.ReadFile(path); string(b) != "carol:{SHA}z\n" {
			t.Errorf("content %q", b)
		}
	})

	t.Run("group not kept fails and leaves the file", func(t *testing.T) {
		// The editor owns the file and its directory but is not in the
		// file's group, so cannot give the new file that group.
		path := setup(t, "outsider", editor, editor, editor, group, 0o755, 0o640)
		before, _ := os.ReadFile(path)
		out, err := deleteAs(path, "alice", editor)
		if err == nil {
			t.Fatalf("edit that would change the file's group succeeded:\n%s", out)
		}
		if !strings.Contains(out, path) || !strings.Contains(out, "group") {
			t.Errorf("error does not name the file and its group:\n%s", out)
		}
		if b, _ := os.ReadFile(path); string(b) != string(before) {
			t.Errorf("file changed: %q", b)
		}
		if uid, gid := ownerOf(t, path); uid != editor || gid != group {
			t.Errorf("owner changed to %d:%d", uid, gid)
		}
		entries, _ := os.ReadDir(filepath.Dir(path))
		for _, e := range entries {
			if strings.Contains(e.Name(), ".tmp-") {
				t.Errorf("temp file left behind: %s", e.Name())
			}
		}
	})
}

// Whoever can write the file's directory can plant the lock file. Update
// gives a lock file of its own mode 0660 and the file's group: it must not
// do that to another file through a symbolic or hard link.
func TestUpdateLockFileIsNotALink(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "htpasswd")
	if err := os.WriteFile(path, []byte("a:{SHA}x\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	victim := filepath.Join(dir, "victim")
	if err := os.WriteFile(victim, []byte("private\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	checkVictim := func() {
		t.Helper()
		if fi, _ := os.Stat(victim); fi.Mode().Perm() != 0o600 {
			t.Errorf("the linked file's mode changed to %v", fi.Mode())
		}
	}
	if err := os.Symlink(victim, path+".lock"); err != nil {
		t.Fatal(err)
	}
	if err := Update(path, false, setUser("b", "{SHA}y")); err == nil {
		t.Error("Update with a symlink as its lock file succeeded")
	}
	checkVictim()
	os.Chmod(victim, 0o600)
	os.Remove(path + ".lock")
	if err := os.Link(victim, path+".lock"); err != nil {
		t.Fatal(err)
	}
	if err := Update(path, false, setUser("b", "{SHA}y")); err != nil {
		t.Fatal(err)
	}
	checkVictim()
}
