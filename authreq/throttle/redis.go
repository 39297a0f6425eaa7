package throttle

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// The shared store: the same decisions as the in-process table, made by
// Lua scripts in Redis so that every replica reads and writes one state
// atomically. One script call decides a cold check (Reserve); the outcome
// (Done) is a second call sent after the answer, off the request's path:
// the attempt stays counted as in flight until it lands, so a guess
// cannot slip through the gap. An outcome that never lands (the replica
// died, Redis was away past the lease) counts as a failure once its lease
// ends: on doubt, the budget pays, as in the in-process table.
//
// Key layout under keyPrefix, every name an HMAC of what keys.go builds
// (user names and addresses never appear):
//
//	c:H  hash: a failure counter (p, c: previous and current window; s:
//	     start; k: strikes; u: blocked until; n: on a pair's counter, the
//	     exact name's hash of its failures, "*" when several), TTL
//	     2×window + backoff.max, or 30 days while it holds strikes (the
//	     in-process table keeps them until a success or eviction)
//	f:H  sorted set: attempts in flight on counter H, reservation id →
//	     lease deadline; TTL lease + the counter's
//	t:H  string: a trusted (user, address) pair, its value the owner's
//	     hash; TTL 30 days from the last success
//	u:H  sorted set: one user's trusted pairs by last success (at most 32)
//	ic   sorted set: counters by last touch (the maxEntries bound)
//	it   sorted set: trusted pairs by last success (the maxEntries bound)
//
// Times are the replica's clock in milliseconds: replicas are expected to
// run NTP, and a few milliseconds of skew are nothing beside a backoff.
//
// The scripts build key names from the prefix (eviction has to), so the
// store is one Redis or Valkey (with replicas or Sentinel), not a Cluster.

// reservationLease bounds how long a reservation stays in flight in Redis
// when its outcome never arrives: far above any password check, which the
// verify queue and the backends' timeouts bound to seconds. Past it the
// attempt counts as a failure.
const reservationLease = 2 * time.Minute

// pingEvery is how often the store is probed: within this (plus one
// timeout) of Redis returning, state is shared again.
const pingEvery = time.Second

// downAfter is how many calls in a row must fail (other than by a
// timeout: refused, reset, an error answer) before a replica stops asking
// Redis and decides on its own until the probe sees Redis again. A call
// past its timeout is decided here alone and the next one asks Redis
// again: timeouts come in bursts whenever this replica is busy (a flood
// of cold checks starves it of CPU), and a flood must not be able to
// switch the deployment to per-replica budgets. Whether Redis itself is
// slow is the probe's to judge, on a connection that is open and idle.
const downAfter = 3

// outboxSize is how many outcomes wait for the senders before Done
// delivers its own in the caller (with Redis up) or sets it aside for
// Redis's return (with Redis away). A reservation's outcome is never
// dropped: a dropped success would count as a failure once its lease
// ended, and a flood could make a victim's logins lock her out. Only
// the outcomes of checks Redis never held (decided here during an
// outage) are dropped past twice this, counted: they stay counted here.
const outboxSize = 4096

// seenQueueSize bounds the trusted pairs waiting to be refreshed in
// Redis; past it a refresh is dropped (the pair is trusted here, and its
// next success or refresh tells Redis). Refreshes never share a queue
// with outcomes: cache hits cost no password check, so they come faster
// than any outcome.
const seenQueueSize = 4096

// seenEvery is how often one pair's refresh goes to Redis at most: a
// user cycling cached credentials over more addresses than the fast map
// keeps for her must not turn every cache hit into a Redis call.
const seenEvery = time.Minute

// senders is how many outcome calls a replica has in flight at most.
const senders = 4

