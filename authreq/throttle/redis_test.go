package throttle

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authreq/authreq/internal/duration"
	"github.com/authreq/authreq/internal/realtest"
	"github.com/redis/go-redis/v9"
)

// syncBuffer is a log sink the store's goroutines may write to while the
// test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}
func (b *syncBuffer) String() string { b.mu.Lock(); defer b.mu.Unlock(); return b.b.String() }

// writeKey writes an HMAC key file of n bytes into dir.
func writeKey(t testing.TB, dir string, n int) string {
	t.Helper()
	p := filepath.Join(dir, "throttle-key")
	if err := os.WriteFile(p, bytes.Repeat([]byte("k"), n), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// replicas are n throttles sharing rd, on one fake clock (replicas run
// NTP), each logging to its own buffer.
func replicas(t testing.TB, rd *realtest.Redis, n int, edit func(*Config)) ([]*Throttle, []*syncBuffer, *fakeClock) {
	t.Helper()
	cfg := Defaults()
	cfg.Store.Redis.Address = rd.Addr
	cfg.Store.Redis.HMACKeyFile = writeKey(t, t.TempDir(), 32)
	cfg.Store.Redis.Timeout = duration.Duration(time.Second) // -race on a busy machine
	if edit != nil {
		edit(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	var ths []*Throttle
	var logs []*syncBuffer
	for range n {
		buf := &syncBuffer{}
		th, err := Open(cfg, clock.Now, slog.New(slog.NewTextHandler(buf, nil)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { th.Close() })
		if !th.Shared() {
			t.Fatalf("not shared at start: %v", th.store.state())
		}
		ths, logs = append(ths, th), append(logs, buf)
	}
	return ths, logs, clock
}

func client(t testing.TB, rd *realtest.Redis) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: rd.Addr, DisableIdentity: true})
	t.Cleanup(func() { c.Close() })
	return c
}

// Failures spread over two replicas meet each bound at its configured
// count, not twice it: sequential and concurrent guesses.
func TestSharedBudget(t *testing.T) {
	rd := realtest.StartRedis(t)
	tests := []struct {
		name     string
		user, ip func(i int) string
		bound    int
		scope    string
	}{
		{"one user, one address", func(int) string { return "alice" }, func(int) string { return "198.51.100.1" }, 5, ScopeUserIP},
		{"spellings of one user", func(i int) string { return []string{"alice", "ALICE", "\uff41lice"}[i%3] },
			func(int) string { return "198.51.100.1" }, 5, ScopeUserIP},
		{"many users, one address", func(i int) string { return fmt.Sprint("user", i) }, func(int) string { return "198.51.100.9" }, 50, ScopeIP},
		// Per user: the bound, then one check per backoff step.
		{"one user, many addresses", func(int) string { return "bob" }, func(i int) string { return fmt.Sprint("203.0.113.", i/2) }, 20 + 1, ScopeUser},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ths, _, _ := replicas(t, rd, 2, func(c *Config) { c.Store.Redis.KeyPrefix = "seq:" + tt.name + ":" })
			granted := 0
			for i := range 2*tt.bound + 10 {
				th := ths[i%2]
				r, ok, retry, scope := th.Reserve(tt.user(i), tt.ip(i))
				if !ok {
					if scope != tt.scope || retry <= 0 {
						t.Errorf("guess %d refused by %q, retry %v; want %q", i, scope, retry, tt.scope)
					}
					continue
				}
				granted++
				r.Done(Failure)
				th.Flush()
			}
			if granted != tt.bound {
				t.Errorf("%d guesses checked over two replicas; want %d", granted, tt.bound)
			}
		})
	}
	t.Run("concurrent", func(t *testing.T) {
		ths, _, _ := replicas(t, rd, 2, func(c *Config) { c.Store.Redis.KeyPrefix = "conc:" })
		var granted atomic.Int32
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range 60 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				if r, ok, _, _ := ths[i%2].Reserve("alice", "198.51.100.1"); ok {
					granted.Add(1)
					time.Sleep(5 * time.Millisecond)
					r.Done(Failure)
				}
			}()
		}
		close(start)
		wg.Wait()
		if g := granted.Load(); g < 1 || g > 5 {
			t.Errorf("%d of 60 concurrent guesses over two replicas checked; want 1 to 5", g)
		}
	})
}

