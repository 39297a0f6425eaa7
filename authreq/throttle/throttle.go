package throttle

import (
	"container/list"
	"sync"
	"sync/atomic"
	"time"
)

// trustTTL is how long a successful login from an address exempts that
// (user, address) pair from the per-user slowdown.
const trustTTL = 30 * 24 * time.Hour

// Throttle scopes, as in the audit log and authreq_throttled_total.
const (
	ScopeUserIP = "user_ip"
	ScopeIP     = "ip"
	ScopeUser   = "user"
)

// throttle counts failed password checks per (user, IP), per IP and per
// user over a sliding window. Past the (user, IP) or IP bound, requests are
// refused without a password check, for a backoff that doubles with each
// further failure. Past the per-user bound a user's checks are only slowed —
// one per backoff step — and never from an address where that user logged
// in during the last 30 days: a botnet guessing alice's password cannot lock
// alice out of where she works.
//
// A check holds a Reservation from before the password check until its
// Outcome is known, and attempts in flight count against every bound: N
// concurrent guesses cannot all pass before the first failure is counted.
//
// Memory is bounded: the least recently touched entries go first, except
// those with attempts in flight, which stay until released (so the table
// exceeds maxEntries only by entries all of whose attempts are in flight,
// at most three per Reservation).
type Throttle struct {
	perPair, perIP, perUser int
	window, initial, max    time.Duration
	maxEntries              int
	v4bits, v6bits          int // rateLimit.clientPrefix
	now                     func() time.Time

	mu      sync.Mutex
	entries map[string]*counter
	lru     *list.List               // of *counter with nothing in flight; front: most recently touched
	trusted map[string]*list.Element // of *trust: pair key → last success
	tlru    *list.List
	byUser  map[string]*list.List // user key → that user's *trust, most recent first

	// fast holds the same *trust as trusted, for seen to read without
	// the mutex; written only under it.
	fast     sync.Map
	slowSeen atomic.Uint64 // seen calls that took the mutex

	// store holds the state shared by the replicas (Open); nil: this
	// process's table decides alone. While the store is away the table
	// decides, and it is kept current with this replica's outcomes
	// meanwhile, so the fallback never starts from nothing.
	store *redisStore
}

// counter is a sliding-window failure count: the previous window's count
// weighted by how much of it still overlaps, plus the current one's.
type counter struct {
	key       string
	prev, cur int
	start     time.Time // of the current window
	strikes   int       // failures past the bound: the backoff exponent
	until     time.Time // refused until (pair, IP); next check allowed (user)
	inflight  int       // reservations held
	el        *list.Element

	// by is, on a pair's counter, the exact name of every failure counted
	// since its last reset ("*" when they differ): only a success of that
	// name may reset it. The counter is the folded name's, so a success of
	// the look-alike account "ALICE" must not wipe guesses at alice.
	by string
	// shared: refused until, as the shared store last answered for this
	// key; a replica that knows it refuses without asking again.
	shared time.Time
	// stranger, on a pair's counter: until then the shared store's
	// refusal of the pair's address binds it (see reserveShared).
	stranger time.Time
	// unsent: outcomes on this pair on their way to the shared store.
	unsent int
}

func (e *counter) empty() bool {
	return e.prev == 0 && e.cur == 0 && e.strikes == 0 && e.until.IsZero() && e.shared.IsZero() && e.stranger.IsZero() && e.unsent == 0
}

type trust struct {
	key    string
	user   string        // the user's key: whose share of trusted pairs this is
	last   atomic.Int64  // UnixNano of the last success or refresh; written under mu
	byUser *list.Element // in byUser[user]
}

// maxTrustedPerUser bounds the trusted pairs of one user: people work from
// a handful of places. Without it, one account's cached credentials shown
// from many addresses would push every other user's trusted pairs out of
// the shared bound, and with them the exemption that keeps a botnet from
// locking alice out of her office.
const maxTrustedPerUser = 32

// Outcome is what a password check found, for Reservation.Done.
type Outcome int

const (
	// Failure: a wrong password (or unknown user); counted.
	Failure Outcome = iota
	// Success: the password was right; resets the (user, address)
	// count if every failure in it was made under this exact name, and
	// trusts the pair for the per-user bound.
	Success
	// Undecided: no answer (backend outage, queue timeout, 503);
	// released without counting.
	Undecided
)

// Any other Outcome counts as a failure: on doubt, the budget pays.

