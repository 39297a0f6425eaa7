package throttle

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

// Stress (passes if the invariants hold): concurrent reserve/Done/seen with
// random outcomes, double Done, clock moves; afterwards nothing is in
// flight, every entry is back in the eviction order and the bound holds.
func TestThrottleStressInvariants(t *testing.T) {
	th, clock := newTestThrottle(t, func(l *Config) {
		l.MaxEntries = 64
		l.Failures.PerUserAndIP = 3
		l.Failures.PerIP = 7
		l.Failures.PerUser = 5
	})
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 1))
			for range 20000 {
				u := fmt.Sprint("U", rng.IntN(40))
				ip := fmt.Sprintf("2001:db8:%x::%x", rng.IntN(30), rng.IntN(5))
				switch rng.IntN(10) {
				case 0:
					th.Seen(u, ip)
					continue
				case 1:
					clock.Add(time.Duration(rng.IntN(5000)) * time.Millisecond)
				}
				r, ok, _, _ := th.Reserve(u, ip)
				if !ok {
					continue
				}
				o := Outcome(rng.IntN(4))
				if rng.IntN(2) == 0 {
					go func() { r.Done(o); r.Done(Success) }()
				} else {
					r.Done(o)
				}
			}
		}()
	}
	wg.Wait()
	time.Sleep(100 * time.Millisecond)
	th.mu.Lock()
	defer th.mu.Unlock()
	inLRU := 0
	for el := th.lru.Front(); el != nil; el = el.Next() {
		inLRU++
	}
	for k, e := range th.entries {
		if e.inflight != 0 {
			t.Errorf("%q: inflight %d after all Done", k, e.inflight)
		}
		if e.el == nil {
			t.Errorf("%q: not in the eviction order", k)
		}
	}
	if inLRU != len(th.entries) || len(th.entries) > 64 || th.tlru.Len() > 64 || len(th.trusted) != th.tlru.Len() {
		t.Errorf("lru %d entries %d trusted %d/%d", inLRU, len(th.entries), th.tlru.Len(), len(th.trusted))
	}
	perUser := 0
	for u, l := range th.byUser {
		if l.Len() == 0 || l.Len() > maxTrustedPerUser {
			t.Errorf("user %q holds %d trusted pairs", u, l.Len())
		}
		perUser += l.Len()
	}
	if perUser != len(th.trusted) {
		t.Errorf("per-user lists hold %d pairs, trusted %d", perUser, len(th.trusted))
	}
	n := 0
	th.fast.Range(func(any, any) bool { n++; return true })
	if n != len(th.trusted) {
		t.Errorf("fast %d, trusted %d", n, len(th.trusted))
	}
}
