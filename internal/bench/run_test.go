package bench

import (
	"bufio"
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/authreq/authreq/authreq/tokens"
	"github.com/authreq/authreq/htpasswd"
	"github.com/authreq/authreq/internal/realtest"
)

const (
	benchEnv = "AUTHREQ_BENCH"
	// stubEnv makes the test binary a stub server instead: "app ADDR"
	// (the protected application) or "always200 ADDR" (an auth backend
	// that says yes to everything).
	stubEnv = "AUTHREQ_BENCH_STUB"
	// bcryptCost is the cost of every bcrypt hash in the bench: what
	// htpw writes by default.
	bcryptCost = 10
)

func TestMain(m *testing.M) {
	if v := os.Getenv(stubEnv); v != "" {
		role, addr, _ := strings.Cut(v, " ")
		serveStub(role, addr)
	}
	os.Exit(m.Run())
}

// serveStub serves the stand-ins, as a Go net/http server like authreq:
// the always-200 backend is then what an auth_request backend costs with
// no work of its own, and authreq's ratio to it is authreq's own work.
func serveStub(role, addr string) {
	var h http.HandlerFunc
	switch role {
	case "app":
		h = func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			w.Write([]byte("ok\n"))
		}
	case "always200":
		h = func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-User", "bench")
			w.Header().Set("X-Auth-Request-User", "bench")
			w.Header().Set("Cache-Control", "no-store")
			w.WriteHeader(http.StatusOK)
		}
	default:
		fmt.Fprintf(os.Stderr, "bench stub: unknown role %q\n", role)
		os.Exit(2)
	}
	srv := &http.Server{Addr: addr, Handler: h, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 2 * time.Minute}
	fmt.Fprintln(os.Stderr, "bench stub:", srv.ListenAndServe())
	os.Exit(1)
}

// settings are the run's knobs, from the environment.
type settings struct {
	duration, warmup   time.Duration
	threads, conns     int
	floodConns, probes int
	rounds             int      // interleaved rounds of the ratios to nginx without auth
	only               []string // row keys; empty: all
}

func readSettings(t *testing.T) settings {
	s := settings{duration: 5 * time.Second, warmup: time.Second, threads: 2, conns: 32, floodConns: 64, probes: 5, rounds: 4}
	durs := map[string]*time.Duration{"BENCH_DURATION": &s.duration, "BENCH_WARMUP": &s.warmup}
	for k, p := range durs {
		if v := os.Getenv(k); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 {
				t.Fatalf("%s=%q: want a duration such as 5s", k, v)
			}
			*p = d
		}
	}
	ints := map[string]*int{"BENCH_THREADS": &s.threads, "BENCH_CONNS": &s.conns, "BENCH_FLOOD_CONNS": &s.floodConns}
	for k, p := range ints {
		if v := os.Getenv(k); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				t.Fatalf("%s=%q: want a positive number", k, v)
			}
			*p = n
		}
	}
	if s.duration < time.Second || s.conns < s.threads {
		t.Fatalf("BENCH_DURATION of at least 1s and BENCH_CONNS of at least BENCH_THREADS, please")
	}
	if v := os.Getenv("BENCH_ROUNDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			t.Fatalf("BENCH_ROUNDS=%q: want a number, 0 for none", v)
		}
		s.rounds = n
	}
	if v := os.Getenv("BENCH_ONLY"); v != "" {
		s.only = strings.Split(v, ",")
	}
	return s
}

// roundLen is one interleaved round's measurement of one row.
const roundLen = 2 * time.Second

// median of a non-empty list.
func median(xs []float64) float64 {
	xs = slices.Clone(xs)
	slices.Sort(xs)
	if len(xs)%2 == 1 {
		return xs[len(xs)/2]
	}
	return (xs[len(xs)/2-1] + xs[len(xs)/2]) / 2
}

func progress(format string, a ...any) { fmt.Fprintf(os.Stderr, "bench: "+format+"\n", a...) }

func basic(user, pw string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pw))
}

