package authreq

import (
	"fmt"

	"github.com/authreq/authreq/authreq/htfile"
	"github.com/authreq/authreq/authreq/identity"
)

// addStores is the one factory of user stores: every store the config
// enables, in the order the chain asks them — htpasswd first, for local
// break-glass accounts, then the directory. A new store is one case here,
// one config section and one directory. What a store can do beyond
// Authenticate is found by type assertion, never special-cased elsewhere:
// NetworkBound stores wait in a bound of their own instead of taking a CPU
// slot, ChangeNotifiers drop their users' cached verifications, Readiers
// speak in /readyz, Reloaders reload on SIGHUP, io.Closers close.
func (s *Server) addStores(cfg *Config) error {
	if len(cfg.Htpasswd.Files) > 0 {
		b, err := htfile.New(cfg.Htpasswd, s.log, s.metrics.reloaded)
		if err != nil {
			return fmt.Errorf("htpasswd: %w", err)
		}
		s.add(b)
	}
	if cfg.LDAP.Enabled {
		b, err := newLDAPBackend(cfg.LDAP, s.log, s.metrics.reg)
		if err != nil {
			return err
		}
		s.add(b)
	}
	return nil
}

func (s *Server) add(b identity.Authenticator) {
	gate := s.pool
	if n, ok := b.(identity.NetworkBound); ok && n.NetworkBound() {
		gate = s.netPool
	}
	if c, ok := b.(identity.ChangeNotifier); ok {
		c.OnChange(s.cache.DropUsers)
	}
	s.backends.Add(b, gate)
}
