package authreq

import (
	"context"
	"errors"
	"time"
)

// errQueueTimeout: no verification slot came free in time.
var errQueueTimeout = errors.New("password verification queue full")

// verifyPool bounds concurrent password checks (bcrypt and the crypt
// schemes cost milliseconds of CPU each): a flood of cold or wrong
// credentials then queues here, while cached answers never wait.
type verifyPool struct {
	slots   chan struct{}
	timeout time.Duration
}

func newVerifyPool(n int, timeout time.Duration) *verifyPool {
	return &verifyPool{slots: make(chan struct{}, n), timeout: timeout}
}

// acquire waits for a slot for at most the pool's timeout.
func (p *verifyPool) Acquire(ctx context.Context) (release func(), err error) {
	select {
	case p.slots <- struct{}{}:
		return func() { <-p.slots }, nil
	default:
	}
	t := time.NewTimer(p.timeout)
	defer t.Stop()
	select {
	case p.slots <- struct{}{}:
		return func() { <-p.slots }, nil
	case <-t.C:
		return nil, errQueueTimeout
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