const luaCommon = `
local P = ARGV[1]
local now = tonumber(ARGV[2])
local window = tonumber(ARGV[3])
local initial = tonumber(ARGV[4])
local maxb = tonumber(ARGV[5])
local maxEntries = tonumber(ARGV[6])
local ttl = tonumber(ARGV[7])
local trustTTL = tonumber(ARGV[8])
local lease = tonumber(ARGV[9])

local function int(x) return string.format('%d', x) end

local function load(h)
  local v = redis.call('HMGET', P .. 'c:' .. h, 'p', 'c', 's', 'k', 'u', 'n')
  if not v[3] then return nil end
  return {p = tonumber(v[1]), c = tonumber(v[2]), s = tonumber(v[3]), k = tonumber(v[4]), u = tonumber(v[5]), n = v[6] or ''}
end

local function fresh() return {p = 0, c = 0, s = now, k = 0, u = 0, n = ''} end

local function roll(e)
  local d = now - e.s
  if d >= 2 * window then e.p, e.c, e.s = 0, 0, now
  elseif d >= window then e.p, e.c, e.s = e.c, 0, e.s + window end
end

local function estimate(e)
  roll(e)
  return e.p * (1 - (now - e.s) / window) + e.c
end

local function step(n)
  local d, i = initial, 1
  while i < n and d < maxb do d, i = d * 2, i + 1 end
  return math.min(d, maxb)
end

-- fail counts one failure on e; name, on a pair's counter, is whose.
local function fail(e, bound, block, name)
  roll(e)
  e.c = e.c + 1
  if estimate(e) >= bound then
    e.k = e.k + 1
    if block then e.u = now + step(e.k) end
  end
  if name then
    if e.n ~= '' and e.n ~= name then name = '*' end
    e.n = name
  end
end

-- save writes a counter back and keeps at most maxEntries of them, the
-- least recently touched going first, except those with attempts in
-- flight (as the in-process table pins them). Strikes are kept as long
-- as the longest of the store's keys, as the in-process table keeps them
-- until a success: a guesser who pauses past the window meets the backoff
-- where he left it.
local function save(h, e)
  local k, idx = P .. 'c:' .. h, P .. 'ic'
  redis.call('HSET', k, 'p', int(e.p), 'c', int(e.c), 's', int(e.s), 'k', int(e.k), 'u', int(e.u), 'n', e.n)
  if e.k > 0 then redis.call('PEXPIRE', k, trustTTL) else redis.call('PEXPIRE', k, ttl) end
  redis.call('ZREMRANGEBYSCORE', idx, '-inf', int(now - trustTTL))
  redis.call('ZADD', idx, int(now), h)
  redis.call('PEXPIRE', idx, trustTTL)
  local over = redis.call('ZCARD', idx) - maxEntries
  if over <= 0 then return end
  -- Oldest first; a few more candidates than needed, for those pinned
  -- (and for h itself, which ties with others touched in the same ms).
  for _, old in ipairs(redis.call('ZRANGE', idx, 0, over + 16)) do
    if over <= 0 then break end
    if old ~= h and redis.call('ZCARD', P .. 'f:' .. old) == 0 then
      redis.call('DEL', P .. 'c:' .. old)
      redis.call('ZREM', idx, old)
      over = over - 1
    end
  end
end

-- harvest counts as failures the reservations on h whose lease ended
-- without an outcome, and answers how many are still in flight. A
-- reservation is "id.name": a pair's failure is counted under the exact
-- name the reservation was made for, so that a lost outcome does not
-- make the pair unresettable by its owner's next success.
local function harvest(h, bound, block, pair)
  local f = P .. 'f:' .. h
  local gone = redis.call('ZRANGEBYSCORE', f, '-inf', int(now), 'LIMIT', 0, 512)
  if #gone > 0 then
    redis.call('ZREM', f, unpack(gone))
    if bound > 0 then
      local e = load(h) or fresh()
      for _, m in ipairs(gone) do
        local name = nil
        if pair then name = string.match(m, '^[^.]*%.(.+)$') end
        fail(e, bound, block, name)
      end
      save(h, e)
    end
  end
  return redis.call('ZCARD', f)
end

-- trust records a success of pair tH of user uH: at most maxPerUser pairs
-- per user and maxEntries in all, the least recently seen going first.
local function trust(uH, tH, maxPerUser)
  local tk, uk, it = P .. 't:' .. tH, P .. 'u:' .. uH, P .. 'it'
  redis.call('SET', tk, uH, 'PX', trustTTL)
  redis.call('ZREMRANGEBYSCORE', uk, '-inf', int(now - trustTTL))
  redis.call('ZADD', uk, int(now), tH)
  redis.call('PEXPIRE', uk, trustTTL)
  -- Oldest first, never tH itself, which may tie with others of the
  -- same millisecond.
  local function drop(old)
    local owner = redis.call('GET', P .. 't:' .. old)
    if owner then redis.call('ZREM', P .. 'u:' .. owner, old) end
    redis.call('DEL', P .. 't:' .. old)
    redis.call('ZREM', it, old)
  end
  local extra = redis.call('ZCARD', uk) - maxPerUser
  if extra > 0 then
    for _, old in ipairs(redis.call('ZRANGE', uk, 0, extra)) do
      if extra > 0 and old ~= tH then
        drop(old)
        redis.call('ZREM', uk, old)
        extra = extra - 1
      end
    end
  end
  redis.call('ZREMRANGEBYSCORE', it, '-inf', int(now - trustTTL))
  redis.call('ZADD', it, int(now), tH)
  redis.call('PEXPIRE', it, trustTTL)
  extra = redis.call('ZCARD', it) - maxEntries
  if extra > 0 then
    for _, old in ipairs(redis.call('ZRANGE', it, 0, extra)) do
      if extra > 0 and old ~= tH then
        drop(old)
        extra = extra - 1
      end
    end
  end
end
`

