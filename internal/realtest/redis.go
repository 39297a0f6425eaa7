package realtest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// Redis is a running redis-server started by StartRedis: 127.0.0.1 only,
// no persistence, no password.
type Redis struct {
	Port int
	Addr string // 127.0.0.1:Port
	bin  string
	dir  string
	cmd  *exec.Cmd
	t    testing.TB
}

// StartRedis starts redis-server on a free port of 127.0.0.1 in a temp
// dir, without snapshots or an append-only file, and stops it when the
// test ends. Stop, Kill and Start let a test take it away and bring it
// back on the same port, empty (nothing is persisted).
func StartRedis(t testing.TB) *Redis {
	t.Helper()
	bin := Need(t, "redis-server")
	port := FreePort(t)
	r := &Redis{Port: port, Addr: fmt.Sprintf("127.0.0.1:%d", port), bin: bin, dir: t.TempDir(), t: t}
	r.Start()
	t.Cleanup(r.Stop)
	return r
}

// Start starts redis-server (again) and waits until it answers.
func (r *Redis) Start() {
	r.t.Helper()
	logFile := filepath.Join(r.dir, "redis.log")
	r.cmd = exec.Command(r.bin, "--port", strconv.Itoa(r.Port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", r.dir, "--daemonize", "no",
		"--logfile", logFile, "--protected-mode", "yes",
		// DEBUG SLEEP from 127.0.0.1 lets a test make Redis slow.
		"--enable-debug-command", "local")
	if err := r.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !tcpUp(r.Addr) {
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logFile)
			r.t.Fatalf("redis-server did not listen on %s:\n%s", r.Addr, log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop shuts redis-server down (SIGTERM) and waits for it to exit.
func (r *Redis) Stop() { r.stop(syscall.SIGTERM) }

// Kill kills redis-server (SIGKILL), as a crash or a lost node would.
func (r *Redis) Kill() { r.stop(syscall.SIGKILL) }

func (r *Redis) stop(sig syscall.Signal) {
	if r.cmd == nil || r.cmd.Process == nil {
		return
	}
	_ = r.cmd.Process.Signal(sig)
	done := make(chan struct{})
	go func() { _ = r.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = r.cmd.Process.Kill()
		<-done
	}
	r.cmd = nil
}
