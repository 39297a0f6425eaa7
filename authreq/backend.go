package authreq

import (
	"context"
	"errors"
)

// Identity is who a backend says the user is.
type Identity struct {
	User    string
	Groups  []string // group CNs (LDAP); nil for htpasswd
	Role    string   // "admin", "user", or "" when the backend has no roles
	Backend string   // "htpasswd", "ldap"
}

// Backend checks credentials. An error wrapping ErrBadCredentials means the
// user or password is wrong (401). Any other error, ErrUnavailable among
// them, is a technical failure: the caller fails closed with 503, never
// 401, so that an outage is not mistaken for wrong passwords.
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
	ErrUnavailable    = errors.New("backend unavailable")
)

// chain tries backends in order: htpasswd first (local break-glass
// accounts), then LDAP. A user a backend does not know falls through to
// the next; the first success wins. An outage of a later backend is only
// reported when no earlier one accepted.
type chain []Backend

func (c chain) Authenticate(ctx context.Context, user, password string) (Identity, error) {
	var firstErr error
	for _, b := range c {
		id, err := b.Authenticate(ctx, user, password)
		if err == nil {
			return id, nil
		}
		if firstErr == nil || !errors.Is(err, ErrBadCredentials) && errors.Is(firstErr, ErrBadCredentials) {
			firstErr = err
		}
	}
	return Identity{}, firstErr
}