// reserveScript is Reserve's decision (see throttle.go). Answers
// {0, retry ms, scope, trusted} or {1, trusted, pair counter empty}.
var reserveScript = redis.NewScript(luaCommon + `
local perPair, perIP, perUser = tonumber(ARGV[10]), tonumber(ARGV[11]), tonumber(ARGV[12])
local pairH, ipH, tipH, userH, trustH, rid = ARGV[13], ARGV[14], ARGV[15], ARGV[16], ARGV[17], ARGV[18] .. '.' .. ARGV[20]
local inflightRetry = tonumber(ARGV[19])
local trusted = perPair > 0 and redis.call('EXISTS', P .. 't:' .. trustH) == 1
local tr = 0
if trusted then ipH, tr = tipH, 1 end
for _, c in ipairs({{pairH, 'user_ip', perPair, true}, {ipH, 'ip', perIP, false}}) do
  if c[3] > 0 then
    local n = harvest(c[1], c[3], true, c[4])
    local e = load(c[1])
    if e and now < e.u then return {0, e.u - now, c[2], tr} end
    if n > 0 and (e and estimate(e) or 0) + n >= c[3] then return {0, inflightRetry, c[2], tr} end
  end
end
if perUser > 0 then
  local n = harvest(userH, perUser, false, false)
  local e = load(userH)
  if not trusted and (e and estimate(e) or 0) + n >= perUser then
    e = e or fresh()
    if now < e.u then return {0, e.u - now, 'user', tr} end
    e.u = now + step(e.k)
    save(userH, e)
  end
end
for _, c in ipairs({{pairH, perPair}, {ipH, perIP}, {userH, perUser}}) do
  if c[2] > 0 then
    local f = P .. 'f:' .. c[1]
    redis.call('ZADD', f, int(now + lease), rid)
    redis.call('PEXPIRE', f, lease + ttl)
  end
end
local empty = 0
if perPair > 0 and not load(pairH) then empty = 1 end
return {1, tr, empty}
`)

// doneScript is Done: releases the reservation rid and records its
// outcome ("s" success, "f" failure, "u" undecided) on the counters given
// as (key, bound, block) triples. A failure counts where the reservation
// was still held (not where its lease already counted it), or everywhere
// with always set: a check decided by the replica alone. A bound of 0
// only releases.
var doneScript = redis.NewScript(luaCommon + `
local outcome, rid, uH, pairH, trustH = ARGV[10], ARGV[11], ARGV[12], ARGV[13], ARGV[14]
if rid ~= '' then rid = rid .. '.' .. uH end
local maxPerUser = tonumber(ARGV[15])
local always = ARGV[16] == '1'
local held, i = {}, 17
while i + 2 <= #ARGV do
  table.insert(held, {ARGV[i], tonumber(ARGV[i + 1]), ARGV[i + 2] == '1'})
  i = i + 3
end
for _, h in ipairs(held) do
  local mine = rid ~= '' and redis.call('ZREM', P .. 'f:' .. h[1], rid) == 1
  if outcome == 'f' and h[2] > 0 and (mine or always) then
    local e = load(h[1]) or fresh()
    fail(e, h[2], h[3], h[1] == pairH and uH or nil)
    save(h[1], e)
  end
end
if outcome == 's' then
  -- Only the failures of this exact name are its to forgive.
  local e = load(pairH)
  if e and (e.n == '' or e.n == uH) then
    redis.call('DEL', P .. 'c:' .. pairH)
    redis.call('ZREM', P .. 'ic', pairH)
  end
  trust(uH, trustH, maxPerUser)
end
return 1
`)

// seenScript is Seen's refresh of a trusted pair.
var seenScript = redis.NewScript(luaCommon + `
trust(ARGV[10], ARGV[11], tonumber(ARGV[12]))
return 1
`)

// redisStore is the connection to the shared state and its health.
type redisStore struct {
	t       *Throttle
	rdb     *redis.Client
	addr    string
	prefix  string
	key     []byte // HMAC key; never logged, never sent
	timeout time.Duration
	log     *slog.Logger

	up     atomic.Bool
	streak atomic.Int32 // calls failed in a row
	errs   atomic.Uint64
	mu     sync.Mutex
	why    error     // the last failure, while down
	downAt time.Time // while down

	// slots bounds the reservations asked of Redis at once: a flood
	// waits here instead of piling up round trips past the timeout.
	slots  chan struct{}
	outbox chan outcome // outcomes (Done) to send
	// urgent holds successes, sent before any failure: a flood of
	// failures must not keep a user's own logins in flight (counted
	// against her pair) behind it.
	urgent chan outcome
	// direct bounds the outcomes Done delivers itself, the outbox being
	// full: a flood's own requests wait for its outcomes to land.
	direct chan struct{}
	// aside holds outcomes the senders could not deliver yet (Redis
	// away, or slow past their tries), sent again when it answers.
	asideMu sync.Mutex
	aside   []outcome
	pending atomic.Int64 // outcomes and refreshes not yet sent

	// Seen refreshes, coalesced per pair: trust key hash → user hash.
	seenMu   sync.Mutex
	seenQ    map[string]string
	seenLast map[string]time.Time // when a pair was last queued
	seenKick chan struct{}
	seenSent atomic.Uint64 // refreshes sent (tests)

	closing atomic.Bool
	stop    chan struct{}
	loop    sync.WaitGroup
	closed  sync.Once
}

