package identity

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"
)

type fake struct {
	name string
	err  error
}

func (f fake) Name() string { return f.name }
func (f fake) Authenticate(_ context.Context, c Credentials) (Identity, error) {
	if f.err != nil {
		return Identity{}, f.err
	}
	return Identity{User: c.Principal(), Source: f.name}, nil
}

type open struct{}

func (open) Do(_ context.Context, fn func()) error { fn(); return nil }

type full struct{}

var errFull = errors.New("queue full")

func (full) Do(context.Context, func()) error { return errFull }

var (
	yes     = fake{"yes", nil}
	no      = fake{"no", fmt.Errorf("%w: wrong password", ErrBadCredentials)}
	unknown = fake{"unknown", fmt.Errorf("%w: not here", ErrUnknownUser)}
	down    = fake{"down", fmt.Errorf("%w: directory", ErrUnavailable)}
)

func TestChain(t *testing.T) {
	for _, tt := range []struct {
		name   string
		stores []fake
		want   error // nil: success
	}{
		{"first yes", []fake{yes, down}, nil},
		{"yes after no", []fake{no, yes}, nil},
		{"no then outage: the no stands", []fake{no, down}, ErrBadCredentials},
		{"outage then no: the no stands", []fake{down, no}, ErrBadCredentials},
		{"unknown then outage: cannot decide", []fake{unknown, down}, ErrUnavailable},
		{"unknown everywhere", []fake{unknown, unknown}, ErrUnknownUser},
		{"nothing", nil, ErrUnavailable},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var c Chain
			for _, s := range tt.stores {
				c.Add(s, open{})
			}
			id, err := c.Authenticate(context.Background(), Basic{User: "alice", Password: "pw"})
			switch {
			case tt.want == nil && (err != nil || id.User != "alice"):
				t.Errorf("%+v %v, want success", id, err)
			case tt.want != nil && !errors.Is(err, tt.want):
				t.Errorf("%v, want %v", err, tt.want)
			case tt.want == ErrUnavailable && errors.Is(err, ErrBadCredentials):
				t.Errorf("%v: an outage answered as bad credentials", err)
			}
		})
	}
	// A store that could not even check (overload) makes the answer a 503,
	// whatever a later store says.
	var c Chain
	c.Add(yes, full{})
	c.Add(no, open{})
	if _, err := c.Authenticate(context.Background(), Basic{User: "alice"}); !errors.Is(err, errFull) {
		t.Errorf("overloaded first store: %v", err)
	}
}

// Credentials never print their secret, whichever way they are formatted
// or logged.
func TestCredentialsDoNotLeak(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	for _, c := range []Credentials{Basic{User: "alice", Password: "s3cret-pw"}, Bearer{Token: "authreq_s3cret-pw"}} {
		out := fmt.Sprintf("%v %+v %#v %s", c, c, c, c)
		log.Info("x", "cred", c)
		if bytes.Contains([]byte(out), []byte("s3cret")) || bytes.Contains(buf.Bytes(), []byte("s3cret")) {
			t.Errorf("secret shown: %s %s", out, buf.Bytes())
		}
	}
}

// lookStore finds the users it holds; claims, the names it holds without
// a usable password (a locked account); secondary, that it yields.
type lookStore struct {
	fake
	users, claims []string
	secondary     bool
	err           error
}

func (l lookStore) Secondary() bool { return l.secondary }
func (l lookStore) Lookup(_ context.Context, u string) (Identity, bool, error) {
	if l.err != nil {
		return Identity{}, false, l.err
	}
	for _, v := range l.users {
		if v == u {
			return Identity{User: u, Source: l.name}, true, nil
		}
	}
	return Identity{}, false, nil
}
func (l lookStore) Claims(ctx context.Context, u string) (bool, error) {
	if _, found, err := l.Lookup(ctx, u); found || err != nil {
		return found, err
	}
	for _, v := range l.claims {
		if v == u {
			return true, nil
		}
	}
	return false, nil
}

// TestChainLookupSecondary: a secondary store finds only names no other
// store holds (a locked account, or one a later store holds, included),
// and cannot find any while another store cannot tell.
func TestChainLookupSecondary(t *testing.T) {
	primary := lookStore{fake: fake{name: "htpasswd"}, users: []string{"alice"}, claims: []string{"root"}}
	db := lookStore{fake: fake{name: "db"}, users: []string{"alice", "root", "bob", "dan"}, secondary: true}
	dir := lookStore{fake: fake{name: "ldap"}, users: []string{"dan"}}
	var c Chain
	c.Add(primary, open{})
	c.Add(db, open{})
	c.Add(dir, open{})
	for user, want := range map[string]string{"alice": "htpasswd", "root": "", "bob": "db", "dan": "ldap", "eve": ""} {
		id, found, err := c.Lookup(context.Background(), user)
		if err != nil || found != (want != "") || id.Source != want {
			t.Errorf("%s: %+v found %v err %v, want from %q", user, id, found, err, want)
		}
	}
	var d Chain
	d.Add(db, open{})
	d.Add(lookStore{fake: fake{name: "ldap"}, err: fmt.Errorf("%w: directory", ErrUnavailable)}, open{})
	if _, found, err := d.Lookup(context.Background(), "bob"); found || !errors.Is(err, ErrUnavailable) {
		t.Errorf("directory down: found %v err %v, want an outage", found, err)
	}
}
