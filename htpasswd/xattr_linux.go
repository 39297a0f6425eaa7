package htpasswd

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// aclAccess is the extended attribute that holds a file's POSIX ACL.
const aclAccess = "system.posix_acl_access"

// fsetxattr is unix.Fsetxattr; tests replace it to make copying fail.
var fsetxattr = unix.Fsetxattr

// copyXattrs gives dst, the new file, the extended attributes of src, the
// file it replaces, that say who may read it or how the system labels it:
// the POSIX ACL, security.* (SELinux, Smack labels) and user.*. Not
// security.ima and security.evm, which sign the old content, nor
// trusted.*, which belong to the system. dst ends with exactly src's ACL,
// or none: a default ACL of the directory gives a new file an ACL that the
// file it replaces may not have had. An attribute dst already has with the
// same value is left alone, so an editor who may not set a security label
// can still edit when the new file got the right one anyway. Any failure
// is an error: a file that lost its ACL locks out the users it let read it,
// and one that lost its label may lock out the service.
func copyXattrs(src, dst *os.File) error {
	names, err := listXattrs(src)
	if err != nil {
		return fmt.Errorf("reading the file's extended attributes: %w", err)
	}
	hasACL := false
	for _, name := range names {
		if !copiedXattr(name) {
			continue
		}
		val, err := getXattr(src, name)
		if errors.Is(err, unix.ENODATA) {
			continue // removed meanwhile
		}
		if err != nil {
			return fmt.Errorf("reading the file's %s: %w", name, err)
		}
		if name == aclAccess {
			hasACL = true
		}
		if cur, err := getXattr(dst, name); err == nil && bytes.Equal(cur, val) {
			continue
		}
		if err := fsetxattr(int(dst.Fd()), name, val, 0); err != nil {
			what := name
			if name == aclAccess {
				what = "POSIX ACL (" + name + ")"
			}
			return fmt.Errorf("cannot copy the file's %s to the new file: %w", what, err)
		}
	}
	if !hasACL {
		err := unix.Fremovexattr(int(dst.Fd()), aclAccess)
		if err != nil && !errors.Is(err, unix.ENODATA) && !errors.Is(err, unix.EOPNOTSUPP) {
			return fmt.Errorf("cannot remove the ACL the directory's default ACL gave the new file: %w", err)
		}
	}
	return nil
}

func copiedXattr(name string) bool {
	switch {
	case name == aclAccess:
		return true
	case name == "security.ima", name == "security.evm":
		return false
	}
	return strings.HasPrefix(name, "security.") || strings.HasPrefix(name, "user.")
}

// listXattrs lists f's extended attributes; none where the file system
// has none.
func listXattrs(f *os.File) ([]string, error) {
	buf, err := xattrCall(func(b []byte) (int, error) { return unix.Flistxattr(int(f.Fd()), b) })
	if errors.Is(err, unix.EOPNOTSUPP) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var names []string
	for _, n := range bytes.Split(buf, []byte{0}) {
		if len(n) > 0 {
			names = append(names, string(n))
		}
	}
	return names, nil
}

func getXattr(f *os.File, name string) ([]byte, error) {
	return xattrCall(func(b []byte) (int, error) { return unix.Fgetxattr(int(f.Fd()), name, b) })
}

// xattrCall calls a list or get call with a buffer large enough: it asks
// for the size first and retries when the value grew meanwhile.
func xattrCall(call func([]byte) (int, error)) ([]byte, error) {
	for range 5 {
		n, err := call(nil)
		if err != nil {
			return nil, err
		}
		if n == 0 {
			return nil, nil
		}
		buf := make([]byte, n)
		n, err = call(buf)
		if errors.Is(err, unix.ERANGE) {
			continue
		}
		if err != nil {
			return nil, err
		}
		return buf[:n], nil
	}
	return nil, unix.ERANGE
}
