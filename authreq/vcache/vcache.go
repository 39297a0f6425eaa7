// Package vcache remembers successful verifications, so that a bcrypt user
// pays one hash per TTL instead of one per request.
package vcache

import (
	"container/list"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"hash"
	"sync"
	"time"

	"github.com/authreq/authreq/authreq/identity"
)

// Cache remembers successful verifications. Keys are an HMAC, under a
// random per-process key, of user and password: the cache never holds a
// password, and nothing outside the process can compute a key.
type Cache struct {
	key  []byte
	macs sync.Pool // of *mac: HMAC-SHA256 under key
	ttl  time.Duration
	max  int
	now  func() time.Time
	mu   sync.Mutex
	m    map[Key]*list.Element
	lru  *list.List // front: most recently used
	gen  uint64     // bumped by every invalidation
}

// Key is a cache key: an HMAC of user and password.
type Key [sha256.Size]byte

type entry struct {
	key     Key
	id      identity.Identity
	expires time.Time
}

// New makes a cache of at most max entries that live for ttl; ttl or max
// 0 turn it off.
func New(ttl time.Duration, max int, now func() time.Time) *Cache {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	c := &Cache{key: k, ttl: ttl, max: max, now: now, m: make(map[Key]*list.Element), lru: list.New()}
	c.macs.New = func() any { return &mac{h: hmac.New(sha256.New, c.key), buf: make([]byte, 0, 128)} }
	return c
}

func (c *Cache) enabled() bool { return c.ttl > 0 && c.max > 0 }

// Key derives the cache key. Lengths are written before each part, so no
// two (user, password) pairs share an input. MACs and their input buffers
// are pooled: a cached request allocates none.
func (c *Cache) Key(user, password string) Key {
	m := c.macs.Get().(*mac)
	m.h.Reset()
	b := binary.BigEndian.AppendUint64(m.buf[:0], uint64(len(user)))
	b = append(b, user...)
	b = binary.BigEndian.AppendUint64(b, uint64(len(password)))
	b = append(b, password...)
	m.h.Write(b)
	m.h.Sum(m.sum[:0])
	k := m.sum
	clear(b) // the password does not stay behind in the pool
	if cap(b) <= 1024 {
		m.buf = b[:0] // a huge one is not kept for every later request
	}
	c.macs.Put(m)
	return k
}

// mac is a pooled HMAC with its input and output buffers.
type mac struct {
	h   hash.Hash
	buf []byte
	sum Key
}

// Get returns a live entry.
func (c *Cache) Get(k Key) (identity.Identity, bool) {
	if !c.enabled() {
		return identity.Identity{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.m[k]
	if !ok {
		return identity.Identity{}, false
	}
	e := el.Value.(*entry)
	if !c.now().Before(e.expires) {
		c.remove(el)
		return identity.Identity{}, false
	}
	c.lru.MoveToFront(el)
	return e.id, true
}

// Gen is the invalidation generation; take it before a verification and
// give it to Put, so that a result computed from a table that was replaced
// meanwhile is not cached.
func (c *Cache) Gen() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// Put stores a success, evicting the least recently used entry when full.
func (c *Cache) Put(k Key, id identity.Identity, gen uint64) {
	if !c.enabled() {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if el, ok := c.m[k]; ok {
		c.remove(el)
	}
	for c.lru.Len() >= c.max {
		c.remove(c.lru.Back())
	}
	c.m[k] = c.lru.PushFront(&entry{key: k, id: id, expires: c.now().Add(c.ttl)})
}

// DropUsers forgets every entry of the given users (password changed, user
// removed). nil drops everything.
func (c *Cache) DropUsers(users []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	if users == nil {
		c.m = make(map[Key]*list.Element)
		c.lru.Init()
		return
	}
	drop := make(map[string]bool, len(users))
	for _, u := range users {
		drop[u] = true
	}
	for el := c.lru.Front(); el != nil; {
		next := el.Next()
		if drop[el.Value.(*entry).id.User] {
			c.remove(el)
		}
		el = next
	}
}

// Len is the number of entries, expired ones included until touched.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}

func (c *Cache) remove(el *list.Element) {
	delete(c.m, el.Value.(*entry).key)
	c.lru.Remove(el)
}