// seenRefresh is how often seen refreshes a trusted pair under the mutex;
// trust lasts trustTTL, so an hour's lag costs nothing.
const seenRefresh = time.Hour

// inflightRetry is the Retry-After for a bound filled only by attempts in
// flight: they end within a password check's time.
const inflightRetry = time.Second

// Reservation is one password check's place in the budgets, from reserve
// until Done.
type Reservation struct {
	t       *Throttle // nil: throttling off
	pair    string    // the pair's failure counter (folded name)
	trust   string    // the pair's trust key (exact name)
	user    string    // the exact name's share of trusted pairs
	trusted bool      // counted in the trusted pairs' address bucket
	held    []held
	// sh: held in the shared store instead, or (local) decided here
	// and to be told there too.
	sh       *sharedHold
	local    bool
	released atomic.Bool
}

type held struct {
	e     *counter
	bound int
	block bool // past the bound, refuse (pair, IP) rather than slow (user)
}

func New(l Config, now func() time.Time) *Throttle {
	if l.ClientPrefix.IPv4 == 0 {
		l.ClientPrefix.IPv4 = 32
	}
	if l.ClientPrefix.IPv6 == 0 {
		l.ClientPrefix.IPv6 = 64
	}
	return &Throttle{
		perPair: l.Failures.PerUserAndIP, perIP: l.Failures.PerIP, perUser: l.Failures.PerUser,
		window: l.Failures.Window.D(), initial: l.Backoff.Initial.D(), max: l.Backoff.Max.D(),
		maxEntries: l.MaxEntries, v4bits: l.ClientPrefix.IPv4, v6bits: l.ClientPrefix.IPv6, now: now,
		entries: make(map[string]*counter), lru: list.New(),
		trusted: make(map[string]*list.Element), tlru: list.New(), byUser: make(map[string]*list.List),
	}
}

func (t *Throttle) enabled() bool { return t.window > 0 && t.maxEntries > 0 }

// reserve decides before a password check. When ok, the check holds a
// place against the (user, IP), IP and user budgets until r.Done is called
// with its Outcome; call Done exactly once on every path (more calls do
// nothing). When not ok there is nothing to release; retry is how long the
// client should wait and scope says which bound refused it.
//
// A pair or IP is refused during its backoff, and while attempts in flight
// would take it to its bound (estimate + in flight >= bound; then retry is
// a second). After a backoff step, one check at a time may go ahead. Past
// the per-user bound (attempts in flight included) one check per backoff
// step goes ahead, except from pairs trusted by an earlier success, which
// are never slowed.
//
// With a shared store that answers, the store decides (one round trip;
// under a flood, after waiting at most the store's timeout for a free
// call). When a call fails, this process's table decides that check and
// the outcome is told to the store as well; after downAfter failures in a
// row, or a failed probe, the table decides alone until Redis answers
// again, and the outcomes decided meanwhile are sent when it does.
func (t *Throttle) Reserve(user, ip string) (r *Reservation, ok bool, retry time.Duration, scope string) {
	if !t.enabled() {
		return &Reservation{}, true, 0, ""
	}
	s := t.store
	if s == nil || s.closing.Load() {
		return t.reserveLocal(user, ip)
	}
	var h *sharedHold
	if s.up.Load() {
		var answered bool
		if r, ok, retry, scope, h, answered = t.reserveShared(user, ip); answered {
			return r, ok, retry, scope
		}
	}
	r, ok, retry, scope = t.reserveLocal(user, ip)
	switch {
	case ok && h == nil:
		h = t.hold(user, ip, "", r.trusted)
	case ok && r.trusted:
		h.ip, h.other = h.other, h.ip
	case !ok && h != nil:
		t.tell(h, Undecided, true) // Redis may hold it all the same
	}
	if ok {
		r.sh, r.local = h, true // counted in Redis too, now or when it returns
	}
	return r, ok, retry, scope
}

