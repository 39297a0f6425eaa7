package identity

import (
	"context"
	"errors"
	"fmt"
)

// Authenticator is a user store. Authenticate answers who the credentials
// belong to. An error wrapping ErrBadCredentials means they are wrong
// (401); ErrUnknownUser, which wraps it, says more precisely that this
// store does not know the user — or does not take this kind of
// credentials — so a later store may. Any other error, ErrUnavailable
// among them, is a technical failure: the caller fails closed with 503,
// never 401, so that an outage is not mistaken for wrong passwords.
type Authenticator interface {
	Name() string
	Authenticate(ctx context.Context, c Credentials) (Identity, error)
}

// Optional abilities, found by type assertion.
type (
	// Readier reports whether the store can answer now, and why not.
	Readier interface{ Ready() error }
	// Reloader re-reads the store's source now (SIGHUP).
	Reloader interface{ Reload(why string) error }
	// ChangeNotifier tells which users' credentials changed or vanished,
	// so that cached verifications of them are dropped.
	ChangeNotifier interface {
		OnChange(func(users []string))
	}
	// NetworkBound stores wait on the network rather than on the CPU: they
	// get a concurrency bound of their own instead of a CPU slot.
	NetworkBound interface{ NetworkBound() bool }
	// Secondary stores hold the users of another application (MLflow's
	// user database): they authenticate only names that no other store
	// knows, so that whoever can write such a store cannot log in as a
	// break-glass htpasswd account or a directory user of the same name.
	Secondary interface{ Secondary() bool }
	// Claimer tells whether the store holds the name at all — a locked or
	// refused account, or a directory user outside the configured groups,
	// included: what a Secondary store must yield to, whether or not the
	// name can log in here.
	Claimer interface {
		Claims(ctx context.Context, user string) (bool, error)
	}
	// Lookuper finds a user without a password — for credentials that
	// stand for a user, such as API tokens — with its groups and role, so
	// that the policy treats the user alike however it logs in. found is
	// false when the store does not know the user; an error means the store
	// could not tell (fail closed).
	Lookuper interface {
		Lookup(ctx context.Context, user string) (id Identity, found bool, err error)
	}
	// Cheap stores answer in microseconds without waiting on anything (a
	// hash and a map lookup): they never take a CPU slot meant for
	// password hashing, and never wait for one.
	Cheap interface{ Cheap() bool }
)

var (
	ErrBadCredentials = errors.New("bad credentials")
	ErrUnknownUser    = fmt.Errorf("%w: unknown user", ErrBadCredentials)
	ErrUnavailable    = errors.New("backend unavailable")
)