// outcome is a Done for the senders.
type outcome struct {
	args   []any     // doneScript's, after common's
	at     time.Time // decided at
	fail   bool      // a failure: pointless once the window has forgotten it
	ok     bool      // a success
	held   bool      // Redis may hold its reservation: never dropped
	pair   string    // the pair's key in this process's table
	rounds int       // times set aside after failed tries
}

// quiet drops go-redis's own log lines (one per failed dial, every
// second of an outage): the store logs an outage once, when it starts,
// and once when it ends.
type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}

var quietOnce sync.Once

// openRedis reads the store's files and connects. A Redis that does not
// answer yet is no error: the replica starts on its in-process table and
// shares once Redis answers.
func openRedis(t *Throttle, c RedisConfig, log *slog.Logger) (*redisStore, error) {
	key, err := readSecret(c.HMACKeyFile)
	if err != nil {
		return nil, fmt.Errorf("rateLimit.store.redis.hmacKeyFile: %w", err)
	}
	if len(key) < 32 {
		return nil, fmt.Errorf("rateLimit.store.redis.hmacKeyFile: %s holds %d bytes; want at least 32 random bytes (openssl rand -base64 48)", c.HMACKeyFile, len(key))
	}
	quietOnce.Do(func() { redis.SetLogger(quiet{}) })
	slots := max(16, 8*runtime.GOMAXPROCS(0))
	opt := &redis.Options{
		Addr:                  c.Address,
		Username:              c.Username,
		DialTimeout:           max(c.Timeout.D(), time.Second),
		ReadTimeout:           c.Timeout.D(),
		WriteTimeout:          c.Timeout.D(),
		ContextTimeoutEnabled: true,
		// No retries: past the timeout the answer comes from this
		// process, not from a second wait.
		MaxRetries: -1,
		// A connection for every call that may be in flight: the
		// reservations, the outcomes Done delivers itself, the senders,
		// the refresher and the probe.
		PoolSize:        2*slots + senders + 2,
		MinIdleConns:    1,
		DisableIdentity: true,
	}
	if c.PasswordFile != "" {
		pw, err := readSecret(c.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("rateLimit.store.redis.passwordFile: %w", err)
		}
		opt.Password = string(pw)
	}
	if c.TLS {
		host, _, _ := net.SplitHostPort(c.Address)
		opt.TLSConfig = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	}
	s := &redisStore{
		t: t, rdb: redis.NewClient(opt), addr: c.Address, prefix: c.KeyPrefix, key: key,
		timeout: c.Timeout.D(), log: log, stop: make(chan struct{}),
		slots: make(chan struct{}, slots), outbox: make(chan outcome, outboxSize), urgent: make(chan outcome, outboxSize),
		direct: make(chan struct{}, slots), seenQ: make(map[string]string), seenLast: make(map[string]time.Time),
		seenKick: make(chan struct{}, 1),
	}
	err = s.probe()
	if err == nil {
		err = s.loadScripts()
	}
	if err != nil {
		s.errs.Add(1)
		s.why, s.downAt = err, time.Now()
		log.Warn("throttle: redis does not answer; limits are per replica (in-process) until it does",
			"address", s.addr, "error", err.Error())
	} else {
		s.up.Store(true)
	}
	s.loop.Add(3 + senders)
	go s.watch()
	go s.refresh()
	go s.retry()
	for range senders {
		go s.send()
	}
	return s, nil
}

// readSecret reads a key or password file, without its trailing newline.
func readSecret(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return []byte(strings.TrimRight(string(b), "\r\n")), nil
}

// probe pings Redis: one PING a second while all is well. Connecting may
// take longer than timeout; the answer itself must not, or a slow Redis
// would flap between shared and local.
func (s *redisStore) probe() error {
	ctx, cancel := context.WithTimeout(context.Background(), max(s.timeout, time.Second))
	defer cancel()
	start := time.Now()
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		return err
	}
	if d := time.Since(start); d > s.timeout {
		// Once more on the connection now open: was it the dial?
		start = time.Now()
		if err := s.rdb.Ping(ctx).Err(); err != nil {
			return err
		}
		if d := time.Since(start); d > s.timeout {
			return fmt.Errorf("ping took %s, past the timeout (%s)", d.Round(time.Millisecond), s.timeout)
		}
	}
	return nil
}

// loadScripts loads the scripts before the store is used (again): a
// restarted Redis has none, and an EVALSHA answered NOSCRIPT would cost a
// request a second round trip.
func (s *redisStore) loadScripts() error {
	ctx, cancel := context.WithTimeout(context.Background(), max(s.timeout, time.Second))
	defer cancel()
	for _, sc := range []*redis.Script{reserveScript, doneScript, seenScript} {
		if err := sc.Load(ctx, s.rdb).Err(); err != nil {
			return err
		}
	}
	return nil
}

