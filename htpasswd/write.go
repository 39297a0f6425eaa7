package htpasswd

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// DefaultMode is the mode of a file that Update creates.
const DefaultMode fs.FileMode = 0o640

// ReadFile parses the file at path. Errors name the path.
func ReadFile(path string) (*File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err // *fs.PathError names the path
	}
	defer fh.Close()
	if fi, err := fh.Stat(); err == nil && fi.IsDir() {
		return nil, fmt.Errorf("%s: is a directory", path)
	}
	f, err := Parse(fh)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// beforeRename is a test hook: an error from it stands for a crash between
// writing the temp file and renaming it into place.
var beforeRename func(tmp string) error

// Update edits the htpasswd file at path atomically and under a lock. It
// takes an exclusive flock on the sidecar path+".lock" (created 0600 and left
// in place: locking the file itself would not work, as the rename replaces
// it), parses the current file (or starts empty when it does not exist and
// create is true; otherwise the error wraps fs.ErrNotExist), calls fn and,
// if fn returns nil, writes the result the way WriteFileAtomic does. If fn or
// anything else fails, the file is left as it was. Concurrent Updates of one
// path, from any number of processes, lose nothing.
//
// A path that is a symlink is written through: its target is replaced and
// the link stays.
func Update(path string, create bool, fn func(*File) error) error {
	target, err := resolve(path)
	if err != nil {
		return err
	}
	lock, err := os.OpenFile(target+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("lock: %w", err)
	}
	defer lock.Close()
	if err := flock(lock); err != nil {
		return fmt.Errorf("lock %s: %w", lock.Name(), err)
	}
	// Closing the descriptor releases the lock.

	f, err := ReadFile(target)
	switch {
	case err == nil:
	case errors.Is(err, fs.ErrNotExist) && create:
		f = &File{}
	default:
		return err
	}
	if err := fn(f); err != nil {
		return err
	}
	return writeAtomic(target, f.Bytes(), DefaultMode) // an existing file keeps its own mode
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
// fsync, the old file's mode and owner (mode for a new file), rename over,
// fsync of the directory. It does not lock; see Update.
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
	if err = tmp.Chmod(mode); err != nil {
		return err
	}
	if uid >= 0 {
		// Keeping the owner needs privilege; without it the file is ours,
		// which is what an unprivileged editor can do anyway.
		if cerr := tmp.Chown(uid, gid); cerr != nil && !errors.Is(cerr, fs.ErrPermission) {
			return cerr
		}
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
