package authreq

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// errQueueTimeout: no verification slot came free in time.
var errQueueTimeout = errors.New("password verification queue full")

// semGate bounds concurrent checks that wait on the network (a directory
// has few connections): each runs in its caller's goroutine once one of n
// slots is free, after at most timeout.
type semGate struct {
	slots   chan struct{}
	timeout time.Duration
}

func newSemGate(n int, timeout time.Duration) *semGate {
	return &semGate{slots: make(chan struct{}, n), timeout: timeout}
}

func (g *semGate) Do(ctx context.Context, fn func()) error {
	select {
	case g.slots <- struct{}{}:
	default:
		t := time.NewTimer(g.timeout)
		defer t.Stop()
		select {
		case g.slots <- struct{}{}:
		case <-t.C:
			return errQueueTimeout
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	defer func() { <-g.slots }()
	fn()
	return nil
}

// cpuPool runs password checks (bcrypt and the crypt schemes cost
// milliseconds of CPU each) so that a flood of them cannot starve the
// requests that need none — cached users, tokens, health checks.
//
// At most one check per worker runs at a time; others wait up to timeout
// for a turn, and once more than queuePerWorker per worker wait, a check
// is refused at once (503): memory and goroutines stay bounded whatever
// the flood. A check whose turn came runs on a worker of its own, locked
// to an OS thread of lower scheduling priority (nice): when the CPU is
// contended the kernel serves the rest of the service (and nginx) first,
// and checks get what is left; idle, they get every core. GOMAXPROCS is
// raised by the number of workers, so that a worker busy hashing never
// holds a processor the other goroutines need.
//
// Checks for a user from an address where that user logged in before
// (the throttle's trusted pairs; see withPriority) do not wait behind
// strangers: they run in their caller's goroutine at normal priority, at
// most workers at a time, so that a known user is verified ahead of the
// flood.
type cpuPool struct {
	turns      chan struct{}
	jobs       chan *job
	prio       *semGate
	waiting    atomic.Int64
	maxWaiting int64
	timeout    time.Duration
	stop       chan struct{}
	once       sync.Once
	wg         sync.WaitGroup
}

type job struct {
	fn   func()
	done chan struct{}
}

// queuePerWorker bounds the checks waiting for a turn, per worker.
const queuePerWorker = 128

// workerNice is the workers' nice value: at 10 a busy worker gets about a
// tenth of a core's time against one busy thread of normal priority, and
// every idle cycle.
const workerNice = 10

func newCPUPool(workers int, timeout time.Duration) *cpuPool {
	p := &cpuPool{
		turns:      make(chan struct{}, workers),
		jobs:       make(chan *job, workers), // never full: one job per turn
		prio:       newSemGate(workers, timeout),
		maxWaiting: int64(workers * queuePerWorker),
		timeout:    timeout,
		stop:       make(chan struct{}),
	}
	raiseGOMAXPROCS(workers)
	p.wg.Add(workers)
	for range workers {
		go p.work()
	}
	return p
}

func (p *cpuPool) work() {
	defer p.wg.Done()
	// Never unlocked: the thread's lowered priority must not pass to
	// other goroutines. When work returns, the thread exits with it.
	runtime.LockOSThread()
	lowerThreadPriority(workerNice)
	for {
		select {
		case j := <-p.jobs:
			j.fn()
			close(j.done)
		case <-p.stop:
			// Every job handed over runs: its caller waits for it.
			for {
				select {
				case j := <-p.jobs:
					j.fn()
					close(j.done)
				default:
					return
				}
			}
		}
	}
}

func (p *cpuPool) Do(ctx context.Context, fn func()) error {
	if priority(ctx) {
		return p.prio.Do(ctx, fn)
	}
	select {
	case p.turns <- struct{}{}:
	default:
		if p.waiting.Add(1) > p.maxWaiting {
			p.waiting.Add(-1)
			return errQueueTimeout
		}
		t := time.NewTimer(p.timeout)
		select {
		case p.turns <- struct{}{}:
		case <-t.C:
			p.waiting.Add(-1)
			return errQueueTimeout
		case <-ctx.Done():
			t.Stop()
			p.waiting.Add(-1)
			return ctx.Err()
		}
		t.Stop()
		p.waiting.Add(-1)
	}
	defer func() { <-p.turns }()
	select {
	case <-p.stop:
		return errQueueTimeout
	default:
	}
	j := &job{fn: fn, done: make(chan struct{})}
	p.jobs <- j
	<-j.done // fn uses the caller's variables: never return before it has
	return nil
}

// Close stops the workers once the checks handed to them have run.
func (p *cpuPool) Close() {
	p.once.Do(func() { close(p.stop) })
	p.wg.Wait()
}

type priorityKey struct{}

// withPriority marks ctx as a check for a user from an address where
// that user logged in before (see cpuPool).
func withPriority(ctx context.Context) context.Context {
	return context.WithValue(ctx, priorityKey{}, true)
}

func priority(ctx context.Context) bool { return ctx.Value(priorityKey{}) != nil }

var (
	procsMu   sync.Mutex
	procsBase = runtime.GOMAXPROCS(0)
	procsMax  int
)

// raiseGOMAXPROCS makes room for workers more threads running Go code
// than the runtime chose (or GOMAXPROCS said), once per size: Servers
// built later (tests, reloads) never stack their workers on top.
func raiseGOMAXPROCS(workers int) {
	procsMu.Lock()
	defer procsMu.Unlock()
	if n := procsBase + workers; n > procsMax {
		procsMax = n
		runtime.GOMAXPROCS(n)
	}
}
