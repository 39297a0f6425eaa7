package authreq

import (
	"fmt"
	"strconv"
	"sync"
	"testing"

	"github.com/authreq/authreq/htpasswd"
)

// Concurrent guesses cannot outrun the throttle: each check holds a
// reservation against the budget while it runs, so 60 wrong passwords at
// once for one bcrypt user from one address cost at most perUserAndIP hash
// checks, not 60.
func TestConcurrentGuessesStayInBudget(t *testing.T) {
	s := newTestServer(t, nil, nil)
	h, err := htpasswd.Generate(htpasswd.Bcrypt, []byte("right"), 10)
	if err != nil {
		t.Fatal(err)
	}
	s.writeFile(t, "alice:"+h+"\n")
	for _, same := range []bool{false, true} {
		t.Run(fmt.Sprintf("identical=%v", same), func(t *testing.T) {
			ip := "198.51.100." + strconv.Itoa(len(t.Name()))
			before := s.checks(t)
			var wg sync.WaitGroup
			for i := range 60 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					pw := fmt.Sprint("guess-", i)
					if same {
						pw = "guess"
					}
					s.from(ip, "alice", pw)
				}()
			}
			wg.Wait()
			limit := 5
			if same {
				limit = 1 // one shared check, one counted failure
			}
			if n := s.checks(t) - before; n > limit || n < 1 {
				t.Errorf("%d hash checks for 60 concurrent guesses, want 1..%d", n, limit)
			}
		})
	}
}

// An address where alice only ever used cached credentials is still one
// she works from: the per-user bound, reached by guesses from elsewhere,
// does not slow her there.
func TestCacheHitTrustsTheAddress(t *testing.T) {
	s := newTestServer(t, map[string]string{"alice": "pw"}, func(c *Config) {
		c.RateLimit.Failures.PerUser = 3
	})
	if r := s.from("192.0.2.1", "alice", "pw"); r.StatusCode != 200 { // cold: trusted there
		t.Fatal(r.StatusCode)
	}
	if r := s.from("192.0.2.2", "alice", "pw"); r.StatusCode != 200 || s.metric("authreq_cache_hits_total") != "1" {
		t.Fatalf("second address: %d, cache hits %s", r.StatusCode, s.metric("authreq_cache_hits_total"))
	}
	for i := range 10 { // a botnet: one guess per address
		s.from(fmt.Sprint("203.0.113.", i), "alice", "guess")
	}
	for i := range 3 {
		s.cache.DropUsers(nil) // her next check is cold again
		if r := s.from("192.0.2.2", "alice", "pw"); r.StatusCode != 200 {
			t.Errorf("check %d from the address alice used through the cache: %d (Retry-After %q)", i, r.StatusCode, r.Header.Get("Retry-After"))
		}
	}
}
