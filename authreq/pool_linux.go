package authreq

import "syscall"

// lowerThreadPriority sets the calling OS thread's nice value (Linux
// schedules threads by their own nice). Raising it needs no privilege;
// failing, the thread keeps its priority: the checks are still bounded
// by the queue.
func lowerThreadPriority(nice int) {
	_ = syscall.Setpriority(syscall.PRIO_PROCESS, syscall.Gettid(), nice)
}
