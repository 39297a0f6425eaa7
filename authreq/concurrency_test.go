package authreq

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authreq/authreq/authreq/identity"
	"github.com/authreq/authreq/htpasswd"
)

// checks is the number of htpasswd checks run so far.
func (s *testServer) checks(t *testing.T) int {
	t.Helper()
	v := s.metric(`authreq_backend_duration_seconds_count{backend="htpasswd"}`)
	if v == "" {
		return 0
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// writeFile replaces the htpasswd file and reloads it now.
func (s *testServer) writeFile(t *testing.T, content string) {
	t.Helper()
	if err := htpasswd.WriteFileAtomic(s.file, []byte(content), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := s.htpasswd().Reload("test"); err != nil {
		t.Fatal(err)
	}
}

// snapshotBackend decides from the table as it was when a check started,
// as the htpasswd backend does, and holds every check until gate closes.
type snapshotBackend struct {
	removed atomic.Bool
	started chan struct{}
	gate    chan struct{}
}

func (b *snapshotBackend) Name() string { return "snapshot" }
func (b *snapshotBackend) Ready() error { return nil }
func (b *snapshotBackend) Close() error { return nil }
func (b *snapshotBackend) Authenticate(_ context.Context, c identity.Credentials) (identity.Identity, error) {
	user := c.Principal()
	removed := b.removed.Load()
	b.started <- struct{}{}
	<-b.gate
	if removed {
		return identity.Identity{}, identity.ErrUnknownUser
	}
	return identity.Identity{User: user, Source: "snapshot"}, nil
}

// A request that arrives after a reload removed its user must not join a
// check that started against the old table, and so must not get its 200.
func TestSharedCheckDoesNotCrossAReload(t *testing.T) {
	s := newTestServer(t, map[string]string{"x": "y"}, nil)
	b := &snapshotBackend{started: make(chan struct{}, 2), gate: make(chan struct{})}
	s.use(b)
	before := make(chan int)
	go func() { before <- s.status("alice", "pw") }()
	<-b.started
	// The reload: new table, then the cache's generation moves on.
	b.removed.Store(true)
	s.cache.DropUsers([]string{"alice"})
	after := make(chan int)
	go func() { after <- s.status("alice", "pw") }()
	select {
	case <-b.started:
	case <-time.After(time.Second):
		// It joined the old check (the bug); let both finish.
	}
	close(b.gate)
	if code := <-before; code != 200 {
		t.Errorf("request from before the reload: %d", code)
	}
	if code := <-after; code != 401 {
		t.Errorf("request from after the reload: %d, want 401", code)
	}
	if code := s.status("alice", "pw"); code != 401 {
		t.Errorf("later request: %d (an old answer was cached)", code)
	}
}
