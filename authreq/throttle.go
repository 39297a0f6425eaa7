package authreq

import (
	"container/list"
	"sync"
	"time"
)

// trustTTL is how long a successful login from an address exempts that
// (user, address) pair from the per-user slowdown.
const trustTTL = 30 * 24 * time.Hour

// Throttle scopes, as in the audit log and authreq_throttled_total.
const (
	scopeUserIP = "user_ip"
	scopeIP     = "ip"
	scopeUser   = "user"
)

// throttle counts failed password checks per (user, IP), per IP and per
// user over a sliding window. Past the (user, IP) or IP bound, requests are
// refused without a password check, for a backoff that doubles with each
// further failure. Past the per-user bound a user's checks are only slowed —
// one per backoff step — and never from an address where that user logged
// in during the last 30 days: a botnet guessing alice's password cannot lock
// alice out of where she works. Memory is bounded: the least recently
// touched entries go first.
type throttle struct {
	perPair, perIP, perUser int
	window, initial, max    time.Duration
	maxEntries              int
	now                     func() time.Time

	mu      sync.Mutex
	entries map[string]*list.Element // of *counter
	lru     *list.List               // front: most recently touched
	trusted map[string]*list.Element // of *trust: user\x00ip → last success
	tlru    *list.List
}

// counter is a sliding-window failure count: the previous window's count
// weighted by how much of it still overlaps, plus the current one's.
type counter struct {
	key       string
	prev, cur int
	start     time.Time // of the current window
	strikes   int       // failures past the bound: the backoff exponent
	until     time.Time // refused until (pair, IP); next check allowed (user)
}

type trust struct {
	key  string
	last time.Time
}

func newThrottle(l Limits, now func() time.Time) *throttle {
	return &throttle{
		perPair: l.Failures.PerUserAndIP, perIP: l.Failures.PerIP, perUser: l.Failures.PerUser,
		window: l.Failures.Window.D(), initial: l.Backoff.Initial.D(), max: l.Backoff.Max.D(),
		maxEntries: l.MaxEntries, now: now,
		entries: make(map[string]*list.Element), lru: list.New(),
		trusted: make(map[string]*list.Element), tlru: list.New(),
	}
}

func (t *throttle) enabled() bool { return t.window > 0 && t.maxEntries > 0 }

// allow decides before a password check. retry is how long the client
// should wait; scope says which bound refused it.
func (t *throttle) allow(user, ip string) (ok bool, retry time.Duration, scope string) {
	if !t.enabled() {
		return true, 0, ""
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	for _, c := range []struct {
		key, scope string
		bound      int
	}{{pairKey(user, ip), scopeUserIP, t.perPair}, {ipKey(ip), scopeIP, t.perIP}} {
		if e := t.get(c.key, false); e != nil && c.bound > 0 && now.Before(e.until) {
			return false, e.until.Sub(now), c.scope
		}
	}
	if t.perUser > 0 && !t.isTrusted(user, ip, now) {
		if e := t.get(userKey(user), false); e != nil && t.estimate(e, now) >= float64(t.perUser) {
			if now.Before(e.until) {
				return false, e.until.Sub(now), scopeUser
			}
			// Over the bound: this check may go ahead, the next only
			// after a backoff step.
			e.until = now.Add(t.step(e.strikes))
		}
	}
	return true, 0, ""
}

// failure records a failed password check.
func (t *throttle) failure(user, ip string) {
	if !t.enabled() {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	for _, c := range []struct {
		key   string
		bound int
		block bool
	}{{pairKey(user, ip), t.perPair, true}, {ipKey(ip), t.perIP, true}, {userKey(user), t.perUser, false}} {
		if c.bound <= 0 {
			continue
		}
		e := t.get(c.key, true)
		t.roll(e, now)
		e.cur++
		if t.estimate(e, now) >= float64(c.bound) {
			e.strikes++
			if c.block {
				e.until = now.Add(t.step(e.strikes))
			}
		}
	}
}

// success resets the pair's count and trusts the pair for the per-user
// bound.
func (t *throttle) success(user, ip string) {
	if !t.enabled() {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if el, ok := t.entries[pairKey(user, ip)]; ok {
		t.lru.Remove(el)
		delete(t.entries, pairKey(user, ip))
	}
	k := pairKey(user, ip)
	if el, ok := t.trusted[k]; ok {
		el.Value.(*trust).last = t.now()
		t.tlru.MoveToFront(el)
		return
	}
	t.trusted[k] = t.tlru.PushFront(&trust{key: k, last: t.now()})
	for t.tlru.Len() > t.maxEntries {
		old := t.tlru.Back()
		delete(t.trusted, old.Value.(*trust).key)
		t.tlru.Remove(old)
	}
}

func (t *throttle) isTrusted(user, ip string, now time.Time) bool {
	el, ok := t.trusted[pairKey(user, ip)]
	return ok && now.Sub(el.Value.(*trust).last) < trustTTL
}

// get returns the entry for key, creating it (and evicting the least
// recently touched ones past the bound) when create is set.
func (t *throttle) get(key string, create bool) *counter {
	if el, ok := t.entries[key]; ok {
		t.lru.MoveToFront(el)
		return el.Value.(*counter)
	}
	if !create {
		return nil
	}
	e := &counter{key: key, start: t.now()}
	t.entries[key] = t.lru.PushFront(e)
	for t.lru.Len() > t.maxEntries {
		old := t.lru.Back()
		delete(t.entries, old.Value.(*counter).key)
		t.lru.Remove(old)
	}
	return e
}

func (t *throttle) roll(e *counter, now time.Time) {
	switch d := now.Sub(e.start); {
	case d >= 2*t.window:
		e.prev, e.cur, e.start = 0, 0, now
	case d >= t.window:
		e.prev, e.cur, e.start = e.cur, 0, e.start.Add(t.window)
	}
}

func (t *throttle) estimate(e *counter, now time.Time) float64 {
	t.roll(e, now)
	overlap := 1 - float64(now.Sub(e.start))/float64(t.window)
	return float64(e.prev)*overlap + float64(e.cur)
}

// step is the backoff after n strikes: initial, doubled each time, capped.
func (t *throttle) step(n int) time.Duration {
	d := t.initial
	for i := 1; i < n && d < t.max; i++ {
		d *= 2
	}
	return min(d, t.max)
}

// Len is the number of failure entries and trusted pairs held.
func (t *throttle) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.lru.Len() + t.tlru.Len()
}
