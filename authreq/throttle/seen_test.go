package throttle

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// A cache hit (seen) trusts the pair like a cold success does: alice, who
// only ever logs in with a cached password, is not slowed by a botnet
// guessing hers.
func TestThrottleSeenTrusts(t *testing.T) {
	th, _ := newTestThrottle(t, nil)
	th.Seen("alice", "192.0.2.1")
	for i := range 40 { // two guesses per address: under the pair bound
		if r, ok, _, _ := th.Reserve("alice", fmt.Sprint("203.0.113.", i/2)); ok {
			r.Done(Failure)
		}
	}
	// Past the per-user bound: a new address waits a backoff step ...
	if r, ok, _, _ := th.Reserve("alice", "198.51.100.77"); ok {
		r.Done(Undecided)
	}
	if _, ok, _, scope := th.Reserve("alice", "198.51.100.78"); ok || scope != ScopeUser {
		t.Fatalf("per-user bound not reached: %v %q", ok, scope)
	}
	// ... the address alice was seen at does not.
	for i := range 5 {
		r, ok, _, scope := th.Reserve("alice", "192.0.2.1")
		if !ok {
			t.Fatalf("check %d from the address alice was seen at: refused (%s)", i, scope)
		}
		r.Done(Undecided)
	}
	// Seen as alice from one address of a /64 trusts the whole /64; seen
	// under another spelling (another account, or a look-alike) trusts
	// nothing of alice's.
	th.Seen("alice", "2001:db8::1")
	if r, ok, _, scope := th.Reserve("alice", "2001:db8::2"); !ok {
		t.Errorf("seen from 2001:db8::1, alice from 2001:db8::2 refused (%s)", scope)
	} else {
		r.Done(Undecided)
	}
	th.Seen("\uff21LICE", "2001:db8:1::1")
	if _, ok, _, _ := th.Reserve("alice", "2001:db8:1::2"); ok {
		t.Errorf("seen as ＡLICE: alice trusted")
	}
}

// seen takes the throttle's mutex at most once an hour per pair; the
// hour's other calls only read.
func TestThrottleSeenRefresh(t *testing.T) {
	for _, tt := range []struct {
		name      string
		second    time.Duration // after the first seen
		slow      uint64        // calls that took the mutex
		trustedAt bool          // 30 days and a minute after the first
	}{
		{"59 minutes: not refreshed", 59 * time.Minute, 1, false},
		{"61 minutes: refreshed", 61 * time.Minute, 2, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			th, clock := newTestThrottle(t, nil)
			start := clock.Now()
			th.Seen("alice", "192.0.2.1")
			for range 10 {
				th.Seen("alice", "192.0.2.1")
			}
			clock.Add(tt.second)
			th.Seen("alice", "192.0.2.1")
			if n := th.slowSeen.Load(); n != tt.slow {
				t.Errorf("%d calls took the mutex, want %d", n, tt.slow)
			}
			th.mu.Lock()
			trusted := th.isTrusted(th.trustKey("alice", "192.0.2.1"), start.Add(trustTTL+time.Minute))
			th.mu.Unlock()
			if trusted != tt.trustedAt {
				t.Errorf("trusted 30 days and a minute later: %v, want %v", trusted, tt.trustedAt)
			}
		})
	}
}

// What seen remembers is bounded like the rest: by maxEntries.
func TestThrottleSeenBounded(t *testing.T) {
	th, clock := newTestThrottle(t, func(l *Config) { l.MaxEntries = 100 })
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 1000 {
				th.Seen(fmt.Sprint("u", g, "-", i), fmt.Sprint("198.51.100.", i%256))
				if r, ok, _, _ := th.Reserve(fmt.Sprint("u", i), "203.0.113.1"); ok {
					r.Done(Outcome(i % 3))
				}
			}
		}()
	}
	wg.Wait()
	clock.Add(2 * time.Hour)
	th.Seen("alice", "192.0.2.1")
	fast := 0
	th.fast.Range(func(any, any) bool { fast++; return true })
	th.mu.Lock()
	defer th.mu.Unlock()
	if th.tlru.Len() > 100 || len(th.trusted) != th.tlru.Len() || fast != len(th.trusted) {
		t.Errorf("trusted %d, list %d, lock-free view %d; bound 100", len(th.trusted), th.tlru.Len(), fast)
	}
}

// BenchmarkThrottleSeen compares seen on a pair refreshed within the hour
// (the cache-hit path) with an empty loop.
func BenchmarkThrottleSeen(b *testing.B) {
	cfg := Defaults()
	b.Run("empty", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
			}
		})
	})
	b.Run("one pair", func(b *testing.B) {
		th := New(cfg, time.Now)
		th.Seen("alice", "192.0.2.1")
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				th.Seen("alice", "192.0.2.1")
			}
		})
		if n := th.slowSeen.Load(); n > 1 {
			b.Errorf("%d calls took the mutex", n)
		}
	})
	b.Run("1000 pairs", func(b *testing.B) {
		th := New(cfg, time.Now)
		var users, ips [1000]string
		for i := range users {
			users[i], ips[i] = fmt.Sprint("user", i), fmt.Sprint("2001:db8:", i, "::1")
			th.Seen(users[i], ips[i])
		}
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				th.Seen(users[i%1000], ips[i%1000])
				i++
			}
		})
	})
}