// watch probes the store every pingEvery: it notices an outage without
// waiting for requests to, and notices the end of one.
func (s *redisStore) watch() {
	defer s.loop.Done()
	tick := time.NewTicker(pingEvery)
	defer tick.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-tick.C:
		}
		if err := s.probe(); err != nil {
			if !s.closing.Load() {
				s.errs.Add(1)
				s.down(err)
			}
			continue
		}
		if s.up.Load() {
			continue
		}
		if err := s.loadScripts(); err != nil {
			s.errs.Add(1)
			continue
		}
		s.streak.Store(0)
		if s.up.CompareAndSwap(false, true) {
			s.mu.Lock()
			since := s.downAt
			s.why = nil
			s.mu.Unlock()
			s.log.Info("throttle: redis answers again; limits are shared across replicas",
				"address", s.addr, "outage", time.Since(since).Round(time.Millisecond).String())
		}
	}
}

// answered ends a run of failed calls.
func (s *redisStore) answered() { s.streak.Store(0) }

// failed counts a failed call; downAfter of them in a row, timeouts
// aside, are an outage. Calls failing because the replica is shutting
// down are none.
func (s *redisStore) failed(err error) {
	if s.closing.Load() {
		return
	}
	s.errs.Add(1)
	if !timedOut(err) && s.streak.Add(1) >= downAfter {
		s.down(err)
	}
}

func timedOut(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, redis.ErrPoolTimeout) ||
		errors.As(err, &ne) && ne.Timeout()
}

// down starts an outage, logging it on the first call since the store
// was last up: from here on each replica decides alone until watch sees
// Redis again.
func (s *redisStore) down(err error) {
	if s.closing.Load() || !s.up.CompareAndSwap(true, false) {
		return
	}
	s.mu.Lock()
	s.why, s.downAt = err, time.Now()
	s.mu.Unlock()
	s.log.Warn("throttle: redis unreachable or slower than its timeout; limits are per replica (in-process) until it returns",
		"address", s.addr, "error", err.Error())
}

// state is nil while the store is up, else why not.
func (s *redisStore) state() error {
	if s.up.Load() {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return fmt.Errorf("redis %s unreachable since %s (%v): limits are per replica until it returns",
		s.addr, s.downAt.UTC().Format(time.RFC3339), s.why)
}

// closeDrain bounds how long Close waits for outcomes still to be sent.
const closeDrain = 2 * time.Second

func (s *redisStore) close() error {
	var err error
	s.closed.Do(func() {
		s.closing.Store(true)
		for end := time.Now().Add(closeDrain); s.pending.Load() > 0 && s.up.Load() && time.Now().Before(end); {
			time.Sleep(time.Millisecond)
		}
		close(s.stop)
		s.loop.Wait()
		err = s.rdb.Close()
	})
	return err
}

// enqueue hands o to the senders. A full outbox never drops a
// reservation's outcome: with Redis up, the caller delivers it itself
// (waiting its turn among the slots' worth doing so), else it is set
// aside for Redis's return.
func (s *redisStore) enqueue(o outcome) {
	if s.closing.Load() {
		s.t.sent(o.pair)
		return
	}
	s.pending.Add(1)
	q := s.outbox
	if o.ok {
		q = s.urgent
	}
	select {
	case q <- o:
		return
	default:
	}
	if s.up.Load() {
		select {
		case s.direct <- struct{}{}:
		case <-s.stop:
			s.finish(&o)
			return
		}
		done := s.deliver(&o)
		<-s.direct
		if done {
			s.finish(&o)
			return
		}
	}
	s.setAside(o)
}

// finish ends o's wait: it landed, or never will.
func (s *redisStore) finish(o *outcome) {
	s.pending.Add(-1)
	s.t.sent(o.pair)
}

// setAside keeps o for retry. Outcomes Redis holds no reservation for
// (decided here while it was away) are dropped past a bound, counted:
// the replica's own table keeps them.
func (s *redisStore) setAside(o outcome) {
	s.asideMu.Lock()
	defer s.asideMu.Unlock()
	if !o.held && len(s.aside) >= outboxSize {
		s.finish(&o)
		s.errs.Add(1)
		return
	}
	s.aside = append(s.aside, o)
}

// send delivers the outcomes, one call at a time, successes first.
func (s *redisStore) send() {
	defer s.loop.Done()
	for {
		var o outcome
		select {
		case o = <-s.urgent:
		default:
			select {
			case <-s.stop:
				return
			case o = <-s.urgent:
			case o = <-s.outbox:
			}
		}
		if !s.deliver(&o) {
			s.setAside(o)
			continue
		}
		s.finish(&o)
	}
}

// retry hands the outcomes set aside back to the senders while Redis is
// up.
func (s *redisStore) retry() {
	defer s.loop.Done()
	tick := time.NewTicker(pingEvery / 10)
	defer tick.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-tick.C:
		}
		if !s.up.Load() {
			continue
		}
		s.asideMu.Lock()
		batch := s.aside
		s.aside = nil
		s.asideMu.Unlock()
		for i, o := range batch {
			select {
			case s.outbox <- o:
			case <-s.stop:
				s.asideMu.Lock()
				s.aside = append(s.aside, batch[i:]...)
				s.asideMu.Unlock()
				return
			}
		}
	}
}

