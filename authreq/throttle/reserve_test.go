package throttle

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// newTestThrottle is a throttle with the default limits, edited, on a fake
// clock.
func newTestThrottle(t testing.TB, edit func(*Config)) (*Throttle, *fakeClock) {
	t.Helper()
	cfg := Defaults()
	if edit != nil {
		edit(&cfg)
	}
	clock := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	return New(cfg, clock.Now), clock
}

// Concurrent wrong guesses cannot all pass the check before the first is
// counted: in-flight attempts hold their place in the budget.
func TestThrottleConcurrentGuesses(t *testing.T) {
	tests := []struct {
		name     string
		edit     func(*Config)
		user, ip func(i int) string
		max      int32
	}{
		{"one user, one address", nil,
			func(int) string { return "alice" }, func(int) string { return "198.51.100.1" }, 5},
		{"spellings of one user, one address", nil,
			func(i int) string { return []string{"alice", "ALICE", "\uff41lice", "\u24d0lice"}[i%4] },
			func(int) string { return "198.51.100.1" }, 5},
		{"many users, one address", func(l *Config) { l.Failures.PerIP = 10 },
			func(i int) string { return fmt.Sprint("user", i) }, func(int) string { return "198.51.100.1" }, 10},
		// Per user: the bound, then one check per backoff step.
		{"one user, many addresses", nil,
			func(int) string { return "alice" }, func(i int) string { return fmt.Sprint("203.0.113.", i) }, 20 + 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			th, _ := newTestThrottle(t, tt.edit)
			var granted, refused atomic.Int32
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range 60 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					r, ok, retry, scope := th.Reserve(tt.user(i), tt.ip(i))
					if !ok {
						if retry <= 0 || scope == "" {
							t.Errorf("refused without retry or scope: %v %q", retry, scope)
						}
						refused.Add(1)
						return
					}
					granted.Add(1)
					time.Sleep(5 * time.Millisecond) // a wrong password's hash check
					r.Done(Failure)
				}()
			}
			close(start)
			wg.Wait()
			if g := granted.Load(); g < 1 || g > tt.max {
				t.Errorf("%d of 60 concurrent guesses checked; want 1 to %d", g, tt.max)
			}
			if g, r := granted.Load(), refused.Load(); g+r != 60 {
				t.Errorf("%d granted + %d refused", g, r)
			}
			th.mu.Lock()
			defer th.mu.Unlock()
			for k, e := range th.entries {
				if e.inflight != 0 || e.el == nil {
					t.Errorf("%q: %d in flight after every Done", k, e.inflight)
				}
			}
		})
	}
}

