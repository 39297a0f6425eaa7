package authreq

import "time"

// The check-then-record API that serveAuth used before reservations. Kept
// only so that serveAuth compiles until it calls reserve and Done; it has
// the race reservations close (N concurrent guesses all pass allow before
// the first failure is recorded), so delete this file with its last caller.

// allow decides before a password check, without holding a place.
//
// Deprecated: use reserve, and Done with the outcome.
func (t *throttle) allow(user, ip string) (ok bool, retry time.Duration, scope string) {
	r, ok, retry, scope := t.reserve(user, ip)
	r.Done(outcomeUndecided)
	return ok, retry, scope
}

// failure records a failed password check.
//
// Deprecated: use reserve, and Done(outcomeFailure).
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
	}{{t.pairKey(user, ip), t.perPair, true}, {t.ipKey(ip), t.perIP, true}, {userKey(user), t.perUser, false}} {
		if c.bound > 0 {
			t.count(t.get(c.key, true), c.bound, c.block, now)
		}
	}
}

// success resets the pair's count and trusts the pair.
//
// Deprecated: use reserve, and Done(outcomeSuccess).
func (t *throttle) success(user, ip string) {
	if !t.enabled() {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.succeeded(t.pairKey(user, ip), t.now())
}
