package authreq

// Attacks found by hostile review 17 of the password-check pool (priority
// lane) and the server's use of the shared throttle; each FINDING failed
// before its fix. BLOCKED tests passed already and record attacks that
// held.

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authreq/authreq/authreq/throttle"
	"github.com/authreq/authreq/htpasswd"
	"github.com/authreq/authreq/internal/duration"
)

// review17Server is a Server on an htpasswd file of bcrypt hashes of the
// given cost.
func review17Server(t *testing.T, cost int, users map[string]string, edit func(*Config)) *testServer {
	t.Helper()
	var b strings.Builder
	for u, pw := range users {
		h, err := htpasswd.Generate(htpasswd.Bcrypt, []byte(pw[:min(len(pw), 72)]), cost)
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString(u + ":" + h + "\n")
	}
	return serveHtpasswd(t, b.String(), edit)
}

// FINDING: one account holder starves the priority lane. Checks of pairs
// the throttle trusts skip the queue and wait only for the workers slots
// of the lane; mallory, trusted at her own address, keeps those slots busy
// with accepted spellings of her password (never counted, see above), and
// alice — trusted at her office, cold on this replica — waits behind her
// and gets a 503, while the ordinary (stranger) lane sits idle and would
// have served her at once.
func TestReview17PriorityLaneStarvedByOneAccount(t *testing.T) {
	long := strings.Repeat("m", 72) + "-tail"
	s := review17Server(t, 11, map[string]string{"mallory": long, "alice": "alice-pw"}, func(c *Config) {
		c.VerifyWorkers = 1
		c.VerifyQueueTimeout = duration.Duration(300 * time.Millisecond)
	})
	if r := s.from("198.51.100.7", "mallory", long); r.StatusCode != 200 {
		t.Fatalf("mallory: %d", r.StatusCode)
	}
	// alice logged in from her office earlier (another replica, or her
	// cache entry expired): trusted, not cached.
	r, _, _, _ := s.throttle.Reserve("alice", "192.0.2.5")
	r.Done(throttle.Success)
	if !s.throttle.Trusted("alice", "192.0.2.5") {
		t.Fatal("alice not trusted")
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var n atomic.Int64
	for g := range 5 { // the pair's in-flight bound
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				s.from("198.51.100.7", "mallory", long[:72]+fmt.Sprint(g, "-", i))
				n.Add(1)
			}
		}()
	}
	time.Sleep(200 * time.Millisecond)
	fails := 0
	for i := range 5 {
		// a new password each time, as a cold check
		pw := "alice-pw"
		if i > 0 {
			s.cache.DropUsers([]string{"alice"})
		}
		if r := s.from("192.0.2.5", "alice", pw); r.StatusCode != 200 {
			fails++
		}
	}
	close(stop)
	wg.Wait()
	t.Logf("mallory's checks meanwhile: %d", n.Load())
	if fails > 0 {
		t.Errorf("FINDING: alice (trusted, right password) refused %d of 5 times while one account held the priority lane", fails)
	}
}

// FINDING (fixed): the priority lane had no bound on waiters: once its
// slots were taken every further priority check parked a goroutine for
// the whole queue timeout. A priority check now never waits for the lane:
// it joins the ordinary queue (here served at once by its idle worker).
func TestReview17PriorityLaneUnboundedQueue(t *testing.T) {
	p := newCPUPool(1, 2*time.Second)
	defer p.Close()
	hold := make(chan struct{})
	started := make(chan struct{})
	go p.Do(withPriority(context.Background(), "mallory"), func() { close(started); <-hold })
	<-started
	const extra = queuePerWorker + 200
	var finished atomic.Int32
	var wg sync.WaitGroup
	for i := range extra {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.Do(withPriority(context.Background(), fmt.Sprint("u", i%3)), func() {})
			finished.Add(1)
		}()
	}
	time.Sleep(300 * time.Millisecond)
	parked := extra - int(finished.Load())
	close(hold)
	wg.Wait()
	if parked > 0 {
		t.Errorf("%d priority checks parked behind a held priority slot (the ordinary lane was idle)", parked)
	}
}

// FINDING: Close racing a check that already has its turn can leave that
// check's caller blocked forever: Do passes the stop check, Close stops
// the workers (the job channel empty), and then Do hands its job to a
// buffered channel nobody reads. (A race: up to 20 s of rounds.)
func TestReview17PoolCloseRaceHangs(t *testing.T) {
	deadline := time.Now().Add(20 * time.Second)
	for round := 0; time.Now().Before(deadline); round++ {
		p := newCPUPool(2, time.Second)
		var wg sync.WaitGroup
		done := make(chan struct{})
		for range 8 {
			wg.Add(1)
			go func() { defer wg.Done(); p.Do(context.Background(), func() {}) }()
		}
		go p.Close()
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(3 * time.Second):
			t.Fatalf("FINDING: round %d: a Do racing Close never returned (its caller hangs forever)", round)
		}
	}
}

// BLOCKED: a check with a canceled context queued behind a full ordinary
// lane returns, and leaves the waiting count where it was.
func TestReview17BlockedCanceledWaitersLeaveNoCount(t *testing.T) {
	p := newCPUPool(1, 5*time.Second)
	defer p.Close()
	hold := make(chan struct{})
	started := make(chan struct{})
	go p.Do(context.Background(), func() { close(started); <-hold })
	<-started
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range 100 {
		wg.Add(1)
		go func() { defer wg.Done(); p.Do(ctx, func() {}) }()
	}
	time.Sleep(100 * time.Millisecond)
	cancel()
	wg.Wait()
	close(hold)
	if w := p.waiting.Load(); w != 0 {
		t.Errorf("waiting %d after cancels", w)
	}
}

// BLOCKED: mallory, trusted at her own address, guessing alice's password
// from there does not get the priority lane (trust is per exact name and
// address) and meets alice's pair bound after five.
func TestReview17BlockedOwnLoginNoPriorityForVictim(t *testing.T) {
	s := review17Server(t, 4, map[string]string{"mallory": "mallory-pw", "alice": "alice-pw"}, nil)
	if r := s.from("198.51.100.7", "mallory", "mallory-pw"); r.StatusCode != 200 {
		t.Fatal(r.StatusCode)
	}
	for _, u := range []string{"alice", "Alice", "ALICE"} {
		if s.throttle.Trusted(u, "198.51.100.7") {
			t.Fatalf("%s trusted from mallory's address", u)
		}
	}
	refused := 0
	for i := range 10 {
		if r := s.from("198.51.100.7", "alice", fmt.Sprint("guess", i)); r.Header.Get("Retry-After") != "" {
			refused++
		}
	}
	if refused != 5 {
		t.Errorf("%d of 10 guesses refused; want 5", refused)
	}
}
