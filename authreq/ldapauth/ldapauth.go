package ldapauth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/authreq/authreq/htpasswd"
	"github.com/authreq/authreq/internal/userfold"
	"github.com/go-ldap/ldap/v3"
)

// Errors. ErrBadCredentials covers a wrong password, an unknown user and a
// user in neither configured group: all answer 401. ErrUnavailable means
// the directory could not give an answer: fail closed with 503.
var (
	ErrBadCredentials = errors.New("bad credentials")
	ErrNotInGroup     = fmt.Errorf("%w: not a member of the admin or user group", ErrBadCredentials)
	ErrUnavailable    = errors.New("directory unavailable")
)

// Result is who the directory says the user is.
type Result struct {
	User   string
	DN     string
	Groups []string // CNs of the groups found
	Role   string   // "admin", "user", or "" without configured groups
}

// Authenticator binds users against one directory.
type Authenticator struct {
	s   *settings
	log *slog.Logger

	idle  chan *ldap.Conn // connections ready for use
	slots chan struct{}   // one token per open connection: the pool's bound

	readyErr   atomic.Pointer[error]
	dials      atomic.Uint64
	dialErrors atomic.Uint64

	stop     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup
}

// New validates cfg and starts probing the directory. An unreachable
// directory is not an error here: Ready reports it, and requests fail
// closed until it answers.
func New(cfg Config, log *slog.Logger) (*Authenticator, error) {
	s, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	a := &Authenticator{
		s:     s,
		log:   log,
		idle:  make(chan *ldap.Conn, s.PoolSize),
		slots: make(chan struct{}, s.PoolSize),
		stop:  make(chan struct{}),
	}
	if s.TLSVerification == "none" {
		log.Warn("ldap: tlsVerification is none: the directory's certificate is not checked, so anyone on the path can read passwords")
	}
	if strings.HasPrefix(s.url, "ldap://") && !s.StartTLS {
		log.Warn("ldap: allowInsecure: passwords go to the directory in clear text", "uri", s.url)
	}
	notYet := errors.New("not probed yet")
	a.readyErr.Store(&notYet)
	a.probe()
	a.wg.Add(1)
	go a.probeLoop()
	return a, nil
}

// Close closes every idle connection and stops the probe.
func (a *Authenticator) Close() error {
	a.stopOnce.Do(func() { close(a.stop) })
	a.wg.Wait()
	for {
		select {
		case c := <-a.idle:
			c.Close()
		default:
			return nil
		}
	}
}

// Ready is nil once the directory answered the last connection attempt.
func (a *Authenticator) Ready() error {
	if p := a.readyErr.Load(); p != nil && *p != nil {
		return fmt.Errorf("ldap %s: %w", a.s.url, *p)
	}
	return nil
}

// Stats for metrics: open connections, idle ones, dial failures so far.
func (a *Authenticator) Stats() (open, idle int, dialErrors uint64) {
	return len(a.slots), len(a.idle), a.dialErrors.Load()
}

// probeLoop asks the directory every probeEvery, down or not, so that
// readiness recovers without traffic and a directory that hangs (accepts
// connections, answers nothing) is seen even while no one logs in.
func (a *Authenticator) probeLoop() {
	defer a.wg.Done()
	t := time.NewTicker(probeEvery)
	defer t.Stop()
	for {
		select {
		case <-a.stop:
			return
		case <-t.C:
			a.probe()
		}
	}
}

const probeEvery = 2 * time.Second

// probe reads the root DSE on a pooled connection within the timeout: a
// directory that cannot be dialled, that hangs, or whose every connection
// stays busy for the whole timeout is not ready.
func (a *Authenticator) probe() {
	ctx, cancel := context.WithTimeout(context.Background(), a.s.timeout)
	defer cancel()
	c, err := a.get(ctx)
	if err != nil {
		a.setReady(err)
		return
	}
	_, err = c.Search(ldap.NewSearchRequest("", ldap.ScopeBaseObject, ldap.NeverDerefAliases,
		1, a.timeLimit(), false, "(objectClass=*)", []string{"1.1"}, nil))
	if ldap.IsErrorWithCode(err, ldap.ErrorNetwork) {
		a.put(c, false)
		a.setReady(err)
		return
	}
	// Any answer, even a refusal to show the root DSE, is a directory
	// that answers.
	a.put(c, true)
	a.setReady(nil)
}

