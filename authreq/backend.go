package authreq

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Identity is who a backend says the user is.
type Identity struct {
	User    string
	Groups  []string // group CNs (LDAP); nil for htpasswd
	Role    string   // "admin", "user", or "" when the backend has no roles
	Backend string   // "htpasswd", "ldap"
}

// Backend checks credentials. An error wrapping ErrBadCredentials means the
// user or password is wrong (401); ErrUnknownUser, which wraps it, says
// more precisely that this backend does not know the user, so a later one
// may. Any other error, ErrUnavailable among them, is a technical failure:
// the caller fails closed with 503, never 401, so that an outage is not
// mistaken for wrong passwords.
type Backend interface {
	Name() string
	Authenticate(ctx context.Context, user, password string) (Identity, error)
	// Ready is nil once the backend has loaded (file parsed, directory
	// reachable), else why not.
	Ready() error
	Close() error
}

var (
	ErrBadCredentials = errors.New("bad credentials")
	ErrUnknownUser    = fmt.Errorf("%w: unknown user", ErrBadCredentials)
	ErrUnavailable    = errors.New("backend unavailable")
)

// link is a backend in the chain with the bound its checks wait for:
// CPU-bound hash checks share the one-slot-per-core pool, network-bound
// directory checks have a bound of their own, so that a hanging directory
// never holds the slots that break-glass htpasswd checks need.
type link struct {
	Backend
	slots *verifyPool
}

// chain tries backends in order: htpasswd first (local break-glass
// accounts), then LDAP. The first success wins. Otherwise a definite "no"
// from any backend (a wrong password for a user it knows) is the answer —
// a later backend's outage must not turn it into a 503 that is never
// counted as a failure, or break-glass accounts could be guessed without
// limit while the directory is down. Only when no backend could decide
// does an outage answer.
type chain struct {
	links []link
	// observe records each backend's check time (metrics); may be nil.
	observe func(backend string, d time.Duration)
}

func (c *chain) add(b Backend, slots *verifyPool) { c.links = append(c.links, link{b, slots}) }

func (c *chain) Authenticate(ctx context.Context, user, password string) (Identity, error) {
	var no, down, unknown error
	for _, l := range c.links {
		release, err := l.slots.acquire(ctx)
		if err != nil {
			// Overloaded: a backend that could not even check must not be
			// outvoted by a later one's "no" (its user would be counted as
			// guessing), so the whole answer is a 503.
			return Identity{}, err
		}
		id, err := c.check(ctx, l, user, password)
		release()
		switch {
		case err == nil:
			return id, nil
		case errors.Is(err, ErrUnknownUser):
			unknown = cmpOr(unknown, err)
		case errors.Is(err, ErrBadCredentials):
			no = cmpOr(no, err)
		default:
			down = cmpOr(down, err)
		}
	}
	if err := cmpOr(no, down, unknown); err != nil {
		return Identity{}, err
	}
	return Identity{}, fmt.Errorf("%w: no backend", ErrUnavailable)
}

func (c *chain) check(ctx context.Context, l link, user, password string) (Identity, error) {
	start := time.Now()
	id, err := l.Authenticate(ctx, user, password)
	if c.observe != nil {
		c.observe(l.Name(), time.Since(start))
	}
	return id, err
}

// Close closes every backend.
func (c *chain) Close() error {
	var errs []error
	for _, l := range c.links {
		errs = append(errs, l.Close())
	}
	return errors.Join(errs...)
}

// cmpOr is the first non-nil error.
func cmpOr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}