// maxRounds bounds how often an outcome is set aside after failed tries
// with Redis up: one that Redis keeps refusing is a bug, not an outage.
const maxRounds = 100

// deliver sends o: true when it landed or is pointless (a failure the
// window has forgotten), false when it should wait for Redis (away, or
// failing). Gives up on o (true) at Close and after maxRounds.
func (s *redisStore) deliver(o *outcome) bool {
	for tries := 0; tries < downAfter; tries++ {
		if !s.up.Load() || s.closing.Load() {
			return s.closing.Load()
		}
		now := s.t.now()
		if o.fail && now.Sub(o.at) >= s.t.window {
			return true
		}
		ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
		err := doneScript.Run(ctx, s.rdb, nil, append(s.t.common(now), o.args...)...).Err()
		cancel()
		if err == nil {
			s.answered()
			return true
		}
		s.failed(err)
	}
	if o.rounds++; o.rounds >= maxRounds {
		s.errs.Add(1)
		return true
	}
	return false
}

// seen queues a refresh of a trusted pair, at most one per pair waiting
// and one per seenEvery; past seenQueueSize it is dropped.
func (s *redisStore) seen(userH, trustH string, now time.Time) {
	if s.closing.Load() {
		return
	}
	s.seenMu.Lock()
	defer s.seenMu.Unlock()
	if _, ok := s.seenQ[trustH]; ok || len(s.seenQ) >= seenQueueSize {
		return
	}
	if last, ok := s.seenLast[trustH]; ok && now.Sub(last) < seenEvery && !now.Before(last) {
		return
	}
	if len(s.seenLast) >= seenQueueSize {
		clear(s.seenLast) // a coarse bound: at worst a pair is refreshed early
	}
	s.seenLast[trustH] = now
	s.seenQ[trustH] = userH
	s.pending.Add(1)
	select {
	case s.seenKick <- struct{}{}:
	default:
	}
}

// refresh sends the queued Seen refreshes, one call at a time; a
// refresh that fails is dropped (the pair stays trusted here).
func (s *redisStore) refresh() {
	defer s.loop.Done()
	for {
		select {
		case <-s.stop:
			return
		case <-s.seenKick:
		}
		for {
			s.seenMu.Lock()
			var tH, uH string
			for tH, uH = range s.seenQ {
				break
			}
			if tH != "" {
				delete(s.seenQ, tH)
			}
			s.seenMu.Unlock()
			if tH == "" {
				break
			}
			if s.up.Load() && !s.closing.Load() {
				ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
				err := seenScript.Run(ctx, s.rdb, nil, append(s.t.common(s.t.now()), uH, tH, maxTrustedPerUser)...).Err()
				cancel()
				if err == nil {
					s.answered()
					s.seenSent.Add(1)
				} else {
					s.failed(err)
				}
			}
			s.pending.Add(-1)
		}
	}
}

// h names a key in Redis: its HMAC under the replicas' shared key, 128
// bits, so that neither names nor addresses can be read off a dump (nor
// guessed from it without the key).
func (s *redisStore) h(k string) string {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(k))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:16])
}

// common is the scripts' first arguments: the prefix, now and the limits,
// in milliseconds.
func (t *Throttle) common(now time.Time) []any {
	ttl := min(trustTTL, 2*t.window+t.max)
	return []any{t.store.prefix, now.UnixMilli(), t.window.Milliseconds(), t.initial.Milliseconds(),
		t.max.Milliseconds(), t.maxEntries, ttl.Milliseconds(), trustTTL.Milliseconds(), reservationLease.Milliseconds()}
}

// sharedHold is a check's place in the shared store: held there (Redis
// decided), or to be told there (this replica decided alone).
type sharedHold struct {
	rid                          string // "": no reservation in Redis
	pair, ip, user, trust, exact string // hashed keys; ip is the one counted (trusted pairs' own bucket or not)
	other                        string // the other address bucket, released too where Redis may hold rid
	name, addr                   string // for the in-process copy of the outcome
}

// hold names user's check from ip in the store, with reservation id rid.
func (t *Throttle) hold(user, ip, rid string, trusted bool) *sharedHold {
	s := t.store
	h := &sharedHold{
		rid:  rid,
		pair: s.h(t.pairKey(user, ip)), ip: s.h(t.ipKey(ip)), other: s.h(t.trustedIPKey(ip)), user: s.h(userKey(user)),
		trust: s.h(t.trustKey(user, ip)), exact: s.h(exactUserKey(user)), name: user, addr: ip,
	}
	if trusted {
		h.ip, h.other = h.other, h.ip
	}
	return h
}

