package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// clockTick is USER_HZ, the unit of /proc/<pid>/stat's times: 100 on
// every Linux architecture Go runs on.
const clockTick = 10 * time.Millisecond

// procStat is what the harness reads of /proc/<pid>/stat.
type procStat struct {
	comm  string
	ppid  int
	ticks uint64 // utime + stime
}

// parseStat reads a /proc/<pid>/stat line. The command name is in
// parentheses and may hold spaces and parentheses itself: the fields start
// after the last ')'.
func parseStat(line string) (procStat, error) {
	open, end := strings.IndexByte(line, '('), strings.LastIndexByte(line, ')')
	if open < 0 || end < open {
		return procStat{}, fmt.Errorf("stat: no command name in %q", line)
	}
	f := strings.Fields(line[end+1:])
	// f[0] is field 3 (state); ppid is field 4, utime 14, stime 15.
	if len(f) < 13 {
		return procStat{}, fmt.Errorf("stat: %d fields after the command name", len(f))
	}
	ppid, err1 := strconv.Atoi(f[1])
	ut, err2 := strconv.ParseUint(f[11], 10, 64)
	st, err3 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return procStat{}, fmt.Errorf("stat: unreadable numbers in %q", line)
	}
	return procStat{comm: line[open+1 : end], ppid: ppid, ticks: ut + st}, nil
}

// CPUSample is the CPU time so far of each process below a root.
type CPUSample map[int]uint64

// SampleCPU reads the CPU time of every process below root (children,
// grandchildren: nginx's workers), leaving out those named in skip (the
// load generator). Processes that end meanwhile are simply missing.
func SampleCPU(root int, skip ...string) CPUSample {
	all := map[int]procStat{}
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		pid, err := strconv.Atoi(filepath.Base(d))
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(d, "stat"))
		if err != nil {
			continue
		}
		if st, err := parseStat(string(b)); err == nil {
			all[pid] = st
		}
	}
	below := func(pid int) bool {
		for i := 0; i < 64 && pid > 1; i++ {
			st, ok := all[pid]
			if !ok {
				return false
			}
			if st.ppid == root {
				return true
			}
			pid = st.ppid
		}
		return false
	}
	s := CPUSample{}
	for pid, st := range all {
		skipped := false
		for _, name := range skip {
			skipped = skipped || st.comm == name
		}
		if !skipped && below(pid) {
			s[pid] = st.ticks
		}
	}
	return s
}

// Since is the CPU time spent between before and s; a process that
// started meanwhile counts from zero.
func (s CPUSample) Since(before CPUSample) time.Duration {
	var t uint64
	for pid, ticks := range s {
		if b := before[pid]; ticks >= b {
			t += ticks - b
		}
	}
	return time.Duration(t) * clockTick
}
