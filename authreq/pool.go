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
// most workers+1 at a time and one per user, so that a known user is
// verified ahead of the flood. A priority check that finds no free slot
// waits in a queue the workers serve before the ordinary one; a user with
// a priority check under way already joins the ordinary queue, so no
// account can hold the lane against others.
type cpuPool struct {
	turns      chan struct{}
	jobs       chan *job
	waiting    atomic.Int64
	maxWaiting int64
	timeout    time.Duration

	// The priority lane: slots for checks that run at once, in their
	// caller's goroutine, and the queue the workers serve first; a user
	// holds at most one of either.
	prio     chan struct{}
	prioJobs chan *job
	prioMu   sync.Mutex
	prioUser map[string]bool

	// closed, under mu: no job is handed over after Close.
	mu     sync.RWMutex
	closed bool
	stop   chan struct{}
	once   sync.Once
	wg     sync.WaitGroup
}

type job struct {
	fn   func()
	done chan struct{}
	// state, for jobs of the priority queue, which their caller may give
	// up on: 0 waiting, 1 taken by a worker, 2 abandoned. Whoever moves
	// it from 0 decides whether fn runs.
	state atomic.Int32
}

func (j *job) run() {
	if j.state.CompareAndSwap(0, 1) {
		j.fn()
		close(j.done)
	}
}

// queuePerWorker bounds the checks waiting for a turn, per worker.
const queuePerWorker = 128

// workerNice is the workers' nice value: at 10 a busy worker gets about a
// tenth of a core's time against one busy thread of normal priority, and
// every idle cycle.
const workerNice = 10

func newCPUPool(workers int, timeout time.Duration) *cpuPool {
	p := &cpuPool{
		turns: make(chan struct{}, workers),
		jobs:  make(chan *job, workers), // never full: one job per turn
		// One slot more than workers: a user holds at most one, so no
		// account holds them all.
		prio:       make(chan struct{}, workers+1),
		prioJobs:   make(chan *job, workers*queuePerWorker),
		prioUser:   make(map[string]bool),
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
		case j := <-p.prioJobs:
			j.run()
			continue
		default:
		}
		select {
		case j := <-p.prioJobs:
			j.run()
		case j := <-p.jobs:
			j.run()
		case <-p.stop:
			p.drain() // every job handed over runs: its caller waits for it
			return
		}
	}
}

func (p *cpuPool) drain() {
	for {
		select {
		case j := <-p.prioJobs:
			j.run()
		case j := <-p.jobs:
			j.run()
		default:
			return
		}
	}
}

func (p *cpuPool) Do(ctx context.Context, fn func()) error {
	if user, ok := priority(ctx); ok {
		switch p.takePriority(user) {
		case ranNow:
			defer p.releasePriority(user, true)
			fn()
			return nil
		case queued:
			defer p.releasePriority(user, false)
			return p.waitPriority(ctx, fn)
		}
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
	j := &job{fn: fn, done: make(chan struct{})}
	p.mu.RLock()
	if p.closed {
		p.mu.RUnlock()
		return errQueueTimeout
	}
	p.jobs <- j // never blocks: one job per turn
	p.mu.RUnlock()
	<-j.done // fn uses the caller's variables: never return before it has
	return nil
}

type lane int

const (
	ordinary lane = iota // the user holds a priority slot already: queue
	ranNow               // a slot of the lane: run at once
	queued               // no slot free: the queue the workers serve first
)

// takePriority finds user's place in the priority lane: a free slot while
// none waits, else the workers' first queue, unless user holds one of
// either already.
func (p *cpuPool) takePriority(user string) lane {
	p.prioMu.Lock()
	defer p.prioMu.Unlock()
	if p.prioUser[user] {
		return ordinary
	}
	p.prioUser[user] = true
	if len(p.prioJobs) > 0 {
		return queued // first come, first served: no slot past those waiting
	}
	select {
	case p.prio <- struct{}{}:
		return ranNow
	default:
		return queued
	}
}

func (p *cpuPool) releasePriority(user string, slot bool) {
	p.prioMu.Lock()
	defer p.prioMu.Unlock()
	delete(p.prioUser, user)
	if slot {
		<-p.prio
	}
}

// waitPriority runs fn on the next free worker, for at most the pool's
// timeout of waiting.
func (p *cpuPool) waitPriority(ctx context.Context, fn func()) error {
	j := &job{fn: fn, done: make(chan struct{})}
	p.mu.RLock()
	if p.closed {
		p.mu.RUnlock()
		return errQueueTimeout
	}
	select {
	case p.prioJobs <- j:
		p.mu.RUnlock()
	default: // as many waiting as users trusted somewhere: bounded all the same
		p.mu.RUnlock()
		return errQueueTimeout
	}
	t := time.NewTimer(p.timeout)
	defer t.Stop()
	var err error
	select {
	case <-j.done:
		return nil
	case <-t.C:
		err = errQueueTimeout
	case <-ctx.Done():
		err = ctx.Err()
	}
	if j.state.CompareAndSwap(0, 2) {
		return err
	}
	<-j.done // a worker took it just now: fn uses the caller's variables
	return nil
}

// Close stops the workers once every check handed over has run.
func (p *cpuPool) Close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.once.Do(func() { close(p.stop) })
	p.wg.Wait()
	p.drain() // handed over after the workers' last look
}

type priorityKey struct{}

// withPriority marks ctx as a check for user from an address where that
// user logged in before (see cpuPool).
func withPriority(ctx context.Context, user string) context.Context {
	return context.WithValue(ctx, priorityKey{}, user)
}

func priority(ctx context.Context) (user string, ok bool) {
	user, ok = ctx.Value(priorityKey{}).(string)
	return user, ok
}

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
