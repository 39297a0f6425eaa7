package bench

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/authreq/authreq/internal/realtest"
)

func TestParseResult(t *testing.T) {
	for _, tt := range []struct {
		name, out string
		want      Result
		err       string
	}{
		{"ok", "Running 5s test @ http://127.0.0.1:1/\nWRKRESULT requests=1000 duration_us=5000000 p50_us=1500 p99_us=9000 status=3 connect=1 read=2 write=0 timeout=4\n",
			Result{Requests: 1000, Duration: 5 * time.Second, P50: 1500 * time.Microsecond, P99: 9 * time.Millisecond, Non2xx: 3, SockErrs: 7}, ""},
		{"missing", "Running 5s test\n", Result{}, "no WRKRESULT"},
		{"field missing", "WRKRESULT requests=1\n", Result{}, "no duration_us"},
		{"bad field", "WRKRESULT requests=x\n", Result{}, "bad field"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseResult(tt.out)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
			}
			if rps := got.RPS(); rps != 200 {
				t.Errorf("RPS %v", rps)
			}
		})
	}
}

func TestParseStat(t *testing.T) {
	for _, tt := range []struct {
		name, line string
		want       procStat
	}{
		{"plain", "1234 (nginx) S 1200 1234 1234 0 -1 4194624 100 0 0 0 17 4 0 0 20 0 1 0 100 0 0", procStat{"nginx", 1200, 21}},
		{"spaces and parentheses in the name", "77 (a (b) c) R 1 77 77 0 -1 0 0 0 0 0 5 6 0 0 20 0 1 0", procStat{"a (b) c", 1, 11}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStat(tt.line)
			if err != nil || got != tt.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
	if _, err := parseStat("1 (x) S 1"); err == nil {
		t.Error("short line: no error")
	}
}

// SampleCPU sees a busy child, and not the process itself.
func TestSampleCPU(t *testing.T) {
	cmd := exec.Command("sh", "-c", "i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done")
	before := SampleCPU(os.Getpid())
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var during CPUSample
	realtest.Eventually(t, 20*time.Second, "child's CPU time", func() bool {
		during = SampleCPU(os.Getpid())
		return during[cmd.Process.Pid] > 0
	})
	cmd.Wait()
	if during.Since(before) <= 0 {
		t.Errorf("no CPU time: %v", during)
	}
	if _, ok := during[os.Getpid()]; ok {
		t.Error("the sampling process counts itself")
	}
}

func TestWriteTable(t *testing.T) {
	var b strings.Builder
	WriteTable(&b, "title", []Row{
		{Name: "a", RPS: 12345.6, P50: 1500 * time.Microsecond, P99: 120 * time.Millisecond, CPU: 80 * time.Millisecond, Ratio: 1, Note: "n"},
		{Name: "long name", P50: 2 * time.Second},
	})
	want := `title

| scenario  | req/s |     p50 |    p99 | CPU ms / 1k req | × always-200 | notes |
| --------- | ----: | ------: | -----: | --------------: | -----------: | ----- |
| a         | 12346 | 1.50 ms | 120 ms |              80 |         1.00 | n     |
| long name |     – |  2.00 s |      – |               – |            – |       |
`
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

// The bench's nginx config, with the shipped snippets, passes nginx -t:
// `make test` keeps `make bench` from rotting without running it.
func TestNginxConfig(t *testing.T) {
	bin := realtest.Need(t, "nginx")
	dir := t.TempDir()
	ports := map[string]int{}
	for i, s := range Servers {
		ports[s] = 20000 + i
	}
	snippets, err := filepath.Abs("../../nginx")
	if err != nil {
		t.Fatal(err)
	}
	s := NginxSetup{Prefix: dir, Snippets: snippets, Ports: ports, App: "127.0.0.1:1", Always200: "127.0.0.1:2",
		Authreq: "127.0.0.1:3", LDAP: "127.0.0.1:4", Cold: "127.0.0.1:5", ColdRedis: "127.0.0.1:6",
		APR1File: filepath.Join(dir, "apr1"), BcryptFile: filepath.Join(dir, "bcrypt"), Root: os.Geteuid() == 0}
	conf, err := s.WriteConfig()
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "-t", "-p", dir, "-c", conf).CombinedOutput(); err != nil {
		b, _ := os.ReadFile(conf)
		t.Fatalf("nginx -t: %v\n%s\n%s", err, out, b)
	}
}

// The Lua scripts are what wrk will run; wrk itself is no test
// dependency, so this checks their shape only.
func TestScript(t *testing.T) {
	for _, tt := range []struct {
		name string
		l    Load
		has  []string
	}{
		{"fixed", Load{Auth: "Basic YTpi"}, []string{`wrk.headers["Authorization"] = "Basic YTpi"`, "function done"}},
		{"rotate", Load{Threads: 2, Rotate: []string{"Basic x", "Basic y"}}, []string{"local nthreads = 2", `"Basic y",`, "function request"}},
		{"flood", Load{Flood: true}, []string{"X-Forwarded-For", "b64(user", "function request"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.l.Script()
			for _, h := range tt.has {
				if !strings.Contains(s, h) {
					t.Errorf("script lacks %q:\n%s", h, s)
				}
			}
		})
	}
}
