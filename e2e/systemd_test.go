package e2e

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/authreq/authreq/internal/realtest"
)

const unitPath = "../examples/systemd/authreq.service"

// unit is a parsed systemd unit: section, key, every assignment in order.
type unit map[string]map[string][]string

func parseUnit(src string) (unit, error) {
	u := unit{}
	section := ""
	sc := bufio.NewScanner(strings.NewReader(src))
	n, cont := 0, ""
	for sc.Scan() {
		n++
		l := strings.TrimSpace(sc.Text())
		if cont == "" && (l == "" || l[0] == '#' || l[0] == ';') {
			continue
		}
		if strings.HasSuffix(l, `\`) {
			cont += strings.TrimSuffix(l, `\`) + " "
			continue
		}
		l, cont = cont+l, ""
		if strings.HasPrefix(l, "[") && strings.HasSuffix(l, "]") {
			section = l[1 : len(l)-1]
			if u[section] == nil {
				u[section] = map[string][]string{}
			}
			continue
		}
		k, v, ok := strings.Cut(l, "=")
		if !ok || section == "" {
			return nil, fmt.Errorf("line %d: want Key=value in a [Section]", n)
		}
		k = strings.TrimSpace(k)
		u[section][k] = append(u[section][k], strings.TrimSpace(v))
	}
	return u, sc.Err()
}

// last is the value in force: the last assignment wins for single values.
func (u unit) last(section, key string) string {
	v := u[section][key]
	if len(v) == 0 {
		return ""
	}
	return v[len(v)-1]
}

func (u unit) has(key string) bool { return u["Service"][key] != nil }

// unitProblems says which hardening the issue asks for the unit lacks.
func unitProblems(u unit) []string {
	var probs []string
	want := func(key, value, why string) {
		if !u.has(key) || u.last("Service", key) != value {
			probs = append(probs, fmt.Sprintf("%s=%s: %s (have %q)", key, value, why, u["Service"][key]))
		}
	}
	if u.last("Service", "DynamicUser") != "yes" {
		if user := u.last("Service", "User"); user == "" || user == "root" || user == "0" {
			probs = append(probs, "User=: a dedicated user, or DynamicUser=yes")
		}
	}
	want("ProtectSystem", "strict", "the whole file system read-only")
	want("ProtectHome", "yes", "no home directories")
	want("PrivateTmp", "yes", "no shared /tmp")
	want("PrivateDevices", "yes", "no devices")
	want("NoNewPrivileges", "yes", "no setuid escalation")
	want("CapabilityBoundingSet", "", "no capabilities at all")
	want("MemoryDenyWriteExecute", "yes", "no W+X memory (Go needs none)")
	want("LockPersonality", "yes", "no personality changes")
	want("Restart", "on-failure", "come back after a crash")
	want("RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX", "TCP and unix sockets only")
	if f := u["Service"]["SystemCallFilter"]; len(f) == 0 || f[0] != "@system-service" {
		probs = append(probs, fmt.Sprintf("SystemCallFilter=@system-service first: an allow list (have %q)", f))
	}
	if r := u.last("Service", "ExecReload"); !regexp.MustCompile(`^(/usr)?/bin/kill -(HUP|s HUP|SIGHUP) \$MAINPID$`).MatchString(r) {
		probs = append(probs, fmt.Sprintf("ExecReload=/bin/kill -HUP $MAINPID: SIGHUP is how authreq reloads (have %q)", r))
	}
	// The config file given to ExecStart must lie under a ReadOnlyPaths entry.
	exec := strings.Fields(u.last("Service", "ExecStart"))
	cfg := ""
	for i, a := range exec {
		if (a == "--config" || a == "-config") && i+1 < len(exec) {
			cfg = exec[i+1]
		}
	}
	ro := strings.Fields(strings.Join(u["Service"]["ReadOnlyPaths"], " "))
	if cfg == "" || !slices.ContainsFunc(ro, func(p string) bool { return cfg == p || strings.HasPrefix(cfg, strings.TrimSuffix(p, "/")+"/") }) {
		probs = append(probs, fmt.Sprintf("ReadOnlyPaths=%v must hold ExecStart's --config %q (and the htpasswd files beside it)", ro, cfg))
	}
	// A hidden /proc/stat drops process_start_time_seconds from /metrics.
	if u.last("Service", "ProcSubset") == "pid" {
		probs = append(probs, "ProcSubset=pid: hides /proc/stat, and with it process_start_time_seconds")
	}
	return probs
}

func readUnit(t *testing.T) (string, unit) {
	t.Helper()
	b, err := os.ReadFile(unitPath)
	if err != nil {
		t.Fatal(err)
	}
	u, err := parseUnit(string(b))
	if err != nil {
		t.Fatalf("%s: %v", unitPath, err)
	}
	return string(b), u
}

func TestSystemdUnit(t *testing.T) {
	src, u := readUnit(t)
	t.Run("shipped", func(t *testing.T) {
		for _, p := range unitProblems(u) {
			t.Error(p)
		}
	})
	// The checker itself must catch each way of getting it wrong.
	for name, edit := range map[string][2]string{
		"root":              {"User=authreq", "User=root"},
		"no-user":           {"User=authreq\n", ""},
		"protect-full":      {"ProtectSystem=strict", "ProtectSystem=full"},
		"new-privileges":    {"NoNewPrivileges=yes", "NoNewPrivileges=no"},
		"capabilities":      {"CapabilityBoundingSet=\n", "CapabilityBoundingSet=CAP_NET_BIND_SERVICE\n"},
		"netlink":           {"AF_INET AF_INET6 AF_UNIX", "AF_INET AF_INET6 AF_UNIX AF_NETLINK"},
		"deny-list-only":    {"SystemCallFilter=@system-service\n", ""},
		"reload-by-restart": {"ExecReload=/bin/kill -HUP $MAINPID", "ExecReload=/bin/kill -TERM $MAINPID"},
		"config-writable":   {"ReadOnlyPaths=/etc/authreq", "ReadOnlyPaths=/usr/share/authreq"},
		"proc-subset":       {"ProtectProc=invisible", "ProtectProc=invisible\nProcSubset=pid"},
		"reset-later":       {"[Install]", "[Service]\nPrivateTmp=no\n[Install]"},
	} {
		t.Run(name, func(t *testing.T) {
			if !strings.Contains(src, edit[0]) {
				t.Fatalf("the unit no longer holds %q", edit[0])
			}
			bad, err := parseUnit(strings.Replace(src, edit[0], edit[1], 1))
			if err != nil {
				t.Fatal(err)
			}
			if len(unitProblems(bad)) == 0 {
				t.Errorf("no problem found with %q", edit[1])
			}
		})
	}
}

// testUnit writes the unit with ExecStart's program replaced by the built
// authreq: systemd-analyze verify fails on a unit whose binary is missing,
// and /usr/local/bin/authreq is not installed on a test machine.
func testUnit(t *testing.T) string {
	t.Helper()
	src, u := readUnit(t)
	prog := strings.Fields(u.last("Service", "ExecStart"))[0]
	out := filepath.Join(t.TempDir(), "authreq.service")
	if err := os.WriteFile(out, []byte(strings.Replace(src, "ExecStart="+prog, "ExecStart="+filepath.Join(bins, "authreq"), 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

func analyze(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, realtest.Need(t, "systemd-analyze"), args...)
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestSystemdAnalyze(t *testing.T) {
	unit := testUnit(t)
	t.Run("verify", func(t *testing.T) {
		if out, err := analyze(t, "verify", unit); err != nil || strings.TrimSpace(out) != "" {
			t.Errorf("systemd-analyze verify: %v\n%s", err, out)
		}
	})
	t.Run("security", func(t *testing.T) {
		// systemd's exposure score, 0 (locked down) to 10; the unit scores
		// 1.4 with systemd 252. 2.0 leaves room for new checks, not for
		// dropping much.
		out, err := analyze(t, "security", "--offline=true", "--threshold=20", "--no-pager", unit)
		m := regexp.MustCompile(`Overall exposure level for \S+: ([0-9.]+)`).FindStringSubmatch(out)
		if err != nil || m == nil {
			t.Fatalf("systemd-analyze security: %v\n%s", err, out)
		}
		t.Logf("exposure %s", m[1])
	})
}

// syscallGroups reads systemd's system call groups (@name → members, which
// may name other groups).
func syscallGroups(t *testing.T) map[string][]string {
	out, err := analyze(t, "syscall-filter", "--no-pager")
	if err != nil {
		t.Fatalf("systemd-analyze syscall-filter: %v\n%s", err, out)
	}
	groups := map[string][]string{}
	cur := ""
	for _, l := range strings.Split(out, "\n") {
		switch {
		case strings.HasPrefix(l, "@"):
			cur = strings.TrimSpace(l)
		case strings.TrimSpace(l) == "":
			cur = ""
		case cur != "" && !strings.HasPrefix(strings.TrimSpace(l), "#"):
			groups[cur] = append(groups[cur], strings.TrimSpace(l))
		}
	}
	return groups
}

func expand(groups map[string][]string, names []string, into map[string]bool) {
	for _, n := range names {
		if strings.HasPrefix(n, "@") {
			expand(groups, groups[n], into)
		} else {
			into[n] = true
		}
	}
}

var (
	traceCall   = regexp.MustCompile(`^\d+\s+(?:<\.\.\. ([a-z0-9_]+) resumed>|([a-z0-9_]+)\()`)
	traceSocket = regexp.MustCompile(`\bsocket\((AF_[A-Z0-9]+)`)
	traceWX     = regexp.MustCompile(`\b(mmap|pkey_mprotect|mprotect)\(.*PROT_[A-Z|]*EXEC`)
)

// TestSystemdSandboxFits runs authreq under strace through start, answers,
// SIGHUP (ExecReload) and SIGTERM (stop), and checks every system call it
// makes passes the unit's SystemCallFilter, every socket it opens is of a
// family RestrictAddressFamilies allows, and no mapping would trip
// MemoryDenyWriteExecute: systemd would kill or cripple it otherwise. No
// systemd runs here as PID 1 to start the unit itself.
func TestSystemdSandboxFits(t *testing.T) {
	strace := realtest.Need(t, "strace")
	_, u := readUnit(t)
	groups := syscallGroups(t)
	allowed := map[string]bool{}
	for i, f := range u["Service"]["SystemCallFilter"] {
		list, deny := strings.CutPrefix(f, "~")
		if i == 0 && deny {
			t.Fatal("SystemCallFilter starts with a deny list; this test checks an allow list")
		}
		set := map[string]bool{}
		expand(groups, strings.Fields(list), set)
		for s := range set {
			allowed[s] = !deny
		}
	}

	dir := t.TempDir()
	file := filepath.Join(dir, "htpasswd")
	addUser(t, file, "alice", "alice-pw")
	addr := fmt.Sprintf("127.0.0.1:%d", realtest.FreePort(t))
	cfg := filepath.Join(dir, "config.yaml")
	os.WriteFile(cfg, []byte("listen: "+addr+"\nhtpasswd:\n  files: ["+file+"]\n"), 0o644)
	trace := filepath.Join(dir, "trace")

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, strace, "-f", "-qq", "-o", trace, filepath.Join(bins, "authreq"), "--config", cfg)
	cmd.WaitDelay = 5 * time.Second
	p := &proc{cmd: cmd}
	cmd.Stdout, cmd.Stderr = p, p
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	realtest.WaitTCP(t, addr, 30*time.Second)

	get := func(path, user, pw string) int {
		req, _ := http.NewRequest("GET", "http://"+addr+path, nil)
		if user != "" {
			req.SetBasicAuth(user, pw)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, c := range []struct {
		path, user, pw string
		want           int
	}{
		{"/healthz", "", "", 200}, {"/readyz", "", "", 200}, {"/metrics", "", "", 200},
		{"/auth", "alice", "alice-pw", 200}, {"/auth", "alice", "wrong", 401},
	} {
		if got := get(c.path, c.user, c.pw); got != c.want {
			t.Errorf("%s as %q: %d, want %d", c.path, c.user, got, c.want)
		}
	}
	// strace runs authreq as its child: find it to signal it, as systemd's
	// $MAINPID would be.
	pid := childOf(t, cmd.Process.Pid)
	syscall.Kill(pid, syscall.SIGHUP)
	realtest.Eventually(t, 10*time.Second, "SIGHUP logged as a reload", func() bool {
		return strings.Contains(p.Output(), "SIGHUP: reloading")
	})
	syscall.Kill(pid, syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("authreq under strace: %v\n%s", err, p.Output())
	}

	b, err := os.ReadFile(trace)
	if err != nil {
		t.Fatal(err)
	}
	calls := map[string]bool{}
	families := map[string]bool{}
	for _, l := range strings.Split(string(b), "\n") {
		if m := traceCall.FindStringSubmatch(l); m != nil {
			calls[m[1]+m[2]] = true
		}
		if m := traceSocket.FindStringSubmatch(l); m != nil {
			families[m[1]] = true
		}
		if m := traceWX.FindStringSubmatch(l); m != nil && (m[1] != "mmap" || strings.Contains(l, "PROT_WRITE")) {
			t.Errorf("MemoryDenyWriteExecute would refuse: %s", l)
		}
	}
	delete(calls, "execve") // strace's own start of authreq
	if len(calls) < 20 {
		t.Fatalf("only %d system calls traced: %v", len(calls), calls)
	}
	for c := range calls {
		if !allowed[c] {
			t.Errorf("system call %s is outside SystemCallFilter=%v", c, u["Service"]["SystemCallFilter"])
		}
	}
	okFamilies := strings.Fields(u.last("Service", "RestrictAddressFamilies"))
	for f := range families {
		if !slices.Contains(okFamilies, f) {
			t.Errorf("socket family %s is outside RestrictAddressFamilies=%v", f, okFamilies)
		}
	}
	t.Logf("%d system calls, socket families %v", len(calls), families)
}

// childOf returns the one child process of pid.
func childOf(t *testing.T, pid int) int {
	t.Helper()
	var kids string
	realtest.Eventually(t, 10*time.Second, "strace's child", func() bool {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
		kids = strings.TrimSpace(string(b))
		return kids != ""
	})
	c, err := strconv.Atoi(strings.Fields(kids)[0])
	if err != nil {
		t.Fatal(err)
	}
	return c
}
