package htpasswd

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
)

// DefaultMode is the mode of a file that Update creates.
const DefaultMode fs.FileMode = 0o640

// ReadFile parses the file at path. Errors name the path.
func ReadFile(path string) (*File, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, err
	}
	f, err := Parse(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// LintFile lints the file at path (see Lint). Errors name the path.
func LintFile(path string) (users int, problems []Problem, err error) {
	data, err := readFile(path)
	if err != nil {
		return 0, nil, err
	}
	return Lint(bytes.NewReader(data))
}

// readFile returns the content of the file at path, which must not be over
// MaxFileSize. Errors name the path.
func readFile(path string) ([]byte, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err // *fs.PathError names the path
	}
	defer fh.Close()
	if fi, err := fh.Stat(); err == nil && fi.IsDir() {
		return nil, fmt.Errorf("%s: is a directory", path)
	}
	data, err := io.ReadAll(io.LimitReader(fh, MaxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("%s: %w", path, ErrTooLarge)
	}
	return data, nil
}

// beforeRename is a test hook: an error from it stands for a crash between
// writing the temp file and renaming it into place.
var beforeRename func(tmp string) error

// Update edits the htpasswd file at path atomically and under a lock. It
// takes an exclusive flock on the sidecar path+".lock" (see lockFile), parses
// the current file (or starts empty when it does not exist and create is
// true; otherwise the error wraps fs.ErrNotExist), calls fn and, if fn
// returns nil, writes the result the way WriteFileAtomic does. If fn or
// anything else fails, the file is left as it was. Concurrent Updates of one
// path, from any number of processes, lose nothing.
//
// A path that is a symlink is written through: its target is replaced and
// the link stays.
func Update(path string, create bool, fn func(*File) error) error {
	return update(path, create, func(target string, data []byte) ([]byte, error) {
		f, err := Parse(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", target, err)
		}
		if err := fn(f); err != nil {
			return nil, err
		}
		return f.Bytes(), nil
	})
}

// update is the locked read-modify-write under Update and
// UpdateSecretFile. It resolves path to its target, takes the target's lock
// (lockFile), reads the target (a missing one is an error, or empty content
// when create is true), passes the content to edit and writes what edit
// returns the way WriteFileAtomic does. An error from edit leaves the file
// as it was.
func update(path string, create bool, edit func(target string, data []byte) ([]byte, error)) error {
	target, err := resolve(path)
	if err != nil {
		return err
	}
	lock, err := lockFile(target)
	if err != nil {
		return err
	}
	defer lock.Close() // releases the lock

	data, err := readFile(target)
	if errors.Is(err, fs.ErrNotExist) && create {
		data, err = nil, nil
	}
	if err != nil {
		return err
	}
	out, err := edit(target, data)
	if err != nil {
		return err
	}
	return writeAtomic(target, out, DefaultMode) // an existing file keeps its own mode
}

// lockMode is the lock file's mode: whoever may edit the file through its
// group may lock it too.
const lockMode fs.FileMode = 0o660

// lockFile takes an exclusive flock on target's sidecar lock, target+".lock",
// creating it if needed, and returns it open: closing it releases the lock.
// Locking target itself would not work, as the rename replaces it. The lock
// file is left in place, mode 0660 and, when the caller may set it, in
// target's group, so that the editors who share the file through its group
// share the lock. A lock path that is a symbolic link is refused: whoever
// may write the directory could point it at another file.
func lockFile(target string) (*os.File, error) {
	lock, err := os.OpenFile(target+".lock", os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW, lockMode)
	if errors.Is(err, fs.ErrPermission) {
		return nil, fmt.Errorf("lock: %w (every editor must be able to write the lock file: give it the file's group and mode 0660)", err)
	} else if err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	shareLock(lock, target)
	if err := flock(lock); err != nil {
		lock.Close()
		return nil, fmt.Errorf("lock %s: %w", lock.Name(), err)
	}
	return lock, nil
}

// shareLock gives a lock file of ours lockMode (the umask narrows the mode
// it is created with, and earlier versions made it 0600) and target's group.
// Both are best effort: the lock works for us either way. A file with
// another link is left alone: it may be another file of ours, linked there.
func shareLock(lock *os.File, target string) {
	fi, err := lock.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || int(st.Uid) != os.Geteuid() || st.Nlink != 1 {
		return
	}
	if fi.Mode().Perm() != lockMode {
		lock.Chmod(lockMode)
	}
	if tfi, err := os.Stat(target); err == nil {
		if tst, ok := tfi.Sys().(*syscall.Stat_t); ok && tst.Gid != st.Gid {
			lock.Chown(-1, int(tst.Gid))
		}
	}
}

func flock(f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if err != syscall.EINTR {
			return err
		}
	}
}

// resolve follows symlinks of an existing path; a missing path is returned
// as it is.
func resolve(path string) (string, error) {
	target, err := filepath.EvalSymlinks(path)
	if errors.Is(err, fs.ErrNotExist) {
		return path, nil
	}
	return target, err
}

// WriteFileAtomic replaces path with data so that a crash leaves either the
// old or the new content, never a mix: a temp file in the same directory,
// fsync, the old file's mode, owner and group (mode for a new file), rename
// over, fsync of the directory. It does not lock; see Update.
//
// Only root can keep another user's ownership; other editors become the
// owner, but the file keeps its group (a member of the group may set it).
// When even the group cannot be kept, the file is left as it was and the
// error says so: a file that silently changed group could lock out the
// service that reads it through that group.
func WriteFileAtomic(path string, data []byte, mode fs.FileMode) error {
	target, err := resolve(path)
	if err != nil {
		return err
	}
	return writeAtomic(target, data, mode)
}

func writeAtomic(path string, data []byte, mode fs.FileMode) (err error) {
	uid, gid := -1, -1
	if fi, err := os.Stat(path); err == nil {
		if fi.IsDir() {
			return fmt.Errorf("%s: is a directory", path)
		}
		mode = fi.Mode().Perm()
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			uid, gid = int(st.Uid), int(st.Gid)
		}
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(data); err != nil {
		return err
	}
	// Group first, then mode: the temp file is 0600 until it is in the
	// old file's group, never readable by the editor's own group.
	if uid >= 0 {
		if err = keepOwner(tmp, uid, gid); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	}
	if err = tmp.Chmod(mode); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if beforeRename != nil {
		if err = beforeRename(tmp.Name()); err != nil {
			return err
		}
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	if d, derr := os.Open(dir); derr == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// keepOwner gives f, the new file, the owner and group of the file it
// replaces, or else at least the group.
func keepOwner(f *os.File, uid, gid int) error {
	if f.Chown(uid, gid) == nil || f.Chown(-1, gid) == nil {
		return nil
	}
	return fmt.Errorf("cannot keep the file's group %s, which only root or a member of that group can set; the file is left unchanged", groupName(gid))
}

// groupName is "name (gid)", or the bare number when the group has no name.
func groupName(gid int) string {
	id := strconv.Itoa(gid)
	if g, err := user.LookupGroupId(id); err == nil {
		return g.Name + " (" + id + ")"
	}
	return id
}