func (a *Authenticator) setReady(err error) { a.readyErr.Store(&err) }

// get returns an idle connection, or dials one while the pool has room,
// waiting for one to come back until ctx ends.
func (a *Authenticator) get(ctx context.Context) (*ldap.Conn, error) {
	for {
		// An idle connection first; dial only when there is none.
		select {
		case c := <-a.idle:
			if a.usable(c) {
				return c, nil
			}
			continue
		default:
		}
		select {
		case c := <-a.idle:
			if a.usable(c) {
				return c, nil
			}
		case a.slots <- struct{}{}:
			c, err := a.dial()
			if err != nil {
				<-a.slots
				return nil, err
			}
			return c, nil
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: no connection free: %v", ErrUnavailable, ctx.Err())
		}
	}
}

// usable tells whether an idle connection is still open; a closed one
// (the directory hung up) is discarded.
func (a *Authenticator) usable(c *ldap.Conn) bool {
	if c.IsClosing() {
		a.discard(c)
		return false
	}
	return true
}

func (a *Authenticator) dial() (*ldap.Conn, error) {
	a.dials.Add(1)
	c, err := ldap.DialURL(a.s.url,
		ldap.DialWithDialer(&net.Dialer{Timeout: a.s.timeout}),
		ldap.DialWithTLSConfig(a.s.tls))
	if err == nil && a.s.StartTLS {
		if err = c.StartTLS(a.s.tls); err != nil {
			c.Close()
		}
	}
	if err != nil {
		a.dialErrors.Add(1)
		a.setReady(err)
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	c.SetTimeout(a.s.timeout)
	a.setReady(nil)
	return c, nil
}

// put returns a connection to the pool, or closes it when it may be broken.
func (a *Authenticator) put(c *ldap.Conn, healthy bool) {
	if !healthy || c.IsClosing() {
		a.discard(c)
		return
	}
	a.idle <- c // never blocks: idle holds at most the open connections
}

func (a *Authenticator) discard(c *ldap.Conn) {
	c.Close()
	<-a.slots
}

// Authenticate binds as user with password and looks up the user's groups.
// An empty password is refused before any bind: to LDAP it would be an
// unauthenticated bind, which succeeds.
func (a *Authenticator) Authenticate(ctx context.Context, user, password string) (Result, error) {
	if password == "" {
		return Result{}, fmt.Errorf("%w: empty password", ErrBadCredentials)
	}
	// The htpasswd rules: among others no control characters, and no
	// leading or trailing spaces, which LDAP matching ignores, so that
	// " alice" would log in as alice under another X-User.
	if err := htpasswd.ValidateUser(user); err != nil {
		return Result{}, fmt.Errorf("%w: %v", ErrBadCredentials, err)
	}
	return a.run(ctx, func(c *ldap.Conn) (Result, error) { return a.authenticate(c, user, password, false) })
}

// ErrNoLookup: the directory cannot be asked about a user without a
// password unless a service account (bindDN) is configured.
var ErrNoLookup = errors.New("looking up a user needs bindDN (a service account)")

// Lookup finds user without a password, under the service account: the
// directory's name, groups and role, for credentials that stand for a user
// (API tokens). A user the directory does not know, or in neither
// configured group, is ErrBadCredentials; an outage ErrUnavailable.
func (a *Authenticator) Lookup(ctx context.Context, user string) (Result, error) {
	if a.s.BindDN == "" {
		return Result{}, ErrNoLookup
	}
	if err := htpasswd.ValidateUser(user); err != nil {
		return Result{}, fmt.Errorf("%w: %v", ErrBadCredentials, err)
	}
	return a.run(ctx, func(c *ldap.Conn) (Result, error) { return a.authenticate(c, user, "", true) })
}

// Exists tells whether the directory holds an entry for user at all, under
// the service account: by the name attribute alone (no user filter, no
// group check), one entry or more. A search base that is gone is an
// outage, not an empty directory.
func (a *Authenticator) Exists(ctx context.Context, user string) (bool, error) {
	if a.s.BindDN == "" {
		return false, ErrNoLookup
	}
	attr := a.s.nameAttr
	if attr == "" {
		attr = "uid"
	}
	var found bool
	_, err := a.run(ctx, func(c *ldap.Conn) (Result, error) {
		if err := a.bindService(c); err != nil {
			return Result{}, err
		}
		sr, err := c.Search(ldap.NewSearchRequest(a.s.UserSearchBase, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
			1, a.timeLimit(), false, "("+attr+"="+ldap.EscapeFilter(user)+")", []string{"1.1"}, nil))
		switch {
		case ldap.IsErrorWithCode(err, ldap.ErrorNetwork):
			return Result{}, err
		case ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded):
			found = true
		case err != nil:
			return Result{}, fmt.Errorf("%w: user search: %v", ErrUnavailable, err)
		default:
			found = len(sr.Entries) > 0
		}
		return Result{}, nil
	})
	return found, err
}

