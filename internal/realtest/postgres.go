package realtest

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// Postgres is a running PostgreSQL server started by StartPostgres,
// listening on 127.0.0.1 with trust authentication for every local
// connection (superuser "postgres", no password).
type Postgres struct {
	Port int
	dir  string // owned by the server's user
	bin  string // the directory of initdb, postgres, createdb
	cred *syscall.Credential
	cmd  *exec.Cmd
	t    testing.TB
}

// pgBin finds the newest of Debian's /usr/lib/postgresql/*/bin holding
// initdb and postgres. Without it the test fails under CI and is skipped
// elsewhere, as Need does.
func pgBin(t testing.TB) string {
	t.Helper()
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int {
		va, _ := strconv.Atoi(filepath.Base(filepath.Dir(a)))
		vb, _ := strconv.Atoi(filepath.Base(filepath.Dir(b)))
		return vb - va
	})
	for _, d := range dirs {
		if isExec(filepath.Join(d, "initdb")) && isExec(filepath.Join(d, "postgres")) {
			return d
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p)
	}
	if os.Getenv("CI") != "" {
		t.Fatal("PostgreSQL (initdb, postgres) not found: CI must have it (make test installs the postgresql package)")
	}
	t.Skip("PostgreSQL not found; run `make test` as root to install the postgresql package")
	return ""
}

func isExec(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// StartPostgres makes a new cluster with initdb in a temp dir and starts
// postgres on a free port of 127.0.0.1 (no Unix socket outside the temp
// dir, fsync off). PostgreSQL refuses to run as root: as root the cluster
// belongs to, and the server runs as, Debian's "postgres" user. The server
// stops and the dir is removed when the test ends; Stop and Start let a
// test simulate an outage on the same port.
func StartPostgres(t testing.TB) *Postgres {
	t.Helper()
	bin := pgBin(t)
	// Not t.TempDir: its parents are private to root, and the server's
	// user must be able to reach its data directory.
	dir, err := os.MkdirTemp("", "realtest-postgres-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	p := &Postgres{Port: FreePort(t), dir: dir, bin: bin, t: t}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("running as root and there is no postgres user to run PostgreSQL as: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		p.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	initdb := p.command("initdb", "-D", p.data(), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync", "--locale=C")
	if out, err := initdb.CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	p.Start()
	t.Cleanup(p.Stop)
	return p
}

func (p *Postgres) data() string { return filepath.Join(p.dir, "data") }

// command runs one of PostgreSQL's programs as the server's user.
func (p *Postgres) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(p.bin, name), args...)
	cmd.Dir = p.dir
	if p.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: p.cred}
	}
	return cmd
}

// URL is the URL of database db, as a client connects to it.
func (p *Postgres) URL(db string) string {
	return fmt.Sprintf("postgresql://postgres@127.0.0.1:%d/%s", p.Port, db)
}

// CreateDB creates database name.
func (p *Postgres) CreateDB(name string) {
	p.t.Helper()
	cmd := p.command("createdb", "-h", "127.0.0.1", "-p", strconv.Itoa(p.Port), "-U", "postgres", name)
	if out, err := cmd.CombinedOutput(); err != nil {
		p.t.Fatalf("createdb %s: %v\n%s", name, err, out)
	}
}

// Start starts postgres (again) and waits until it accepts connections.
func (p *Postgres) Start() {
	p.t.Helper()
	logFile := filepath.Join(p.dir, "postgres.log")
	p.cmd = p.command("postgres", "-D", p.data(), "-p", strconv.Itoa(p.Port), "-k", p.dir,
		"-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "logging_collector=off")
	// A file, not a buffer: the server writes it while the test may read
	// it, and a file needs no copying goroutine.
	f, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		p.t.Fatal(err)
	}
	defer f.Close()
	p.cmd.Stdout, p.cmd.Stderr = f, f
	if err := p.cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", p.Port)
	deadline := time.Now().Add(20 * time.Second)
	for !tcpUp(addr) || !p.ready() {
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logFile)
			p.t.Fatalf("postgres did not accept connections on %s:\n%s", addr, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ready asks pg_isready: a listening server may still be starting up.
func (p *Postgres) ready() bool {
	return p.command("pg_isready", "-q", "-h", "127.0.0.1", "-p", strconv.Itoa(p.Port)).Run() == nil
}

// Stop stops postgres (fast shutdown) and waits for it to exit.
func (p *Postgres) Stop() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGINT)
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
	}
	p.cmd = nil
}
