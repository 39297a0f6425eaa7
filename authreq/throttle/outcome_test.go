package throttle

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/authreq/authreq/internal/duration"
	"github.com/authreq/authreq/internal/realtest"
)

// Outcomes reach the shared budget whatever happens to the replica that
// holds them: decided while it had Redis marked away, they are sent when
// Redis is back; never sent at all (the replica died), they count as
// failures when their lease ends.
func TestSharedOutcomesNotLost(t *testing.T) {
	rd := realtest.StartRedis(t)
	// A backoff step longer than the lease: the pair stays refused for
	// as long as the test looks.
	long := func(prefix string) func(*Config) {
		return func(c *Config) {
			c.Store.Redis.KeyPrefix = prefix
			c.Backoff.Initial = duration.Duration(5 * time.Minute)
		}
	}
	t.Run("replayed after an outage", func(t *testing.T) {
		ths, _, _ := replicas(t, rd, 2, long("replay:"))
		a, b := ths[0], ths[1]
		var rs []*Reservation
		for range 5 {
			r, ok, _, _ := a.Reserve("alice", "198.51.100.1")
			if !ok {
				t.Fatal("refused")
			}
			rs = append(rs, r)
		}
		a.store.down(errors.New("test: marked away"))
		for _, r := range rs {
			r.Done(Failure)
		}
		realtest.Eventually(t, 5*time.Second, "a shares again", a.Shared)
		a.Flush()
		if _, ok, retry, scope := b.Reserve("alice", "198.51.100.1"); ok || scope != ScopeUserIP || retry <= inflightRetry {
			t.Errorf("5 failures decided during a's outage: b answers %v %v %q", ok, retry, scope)
		}
	})
	t.Run("lease", func(t *testing.T) {
		ths, _, clock := replicas(t, rd, 2, long("lease:"))
		a, b := ths[0], ths[1]
		for range 5 {
			if _, ok, _, _ := a.Reserve("alice", "198.51.100.1"); !ok { // never Done: a dies
				t.Fatal("refused")
			}
		}
		if _, ok, retry, _ := b.Reserve("alice", "198.51.100.1"); ok || retry != inflightRetry {
			t.Errorf("5 in flight: b answers %v %v", ok, retry)
		}
		clock.Add(reservationLease + time.Second)
		if _, ok, retry, scope := b.Reserve("alice", "198.51.100.1"); ok || scope != ScopeUserIP || retry <= inflightRetry {
			t.Errorf("5 leases ended without an outcome: b answers %v %v %q", ok, retry, scope)
		}
	})
}

// A check still held when the throttle closes may end after: its outcome
// stays here, and no outage is logged or reported for it.
func TestSharedDoneAfterClose(t *testing.T) {
	rd := realtest.StartRedis(t)
	ths, logs, _ := replicas(t, rd, 1, nil)
	th := ths[0]
	r, ok, _, _ := th.Reserve("alice", "198.51.100.1")
	if !ok {
		t.Fatal("refused")
	}
	if err := th.Close(); err != nil {
		t.Fatal(err)
	}
	r.Done(Failure)
	th.Seen("bob", "198.51.100.2")
	if r, ok, _, _ := th.Reserve("carol", "198.51.100.3"); ok {
		r.Done(Failure)
	}
	th.Flush()
	if _, err := th.Store(); err != nil || strings.Contains(logs[0].String(), "unreachable") || th.StoreErrors() != 0 {
		t.Errorf("after Close: store %v, %d errors, log %s", err, th.StoreErrors(), logs[0].String())
	}
}