func (t *Throttle) reserveLocal(user, ip string) (r *Reservation, ok bool, retry time.Duration, scope string) {
	pk, ik, uk, tk := t.pairKey(user, ip), t.ipKey(ip), userKey(user), t.trustKey(user, ip)
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	// A pair trusted by an earlier success is not refused for what others
	// did from its address (a guest on the office network, everyone behind
	// one NAT or /64), nor slowed by the per-user bound: its failures count
	// in an address bucket of the trusted pairs' own. Only while its own
	// pair bound holds: without one, trust would leave no bound at all.
	trusted := t.perPair > 0 && t.isTrusted(tk, now)
	if trusted {
		ik = t.trustedIPKey(ip)
	}
	for _, c := range []struct {
		key, scope string
		bound      int
	}{{pk, ScopeUserIP, t.perPair}, {ik, ScopeIP, t.perIP}} {
		e := t.get(c.key, false)
		if e == nil || c.bound <= 0 {
			continue
		}
		if until := later(e.until, e.shared); now.Before(until) {
			return nil, false, until.Sub(now), c.scope
		}
		if e.inflight > 0 && t.estimate(e, now)+float64(e.inflight) >= float64(c.bound) {
			return nil, false, inflightRetry, c.scope
		}
	}
	if t.perUser > 0 && !trusted {
		if e := t.get(uk, false); e != nil && t.estimate(e, now)+float64(e.inflight) >= float64(t.perUser) {
			if now.Before(e.until) {
				return nil, false, e.until.Sub(now), ScopeUser
			}
			// Over the bound: this check may go ahead, the next only
			// after a backoff step.
			e.until = now.Add(t.step(e.strikes))
		}
	}
	r = &Reservation{t: t, pair: pk, trust: tk, user: exactUserKey(user), trusted: trusted}
	for _, c := range []struct {
		key   string
		bound int
		block bool
	}{{pk, t.perPair, true}, {ik, t.perIP, true}, {uk, t.perUser, false}} {
		if c.bound > 0 {
			e := t.get(c.key, true)
			t.pin(e)
			r.held = append(r.held, held{e, c.bound, c.block})
		}
	}
	return r, true, 0, ""
}

