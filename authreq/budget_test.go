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