// strangerFor is how long a replica remembers that Redis refused a pair
// for its address's failures, not knowing it as trusted: a pair trusted
// since (a success or cache hit on another replica) waits at most this.
const strangerFor = time.Second

// ScopeBusy refuses a cold check that waited its timeout for a free call
// to the shared store: the replica has its maximum of reservations in
// flight there (a flood). Deciding it alone instead would hand a flood's
// guessers each replica's budget; the client retries in a second.
const ScopeBusy = "busy"

// reserveShared is Reserve on the shared store: one script call. When it
// gives no answer (an error, past the timeout), answered is false and h
// names the reservation Redis may have made all the same.
func (t *Throttle) reserveShared(user, ip string) (r *Reservation, ok bool, retry time.Duration, scope string, h *sharedHold, answered bool) {
	s := t.store
	now := t.now()
	pk, tk, ik := t.pairKey(user, ip), t.trustKey(user, ip), t.ipKey(ip)
	// A refusal this replica had from Redis holds without asking again:
	// a flood from a few addresses costs Redis nothing once refused.
	// An address's refusal binds only the pairs Redis itself refused
	// there as strangers (within strangerFor): any other may be trusted
	// there by a success on another replica, and others' failures at an
	// address never lock out the users trusted there.
	t.mu.Lock()
	trusted := t.perPair > 0 && t.isTrusted(tk, now)
	if trusted {
		ik = t.trustedIPKey(ip)
	}
	for _, c := range []struct{ key, scope string }{{pk, ScopeUserIP}, {ik, ScopeIP}} {
		e := t.entries[c.key]
		if e == nil {
			continue
		}
		until := e.shared
		if c.scope == ScopeUserIP && e.unsent > 0 {
			// Failures this replica has not told Redis yet (decided
			// here while it was slow or away): this table's backoff
			// binds too, so that each replica never exceeds its own
			// budget, whatever Redis has heard so far.
			until = later(until, e.until)
		}
		if !now.Before(until) {
			continue
		}
		if c.scope == ScopeIP && !trusted {
			if p := t.entries[pk]; p == nil || !now.Before(p.stranger) {
				continue
			}
		}
		retry := until.Sub(now)
		t.mu.Unlock()
		return nil, false, retry, c.scope, nil, true
	}
	t.mu.Unlock()

	wait, cancel := context.WithTimeout(context.Background(), s.timeout)
	select {
	case s.slots <- struct{}{}:
		cancel()
		defer func() { <-s.slots }()
	case <-wait.Done():
		cancel()
		s.errs.Add(1)
		return nil, false, inflightRetry, ScopeBusy, nil, true
	}

	var id [12]byte
	rand.Read(id[:])
	h = t.hold(user, ip, base64.RawURLEncoding.EncodeToString(id[:]), false)
	args := append(t.common(now), t.perPair, t.perIP, t.perUser,
		h.pair, h.ip, h.other, h.user, h.trust, h.rid, inflightRetry.Milliseconds(), h.exact)
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	res, err := reserveScript.Run(ctx, s.rdb, nil, args...).Slice()
	if err == nil && len(res) != 4 && len(res) != 3 {
		err = fmt.Errorf("reserve script answered %v", res)
	}
	if err != nil {
		s.failed(err)
		return nil, false, 0, "", h, false
	}
	s.answered()
	n, _ := res[0].(int64)
	tr, _ := res[len(res)-1].(int64)
	if n == 1 {
		tr, _ = res[1].(int64)
	}
	if tr == 1 {
		h.ip, h.other = h.other, h.ip
	}
	if n == 1 {
		if empty, _ := res[2].(int64); empty == 1 {
			t.reconcile(pk)
		}
		return &Reservation{t: t, sh: h}, true, 0, "", nil, true
	}
	ms, _ := res[1].(int64)
	sc, _ := res[2].(string)
	retry = time.Duration(ms) * time.Millisecond
	if sc == ScopeUserIP || sc == ScopeIP {
		key := pk
		if sc == ScopeIP {
			key = t.ipKey(ip)
			if tr == 1 {
				key = t.trustedIPKey(ip)
			}
		}
		t.mu.Lock()
		e := t.get(key, true)
		e.shared = later(e.shared, now.Add(retry))
		if sc == ScopeIP && tr == 0 {
			p := t.get(pk, true)
			p.stranger = later(p.stranger, now.Add(min(retry, strangerFor)))
		}
		t.mu.Unlock()
	}
	return nil, false, retry, sc, nil, true
}

// doneShared records the outcome of a check Redis decided in this
// process's table at once (so that a fallback starts from this replica's
// share of the history) and sends it to Redis after the answer. Until it
// lands the attempt stays in flight there and keeps its place in every
// budget; if it never does, its lease counts it as a failure.
func (t *Throttle) doneShared(h *sharedHold, o Outcome) {
	if o != Success && o != Undecided {
		o = Failure
	}
	t.record(h.name, h.addr, o)
	t.tell(h, o, false)
}