// Each Outcome releases the Reservation; only a failure is counted.
func TestReservationDone(t *testing.T) {
	const user, ip = "alice", "198.51.100.1"
	held := func(t *testing.T, th *Throttle, n int) []*Reservation {
		t.Helper()
		var rs []*Reservation
		for i := range n {
			r, ok, _, scope := th.Reserve(user, ip)
			if !ok {
				t.Fatalf("Reservation %d refused (%s)", i+1, scope)
			}
			rs = append(rs, r)
		}
		return rs
	}
	t.Run("in flight fill the pair's budget", func(t *testing.T) {
		th, _ := newTestThrottle(t, nil)
		rs := held(t, th, 5)
		if _, ok, retry, scope := th.Reserve(user, ip); ok || scope != ScopeUserIP || retry != time.Second {
			t.Errorf("sixth while five in flight: %v %v %q", ok, retry, scope)
		}
		rs[0].Done(Undecided)
		if r, ok, _, _ := th.Reserve(user, ip); !ok {
			t.Error("undecided did not release")
		} else {
			r.Done(Undecided)
		}
	})
	t.Run("undecided counts nothing", func(t *testing.T) {
		th, _ := newTestThrottle(t, nil)
		for range 20 {
			for _, r := range held(t, th, 5) {
				r.Done(Undecided)
			}
		}
		if th.Len() != 0 {
			t.Errorf("%d entries left by undecided checks", th.Len())
		}
	})
	t.Run("failures count", func(t *testing.T) {
		th, clock := newTestThrottle(t, nil)
		for _, r := range held(t, th, 5) {
			r.Done(Failure)
		}
		if _, ok, retry, scope := th.Reserve(user, ip); ok || scope != ScopeUserIP || retry != time.Second {
			t.Errorf("after 5 failures: %v %v %q", ok, retry, scope)
		}
		clock.Add(time.Second)
		r := held(t, th, 1)[0] // the one check after the backoff step
		if _, ok, _, _ := th.Reserve(user, ip); ok {
			t.Error("a second check while the one after the step is in flight")
		}
		r.Done(Failure)
		if _, ok, retry, _ := th.Reserve(user, ip); ok || retry != 2*time.Second {
			t.Errorf("backoff after the sixth failure: %v %v", ok, retry)
		}
	})
	t.Run("success resets and trusts the pair", func(t *testing.T) {
		th, _ := newTestThrottle(t, nil)
		for _, r := range held(t, th, 3) {
			r.Done(Failure)
		}
		rs := held(t, th, 2)
		rs[0].Done(Success)
		rs[1].Done(Failure) // in flight across the reset: still counted
		for _, r := range held(t, th, 4) {
			r.Done(Failure)
		}
		if _, ok, _, _ := th.Reserve(user, ip); ok {
			t.Error("5 failures since the success, yet allowed")
		}
		th.mu.Lock()
		trusted := th.isTrusted(th.trustKey(user, ip), th.now())
		th.mu.Unlock()
		if !trusted {
			t.Error("success did not trust the pair")
		}
	})
	t.Run("done twice counts once", func(t *testing.T) {
		th, _ := newTestThrottle(t, nil)
		for _, r := range held(t, th, 4) {
			r.Done(Failure)
			r.Done(Failure)
			r.Done(Success)
		}
		rs := held(t, th, 1) // 4 failures: one more may be checked
		rs[0].Done(Undecided)
		rs[0].Done(Failure)
		held(t, th, 1)
	})
	t.Run("done on a refused Reservation", func(t *testing.T) {
		var r *Reservation
		r.Done(Failure) // no panic
	})
	t.Run("throttle off", func(t *testing.T) {
		th, _ := newTestThrottle(t, func(l *Config) { l.Failures.Window = 0 })
		for range 100 {
			r, ok, _, _ := th.Reserve(user, ip)
			if !ok {
				t.Fatal("refused with throttling off")
			}
			r.Done(Failure)
		}
	})
}

// An entry with attempts in flight is never evicted: churn through a full
// table does not forget them.
func TestReservationSurvivesEviction(t *testing.T) {
	th, _ := newTestThrottle(t, func(l *Config) { l.MaxEntries = 10 })
	var rs []*Reservation
	for range 5 {
		r, ok, _, _ := th.Reserve("alice", "198.51.100.1")
		if !ok {
			t.Fatal("refused")
		}
		rs = append(rs, r)
	}
	for i := range 1000 {
		r, ok, _, _ := th.Reserve(fmt.Sprint("u", i), fmt.Sprint("2001:db8::", i))
		if ok {
			r.Done(Failure)
		}
	}
	if _, ok, _, scope := th.Reserve("alice", "198.51.100.1"); ok {
		t.Errorf("five in flight forgotten in the churn (%q)", scope)
	}
	if n := th.Len(); n > 10+3 {
		t.Errorf("%d entries: bound 10, plus the 3 held", n)
	}
	for _, r := range rs {
		r.Done(Failure)
		r.Done(Failure)
	}
	if n := th.Len(); n > 10 {
		t.Errorf("%d entries after release, bound 10", n)
	}
	if _, ok, _, scope := th.Reserve("alice", "198.51.100.1"); ok || scope != ScopeUserIP {
		t.Errorf("five failures released into a full table: %v %q", ok, scope)
	}
}