// run runs op on a pooled connection within the timeout. A pooled
// connection may have died with the directory since its last use: one
// retry on a fresh connection tells that from an outage.
func (a *Authenticator) run(ctx context.Context, op func(*ldap.Conn) (Result, error)) (Result, error) {
	ctx, cancel := context.WithTimeout(ctx, a.s.timeout)
	defer cancel()
	for attempt := 0; ; attempt++ {
		c, err := a.get(ctx)
		if err != nil {
			return Result{}, err
		}
		res, err := op(c)
		network := ldap.IsErrorWithCode(err, ldap.ErrorNetwork)
		a.put(c, err == nil || errors.Is(err, ErrBadCredentials))
		if network {
			a.setReady(err)
			if attempt == 0 {
				continue
			}
			return Result{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
		}
		return res, err
	}
}

// authenticate binds as user with password, or with lookup set finds the
// user under the service account without binding as it.
func (a *Authenticator) authenticate(c *ldap.Conn, user, password string, lookup bool) (Result, error) {
	s := a.s
	var dn string
	var entry *ldap.Entry // the user's entry with userAttrs, when read
	if s.BindDN != "" {
		if err := a.bindService(c); err != nil {
			return Result{}, err
		}
		filter := strings.Replace(s.UserFilter, "%s", ldap.EscapeFilter(user), 1)
		sr, err := c.Search(ldap.NewSearchRequest(s.UserSearchBase, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
			2, a.timeLimit(), false, filter, a.userAttrs(), nil))
		if err != nil && !ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded) {
			return Result{}, a.classify("user search", err)
		}
		if (sr == nil || len(sr.Entries) != 1) && lookup {
			return Result{}, fmt.Errorf("%w: user not found, or not unique", ErrBadCredentials)
		}
		if sr == nil || len(sr.Entries) != 1 {
			// Bind anyway, to a DN that does not exist, so that an unknown
			// user takes the round trip a wrong password takes.
			c.Bind("cn=authreq-no-such-user,"+s.UserSearchBase, password)
			return Result{}, fmt.Errorf("%w: user not found, or not unique", ErrBadCredentials)
		}
		dn = sr.Entries[0].DN
		entry = sr.Entries[0]
	} else {
		dn = strings.Replace(s.LookupBind, "%s", ldap.EscapeDN(user), 1)
	}
	if !lookup {
		if err := c.Bind(dn, password); err != nil {
			return Result{}, a.classify("bind", err)
		}
	}
	if entry == nil && a.needsEntry() {
		// Direct bind: read the user's own entry for its name (and the
		// group attribute). Not being allowed to is no reason to refuse.
		sr, err := c.Search(ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases,
			1, a.timeLimit(), false, "(objectClass=*)", a.userAttrs(), nil))
		if ldap.IsErrorWithCode(err, ldap.ErrorNetwork) {
			return Result{}, err
		}
		if err == nil && len(sr.Entries) == 1 {
			entry = sr.Entries[0]
			if entry.DN != "" {
				// The directory's DN, not the one built from the typed name.
				dn = entry.DN
			}
		}
	}
	res := Result{User: canonicalName(entry, s.nameAttr, user), DN: dn}
	if s.SearchBaseDistinguishedName == "" {
		return res, nil
	}
	if s.BindDN != "" {
		// Users often may not read group entries; the service account can.
		if err := a.bindService(c); err != nil {
			return Result{}, err
		}
	}
	value := dn
	if !strings.EqualFold(s.GroupAttribute, "dn") {
		if entry != nil {
			value = entry.GetAttributeValue(s.GroupAttribute)
		} else {
			value = ""
		}
		if value == "" {
			return res, a.decideRole(&res, nil)
		}
	}
	filter := strings.Replace(s.SearchFilter, "%s", ldap.EscapeFilter(value), 1)
	sr, err := c.Search(ldap.NewSearchRequest(s.SearchBaseDistinguishedName, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
		0, a.timeLimit(), false, filter, []string{"cn"}, nil))
	if err != nil {
		return Result{}, a.classify("group search", err)
	}
	return res, a.decideRole(&res, sr.Entries)
}