// TestBenchTable is `make bench`: one run, one table.
func TestBenchTable(t *testing.T) {
	if os.Getenv(benchEnv) == "" {
		t.Skip("set " + benchEnv + "=1 to run the bench (make bench)")
	}
	set := readSettings(t)
	nginxBin := realtest.Need(t, "nginx")
	wrkBin := realtest.Need(t, "wrk")
	htpasswdBin := realtest.Need(t, "htpasswd")
	root := moduleRoot(t)
	dir := t.TempDir()
	start := time.Now()

	authreqBin := os.Getenv("AUTHREQ_BENCH_BIN")
	if authreqBin == "" {
		progress("building authreq")
		authreqBin = filepath.Join(dir, "authreq")
		cmd := exec.Command("go", "build", "-trimpath", "-o", authreqBin, "./cmd/authreq")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build: %v\n%s", err, out)
		}
	}

	progress("hashing passwords (bcrypt cost %d)", bcryptCost)
	known := make([]string, set.probes)
	for i := range known {
		known[i] = fmt.Sprintf("known%d", i+1)
	}
	coldUsers := make([]string, 2*set.conns) // twice the requests in flight: no two alike
	for i := range coldUsers {
		coldUsers[i] = fmt.Sprintf("cold%d", i+1)
	}
	var jobs []string // passwords to hash
	jobs = append(jobs, "alice-pw")
	for _, u := range known {
		jobs = append(jobs, u+"-old", u+"-new")
	}
	for _, u := range coldUsers {
		jobs = append(jobs, u+"-pw")
	}
	hashes := hashAll(t, jobs)
	// The audit logs apart from the files authreq watches, as they would
	// be installed (/var/log against /etc): authreq watches its files'
	// directories, and every line written there would wake the watcher.
	logDir := filepath.Join(dir, "log")
	if err := os.Mkdir(logDir, 0o700); err != nil {
		t.Fatal(err)
	}
	fileA := filepath.Join(dir, "htpasswd")
	writeUsers(t, fileA, map[string]string{"alice": hashes["alice-pw"]})
	for _, u := range known {
		writeUsers(t, fileA, map[string]string{u: hashes[u+"-old"]})
	}
	fileC := filepath.Join(dir, "htpasswd-cold")
	var rotate []string
	for _, u := range coldUsers {
		writeUsers(t, fileC, map[string]string{u: hashes[u+"-pw"]})
		rotate = append(rotate, basic(u, u+"-pw"))
	}
	apr1File, bcryptFile := filepath.Join(dir, "apr1"), filepath.Join(dir, "bcrypt")
	for _, c := range [][]string{{"-c", "-b", "-m", apr1File, "alice", "alice-pw"}, {"-c", "-b", "-B", "-C", strconv.Itoa(bcryptCost), bcryptFile, "alice", "alice-pw"}} {
		if out, err := exec.Command(htpasswdBin, c...).CombinedOutput(); err != nil {
			t.Fatalf("htpasswd %v: %v\n%s", c, err, out)
		}
	}
	tok, tk, err := tokens.New("alice", "READ", "bench", time.Now(), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	tokFile := filepath.Join(dir, "tokens")
	if err := os.WriteFile(tokFile, []byte(tk.Format()+"\n"), 0o640); err != nil {
		t.Fatal(err)
	}

	progress("starting slapd, redis, authreq ×4, stubs, nginx")
	const base = "dc=mlflow,dc=test"
	d := realtest.StartSlapd(t, base, filepath.Join(root, "authreq/ldapauth/testdata/mlflow.ldif"))
	rd := realtest.StartRedis(t)
	keyFile := filepath.Join(dir, "throttle-key")
	if err := os.WriteFile(keyFile, []byte(strings.Repeat("bench-throttle-key-", 4)), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := func() string { return fmt.Sprintf("127.0.0.1:%d", realtest.FreePort(t)) }
	appAddr, yesAddr, aAddr, lAddr, cAddr, crAddr := addr(), addr(), addr(), addr(), addr(), addr()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	startProc(t, dir, "app", appAddr, self, []string{stubEnv + "=app " + appAddr})
	startProc(t, dir, "always200", yesAddr, self, []string{stubEnv + "=always200 " + yesAddr})
	configs := map[string]string{
		aAddr:  fmt.Sprintf("htpasswd: {files: [%s]}\ntokens: {files: [%s]}\n", fileA, tokFile),
		lAddr:  d.MLflowLDAPConfig(),
		cAddr:  fmt.Sprintf("htpasswd: {files: [%s]}\ncache: {ttl: 0}\n", fileC),
		crAddr: fmt.Sprintf("htpasswd: {files: [%s]}\ncache: {ttl: 0}\nrateLimit: {store: {redis: {address: %q, hmacKeyFile: %s}}}\n", fileC, rd.Addr, keyFile),
	}
	for name, a := range map[string]string{"authreq": aAddr, "authreq-ldap": lAddr, "authreq-cold": cAddr, "authreq-cold-redis": crAddr} {
		conf := filepath.Join(dir, name+".yml")
		body := fmt.Sprintf("listen: %s\naudit: {output: %s}\n%s", a, filepath.Join(logDir, name+"-audit.log"), configs[a])
		if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		startProc(t, dir, name, a, authreqBin, nil, "--config", conf, "--log-format", "text")
	}
	ports := map[string]int{}
	for _, s := range Servers {
		ports[s] = realtest.FreePort(t)
	}
	// The micro-cache on a tmpfs, as the README says to run it.
	cacheDir := ""
	if shm, err := os.MkdirTemp("/dev/shm", "authreq-bench-cache-"); err == nil {
		cacheDir = shm
		t.Cleanup(func() { os.RemoveAll(shm) })
	}
	ng := NginxSetup{Prefix: filepath.Join(dir, "nginx"), Snippets: filepath.Join(root, "nginx"), Ports: ports, CacheDir: cacheDir,
		App: appAddr, Always200: yesAddr, Authreq: aAddr, LDAP: lAddr, Cold: cAddr, ColdRedis: crAddr,
		APR1File: apr1File, BcryptFile: bcryptFile, Root: os.Geteuid() == 0}
	conf, err := ng.WriteConfig()
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(nginxBin, "-t", "-p", ng.Prefix, "-c", conf).CombinedOutput(); err != nil {
		t.Fatalf("nginx -t: %v\n%s", err, out)
	}
	startProc(t, dir, "nginx", fmt.Sprintf("127.0.0.1:%d", ports[Flood]), nginxBin, nil, "-p", ng.Prefix, "-c", conf)
	url := func(server string) string { return fmt.Sprintf("http://127.0.0.1:%d/", ports[server]) }

	type row struct {
		key, name, server string
		auth              string
		rotate            []string
	}
	rows := []row{
		{"noauth", "nginx, no auth", NoAuth, "", nil},
		{"always200", "auth_request → always-200 backend (Go net/http)", Always200, basic("alice", "alice-pw"), nil},
		{"floor", "auth_request → nginx `return 200` (no backend)", Floor, basic("alice", "alice-pw"), nil},
		{"bcrypt", "authreq, htpasswd bcrypt user, cached", Authreq, basic("alice", "alice-pw"), nil},
		{"ldap", "authreq, LDAP user, cached", LDAP, basic("alice", "alice-pass"), nil},
		{"token", "authreq, API token (Bearer)", Authreq, "Bearer " + tok, nil},
		{"microcache", "authreq + nginx micro-cache", Cached, basic("alice", "alice-pw"), nil},
		{"cold", fmt.Sprintf("authreq, bcrypt cold (cache off, %d users)", len(coldUsers)), Cold, "", rotate},
		{"cold-redis", "the same, throttle state shared on Redis", ColdRedis, "", rotate},
		{"apr1", "nginx auth_basic, apr1", BasicAPR1, basic("alice", "alice-pw"), nil},
		{"basic-bcrypt", "nginx auth_basic, bcrypt", BasicBcrypt, basic("alice", "alice-pw"), nil},
	}
	for _, r := range rows {
		a := r.auth
		if r.rotate != nil {
			a = r.rotate[0]
		}
		if code := status(t, url(r.server), a, ""); code != 200 {
			t.Fatalf("%s: a first request answers %d, not 200", r.name, code)
		}
	}
	want := func(key string) bool { return len(set.only) == 0 || slices.Contains(set.only, key) }
	ctx := context.Background()
	me := os.Getpid()
	measure := func(l Load) (Result, time.Duration, error) {
		if set.warmup > 0 {
			w := l
			w.Duration = set.warmup
			if _, err := w.Run(ctx, wrkBin, dir); err != nil {
				return Result{}, 0, err
			}
		}
		l.Duration = set.duration
		before := SampleCPU(me, "wrk")
		r, err := l.Run(ctx, wrkBin, dir)
		return r, SampleCPU(me, "wrk").Since(before), err
	}
	perK := func(cpu time.Duration, n int) time.Duration {
		if n == 0 {
			return 0
		}
		return cpu * 1000 / time.Duration(n)
	}
	var out []Row
	results := map[string]Result{}
	loadOf := func(r row) Load {
		return Load{URL: url(r.server), Threads: set.threads, Conns: set.conns, Auth: r.auth, Rotate: r.rotate}
	}
	for _, r := range rows {
		if !want(r.key) {
			continue
		}
		progress("%s", r.name)
		res, cpu, err := measure(loadOf(r))
		if err != nil {
			t.Errorf("%s: %v", r.name, err)
			out = append(out, Row{Name: r.name, Note: "failed: see the log"})
			continue
		}
		results[r.key] = res
		out = append(out, Row{Name: r.name, RPS: res.RPS(), P50: res.P50, P99: res.P99, CPU: perK(cpu, res.Requests), Note: errorsNote(res)})
	}

	// Redis's cost on a cold check, side by side with the same check in
	// process: the one round trip it adds per check.
	if c, ok := results["cold"]; ok {
		if r, ok := results["cold-redis"]; ok && c.RPS() > 0 {
			for i := range out {
				if out[i].Name == "the same, throttle state shared on Redis" {
					note := fmt.Sprintf("%.2f× the in-process row's req/s, p50 %+.2f ms", r.RPS()/c.RPS(), float64(r.P50-c.P50)/float64(time.Millisecond))
					if out[i].Note != "" {
						note += "; " + out[i].Note
					}
					out[i].Note = note
				}
			}
		}
	}

	// The ratios to nginx without auth (the micro-cache's target, and the
	// floor that no auth_request goes below). Rows measured seconds apart
	// differ by what the machine's neighbours did meanwhile, so these
	// ratios are measured again in short interleaved rounds, and their
	// median kept; before the flood, whose queued checks outlast it.
	interleaved := map[string]float64{}
	if set.rounds > 0 && want("noauth") {
		keys := []string{"noauth"}
		for _, k := range []string{"microcache", "floor"} {
			if want(k) {
				keys = append(keys, k)
			}
		}
		if len(keys) > 1 {
			progress("%d interleaved rounds of %s", set.rounds, strings.Join(keys, ", "))
			rps := map[string][]float64{}
			for range set.rounds {
				for _, k := range keys {
					l := loadOf(rows[slices.IndexFunc(rows, func(r row) bool { return r.key == k })])
					l.Duration = roundLen
					res, err := l.Run(ctx, wrkBin, dir)
					if err != nil {
						t.Errorf("interleaved %s: %v", k, err)
					}
					rps[k] = append(rps[k], res.RPS())
				}
			}
			for _, k := range keys[1:] {
				var ratios []float64
				for i, n := range rps["noauth"] {
					if n > 0 {
						ratios = append(ratios, rps[k][i]/n)
					}
				}
				if len(ratios) > 0 {
					interleaved[k] = median(ratios)
				}
			}
		}
	}
	if want("flood") {
		progress("flood")
		// The cached user of flood (b) is the bcrypt row's, alone and
		// during the flood.
		i := slices.IndexFunc(rows, func(r row) bool { return r.key == "bcrypt" })
		cached := loadOf(rows[i])
		alone, ok := results["bcrypt"]
		if !ok {
			res, _, err := measure(cached)
			if err != nil {
				t.Fatalf("flood baseline: %v", err)
			}
			alone = res
		}
		out = append(out, runFlood(t, set, floodSetup{
			wrkBin: wrkBin, dir: dir, fileA: fileA, metrics: "http://" + aAddr + "/metrics", audit: filepath.Join(logDir, "authreq-audit.log"),
			floodURL: url(Flood), cachedLoad: cached, alone: alone, known: known, hashes: hashes,
		})...)
	}

	// Ratios against the always-200 backend.
	if y, ok := results["always200"]; ok && y.RPS() > 0 {
		for i := range out {
			out[i].Ratio = out[i].RPS / y.RPS()
		}
	}
	// Against nginx without auth: the micro-cache's target, and the floor
	// that no auth_request goes below (interleaved: see above).
	if n, ok := results["noauth"]; ok && n.RPS() > 0 {
		for _, c := range []struct{ key, name, what string }{
			{"microcache", "authreq + nginx micro-cache", " (target ≥ 0.95)"},
			{"floor", "auth_request → nginx `return 200` (no backend)", ": the floor of any auth_request"},
		} {
			m, ok := results[c.key]
			if !ok {
				continue
			}
			note := fmt.Sprintf("%.2f× no auth%s", m.RPS()/n.RPS(), c.what)
			if r, ok := interleaved[c.key]; ok {
				note = fmt.Sprintf("%.2f× no auth in this row, %.2f× interleaved (median of %d rounds of %s)%s",
					m.RPS()/n.RPS(), r, set.rounds, roundLen, c.what)
			}
			for i := range out {
				if out[i].Name == c.name {
					out[i].Note = joinNotes(note, out[i].Note)
				}
			}
		}
	}
	title := fmt.Sprintf("authreq bench, %s; %s; nginx %s, wrk %s, %s; each row %s after %s warm-up, wrk %d threads × %d connections, all on 127.0.0.1; run took %s",
		time.Now().UTC().Format("2006-01-02 15:04 UTC"), machine(), version(nginxBin, "nginx"), version(wrkBin, "wrk"), runtime.Version(),
		set.duration, set.warmup, set.threads, set.conns, time.Since(start).Round(time.Second))
	fmt.Println()
	WriteTable(os.Stdout, title, out)
	fmt.Println("\nCPU: user+system time of every server-side process (nginx master and workers, authreq ×3, slapd, the stubs) per 1,000 requests answered.")
}

type floodSetup struct {
	wrkBin, dir, fileA, metrics, floodURL string
	audit                                 string // authreq's audit log
	cachedLoad                            Load
	alone                                 Result
	known                                 []string
	hashes                                map[string]string
}

// runFlood measures, at once: (a) a password-spraying flood, every
// request a new user name, a wrong password and a new client address; (b)
// the cached user of the "bcrypt" row; (c) users logging in cold (their
// password just changed) from the address they logged in from before.
func runFlood(t *testing.T, set settings, f floodSetup) []Row {
	xff := func(i int) string { return fmt.Sprintf("10.77.0.%d", i+1) }
	for i, u := range f.known {
		if code := status(t, f.floodURL, basic(u, u+"-old"), xff(i)); code != 200 {
			t.Fatalf("flood: %s's first login answers %d", u, code)
		}
	}
	m0 := scrape(t, f.metrics)
	err := htpasswd.Update(f.fileA, false, func(hf *htpasswd.File) error {
		for _, u := range f.known {
			if _, err := hf.Set(u, f.hashes[u+"-new"]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	realtest.Eventually(t, 10*time.Second, "authreq reloads the changed passwords", func() bool {
		return scrape(t, f.metrics).sum("authreq_reloads_total", `result="success"`) > m0.sum("authreq_reloads_total", `result="success"`)
	})

	ctx := context.Background()
	m0 = scrape(t, f.metrics)
	cpu0 := SampleCPU(os.Getpid(), "wrk")
	flood := Load{URL: f.floodURL, Threads: 1, Conns: set.floodConns, Duration: set.duration + 4*time.Second, Flood: true}
	var floodRes Result
	var floodErr error
	floodDone := make(chan struct{})
	go func() { floodRes, floodErr = flood.Run(ctx, f.wrkBin, f.dir); close(floodDone) }()

	var peakG, peakRSS float64
	var sampler sync.WaitGroup
	sampler.Add(1)
	go func() {
		defer sampler.Done()
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-floodDone:
				return
			case <-tick.C:
				if m, err := scrapeErr(f.metrics); err == nil {
					peakG = max(peakG, m.sum("go_goroutines"))
					peakRSS = max(peakRSS, m.sum("process_resident_memory_bytes"))
				}
			}
		}
	}()

	time.Sleep(2 * time.Second) // the flood fills authreq's queue first
	probes := make([]time.Duration, len(f.known))
	codes := make([]int, len(f.known))
	var pw sync.WaitGroup
	pw.Add(1)
	go func() {
		defer pw.Done()
		for i, u := range f.known {
			time.Sleep(set.duration / time.Duration(len(f.known)+1))
			t0 := time.Now()
			codes[i] = status(t, f.floodURL, basic(u, u+"-new"), xff(i))
			probes[i] = time.Since(t0)
		}
	}()
	cl := f.cachedLoad
	cl.Duration = set.duration
	cachedRes, cachedErr := cl.Run(ctx, f.wrkBin, f.dir)
	pw.Wait()
	<-floodDone
	sampler.Wait()
	cpu := SampleCPU(os.Getpid(), "wrk").Since(cpu0)
	m1 := scrape(t, f.metrics)
	if floodErr != nil || cachedErr != nil {
		t.Errorf("flood: %v; cached users: %v", floodErr, cachedErr)
		return []Row{{Name: "flood", Note: "failed: see the log"}}
	}
	delta := func(labels ...string) int {
		return int(m1.sum("authreq_decisions_total", labels...) - m0.sum("authreq_decisions_total", labels...))
	}
	// Nearly all of the CPU goes to the flood's hash checks: per 1,000 of
	// its answers, it is what the flood costs.
	var floodCPU time.Duration
	if floodRes.Requests > 0 {
		floodCPU = cpu * 1000 / time.Duration(floodRes.Requests)
	}
	busy := float64(cpu) / float64(floodRes.Duration) * 100
	checkFloodAudit(t, f.audit)
	ok := 0
	for _, c := range codes {
		if c == 200 {
			ok++
		}
	}
	sorted := slices.Clone(probes)
	slices.Sort(sorted)
	rows := []Row{
		{Name: "flood (a): cold checks, each a new user, wrong password, new address", RPS: floodRes.RPS(), P50: floodRes.P50, P99: floodRes.P99, CPU: floodCPU,
			Note: fmt.Sprintf("%d connections; authreq answered %d deny (401), %d throttled (401), %d error (503 → nginx 500); peak %.0f goroutines, %.0f MB RSS; server CPU %.0f%% of one core, all of it counted here",
				set.floodConns, delta(`result="deny"`), delta(`result="throttled"`), delta(`result="error"`), peakG, peakRSS/1e6, busy)},
		{Name: "flood (b): the cached bcrypt user meanwhile", RPS: cachedRes.RPS(), P50: cachedRes.P50, P99: cachedRes.P99,
			Note: joinNotes(fmt.Sprintf("%.2f× alone (target ≥ 0.5), p99 target < 10 ms", cachedRes.RPS()/max(1, f.alone.RPS())), errorsNote(cachedRes))},
		{Name: "flood (c): known user, known address, cold login", P50: sorted[len(sorted)/2], P99: sorted[len(sorted)-1],
			Note: fmt.Sprintf("%d logins, %d answered 200; p99 column: the slowest (target: well under 1 s)", len(codes), ok)},
	}
	return rows
}

// checkFloodAudit makes sure the flood was what it claims: authreq read
// its credentials (a wrong password, not malformed ones) and its client
// addresses (not nginx's own).
func checkFloodAudit(t *testing.T, path string) {
	f, err := os.Open(path)
	if err != nil {
		t.Error(err)
		return
	}
	defer f.Close()
	var flood, wrong, loopback int
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := sc.Text()
		if !strings.Contains(l, `"user":"flood-`) {
			continue
		}
		flood++
		if strings.Contains(l, `"reason":"bad credentials"`) {
			wrong++
		}
		if strings.Contains(l, `"client_ip":"127.`) {
			loopback++
		}
	}
	if flood == 0 || wrong < flood/2 || loopback > 0 {
		t.Errorf("flood: %d audit lines, %d for wrong passwords, %d from loopback: not the flood intended", flood, wrong, loopback)
	}
}

func errorsNote(r Result) string {
	var n []string
	if r.Non2xx > 0 {
		n = append(n, fmt.Sprintf("%d answers not 2xx!", r.Non2xx))
	}
	if r.SockErrs > 0 {
		n = append(n, fmt.Sprintf("%d socket errors or timeouts!", r.SockErrs))
	}
	return strings.Join(n, "; ")
}

func joinNotes(a, b string) string {
	if a == "" || b == "" {
		return a + b
	}
	return a + "; " + b
}

// status sends one GET and returns the answer's status code (0: no
// answer).
func status(t *testing.T, url, auth, xff string) int {
	req, _ := http.NewRequest("GET", url, nil)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if xff != "" {
		req.Header.Set("X-Forwarded-For", xff)
	}
	c := &http.Client{Timeout: 30 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		t.Logf("GET %s: %v", url, err)
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// metrics are Prometheus samples by series ("name{labels}").
type metrics map[string]float64

func scrapeErr(url string) (metrics, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	m := metrics{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if v, err := strconv.ParseFloat(line[i+1:], 64); i > 0 && err == nil {
			m[line[:i]] = v
		}
	}
	return m, sc.Err()
}

func scrape(t *testing.T, url string) metrics {
	m, err := scrapeErr(url)
	if err != nil {
		t.Fatalf("metrics: %v", err)
	}
	return m
}

// sum adds the series of metric name whose labels contain every one given.
func (m metrics) sum(name string, labels ...string) float64 {
	var s float64
	for series, v := range m {
		n, l, _ := strings.Cut(series, "{")
		if n != name {
			continue
		}
		all := true
		for _, want := range labels {
			all = all && strings.Contains(l, want)
		}
		if all {
			s += v
		}
	}
	return s
}

// hashAll hashes the passwords with bcrypt, two at a time per CPU.
func hashAll(t *testing.T, pws []string) map[string]string {
	out := make(map[string]string, len(pws))
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 2*runtime.NumCPU())
	for _, pw := range pws {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			h, err := htpasswd.Generate(htpasswd.Bcrypt, []byte(pw), bcryptCost)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			out[pw] = h
			mu.Unlock()
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	return out
}

func writeUsers(t *testing.T, file string, users map[string]string) {
	err := htpasswd.Update(file, true, func(f *htpasswd.File) error {
		for u, h := range users {
			if _, err := f.Set(u, h); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// startProc starts a server with its output in dir/name.log, waits until
// it listens on addr, and stops it when the test ends.
func startProc(t *testing.T, dir, name, addr, bin string, env []string, args ...string) {
	t.Helper()
	logPath := filepath.Join(dir, name+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// None of the caller's AUTHREQ_* settings: each server is configured
	// here and only here.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AUTHREQ_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("%s output:\n%s", name, b)
		}
	})
	realtest.WaitTCP(t, addr, 15*time.Second)
}

// moduleRoot is the repository's root: the snippets in nginx/ and the
// LDAP test data are read from there.
func moduleRoot(t *testing.T) string {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	gomod := strings.TrimSpace(string(out))
	if err != nil || gomod == "" || gomod == os.DevNull {
		t.Fatalf("bench: run it inside the repository (go env GOMOD: %q, %v)", gomod, err)
	}
	return filepath.Dir(gomod)
}

// machine names the CPU, the CPU count and the kernel.
func machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	return fmt.Sprintf("%s, %d CPUs, Linux %s", model, runtime.NumCPU(), strings.TrimSpace(string(kernel)))
}

// version is what follows name (and a '/' or a space, and a "debian/")
// in what a program prints about itself: "nginx version: nginx/1.22.1",
// "wrk debian/4.1.0-3+b2 [epoll] …".
func version(bin, name string) string {
	out, _ := exec.Command(bin, "-v").CombinedOutput()
	f := strings.Fields(strings.ReplaceAll(string(out), name+"/", name+" "))
	for i, w := range f[:max(0, len(f)-1)] {
		if v := strings.TrimPrefix(f[i+1], "debian/"); w == name && v[0] >= '0' && v[0] <= '9' {
			return v
		}
	}
	return "?"
}
