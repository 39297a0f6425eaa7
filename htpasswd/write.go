package htpasswd

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// DefaultMode is the mode of a file that Update creates.
const DefaultMode fs.FileMode = 0o640

// Errors from edits (Update, UpdateSecretFile, WriteFileAtomic).
var (
	// ErrSymlink: the path to edit is a symbolic link. Edits do not
	// follow one: whoever can write its directory could point it at a
	// file they cannot read or write themselves.
	ErrSymlink = errors.New("is a symbolic link, which an edit does not follow")
	// ErrChanged: the file was replaced during the edit by a writer that
	// does not take the lock. The new content is not written.
	ErrChanged = errors.New("replaced by another program during the edit; not written, try again")
)

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

func readFile(path string) ([]byte, error) { return ReadRegular(path, MaxFileSize) }

// ReadRegular reads the file at path, at most limit bytes, for htpasswd,
// group and token files alike. A path that is not a regular file is
// refused before it is opened — a FIFO would block the open, and with it
// every later reload — and again after (it may have been swapped between).
// Errors name the path; a file over limit wraps ErrTooLarge.
func ReadRegular(path string, limit int) ([]byte, error) {
	check := func(fi fs.FileInfo) error {
		switch {
		case fi.IsDir():
			return fmt.Errorf("%s: is a directory", path)
		case !fi.Mode().IsRegular():
			return fmt.Errorf("%s: not a regular file (%s)", path, fi.Mode().Type())
		}
		return nil
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err // *fs.PathError names the path
	}
	if err := check(fi); err != nil {
		return nil, err
	}
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	if fi, err = fh.Stat(); err != nil {
		return nil, err
	}
	if err := check(fi); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(fh, int64(limit)+1))
	if err != nil {
		return nil, err
	}
	if len(data) > limit {
		if limit == MaxFileSize {
			return nil, fmt.Errorf("%s: %w", path, ErrTooLarge)
		}
		return nil, fmt.Errorf("%s: larger than %d bytes: %w", path, limit, ErrTooLarge)
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
// path must name the file itself: a symbolic link is refused with an error
// wrapping ErrSymlink. Whoever can write the file's directory could point a
// link at a file they can neither read nor write, and have the next edit by
// root copy it or write into it. Links among the directories above the file
// are followed.
func Update(path string, create bool, fn func(*File) error) error {
	return update(path, create, MaxFileSize, func(data []byte) ([]byte, error) {
		f, err := Parse(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if err := fn(f); err != nil {
			return nil, err
		}
		return f.Bytes(), nil
	})
}

// UpdateFile is the locked, atomic read-modify-write under Update, for
// files of other formats (authreq's token files): it reads the file at path
// (at most limit bytes; empty content when it is missing and create is
// true), passes the content to edit and writes what edit returns, with the
// guarantees Update states. An error from edit leaves the file as it was.
func UpdateFile(path string, create bool, limit int, edit func(data []byte) ([]byte, error)) error {
	return update(path, create, limit, edit)
}

// update is the locked read-modify-write under Update and
// UpdateSecretFile. It opens path's directory, takes the lock (lockFile),
// removes the temp files of crashed edits (removeStaleTemps), opens the
// file once, without following a link, and reads at most limit bytes
// through that descriptor (a missing file is an error, or empty content
// when create is true). It passes the content to edit and writes what edit
// returns the way WriteFileAtomic does, with the mode, owner, group and
// ACL of the file it read, taken from the same descriptor: never from what
// the path names by then. An error from edit leaves the file as it was.
func update(path string, create bool, limit int, edit func(data []byte) ([]byte, error)) error {
	t, err := openTarget(path)
	if err != nil {
		return err
	}
	defer t.dir.Close()
	lock, err := t.lockFile()
	if err != nil {
		return err
	}
	defer lock.Close() // releases the lock
	t.removeStaleTemps()

	old, err := t.openOld()
	var data []byte
	switch {
	case errors.Is(err, fs.ErrNotExist) && create:
		shareLock(lock, -1)
	case err != nil:
		return err
	default:
		defer old.f.Close()
		shareLock(lock, int(old.st.Gid))
		if data, err = readAll(old.f, t.path, limit); err != nil {
			return err
		}
	}
	out, err := edit(data)
	if err != nil {
		return err
	}
	return t.replace(old, out, DefaultMode)
}

// WriteFileAtomic replaces the file at path with data so that a crash
// leaves either the old or the new content, never a mix: a temp file in the
// same directory, fsync, the old file's mode, owner, group, POSIX ACL and
// security labels (mode for a new file), rename over, fsync of the
// directory. Like Update, it refuses a path that is a symbolic link
// (ErrSymlink). It does not lock; see Update. Should the file be replaced
// by someone else meanwhile, it writes nothing and returns ErrChanged.
//
// Only root can keep another user's ownership; other editors become the
// owner, but the file keeps its group (a member of the group may set it).
// When even the group cannot be kept, the file is left as it was and the
// error says so: a file that silently changed group could lock out the
// service that reads it through that group. The same holds for an ACL or
// a security label that cannot be copied.
func WriteFileAtomic(path string, data []byte, mode fs.FileMode) error {
	t, err := openTarget(path)
	if err != nil {
		return err
	}
	defer t.dir.Close()
	old, err := t.openOld()
	switch {
	case errors.Is(err, fs.ErrNotExist):
		old = nil
	case err != nil:
		return err
	default:
		defer old.f.Close()
	}
	return t.replace(old, data, mode)
}

// target is a file to edit, as an open directory and a name in it. Every
// step after opening the directory names the file relative to that
// descriptor (openat, fstatat, renameat), so it all happens in one
// directory, whatever the directory's path names meanwhile.
type target struct {
	path    string // as the caller gave it, for errors
	dirPath string
	dir     *os.File
	name    string
}

func openTarget(path string) (*target, error) {
	dirPath, name := filepath.Split(path)
	if name == "" {
		return nil, fmt.Errorf("%s: is a directory", path)
	}
	if dirPath == "" {
		dirPath = "."
	}
	dir, err := os.OpenFile(dirPath, os.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err // *fs.PathError names the directory
	}
	return &target{path: path, dirPath: dirPath, dir: dir, name: name}, nil
}

func (t *target) dirfd() int { return int(t.dir.Fd()) }

// oldFile is the file being replaced, open, and its status from that
// descriptor.
type oldFile struct {
	f  *os.File
	st unix.Stat_t
}

// openOld opens the file for reading, without following a symbolic link
// (ErrSymlink) and without blocking on a FIFO, and refuses anything but a
// regular file.
func (t *target) openOld() (*oldFile, error) {
	fd, err := unix.Openat(t.dirfd(), t.name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		var st unix.Stat_t
		if unix.Fstatat(t.dirfd(), t.name, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK {
			return nil, &fs.PathError{Op: "edit", Path: t.path, Err: ErrSymlink}
		}
		return nil, &fs.PathError{Op: "open", Path: t.path, Err: err}
	}
	old := &oldFile{f: os.NewFile(uintptr(fd), t.path)}
	if err := unix.Fstat(fd, &old.st); err != nil {
		old.f.Close()
		return nil, &fs.PathError{Op: "stat", Path: t.path, Err: err}
	}
	switch old.st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		return old, nil
	case unix.S_IFDIR:
		old.f.Close()
		return nil, fmt.Errorf("%s: is a directory", t.path)
	}
	old.f.Close()
	return nil, fmt.Errorf("%s: not a regular file", t.path)
}

// readAll reads at most limit bytes of f, which path names in errors.
func readAll(f *os.File, path string, limit int) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(f, int64(limit)+1))
	if err != nil {
		return nil, err // *fs.PathError names the path
	}
	if len(data) > limit {
		if limit == MaxFileSize {
			return nil, fmt.Errorf("%s: %w", path, ErrTooLarge)
		}
		return nil, fmt.Errorf("%s: larger than %d bytes: %w", path, limit, ErrTooLarge)
	}
	return data, nil
}

