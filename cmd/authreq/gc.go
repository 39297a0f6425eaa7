package main

import "runtime/debug"

// gcPercent is authreq's GOGC when the environment sets none. authreq's
// live heap is a few megabytes, so at Go's default of 100 it collects
// many times a second under load (16 a second at 13,000 cached checks a
// second), and each collection stops the world until the password-check
// workers, which run at low priority, are scheduled again: that wait is
// most of a cached user's p99 during a flood of cold checks. At 400 the
// heap may grow to five times what is live between collections (a few
// megabytes more; GOMEMLIMIT, which the Kubernetes example sets, still
// bounds it), and collections come a quarter as often.
const gcPercent = 400

// tuneGC sets gcPercent unless GOGC is set (the runtime has read it).
func tuneGC(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
}
