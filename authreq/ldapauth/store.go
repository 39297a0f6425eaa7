package ldapauth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/authreq/authreq/authreq/identity"
	"github.com/prometheus/client_golang/prometheus"
)

// Store is the directory as a user store of the service: an
// identity.Authenticator that waits on the network (so it takes no CPU
// slot), reports readiness and exports its pool's metrics.
type Store struct{ a *Authenticator }

var (
	_ identity.Authenticator = Store{}
	_ identity.Readier       = Store{}
	_ identity.NetworkBound  = Store{}
	_ identity.Lookuper      = Store{}
	_ identity.Claimer       = Store{}
)

// NewStore starts an Authenticator for cfg.
func NewStore(cfg Config, log *slog.Logger) (Store, error) {
	a, err := New(cfg, log)
	if err != nil {
		return Store{}, err
	}
	return Store{a}, nil
}

// Collectors are the pool's metrics.
func (b Store) Collectors() []prometheus.Collector {
	stat := func(i int) func() float64 {
		return func() float64 {
			open, idle, dialErrs := b.a.Stats()
			return [...]float64{float64(open), float64(idle), float64(dialErrs)}[i]
		}
	}
	return []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "authreq", Name: "ldap_pool_open_connections", Help: "Open connections to the directory."}, stat(0)),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "authreq", Name: "ldap_pool_idle_connections", Help: "Idle pooled connections."}, stat(1)),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "authreq", Name: "ldap_dial_errors_total", Help: "Failed connection attempts to the directory."}, stat(2)),
	}
}

func (b Store) Name() string { return "ldap" }
func (b Store) Ready() error { return b.a.Ready() }
func (b Store) Close() error { return b.a.Close() }

// NetworkBound: directory checks wait on the network, not on a CPU slot.
func (b Store) NetworkBound() bool { return true }

// Lookup finds a user without a password (identity.Lookuper): not found
// when the directory does not know it; an error when it cannot be asked
// (down, or no bindDN to search with).
func (b Store) Lookup(ctx context.Context, user string) (identity.Identity, bool, error) {
	res, err := b.a.Lookup(ctx, user)
	switch {
	case err == nil:
		return identity.Identity{User: res.User, Groups: res.Groups, Role: res.Role, Source: "ldap"}, true, nil
	case errors.Is(err, ErrBadCredentials):
		return identity.Identity{}, false, nil
	}
	return identity.Identity{}, false, fmt.Errorf("%w: %v", identity.ErrUnavailable, err)
}

// Claims tells whether the directory holds the name at all
// (identity.Claimer); it cannot tell without a service account.
func (b Store) Claims(ctx context.Context, user string) (bool, error) {
	found, err := b.a.Exists(ctx, user)
	if err != nil {
		return false, fmt.Errorf("%w: %v", identity.ErrUnavailable, err)
	}
	return found, nil
}

// Authenticate binds with Basic credentials; other kinds are not the
// directory's.
func (b Store) Authenticate(ctx context.Context, c identity.Credentials) (identity.Identity, error) {
	basic, ok := c.(identity.Basic)
	if !ok {
		return identity.Identity{}, fmt.Errorf("%w: the directory takes Basic credentials only", identity.ErrUnknownUser)
	}
	res, err := b.a.Authenticate(ctx, basic.User, basic.Password)
	switch {
	case err == nil:
		return identity.Identity{User: res.User, Groups: res.Groups, Role: res.Role, Source: "ldap"}, nil
	case errors.Is(err, ErrBadCredentials):
		return identity.Identity{}, fmt.Errorf("%w: %v", identity.ErrBadCredentials, err)
	}
	return identity.Identity{}, fmt.Errorf("%w: %v", identity.ErrUnavailable, err)
}
