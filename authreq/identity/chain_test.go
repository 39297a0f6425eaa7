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

func (open) Acquire(context.Context) (func(), error) { return func() {}, nil }

type full struct{}

var errFull = errors.New("queue full")

func (full) Acquire(context.Context) (func(), error) { return nil, errFull }

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
