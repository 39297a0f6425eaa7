package throttle

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

func TestThrottleMemoryBound(t *testing.T) {
	th, _ := newTestThrottle(t, func(c *Config) { c.MaxEntries = 1000 })
	rng := rand.New(rand.NewPCG(1, 2))
	for range 100_000 {
		ip := fmt.Sprintf("2001:db8:%x:%x::%x", rng.Uint32()&0xffff, rng.Uint32()&0xffff, rng.Uint32()&0xffff)
		user := fmt.Sprintf("u%x", rng.Uint64())
		r, _, _, _ := th.Reserve(user, ip)
		if rng.IntN(100) == 0 {
			r.Done(Success)
		} else {
			r.Done(Failure)
		}
	}
	if n := th.Len(); n > 2*1000 {
		t.Errorf("%d entries, bound 1000 failure entries + 1000 trusted pairs", n)
	}
	if th.lru.Len() > 1000 || th.tlru.Len() > 1000 || len(th.entries) != th.lru.Len() || len(th.trusted) != th.tlru.Len() {
		t.Errorf("entries %d/%d trusted %d/%d", th.lru.Len(), len(th.entries), th.tlru.Len(), len(th.trusted))
	}
}

// Spellings a directory matches to alice share alice's budgets: OpenLDAP
// binds every one of these as uid=alice.
func TestThrottleFoldsLookalikes(t *testing.T) {
	for name, spelling := range map[string]string{
		"fullwidth":          "\uff41lice",
		"math bold":          "\U0001D41Alice",
		"circled":            "\u24D0lice",
		"capital I with dot": "AL\u0130CE",
		"fullwidth upper":    "\uff21LICE",
		"no-break space":     "alice\u00a0",
	} {
		t.Run(name, func(t *testing.T) {
			th, _ := newTestThrottle(t, nil)
			fail := func(user, ip string) {
				if r, ok, _, scope := th.Reserve(user, ip); !ok {
					t.Fatalf("%+q from %s refused early (%s)", user, ip, scope)
				} else {
					r.Done(Failure)
				}
			}
			for range 5 {
				fail(spelling, "198.51.100.1")
			}
			if _, ok, _, scope := th.Reserve("alice", "198.51.100.1"); ok || scope != ScopeUserIP {
				t.Errorf("5 failures as %+q: alice still allowed (%v %q)", spelling, ok, scope)
			}
			for i := range 15 {
				fail(spelling, fmt.Sprint("198.51.100.", 10+i/5))
			}
			// 20 failures for the user: past perUser, one check per step.
			r, _, _, _ := th.Reserve("alice", "198.51.100.3")
			r.Done(Undecided)
			if _, ok, _, scope := th.Reserve("alice", "198.51.100.4"); ok || scope != ScopeUser {
				t.Errorf("20 failures as %+q: per-user bound not reached for alice (%v %q)", spelling, ok, scope)
			}
		})
	}
}