// A pair trusted on one replica (a success, or a cache hit) is trusted on
// the other: the per-user bound a botnet fills does not slow it there.
func TestSharedTrust(t *testing.T) {
	rd := realtest.StartRedis(t)
	ths, _, _ := replicas(t, rd, 2, nil)
	a, b := ths[0], ths[1]
	r, ok, _, _ := a.Reserve("alice", "192.0.2.1")
	if !ok {
		t.Fatal("refused")
	}
	r.Done(Success)
	a.Seen("carol", "192.0.2.7") // a cache hit: carol never checked a password here
	a.Flush()
	for _, user := range []string{"alice", "carol"} {
		for i := range 40 { // two guesses per address: under the pair bound
			if r, ok, _, _ := b.Reserve(user, fmt.Sprint("203.0.113.", i/2)); ok {
				r.Done(Failure)
				b.Flush()
			}
		}
		if _, ok, _, scope := b.Reserve(user, "198.51.100.78"); ok || scope != ScopeUser {
			t.Fatalf("%s: per-user bound not reached on b: %v %q", user, ok, scope)
		}
	}
	for user, ip := range map[string]string{"alice": "192.0.2.1", "carol": "192.0.2.7"} {
		for i := range 3 {
			r, ok, _, scope := b.Reserve(user, ip)
			if !ok {
				t.Fatalf("%s from the address trusted on a: check %d refused on b (%s)", user, i, scope)
			}
			r.Done(Undecided)
		}
	}
}

// Redis killed mid-run: each replica keeps limiting on its own (wrong
// passwords refused past the bound, right ones admitted), logs the outage
// once and its end once, counts it, and shares again once Redis is back.
func TestSharedOutage(t *testing.T) {
	rd := realtest.StartRedis(t)
	ths, logs, _ := replicas(t, rd, 2, func(c *Config) { c.Store.Redis.Timeout = duration.Duration(200 * time.Millisecond) })
	for i := range 3 { // 3 failures while shared: also in each replica's own table
		r, _, _, _ := ths[i%2].Reserve("alice", "198.51.100.1")
		r.Done(Failure)
		ths[i%2].Flush()
	}
	rd.Kill()
	for n, th := range ths {
		granted := 0
		for range 10 {
			if r, ok, _, _ := th.Reserve("alice", "198.51.100.1"); ok {
				granted++
				r.Done(Failure)
			}
		}
		// Replica 0 counted 2 of the 3 shared failures, replica 1 one.
		if want := 5 - (2 - n); granted != want {
			t.Errorf("replica %d during the outage: %d wrong guesses checked, want %d", n, granted, want)
		}
		if _, ok, _, scope := th.Reserve("alice", "198.51.100.1"); ok || scope != ScopeUserIP {
			t.Errorf("replica %d: guessing not limited during the outage (%v %q)", n, ok, scope)
		}
		r, ok, _, scope := th.Reserve("bob", "198.51.100.1")
		if !ok {
			t.Errorf("replica %d: bob's right password refused during the outage (%s)", n, scope)
		} else {
			r.Done(Success)
		}
		// A killed Redis may answer with timeouts, which alone never
		// mark it away; the probe does within its second.
		realtest.Eventually(t, 5*time.Second, fmt.Sprint("replica ", n, " deciding alone"), func() bool { return !th.Shared() })
		if th.Shared() || th.StoreErrors() == 0 {
			t.Errorf("replica %d: shared %v, %d store errors", n, th.Shared(), th.StoreErrors())
		}
		if _, err := th.Store(); err == nil || !strings.Contains(err.Error(), rd.Addr) {
			t.Errorf("replica %d: store state %v", n, err)
		}
	}
	time.Sleep(2 * pingEvery) // more failed probes: still one log line
	rd.Start()
	for n, th := range ths {
		realtest.Eventually(t, 5*time.Second, fmt.Sprint("replica ", n, " sharing again"), th.Shared)
		if _, err := th.Store(); err != nil {
			t.Errorf("replica %d: %v", n, err)
		}
		log := logs[n].String()
		if c := strings.Count(log, "redis unreachable"); c != 1 {
			t.Errorf("replica %d: outage logged %d times:\n%s", n, c, log)
		}
		if c := strings.Count(log, "redis answers again"); c != 1 {
			t.Errorf("replica %d: its end logged %d times:\n%s", n, c, log)
		}
	}
	// Shared again (Redis came back empty): the budget is one for both.
	granted := 0
	for i := range 12 {
		if r, ok, _, _ := ths[i%2].Reserve("dave", "198.51.100.2"); ok {
			granted++
			r.Done(Failure)
			ths[i%2].Flush()
		}
	}
	if granted != 5 {
		t.Errorf("after the outage: %d guesses checked over two replicas, want 5", granted)
	}
}

