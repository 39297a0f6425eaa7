//go:build linux

package htpasswd

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// aclXattr encodes a POSIX ACL as Linux stores it in
// system.posix_acl_access: version 2, then (tag, perm, id) entries.
func aclXattr(entries [][3]uint32) []byte {
	b := binary.LittleEndian.AppendUint32(nil, 2)
	for _, e := range entries {
		b = binary.LittleEndian.AppendUint16(b, uint16(e[0]))
		b = binary.LittleEndian.AppendUint16(b, uint16(e[1]))
		b = binary.LittleEndian.AppendUint32(b, e[2])
	}
	return b
}

const noID = 0xffffffff

const (
	aliceLine   = "alice:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n"
	malloryLine = "mallory:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n"
)

// user::rw- user:5002:r-- group::--- mask::r-- other::---: a root-owned
// 0600-like file that one service user may read, the usual way to share
// it without a group. Its mode shows the mask as group bits: 0640.
var serviceACL = aclXattr([][3]uint32{{0x01, 6, noID}, {0x02, 4, 5002}, {0x04, 0, noID}, {0x10, 4, noID}, {0x20, 0, noID}})

func getACL(t *testing.T, path string) ([]byte, error) {
	t.Helper()
	buf := make([]byte, 256)
	n, err := syscall.Getxattr(path, aclAccess, buf)
	if err != nil {
		return nil, err
	}
	return buf[:n], nil
}

// An edit writes a new file. It must keep the old one's POSIX ACL, as
// Apache's htpasswd (which rewrites the file in place) does, and its mode,
// whose group bits are the ACL mask: without the ACL, the service user
// could no longer read the file, and the owning group would get the mask's
// permissions.
func TestUpdateKeepsACL(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "htpasswd")
	must(t, os.WriteFile(path, []byte(aliceLine+malloryLine), 0o600))
	if err := syscall.Setxattr(path, aclAccess, serviceACL, 0); err != nil {
		t.Skipf("no POSIX ACLs here: %v", err)
	}
	fi, _ := os.Stat(path)
	mode := fi.Mode().Perm()
	userAttr := syscall.Setxattr(path, "user.note", []byte("keep me"), 0) == nil
	if err := Update(path, false, func(f *File) error { f.Delete("mallory"); return nil }); err != nil {
		t.Fatal(err)
	}
	acl, err := getACL(t, path)
	if err != nil {
		fi, _ := os.Stat(path)
		t.Fatalf("the edit dropped the ACL (%v): the service user 5002 can no longer read the file, and the owning group now has %v", err, fi.Mode().Perm())
	}
	if !bytes.Equal(acl, serviceACL) {
		t.Errorf("ACL %x, want %x", acl, serviceACL)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != mode {
		t.Errorf("mode %v, want %v", fi.Mode().Perm(), mode)
	}
	if userAttr {
		buf := make([]byte, 64)
		if n, err := syscall.Getxattr(path, "user.note", buf); err != nil || string(buf[:n]) != "keep me" {
			t.Errorf("user.note = %q, %v; want it kept", buf[:max(n, 0)], err)
		}
	}
	if b, _ := os.ReadFile(path); string(b) != aliceLine {
		t.Errorf("content %q", b)
	}
}

// A file without an ACL in a directory with a default ACL: the new file
// would inherit the default, giving users access the old file did not. It
// must have no ACL, as the old one.
func TestUpdateAddsNoACL(t *testing.T) {
	dir := t.TempDir()
	def := aclXattr([][3]uint32{{0x01, 6, noID}, {0x02, 4, 5003}, {0x04, 0, noID}, {0x10, 4, noID}, {0x20, 0, noID}})
	if err := syscall.Setxattr(dir, "system.posix_acl_default", def, 0); err != nil {
		t.Skipf("no POSIX ACLs here: %v", err)
	}
	path := filepath.Join(dir, "htpasswd")
	must(t, os.WriteFile(path, []byte(aliceLine), 0o600))
	syscall.Removexattr(path, aclAccess) // inherited from the default
	must(t, os.Chmod(path, 0o600))
	if err := Update(path, false, setUser("bob", "{SHA}x")); err != nil {
		t.Fatal(err)
	}
	if acl, err := getACL(t, path); err == nil {
		t.Errorf("the new file got an ACL the old one did not have: %x", acl)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
}

// When the ACL cannot be copied, the edit fails, saying so, and leaves
// the file as it was.
func TestUpdateACLCopyFails(t *testing.T) {
	path := filepath.Join(t.TempDir(), "htpasswd")
	must(t, os.WriteFile(path, []byte(aliceLine), 0o600))
	if err := syscall.Setxattr(path, aclAccess, serviceACL, 0); err != nil {
		t.Skipf("no POSIX ACLs here: %v", err)
	}
	real := fsetxattr
	fsetxattr = func(int, string, []byte, int) error { return syscall.EPERM }
	defer func() { fsetxattr = real }()
	err := Update(path, false, setUser("bob", "{SHA}x"))
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "POSIX ACL") || !strings.Contains(err.Error(), "left unchanged") {
		t.Errorf("Update: %v", err)
	}
	if b, _ := os.ReadFile(path); string(b) != aliceLine {
		t.Errorf("file changed: %q", b)
	}
	if acl, err := getACL(t, path); err != nil || !bytes.Equal(acl, serviceACL) {
		t.Errorf("ACL changed: %x, %v", acl, err)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temp file left behind: %s", e.Name())
		}
	}
}
