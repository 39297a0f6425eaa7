package vcache

import (
	"sync"
	"testing"
	"time"

	"github.com/authreq/authreq/authreq/identity"
)

func TestCacheBehaviour(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	c := New(time.Minute, 3, clock)
	k := c.Key("alice", "pw")
	if c.Key("alice", "pw") != k || c.Key("alic", "epw") == k || c.Key("alice:", "pw") == c.Key("alice", ":pw") {
		t.Fatal("keys collide or are unstable")
	}
	if New(time.Minute, 3, clock).Key("alice", "pw") == k {
		t.Fatal("key is not per process")
	}
	c.Put(k, identity.Identity{User: "alice"}, c.Gen())
	if _, ok := c.Get(k); !ok {
		t.Fatal("miss after put")
	}
	advance(61 * time.Second)
	if _, ok := c.Get(k); ok {
		t.Fatal("hit after TTL")
	}
	for i, u := range []string{"a", "b", "c", "d"} {
		c.Put(c.Key(u, "pw"), identity.Identity{User: u}, c.Gen())
		if i == 1 {
			c.Get(c.Key("a", "pw")) // a is now more recent than b
		}
	}
	if c.Len() != 3 {
		t.Fatalf("len %d, bound 3", c.Len())
	}
	if _, ok := c.Get(c.Key("b", "pw")); ok {
		t.Error("least recently used entry survived")
	}
	gen := c.Gen()
	c.DropUsers([]string{"a"})
	if _, ok := c.Get(c.Key("a", "pw")); ok {
		t.Error("dropped user still cached")
	}
	if _, ok := c.Get(c.Key("c", "pw")); !ok {
		t.Error("other user dropped")
	}
	c.Put(c.Key("a", "pw"), identity.Identity{User: "a"}, gen) // computed before the drop
	if _, ok := c.Get(c.Key("a", "pw")); ok {
		t.Error("stale result cached after an invalidation")
	}
	off := New(0, 10, clock)
	off.Put(off.Key("a", "b"), identity.Identity{}, off.Gen())
	if _, ok := off.Get(off.Key("a", "b")); ok {
		t.Error("ttl 0 must disable the cache")
	}
}