// A spray of random names and addresses: Redis holds at most about
// maxEntries counters and as many trusted pairs, every key expires within
// the longest window, and no key or value names a user or an address.
func TestSharedMemoryBound(t *testing.T) {
	rd := realtest.StartRedis(t)
	const maxEntries = 200
	ths, _, _ := replicas(t, rd, 2, func(c *Config) { c.MaxEntries = maxEntries })
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 4))
			th := ths[g%2]
			for range 500 {
				user := fmt.Sprintf("sprayuser%x", rng.Uint64())
				ip := fmt.Sprintf("2001:db8:%x:%x::1", rng.Uint32()&0xffff, rng.Uint32()&0xffff)
				if rng.IntN(10) == 0 {
					th.Seen(user, ip)
					continue
				}
				if r, ok, _, _ := th.Reserve(user, ip); ok {
					r.Done(Outcome(rng.IntN(3)))
				}
			}
		}()
	}
	wg.Wait()
	for _, th := range ths {
		th.Flush()
	}
	c := client(t, rd)
	ctx := context.Background()
	n, err := c.DBSize(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	// Counters and trusted pairs, maxEntries each; a user's set of pairs
	// per trusted pair at most; two indexes. Nothing is in flight.
	if n > 3*maxEntries+2 {
		kinds := map[string]int{}
		for _, k := range c.Keys(ctx, "*").Val() {
			kinds[strings.SplitN(strings.TrimPrefix(k, "authreq:"), ":", 2)[0]]++
		}
		t.Errorf("%d keys after the spray; bound %d: %v", n, 3*maxEntries+2, kinds)
	}
	mem, _ := c.MemoryUsage(ctx, "authreq:ic").Result()
	t.Logf("%d keys; counter index %d bytes", n, mem)
	keys, err := c.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	var dump strings.Builder
	for _, k := range keys {
		ttl, err := c.PTTL(ctx, k).Result()
		if err != nil || ttl <= 0 || ttl > trustTTL {
			t.Errorf("%s: TTL %v %v; want at most 30 days", k, ttl, err)
		}
		dump.WriteString(k + "\n")
		switch typ, _ := c.Type(ctx, k).Result(); typ {
		case "string":
			dump.WriteString(c.Get(ctx, k).Val())
		case "hash":
			fmt.Fprint(&dump, c.HGetAll(ctx, k).Val())
		case "zset":
			fmt.Fprint(&dump, c.ZRangeWithScores(ctx, k, 0, -1).Val())
		default:
			t.Errorf("%s: unexpected type %s", k, typ)
		}
		dump.WriteString("\n")
	}
	for _, clear := range []string{"sprayuser", "2001:db8", "2001", "db8"} {
		if strings.Contains(dump.String(), clear) {
			t.Errorf("Redis holds %q in clear", clear)
		}
	}
	for _, th := range ths {
		if n := th.Len(); n > 2*maxEntries {
			t.Errorf("in-process copy: %d entries, bound %d", n, 2*maxEntries)
		}
	}
}

// The store refuses an HMAC key shorter than 32 bytes or a missing key
// file, naming the key, without reading the key into the message.
func TestOpenRedisKeyFile(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		name, file, want string
	}{
		{"short", writeKey(t, dir, 31), "hmacKeyFile: " + filepath.Join(dir, "throttle-key") + " holds 31 bytes"},
		{"missing", filepath.Join(dir, "nothing"), "hmacKeyFile: open " + filepath.Join(dir, "nothing")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Defaults()
			cfg.Store.Redis.Address = "127.0.0.1:1"
			cfg.Store.Redis.HMACKeyFile = tt.file
			_, err := Open(cfg, time.Now, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "kkkk") {
				t.Errorf("got %v, want %q", err, tt.want)
			}
		})
	}
}

