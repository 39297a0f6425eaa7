package authreq

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/authreq/authreq/authreq/identity"
	"github.com/authreq/authreq/authreq/ldapauth"
	"github.com/prometheus/client_golang/prometheus"
)

// ldapBackend adapts ldapauth to Backend.
type ldapBackend struct{ a *ldapauth.Authenticator }

var (
	_ identity.Authenticator = ldapBackend{}
	_ identity.Readier       = ldapBackend{}
	_ identity.NetworkBound  = ldapBackend{}
)

func newLDAPBackend(cfg ldapauth.Config, log *slog.Logger, reg prometheus.Registerer) (ldapBackend, error) {
	a, err := ldapauth.New(cfg, log)
	if err != nil {
		return ldapBackend{}, err
	}
	stat := func(i int) func() float64 {
		return func() float64 {
			open, idle, dialErrs := a.Stats()
			return [...]float64{float64(open), float64(idle), float64(dialErrs)}[i]
		}
	}
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "authreq", Name: "ldap_pool_open_connections", Help: "Open connections to the directory."}, stat(0)),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "authreq", Name: "ldap_pool_idle_connections", Help: "Idle pooled connections."}, stat(1)),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "authreq", Name: "ldap_dial_errors_total", Help: "Failed connection attempts to the directory."}, stat(2)),
	)
	return ldapBackend{a}, nil
}

func (b ldapBackend) Name() string { return "ldap" }
func (b ldapBackend) Ready() error { return b.a.Ready() }
func (b ldapBackend) Close() error { return b.a.Close() }

// NetworkBound: directory checks wait on the network, not on a CPU slot.
func (b ldapBackend) NetworkBound() bool { return true }

func (b ldapBackend) Authenticate(ctx context.Context, c identity.Credentials) (identity.Identity, error) {
	basic, ok := c.(identity.Basic)
	if !ok {
		return identity.Identity{}, fmt.Errorf("%w: the directory takes Basic credentials only", identity.ErrUnknownUser)
	}
	res, err := b.a.Authenticate(ctx, basic.User, basic.Password)
	switch {
	case err == nil:
		return identity.Identity{User: res.User, Groups: res.Groups, Role: res.Role, Source: "ldap"}, nil
	case errors.Is(err, ldapauth.ErrBadCredentials):
		return identity.Identity{}, fmt.Errorf("%w: %v", identity.ErrBadCredentials, err)
	}
	return identity.Identity{}, fmt.Errorf("%w: %v", identity.ErrUnavailable, err)
}