// tell sends an outcome to Redis. always: the replica decided the check
// alone, so its failure counts whether or not Redis holds h.rid.
func (t *Throttle) tell(h *sharedHold, o Outcome, always bool) {
	if o != Success && o != Undecided {
		o = Failure
	}
	if o == Undecided && h.rid == "" {
		return // nothing held, nothing to count
	}
	code := map[Outcome]string{Success: "s", Failure: "f", Undecided: "u"}[o]
	a := "0"
	if always {
		a = "1"
	}
	args := []any{code, h.rid, h.exact, h.pair, h.trust, maxTrustedPerUser, a}
	for _, c := range []struct {
		key   string
		bound int
		block int
	}{{h.pair, t.perPair, 1}, {h.ip, t.perIP, 1}, {h.user, t.perUser, 0}} {
		if c.bound > 0 {
			args = append(args, c.key, c.bound, c.block)
		}
	}
	if always && h.rid != "" && t.perIP > 0 {
		args = append(args, h.other, 0, 0) // which bucket Redis chose is unknown
	}
	pk := t.pairKey(h.name, h.addr)
	if t.store.closing.Load() {
		return
	}
	t.mu.Lock()
	t.get(pk, true).unsent++
	t.mu.Unlock()
	t.store.enqueue(outcome{args: args, at: t.now(), fail: o == Failure, ok: o == Success, held: h.rid != "", pair: pk})
}

// seenShared refreshes a trusted pair in Redis, off the request's path:
// the cached path never waits on Redis.
func (t *Throttle) seenShared(user, ip string) {
	s := t.store
	s.seen(s.h(exactUserKey(user)), s.h(t.trustKey(user, ip)), t.now())
}

// sent notes that an outcome on pair pk reached Redis (or never will).
func (t *Throttle) sent(pk string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e := t.entries[pk]; e != nil && e.unsent > 0 {
		e.unsent--
	}
}

// reconcile forgets this process's failures on pair pk when Redis, which
// has heard all of them, holds none: a success on another replica reset
// the pair, and this table must not refuse what the deployment allows.
func (t *Throttle) reconcile(pk string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e := t.entries[pk]; e != nil && e.unsent == 0 {
		e.prev, e.cur, e.strikes, e.until, e.by = 0, 0, 0, time.Time{}, ""
	}
}

// record applies an outcome the shared store decided to this process's
// table too.
func (t *Throttle) record(user, ip string, o Outcome) {
	if o == Undecided {
		return
	}
	pk, tk := t.pairKey(user, ip), t.trustKey(user, ip)
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	if o == Success {
		t.succeeded(exactUserKey(user), pk, tk, now)
		return
	}
	ik := t.ipKey(ip)
	if t.perPair > 0 && t.isTrusted(tk, now) {
		ik = t.trustedIPKey(ip)
	}
	for _, c := range []struct {
		key   string
		bound int
		block bool
	}{{pk, t.perPair, true}, {ik, t.perIP, true}, {userKey(user), t.perUser, false}} {
		if c.bound > 0 {
			by := ""
			if c.key == pk {
				by = exactUserKey(user)
			}
			t.count(t.get(c.key, true), c.bound, c.block, by, now)
		}
	}
}

// Open is New with the configured store: with rateLimit.store.redis set,
// the state lives in Redis, shared by the replicas, and the in-process
// table is the fallback while Redis is away. Close releases it.
func Open(l Config, now func() time.Time, log *slog.Logger) (*Throttle, error) {
	t := New(l, now)
	if !l.Store.Redis.Enabled() || !t.enabled() {
		return t, nil
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s, err := openRedis(t, l.Store.Redis, log)
	if err != nil {
		return nil, err
	}
	t.store = s
	return t, nil
}

// Close stops the store's probes, waits (briefly) for the outcomes on
// their way and disconnects. From then on the throttle decides alone and
// tells Redis nothing: a Done after Close is no outage. A throttle
// without a store has nothing to close.
func (t *Throttle) Close() error {
	if t.store == nil {
		return nil
	}
	return t.store.close()
}

// Flush waits for the outcomes on their way to the shared store, while
// it is up (during an outage they wait for its return).
func (t *Throttle) Flush() {
	s := t.store
	if s == nil {
		return
	}
	for s.pending.Load() > 0 && s.up.Load() && !s.closing.Load() {
		time.Sleep(time.Millisecond)
	}
}

// StoreErrors is how many calls to the shared store failed or timed out
// (or found no free connection in time, or no room in the outbox).
func (t *Throttle) StoreErrors() uint64 {
	if t.store == nil {
		return 0
	}
	return t.store.errs.Load()
}

// Store names the shared store ("" without one) and, while it is away,
// says why: the limits are then each replica's own.
func (t *Throttle) Store() (name string, err error) {
	if t.store == nil {
		return "", nil
	}
	return "redis", t.store.state()
}

// Shared reports whether the shared store is up. After Close it keeps
// its last state: shutting down is no outage.
func (t *Throttle) Shared() bool { return t.store != nil && t.store.up.Load() }
