//go:build !linux

package authreq

// lowerThreadPriority does nothing where threads have no nice value of
// their own.
func lowerThreadPriority(int) {}