// replace writes data to a new temp file in the directory and renames it
// over the file. The temp file gets old's owner and group (keepOwner), its
// extended attributes that carry access or security meaning (copyXattrs:
// and its mode; a new file gets mode. Right
// before the rename, the name must still be old's inode (or still be
// missing): otherwise someone replaced the file without taking the lock,
// and nothing is written (ErrChanged).
func (t *target) replace(old *oldFile, data []byte, mode fs.FileMode) (err error) {
	uid, gid := -1, -1
	if old != nil {
		mode = fs.FileMode(old.st.Mode).Perm()
		uid, gid = int(old.st.Uid), int(old.st.Gid)
	}
	tmp, tmpName, err := t.createTemp()
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			unix.Unlinkat(t.dirfd(), tmpName, 0)
		}
	}()
	if _, err = tmp.Write(data); err != nil {
		return err
	}
	// Group, then ACL and labels, then mode. The temp file is 0600 until
	// it is in the old file's group, never readable by the editor's own
	// group. An ACL set while the mode is still 0600 gives no one more
	// than the old file did, whereas chmod first would give the owning
	// group the ACL mask's permissions until the ACL is set. Setting the
	// ACL sets the group bits to its mask; the mode set after it agrees,
	// as the old file's group bits were its mask.
	if uid >= 0 {
		if err = keepOwner(tmp, uid, gid); err != nil {
			return fmt.Errorf("%s: %w", t.path, err)
		}
	}
	if old != nil {
		if err = copyXattrs(old.f, tmp); err != nil {
			return fmt.Errorf("%s: %w; the file is left unchanged", t.path, err)
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
	if err = t.unchanged(old); err != nil {
		return err
	}
	if err = unix.Renameat(t.dirfd(), tmpName, t.dirfd(), t.name); err != nil {
		return &os.LinkError{Op: "rename", Old: tmp.Name(), New: t.path, Err: err}
	}
	t.dir.Sync()
	return nil
}

// unchanged checks that the name is still old's inode, or still missing
// when there was no old file.
func (t *target) unchanged(old *oldFile) error {
	var st unix.Stat_t
	err := unix.Fstatat(t.dirfd(), t.name, &st, unix.AT_SYMLINK_NOFOLLOW)
	switch {
	case err == nil && old != nil && st.Dev == old.st.Dev && st.Ino == old.st.Ino:
		return nil
	case errors.Is(err, unix.ENOENT) && old == nil:
		return nil
	case err != nil && !errors.Is(err, unix.ENOENT):
		return &fs.PathError{Op: "stat", Path: t.path, Err: err}
	}
	return fmt.Errorf("%s: %w", t.path, ErrChanged)
}

// tempPrefix starts the names of a file's temp files: ".NAME.tmp-", then
// 16 hex digits (earlier versions used os.CreateTemp: decimal digits).
func tempPrefix(name string) string { return "." + name + ".tmp-" }

// createTemp creates a new temp file, mode 0600, in the directory.
func (t *target) createTemp() (*os.File, string, error) {
	for {
		var b [8]byte
		rand.Read(b[:])
		name := tempPrefix(t.name) + hex.EncodeToString(b[:])
		fd, err := unix.Openat(t.dirfd(), name, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if errors.Is(err, unix.EEXIST) {
			continue
		}
		path := filepath.Join(t.dirPath, name)
		if err != nil {
			return nil, "", &fs.PathError{Op: "create", Path: path, Err: err}
		}
		return os.NewFile(uintptr(fd), path), name, nil
	}
}

// removeStaleTemps removes the temp files of edits of this file that
// crashed between writing and renaming: each is a whole copy of the file,
// hashes and all, with its mode and group. Under the lock no edit is under
// way (WriteFileAtomic, which takes no lock, may lose its temp file and
// fail), so every file of our naming is stale. Only regular files with one
// link, owned by the editor, named exactly as ours (tempPrefix and then
// 1 to 20 hex digits) are removed: nothing of another user's. Failures are
// ignored: the edit goes on.
func (t *target) removeStaleTemps() {
	// A descriptor of its own (reading moves the offset), of the same
	// directory.
	fd, err := unix.Openat(t.dirfd(), ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return
	}
	d := os.NewFile(uintptr(fd), t.dirPath)
	names, _ := d.Readdirnames(-1)
	d.Close()
	prefix := tempPrefix(t.name)
	for _, name := range names {
		if !isTempName(name, prefix) {
			continue
		}
		var st unix.Stat_t
		if unix.Fstatat(t.dirfd(), name, &st, unix.AT_SYMLINK_NOFOLLOW) != nil {
			continue
		}
		if st.Mode&unix.S_IFMT == unix.S_IFREG && st.Nlink == 1 && int(st.Uid) == os.Geteuid() {
			unix.Unlinkat(t.dirfd(), name, 0)
		}
	}
}

func isTempName(name, prefix string) bool {
	if len(name) <= len(prefix) || len(name) > len(prefix)+20 || name[:len(prefix)] != prefix {
		return false
	}
	for _, c := range []byte(name[len(prefix):]) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// lockMode is the lock file's mode: whoever may edit the file through its
// group may lock it too.
const lockMode fs.FileMode = 0o660

// lockFile takes an exclusive flock on the file's sidecar lock, NAME.lock,
// creating it if needed, and returns it open: closing it releases the lock.
// Locking the file itself would not work, as the rename replaces it. The
// lock file is left in place, mode 0660 and, when the caller may set it, in
// the file's group (shareLock), so that the editors who share the file
// through its group share the lock. A lock path that is a symbolic link is
// refused: whoever may write the directory could point it at another file.
func (t *target) lockFile() (*os.File, error) {
	path := t.path + ".lock"
	fd, err := unix.Openat(t.dirfd(), t.name+".lock", unix.O_RDWR|unix.O_CREAT|unix.O_NOFOLLOW|unix.O_CLOEXEC, uint32(lockMode))
	if errors.Is(err, fs.ErrPermission) {
		return nil, fmt.Errorf("lock: %w (every editor must be able to write the lock file: give it the file's group and mode 0660)", &fs.PathError{Op: "open", Path: path, Err: err})
	} else if errors.Is(err, unix.ELOOP) {
		return nil, fmt.Errorf("lock: %s: is a symbolic link; remove it", path)
	} else if err != nil {
		return nil, fmt.Errorf("lock: %w", &fs.PathError{Op: "open", Path: path, Err: err})
	}
	lock := os.NewFile(uintptr(fd), path)
	if err := flock(lock); err != nil {
		lock.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return lock, nil
}

// shareLock gives a lock file of ours lockMode (the umask narrows the mode
// it is created with, and earlier versions made it 0600) and the file's
// group gid (-1 when there is no file yet). Both are best effort: the lock
// works for us either way. A file with another link is left alone: it may
// be another file of ours, linked there.
func shareLock(lock *os.File, gid int) {
	var st unix.Stat_t
	if unix.Fstat(int(lock.Fd()), &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		return
	}
	if int(st.Uid) != os.Geteuid() || st.Nlink != 1 {
		return
	}
	if fs.FileMode(st.Mode).Perm() != lockMode {
		lock.Chmod(lockMode)
	}
	if gid >= 0 && uint32(gid) != st.Gid {
		lock.Chown(-1, gid)
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
