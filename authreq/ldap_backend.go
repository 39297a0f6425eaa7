package authreq

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/authreq/authreq/authreq/ldapauth"
	"github.com/prometheus/client_golang/prometheus"
)

// ldapBackend adapts ldapauth to Backend.
type ldapBackend struct{ a *ldapauth.Authenticator }

var _ Backend = ldapBackend{}

func (l LDAP) settings() (ldapauth.Config, error) {
	c := ldapauth.Config{
		URI: l.URI, TLSVerification: l.TLSVerification, StartTLS: l.StartTLS, AllowInsecure: l.AllowInsecure,
		LookupBind: l.LookupBind, BindDN: l.BindDN, BindPassword: l.BindPassword, BindPasswordFile: l.BindPasswordFile,
		UserSearchBase: l.UserSearchBase, UserFilter: l.UserFilter, GroupAttribute: l.GroupAttribute,
		SearchBaseDistinguishedName: l.SearchBaseDistinguishedName, SearchFilter: l.SearchFilter,
		AdminGroupDistinguishedName: l.AdminGroupDistinguishedName, UserGroupDistinguishedName: l.UserGroupDistinguishedName,
		EncodedTrustedCACertificate: l.EncodedTrustedCACertificate, TrustedCACertificateFile: l.TrustedCACertificateFile,
		Timeout: l.Timeout.D(), PoolSize: l.PoolSize,
	}
	return c, c.Validate()
}

func newLDAPBackend(l LDAP, log *slog.Logger, reg prometheus.Registerer) (ldapBackend, error) {
	cfg, err := l.settings()
	if err != nil {
		return ldapBackend{}, err
	}
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

func (b ldapBackend) Authenticate(ctx context.Context, user, password string) (Identity, error) {
	res, err := b.a.Authenticate(ctx, user, password)
	switch {
	case err == nil:
		return Identity{User: res.User, Groups: res.Groups, Role: res.Role, Backend: "ldap"}, nil
	case errors.Is(err, ldapauth.ErrBadCredentials):
		return Identity{}, fmt.Errorf("%w: %v", ErrBadCredentials, err)
	}
	return Identity{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
}
