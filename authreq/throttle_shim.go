package authreq

import "time"

// TEMPORARY: the reservation API over the old allow/failure/success, until
// the throttle branch lands.

type outcome int

const (
	outcomeUndecided outcome = iota
	outcomeFailure
	outcomeSuccess
)

type reservation struct {
	t        *throttle
	user, ip string
}

func (t *throttle) reserve(user, ip string) (*reservation, bool, time.Duration, string) {
	ok, retry, scope := t.allow(user, ip)
	if !ok {
		return nil, false, retry, scope
	}
	return &reservation{t, user, ip}, true, 0, ""
}

func (r *reservation) Done(o outcome) {
	switch o {
	case outcomeFailure:
		r.t.failure(r.user, r.ip)
	case outcomeSuccess:
		r.t.success(r.user, r.ip)
	}
}

func (t *throttle) seen(user, ip string) {}