// Done releases the Reservation with the check's Outcome. Only the first
// call counts; Done on a nil Reservation does nothing.
func (r *Reservation) Done(o Outcome) {
	if r == nil || r.t == nil || !r.released.CompareAndSwap(false, true) {
		return
	}
	t := r.t
	if r.sh != nil && !r.local {
		t.doneShared(r.sh, o)
		return
	}
	if r.sh != nil {
		defer t.tell(r.sh, o, true)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	switch o {
	case Success:
		t.succeeded(r.user, r.pair, r.trust, now)
	case Undecided:
	default:
		for _, h := range r.held {
			by := ""
			if h.e.key == r.pair {
				by = r.user
			}
			t.count(h.e, h.bound, h.block, by, now)
		}
	}
	for _, h := range r.held {
		t.unpin(h.e)
	}
}

// count records one failure on e; by is the exact name's key on a pair's
// counter, else "".
func (t *Throttle) count(e *counter, bound int, block bool, by string, now time.Time) {
	t.roll(e, now)
	e.cur++
	if by != "" {
		if e.by != "" && e.by != by {
			by = "*"
		}
		e.by = by
	}
	if t.estimate(e, now) >= float64(bound) {
		e.strikes++
		if block {
			e.until = now.Add(t.step(e.strikes))
		}
	}
}

// succeeded resets the pair's count (attempts still in flight stay
// counted as such) when all its failures were uk's, and trusts the pair
// for the per-user bound. A user who mistyped and then logged in starts
// afresh; failures of another spelling (someone else's, or her own typo of
// the name) stay until the window forgets them.
func (t *Throttle) succeeded(uk, pk, tk string, now time.Time) {
	if e := t.entries[pk]; e != nil && (e.by == "" || e.by == uk) {
		e.prev, e.cur, e.strikes, e.until, e.start, e.by = 0, 0, 0, time.Time{}, now, ""
		if e.inflight == 0 {
			t.remove(e)
		}
	}
	t.trust(uk, tk, now)
}

// seen records that user authenticated from ip without a password check (a
// cache hit): the pair is trusted, as after a success, so the per-user
// bound never slows it. Cheap enough for every cache hit: a pair refreshed
// within the hour costs a lock-free map read; only the first call and one
// an hour per pair take the mutex (and, with a shared store, refresh the
// pair there in the background). The pair's failure count is left alone.
func (t *Throttle) Seen(user, ip string) {
	if !t.enabled() {
		return
	}
	tk := t.trustKey(user, ip)
	now := t.now()
	if v, ok := t.fast.Load(tk); ok && now.UnixNano()-v.(*trust).last.Load() < int64(seenRefresh) {
		return
	}
	t.slowSeen.Add(1)
	t.mu.Lock()
	t.trust(exactUserKey(user), tk, now)
	t.mu.Unlock()
	if t.store != nil {
		t.seenShared(user, ip)
	}
}

// trust records a success of the pair at now, keeping at most
// maxTrustedPerUser trusted pairs per user (that user's least recently
// seen go first) and maxEntries in all.
func (t *Throttle) trust(uk, pk string, now time.Time) {
	if el, ok := t.trusted[pk]; ok {
		tr := el.Value.(*trust)
		tr.last.Store(now.UnixNano())
		t.tlru.MoveToFront(el)
		t.byUser[tr.user].MoveToFront(tr.byUser)
		return
	}
	tr := &trust{key: pk, user: uk}
	tr.last.Store(now.UnixNano())
	t.trusted[pk] = t.tlru.PushFront(tr)
	t.fast.Store(pk, tr)
	mine := t.byUser[uk]
	if mine == nil {
		mine = list.New()
		t.byUser[uk] = mine
	}
	tr.byUser = mine.PushFront(tr)
	for mine.Len() > maxTrustedPerUser {
		t.untrust(mine.Back().Value.(*trust))
	}
	for t.tlru.Len() > t.maxEntries {
		t.untrust(t.tlru.Back().Value.(*trust))
	}
}

func (t *Throttle) untrust(tr *trust) {
	t.tlru.Remove(t.trusted[tr.key])
	delete(t.trusted, tr.key)
	t.fast.Delete(tr.key)
	mine := t.byUser[tr.user]
	mine.Remove(tr.byUser)
	if mine.Len() == 0 {
		delete(t.byUser, tr.user)
	}
}

func (t *Throttle) isTrusted(pk string, now time.Time) bool {
	el, ok := t.trusted[pk]
	return ok && now.UnixNano()-el.Value.(*trust).last.Load() < int64(trustTTL)
}

// pin takes e out of the eviction order while attempts are in flight.
func (t *Throttle) pin(e *counter) {
	if e.el != nil {
		t.lru.Remove(e.el)
		e.el = nil
	}
	e.inflight++
}

// unpin releases one attempt; the last one returns e to the eviction
// order, or drops it if it holds nothing.
func (t *Throttle) unpin(e *counter) {
	if e.inflight--; e.inflight > 0 || t.entries[e.key] != e {
		return
	}
	if e.empty() {
		delete(t.entries, e.key)
		return
	}
	e.el = t.lru.PushFront(e)
	t.evict(0)
}

// remove drops an entry with nothing in flight.
func (t *Throttle) remove(e *counter) {
	if e.el != nil {
		t.lru.Remove(e.el)
		e.el = nil
	}
	delete(t.entries, e.key)
}

// evict drops the least recently touched entries until room more fit
// under maxEntries, or only entries with attempts in flight are left.
func (t *Throttle) evict(room int) {
	for len(t.entries)+room > t.maxEntries && t.lru.Len() > 0 {
		t.remove(t.lru.Back().Value.(*counter))
	}
}

// get returns the entry for key, creating it (and evicting the least
// recently touched ones past the bound) when create is set.
func (t *Throttle) get(key string, create bool) *counter {
	if e, ok := t.entries[key]; ok {
		if e.el != nil {
			t.lru.MoveToFront(e.el)
		}
		return e
	}
	if !create {
		return nil
	}
	t.evict(1)
	e := &counter{key: key, start: t.now()}
	t.entries[key] = e
	e.el = t.lru.PushFront(e)
	return e
}

func (t *Throttle) roll(e *counter, now time.Time) {
	switch d := now.Sub(e.start); {
	case d >= 2*t.window:
		e.prev, e.cur, e.start = 0, 0, now
	case d >= t.window:
		e.prev, e.cur, e.start = e.cur, 0, e.start.Add(t.window)
	}
}

func (t *Throttle) estimate(e *counter, now time.Time) float64 {
	t.roll(e, now)
	overlap := 1 - float64(now.Sub(e.start))/float64(t.window)
	return float64(e.prev)*overlap + float64(e.cur)
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// step is the backoff after n strikes: initial, doubled each time, capped.
func (t *Throttle) step(n int) time.Duration {
	d := t.initial
	for i := 1; i < n && d < t.max; i++ {
		d *= 2
	}
	return min(d, t.max)
}

// Len is the number of failure entries and trusted pairs held.
func (t *Throttle) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.entries) + t.tlru.Len()
}