// needsEntry tells whether anything is read from the user's entry: the
// name attribute, or a group attribute other than the DN.
func (a *Authenticator) needsEntry() bool {
	return a.s.nameAttr != "" || !strings.EqualFold(a.s.GroupAttribute, "dn")
}

// userAttrs are the attributes read from the user's entry; "1.1" asks for
// none.
func (a *Authenticator) userAttrs() []string {
	var attrs []string
	if a.s.nameAttr != "" {
		attrs = append(attrs, a.s.nameAttr)
	}
	if !strings.EqualFold(a.s.GroupAttribute, "dn") {
		attrs = append(attrs, a.s.GroupAttribute)
	}
	if len(attrs) == 0 {
		return []string{"1.1"}
	}
	return attrs
}

// canonicalName is the directory's spelling of the typed name: LDAP binds
// "ALICE", "ａlice" (fullwidth) and "ⓐlice" (circled) as alice, and the
// upstream must see one user, not several. Of the entry's values of the
// name attribute, the one that folds (userfold.Key) as the typed name does
// is the answer; failing that, an entry with a single value has that value
// as its name, whatever our folding thinks. Where the entry cannot be read
// (no access, no name attribute known, several values none of which
// folds alike) the answer is the typed name folded: not the directory's
// spelling, but at least one X-User for every spelling of the name.
func canonicalName(entry *ldap.Entry, attr, typed string) string {
	key := userfold.Key(typed)
	if entry == nil || attr == "" {
		return key
	}
	values := entry.GetAttributeValues(attr)
	for _, v := range values {
		if userfold.Key(v) == key {
			return v
		}
	}
	if len(values) == 1 {
		return values[0]
	}
	return key
}

func (a *Authenticator) decideRole(res *Result, groups []*ldap.Entry) error {
	admin, member := false, false
	for _, g := range groups {
		cn := g.GetAttributeValue("cn")
		dn, err := ldap.ParseDN(g.DN)
		if err != nil {
			continue // a DN the server sent but we cannot read: skip it
		}
		if cn == "" && len(dn.RDNs) > 0 && len(dn.RDNs[0].Attributes) > 0 {
			cn = dn.RDNs[0].Attributes[0].Value
		}
		if cn != "" {
			res.Groups = append(res.Groups, cn)
		}
		if a.s.adminDN != nil && a.s.adminDN.EqualFold(dn) {
			admin = true
		}
		if a.s.userDN != nil && a.s.userDN.EqualFold(dn) {
			member = true
		}
	}
	slices.Sort(res.Groups)
	switch {
	case admin:
		res.Role = "admin"
	case member:
		res.Role = "user"
	case a.s.hasGroups:
		return ErrNotInGroup
	}
	return nil
}

func (a *Authenticator) bindService(c *ldap.Conn) error {
	if err := c.Bind(a.s.BindDN, a.s.bindPW); err != nil {
		if ldap.IsErrorWithCode(err, ldap.ErrorNetwork) {
			return err
		}
		// The service account is ours: its failure is our fault, not the
		// user's, so fail closed rather than answer 401.
		return fmt.Errorf("%w: service account bind: %v", ErrUnavailable, err)
	}
	return nil
}

// classify maps an LDAP error of op to bad credentials, a network error
// (returned as is, for a retry), or unavailable.
func (a *Authenticator) classify(op string, err error) error {
	switch {
	case ldap.IsErrorWithCode(err, ldap.ErrorNetwork):
		return err
	case ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials),
		ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidDNSyntax),
		ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject),
		ldap.IsErrorWithCode(err, ldap.LDAPResultInappropriateAuthentication):
		return fmt.Errorf("%w: %s", ErrBadCredentials, op)
	}
	return fmt.Errorf("%w: %s: %v", ErrUnavailable, op, err)
}

func (a *Authenticator) timeLimit() int { return max(1, int(a.s.timeout/time.Second)) }
