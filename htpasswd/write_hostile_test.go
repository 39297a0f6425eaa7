package htpasswd

// Edits by root of a file in a directory that a group of editors may
// write: a member of the group who replaces FILE, with a symbolic link or
// at the wrong moment, must not get root to copy or write a file the
// member cannot read or write.

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/authreq/authreq/internal/realtest"
)

const (
	attackerUID = 5001
	editGID     = 5000 // the htpasswd file's group; the attacker is a member
)

// sharedDir is a directory like /etc/authreq set up for group editing:
// root:editGID 2770, holding htpasswd root:editGID 0640.
func sharedDir(t *testing.T) (dir, file string) {
	realtest.NeedRoot(t)
	dir = filepath.Join(realtest.PublicDir(t), "auth")
	if err := os.Mkdir(dir, 0o770); err != nil {
		t.Fatal(err)
	}
	must(t, os.Chown(dir, 0, editGID))
	must(t, os.Chmod(dir, 0o2770))
	file = filepath.Join(dir, "htpasswd")
	must(t, os.WriteFile(file, []byte("alice:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n"), 0o640))
	must(t, os.Chown(file, 0, editGID))
	return dir, file
}

// protected is a root-only file in a root-only directory, in htpasswd-ish
// shape (like /etc/shadow, ~/.git-credentials, another site's htpasswd).
func protected(t *testing.T) string {
	pdir := filepath.Join(realtest.PublicDir(t), "rootonly")
	must(t, os.Mkdir(pdir, 0o700))
	p := filepath.Join(pdir, "admin.htpasswd")
	must(t, os.WriteFile(p, []byte("root:$6$SECRETSALT$SECRETHASHxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx:19000:0:99999:7:::\n"), 0o600))
	return p
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// asAttacker runs a shell command as uid 5001 in group 5000 only.
func asAttacker(t *testing.T, script string) {
	t.Helper()
	cmd := exec.Command("/bin/sh", "-c", script)
	realtest.AsUser(cmd, attackerUID, editGID)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("attacker: %v: %s", err, out)
	}
}

// A group member who can write the directory replaces FILE with a
// symbolic link to a file only root may touch (here a root-only admin
// htpasswd). Root's next edit must not write into it (adding a user whose
// password the member may know): it refuses the link, naming FILE.
func TestUpdateRefusesAttackerSymlink(t *testing.T) {
	_, file := sharedDir(t)
	p := protected(t)
	before, _ := os.ReadFile(p)
	asAttacker(t, "ln -sfn "+p+" "+file)
	err := Update(file, false, setUser("bob", "{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g="))
	if !errors.Is(err, ErrSymlink) || !strings.Contains(err.Error(), file) {
		t.Errorf("Update through the member's link: %v; want ErrSymlink naming %s", err, file)
	}
	if b, _ := os.ReadFile(p); !bytes.Equal(b, before) {
		t.Errorf("root's edit of %s wrote into the root-only file %s it was pointed at:\n%s", file, p, b)
	}
	if fi, err := os.Lstat(file); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		t.Errorf("the link was replaced: %v, %v", fi, err)
	}
}

// Were the file read by path and its owner and mode taken by another
// lookup, the member could race root: hold the group-writable lock, point
// FILE at a root-only file, release the lock and swap a regular file of
// its own back in before the second lookup. Root would then read the
// secret file and write its content into FILE with the member's owner and
// mode. Content, owner and mode come from one descriptor, opened without
// following links. The member's steps are all ones uid 5001 could do
// (symlink and rename in a 2770 directory of its group, flock on a 0660
// lock); they run in-process here for timing control.
func TestUpdateRaceKeepsRootFilePrivate(t *testing.T) {
	dir, file := sharedDir(t)
	p := protected(t)
	lockPath := file + ".lock"
	if err := Update(file, false, func(*File) error { return nil }); err != nil {
		t.Fatal(err)
	}
	wins := 0
	tries := 0
	// Before the fix, the race was won within a few tries.
	deadline := time.Now().Add(5 * time.Second)
	for delay := 0; tries < 400 && time.Now().Before(deadline) && wins == 0; delay = (delay + 1) % 200 {
		tries++
		// The attacker's prepared regular file (owned by the attacker).
		reg := filepath.Join(dir, ".reg")
		must(t, os.WriteFile(reg, []byte("alice:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n"), 0o644))
		must(t, os.Chown(reg, attackerUID, editGID))
		must(t, os.Rename(reg, file))
		lk, err := os.OpenFile(lockPath, os.O_RDWR, 0)
		must(t, err)
		must(t, syscall.Flock(int(lk.Fd()), syscall.LOCK_EX))
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			Update(file, false, setUser("carol", "{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=")) // root's edit
		}()
		time.Sleep(2 * time.Millisecond) // root now waits in flock
		lnk := filepath.Join(dir, ".lnk")
		os.Remove(lnk)
		must(t, os.Symlink(p, lnk))
		must(t, os.Rename(lnk, file))
		must(t, os.WriteFile(reg, []byte("alice:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n"), 0o644))
		must(t, os.Chown(reg, attackerUID, editGID))
		syscall.Flock(int(lk.Fd()), syscall.LOCK_UN)
		lk.Close()
		for i := 0; i < delay*50; i++ { // spin
		}
		os.Rename(reg, file)
		wg.Wait()
		b, _ := os.ReadFile(file)
		fi, _ := os.Lstat(file)
		if !fi.Mode().IsRegular() || !strings.Contains(string(b), "SECRETHASH") {
			continue
		}
		st := fi.Sys().(*syscall.Stat_t)
		readable := st.Uid == attackerUID || (st.Gid == editGID && fi.Mode().Perm()&0o040 != 0) || fi.Mode().Perm()&0o004 != 0
		if readable {
			wins++
			t.Errorf("after %d tries: root's edit copied the root-only file into %s, owner %d:%d mode %v:\n%s",
				tries, file, st.Uid, st.Gid, fi.Mode().Perm(), b)
		}
	}
	t.Logf("%d tries, %d wins", tries, wins)
}