// BenchmarkColdCheck is what a cold check pays the throttle, in-process
// and on a local Redis, side by side: a Reserve and its Done(Failure) for a
// new (user, address) each time. "redis/in-process" is the ratio of the
// two; "ns/redis" includes the round trip the request waits for (the
// outcome goes after the answer).
func BenchmarkColdCheck(b *testing.B) {
	rd := realtest.StartRedis(b)
	cfg := Defaults()
	local := New(cfg, time.Now)
	cfg.Store.Redis.Address = rd.Addr
	cfg.Store.Redis.HMACKeyFile = writeKey(b, b.TempDir(), 32)
	shared, err := Open(cfg, time.Now, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer shared.Close()
	// A new (user, address) every time: the same 100 again would meet
	// their own backoff, refused without a round trip.
	var next int
	run := func(th *Throttle, n int) time.Duration {
		start := time.Now()
		for range n {
			next++
			i := next
			r, ok, _, _ := th.Reserve(fmt.Sprint("user", i), fmt.Sprintf("2001:db8:%x:%x::1", i>>16&0xffff, i&0xffff))
			if ok {
				r.Done(Failure)
			}
		}
		return time.Since(start)
	}
	var dl, dr time.Duration
	for b.Loop() {
		dl += run(local, 100)
		dr += run(shared, 100)
	}
	shared.Flush()
	if !shared.Shared() {
		b.Fatal("the store fell back during the benchmark")
	}
	n := float64(b.N * 100)
	b.ReportMetric(float64(dl.Nanoseconds())/n, "ns/in-process")
	b.ReportMetric(float64(dr.Nanoseconds())/n, "ns/redis")
	b.ReportMetric(float64(dr)/float64(dl), "redis/in-process")
}

// One call past the timeout is decided here, within about the timeout,
// and counted, but is no outage: a busy replica (a flood) sees such
// timeouts without Redis being slow, and a flood must not switch the
// deployment to per-replica budgets. A Redis slower than the timeout
// call after call is: the probe sees it, and sharing resumes once it is
// quick again.
func TestSharedSlow(t *testing.T) {
	rd := realtest.StartRedis(t)
	var delay atomic.Int64
	proxy := slowProxy(t, rd.Addr, &delay)
	ths, logs, _ := replicas(t, rd, 1, func(c *Config) {
		c.Store.Redis.Address = proxy
		c.Store.Redis.Timeout = duration.Duration(100 * time.Millisecond)
	})
	th := ths[0]
	c := client(t, rd)
	done := make(chan error, 1)
	go func() { done <- c.Do(context.Background(), "DEBUG", "SLEEP", "1").Err() }()
	time.Sleep(100 * time.Millisecond) // the sleep has begun
	start := time.Now()
	r, ok, _, _ := th.Reserve("alice", "198.51.100.1")
	if d := time.Since(start); !ok || d > time.Second/2 {
		t.Errorf("reserve while redis sleeps: %v after %s", ok, d)
	}
	r.Done(Failure)
	if th.StoreErrors() == 0 {
		t.Error("the slow call was not counted")
	}
	if err := <-done; err != nil {
		t.Fatalf("DEBUG SLEEP: %v", err)
	}
	if !th.Shared() || strings.Contains(logs[0].String(), "unreachable") {
		t.Errorf("one slow moment taken for an outage: shared %v, log %s", th.Shared(), logs[0].String())
	}

	delay.Store(int64(150 * time.Millisecond)) // every call and ping now past the timeout
	realtest.Eventually(t, 5*time.Second, "slow redis seen as away", func() bool { return !th.Shared() })
	if !strings.Contains(logs[0].String(), "slower than its timeout") {
		t.Errorf("log: %s", logs[0].String())
	}
	start = time.Now()
	if r, ok, _, _ := th.Reserve("bob", "198.51.100.1"); !ok || time.Since(start) > 50*time.Millisecond {
		t.Errorf("reserve while away: %v after %s", ok, time.Since(start))
	} else {
		r.Done(Success)
	}
	delay.Store(0)
	realtest.Eventually(t, 5*time.Second, "sharing again", th.Shared)
}

// slowProxy forwards TCP connections to addr, holding every chunk for
// *delay each way: a Redis that answers, late.
func slowProxy(t *testing.T, addr string, delay *atomic.Int64) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	pipe := func(dst, src net.Conn) {
		defer dst.Close()
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if err != nil {
				return
			}
			time.Sleep(time.Duration(delay.Load()))
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
	}
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", addr)
			if err != nil {
				in.Close()
				continue
			}
			go pipe(out, in)
			go pipe(in, out)
		}
	}()
	return ln.Addr().String()
}
