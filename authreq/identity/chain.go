package identity

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// Gate bounds the concurrent checks of one store. Do runs fn once a slot
// is free — perhaps on a goroutine of its own, at a lower priority than
// the requests that need no check — and returns when fn has returned; or
// it fails without running fn (the answer is then a 503).
type Gate interface {
	Do(ctx context.Context, fn func()) error
}

// Chain asks stores in order (htpasswd first: local break-glass accounts;
// then the directory). The first success wins. Otherwise a definite "no"
// from any store (a wrong password for a user it knows) is the answer — a
// later store's outage must not turn it into a 503 that is never counted
// as a failure, or break-glass accounts could be guessed without limit
// while the directory is down. Only when no store could decide does an
// outage answer.
type Chain struct {
	links []link
	// Observe records each store's check time (metrics); may be nil.
	Observe func(store string, d time.Duration)
}

type link struct {
	Authenticator
	gate Gate
}

// Add appends a store whose checks wait for gate.
func (c *Chain) Add(a Authenticator, gate Gate) { c.links = append(c.links, link{a, gate}) }

// Stores lists the stores in order.
func (c *Chain) Stores() []Authenticator {
	out := make([]Authenticator, len(c.links))
	for i, l := range c.links {
		out[i] = l.Authenticator
	}
	return out
}

// Authenticate asks each store in turn, as the Chain's doc says.
func (c *Chain) Authenticate(ctx context.Context, cred Credentials) (Identity, error) {
	var no, down, unknown error
	for i, l := range c.links {
		if sec, ok := l.Authenticator.(Secondary); ok && sec.Secondary() {
			found, lerr := c.claimed(ctx, cred.Principal(), i)
			switch {
			case lerr != nil:
				down = firstErr(down, fmt.Errorf("%s: cannot tell whether another store knows the name: %w", l.Name(), lerr))
				continue
			case found:
				unknown = firstErr(unknown, fmt.Errorf("%w: %s: the name belongs to another user store", ErrUnknownUser, l.Name()))
				continue
			}
		}
		var id Identity
		var err error
		if gerr := l.gate.Do(ctx, func() {
			start := time.Now()
			id, err = l.Authenticate(ctx, cred)
			if c.Observe != nil {
				c.Observe(l.Name(), time.Since(start))
			}
		}); gerr != nil {
			err = gerr
			if no != nil {
				// An earlier store's definite no stands: a later store's
				// full queue (a hanging directory) must not turn it into an
				// uncounted 503, or the earlier store's passwords could be
				// guessed without limit by keeping that queue full.
				down = firstErr(down, err)
				continue
			}
			// Overloaded, and nothing decided yet: a store that could not
			// even check must not be outvoted by a later one's "no" (its
			// user would be counted as guessing), so the answer is a 503.
			return Identity{}, err
		}
		switch {
		case err == nil:
			return id, nil
		case errors.Is(err, ErrUnknownUser):
			unknown = firstErr(unknown, err)
		case errors.Is(err, ErrBadCredentials):
			no = firstErr(no, err)
		default:
			down = firstErr(down, err)
		}
	}
	if err := firstErr(no, down, unknown); err != nil {
		return Identity{}, err
	}
	return Identity{}, fmt.Errorf("%w: no user store", ErrUnavailable)
}

// Lookup asks every store that can find a user without a password
// (Lookuper), in order; the first that knows the user answers. As in
// Authenticate, a secondary store answers only for names no other store
// holds. None knows it: found is false. A store that could not tell, and
// none that knew: that store's error (fail closed).
func (c *Chain) Lookup(ctx context.Context, user string) (Identity, bool, error) {
	var down error
	for i, l := range c.links {
		lk, ok := l.Authenticator.(Lookuper)
		if !ok {
			continue
		}
		if sec, isSec := l.Authenticator.(Secondary); isSec && sec.Secondary() {
			claimed, err := c.claimed(ctx, user, i)
			if err != nil {
				down = firstErr(down, fmt.Errorf("%s: cannot tell whether another store knows the name: %w", l.Name(), err))
				continue
			}
			if claimed {
				continue
			}
		}
		var id Identity
		var found bool
		var err error
		if gerr := l.lookupGate(ctx, func() { id, found, err = lk.Lookup(ctx, user) }); gerr != nil {
			err = gerr
		}
		switch {
		case err != nil:
			down = firstErr(down, err)
		case found:
			return id, true, nil
		}
	}
	return Identity{}, false, down
}

// claimed tells whether any store but secondary ones (and link except)
// holds the name (Claimer; else Lookuper's found). A store that cannot
// tell makes it an error: fail closed.
func (c *Chain) claimed(ctx context.Context, user string, except int) (bool, error) {
	var down error
	for i, l := range c.links {
		if i == except {
			continue
		}
		if sec, ok := l.Authenticator.(Secondary); ok && sec.Secondary() {
			continue
		}
		cl, isClaimer := l.Authenticator.(Claimer)
		lk, isLookuper := l.Authenticator.(Lookuper)
		if !isClaimer && !isLookuper {
			continue
		}
		var found bool
		var err error
		if gerr := l.lookupGate(ctx, func() {
			if isClaimer {
				found, err = cl.Claims(ctx, user)
			} else {
				_, found, err = lk.Lookup(ctx, user)
			}
		}); gerr != nil {
			err = gerr
		}
		switch {
		case err != nil:
			down = firstErr(down, err)
		case found:
			return true, nil
		}
	}
	return false, down
}

// lookupGate runs a lookup of l's: in l's gate for a store that waits on
// the network (a directory's connections are few), else at once — a
// lookup in memory costs nothing, and must not queue behind password
// checks.
func (l link) lookupGate(ctx context.Context, fn func()) error {
	if n, ok := l.Authenticator.(NetworkBound); ok && n.NetworkBound() {
		return l.gate.Do(ctx, fn)
	}
	fn()
	return nil
}

// Close closes every store that has a Close method.
func (c *Chain) Close() error {
	var errs []error
	for _, l := range c.links {
		if cl, ok := l.Authenticator.(io.Closer); ok {
			errs = append(errs, cl.Close())
		}
	}
	return errors.Join(errs...)
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}
