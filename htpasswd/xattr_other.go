//go:build !linux

package htpasswd

import "os"

// copyXattrs copies nothing: POSIX ACLs in system.posix_acl_access are
// Linux's.
func copyXattrs(src, dst *os.File) error { return nil }
