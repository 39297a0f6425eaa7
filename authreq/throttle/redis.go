package throttle

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net"
	"os"
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
// cannot slip through the gap.
//
// Key layout under keyPrefix, every name an HMAC of what keys.go builds
// (user names and addresses never appear):
//
//	c:H  hash: a failure counter (p, c: previous and current window; s:
//	     start; k: strikes; u: blocked until), TTL 2×window + backoff.max
//	f:H  sorted set: attempts in flight on counter H, reservation id →
//	     deadline (a replica that dies mid-check leaks nothing)
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
// when its outcome never arrives (the replica died, Redis was away): far
// above any password check, which the verify queue and the backends'
// timeouts bound to seconds.
const reservationLease = 2 * time.Minute

// pingEvery is how often the store is probed: within this (plus one
// timeout) of Redis returning, state is shared again.
const pingEvery = time.Second

const luaCommon = `
local P = ARGV[1]
local now = tonumber(ARGV[2])
local window = tonumber(ARGV[3])
local initial = tonumber(ARGV[4])
local maxb = tonumber(ARGV[5])
local maxEntries = tonumber(ARGV[6])
local ttl = tonumber(ARGV[7])
local trustTTL = tonumber(ARGV[8])

local function int(x) return string.format('%d', x) end

local function load(h)
  local v = redis.call('HMGET', P .. 'c:' .. h, 'p', 'c', 's', 'k', 'u')
  if not v[3] then return nil end
  return {p = tonumber(v[1]), c = tonumber(v[2]), s = tonumber(v[3]), k = tonumber(v[4]), u = tonumber(v[5])}
end

local function fresh() return {p = 0, c = 0, s = now, k = 0, u = 0} end

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

local function inflight(h)
  local f = P .. 'f:' .. h
  redis.call('ZREMRANGEBYSCORE', f, '-inf', int(now))
  return redis.call('ZCARD', f)
end

-- save writes a counter back and keeps at most maxEntries of them, the
-- least recently touched going first, except those with attempts in
-- flight (as the in-process table pins them).
local function save(h, e)
  local k, idx = P .. 'c:' .. h, P .. 'ic'
  redis.call('HSET', k, 'p', int(e.p), 'c', int(e.c), 's', int(e.s), 'k', int(e.k), 'u', int(e.u))
  redis.call('PEXPIRE', k, ttl)
  redis.call('ZREMRANGEBYSCORE', idx, '-inf', int(now - ttl))
  redis.call('ZADD', idx, int(now), h)
  redis.call('PEXPIRE', idx, ttl)
  local over = redis.call('ZCARD', idx) - maxEntries
  if over <= 0 then return end
  -- Oldest first; a few more candidates than needed, for those pinned
  -- (and for h itself, which ties with others touched in the same ms).
  for _, old in ipairs(redis.call('ZRANGE', idx, 0, over + 16)) do
    if over <= 0 then break end
    if old ~= h and inflight(old) == 0 then
      redis.call('DEL', P .. 'c:' .. old)
      redis.call('ZREM', idx, old)
      over = over - 1
    end
  end
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
// {0, retry ms, scope} or {1, trusted}.
var reserveScript = redis.NewScript(luaCommon + `
local perPair, perIP, perUser, lease = tonumber(ARGV[9]), tonumber(ARGV[10]), tonumber(ARGV[11]), tonumber(ARGV[12])
local pairH, ipH, tipH, userH, trustH, rid = ARGV[13], ARGV[14], ARGV[15], ARGV[16], ARGV[17], ARGV[18]
local inflightRetry = tonumber(ARGV[19])
local trusted = perPair > 0 and redis.call('EXISTS', P .. 't:' .. trustH) == 1
if trusted then ipH = tipH end
for _, c in ipairs({{pairH, 'user_ip', perPair}, {ipH, 'ip', perIP}}) do
  if c[3] > 0 then
    local e = load(c[1])
    if e and now < e.u then return {0, e.u - now, c[2]} end
    local n = inflight(c[1])
    if n > 0 and (e and estimate(e) or 0) + n >= c[3] then return {0, inflightRetry, c[2]} end
  end
end
if perUser > 0 and not trusted then
  local e = load(userH)
  local n = inflight(userH)
  if (e and estimate(e) or 0) + n >= perUser then
    e = e or fresh()
    if now < e.u then return {0, e.u - now, 'user'} end
    e.u = now + step(e.k)
    save(userH, e)
  end
end
for _, c in ipairs({{pairH, perPair}, {ipH, perIP}, {userH, perUser}}) do
  if c[2] > 0 then
    local f = P .. 'f:' .. c[1]
    redis.call('ZADD', f, int(now + lease), rid)
    redis.call('PEXPIRE', f, lease)
  end
end
if trusted then return {1, 1} end
return {1, 0}
`)

// doneScript is Done: releases the reservation and records its outcome
// ("s" success, "f" failure, "u" undecided) on the counters it held.
var doneScript = redis.NewScript(luaCommon + `
local outcome, rid, uH, pairH, trustH = ARGV[9], ARGV[10], ARGV[11], ARGV[12], ARGV[13]
local maxPerUser = tonumber(ARGV[14])
local held, i = {}, 15
while i + 2 <= #ARGV do
  table.insert(held, {ARGV[i], tonumber(ARGV[i + 1]), ARGV[i + 2] == '1'})
  i = i + 3
end
for _, h in ipairs(held) do redis.call('ZREM', P .. 'f:' .. h[1], rid) end
if outcome == 's' then
  redis.call('DEL', P .. 'c:' .. pairH)
  redis.call('ZREM', P .. 'ic', pairH)
  trust(uH, trustH, maxPerUser)
elseif outcome == 'f' then
  for _, h in ipairs(held) do
    local e = load(h[1]) or fresh()
    roll(e)
    e.c = e.c + 1
    if estimate(e) >= h[2] then
      e.k = e.k + 1
      if h[3] then e.u = now + step(e.k) end
    end
    save(h[1], e)
  end
end
return 1
`)

// seenScript is Seen's refresh of a trusted pair.
var seenScript = redis.NewScript(luaCommon + `
trust(ARGV[9], ARGV[10], tonumber(ARGV[11]))
return 1
`)

// redisStore is the connection to the shared state and its health.
type redisStore struct {
	rdb     *redis.Client
	addr    string
	prefix  string
	key     []byte // HMAC key; never logged, never sent
	timeout time.Duration
	log     *slog.Logger

	up     atomic.Bool
	errs   atomic.Uint64
	mu     sync.Mutex
	why    error     // the last failure, while down
	downAt time.Time // while down

	pending sync.WaitGroup // outcomes on their way
	stop    chan struct{}
	loop    sync.WaitGroup
	closed  sync.Once
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
func openRedis(c RedisConfig, log *slog.Logger) (*redisStore, error) {
	key, err := readSecret(c.HMACKeyFile)
	if err != nil {
		return nil, fmt.Errorf("rateLimit.store.redis.hmacKeyFile: %w", err)
	}
	if len(key) < 32 {
		return nil, fmt.Errorf("rateLimit.store.redis.hmacKeyFile: %s holds %d bytes; want at least 32 random bytes (openssl rand -base64 48)", c.HMACKeyFile, len(key))
	}
	quietOnce.Do(func() { redis.SetLogger(quiet{}) })
	opt := &redis.Options{
		Addr:                  c.Address,
		Username:              c.Username,
		DialTimeout:           max(c.Timeout.D(), time.Second),
		ReadTimeout:           c.Timeout.D(),
		WriteTimeout:          c.Timeout.D(),
		ContextTimeoutEnabled: true,
		// No retries: past the timeout the answer comes from this
		// process, not from a second wait.
		MaxRetries:      -1,
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
		rdb: redis.NewClient(opt), addr: c.Address, prefix: c.KeyPrefix, key: key,
		timeout: c.Timeout.D(), log: log, stop: make(chan struct{}),
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
	s.loop.Add(1)
	go s.watch()
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
// waiting for a request to, and notices the end of one.
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
			s.failed(err)
			continue
		}
		if s.up.Load() {
			continue
		}
		if err := s.loadScripts(); err != nil {
			s.errs.Add(1)
			continue
		}
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

// failed counts a failed call and, on the first since the store was last
// up, logs the start of the outage: from here on each replica decides
// alone until watch sees Redis again.
func (s *redisStore) failed(err error) {
	s.errs.Add(1)
	if !s.up.CompareAndSwap(true, false) {
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

func (s *redisStore) close() error {
	var err error
	s.closed.Do(func() {
		close(s.stop)
		s.loop.Wait()
		s.pending.Wait()
		err = s.rdb.Close()
	})
	return err
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
		t.max.Milliseconds(), t.maxEntries, ttl.Milliseconds(), trustTTL.Milliseconds()}
}

// sharedHold is a reservation held in Redis.
type sharedHold struct {
	rid                          string
	pair, ip, user, trust, exact string // hashed keys; ip is the one held (trusted pairs' own bucket or not)
	name, addr                   string // for the in-process copy of the outcome
}

// reserveShared is Reserve on the shared store: one script call.
func (t *Throttle) reserveShared(user, ip string) (r *Reservation, ok bool, retry time.Duration, scope string, err error) {
	s := t.store
	var id [12]byte
	rand.Read(id[:])
	h := &sharedHold{
		rid:  base64.RawURLEncoding.EncodeToString(id[:]),
		pair: s.h(t.pairKey(user, ip)), ip: s.h(t.ipKey(ip)), user: s.h(userKey(user)),
		trust: s.h(t.trustKey(user, ip)), exact: s.h(exactUserKey(user)), name: user, addr: ip,
	}
	tip := s.h(t.trustedIPKey(ip))
	args := append(t.common(t.now()), t.perPair, t.perIP, t.perUser, reservationLease.Milliseconds(),
		h.pair, h.ip, tip, h.user, h.trust, h.rid, inflightRetry.Milliseconds())
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	res, err := reserveScript.Run(ctx, s.rdb, nil, args...).Slice()
	if err != nil {
		return nil, false, 0, "", err
	}
	if len(res) != 3 && len(res) != 2 {
		return nil, false, 0, "", fmt.Errorf("reserve script answered %v", res)
	}
	if n, _ := res[0].(int64); n == 0 {
		ms, _ := res[1].(int64)
		sc, _ := res[2].(string)
		return nil, false, time.Duration(ms) * time.Millisecond, sc, nil
	}
	if trusted, _ := res[1].(int64); trusted == 1 {
		h.ip = tip
	}
	return &Reservation{t: t, sh: h}, true, 0, "", nil
}

// doneShared records the outcome in this process's table at once (so that
// a fallback starts from this replica's share of the history) and sends it
// to Redis after the answer. Until it lands the attempt stays in flight
// there and keeps its place in every budget.
func (t *Throttle) doneShared(h *sharedHold, o Outcome) {
	if o != Success && o != Undecided {
		o = Failure
	}
	t.record(h.name, h.addr, o)
	s := t.store
	if !s.up.Load() {
		return // the lease releases it in Redis
	}
	code := map[Outcome]string{Success: "s", Failure: "f", Undecided: "u"}[o]
	args := append(t.common(t.now()), code, h.rid, h.exact, h.pair, h.trust, maxTrustedPerUser)
	for _, c := range []struct {
		key   string
		bound int
		block int
	}{{h.pair, t.perPair, 1}, {h.ip, t.perIP, 1}, {h.user, t.perUser, 0}} {
		if c.bound > 0 {
			args = append(args, c.key, c.bound, c.block)
		}
	}
	s.pending.Add(1)
	go func() {
		defer s.pending.Done()
		ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
		defer cancel()
		if err := doneScript.Run(ctx, s.rdb, nil, args...).Err(); err != nil {
			s.failed(err)
		}
	}()
}

// seenShared refreshes a trusted pair in Redis, off the request's path:
// the cached path never waits on Redis.
func (t *Throttle) seenShared(user, ip string) {
	s := t.store
	if !s.up.Load() {
		return
	}
	args := append(t.common(t.now()), s.h(exactUserKey(user)), s.h(t.trustKey(user, ip)), maxTrustedPerUser)
	s.pending.Add(1)
	go func() {
		defer s.pending.Done()
		ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
		defer cancel()
		if err := seenScript.Run(ctx, s.rdb, nil, args...).Err(); err != nil {
			s.failed(err)
		}
	}()
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
			t.count(t.get(c.key, true), c.bound, c.block, now)
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
	s, err := openRedis(l.Store.Redis, log)
	if err != nil {
		return nil, err
	}
	t.store = s
	return t, nil
}

// Close stops the store's probes, waits for the outcomes on their way and
// disconnects. A throttle without a store has nothing to close.
func (t *Throttle) Close() error {
	if t.store == nil {
		return nil
	}
	return t.store.close()
}

// Flush waits for the outcomes on their way to the shared store.
func (t *Throttle) Flush() {
	if t.store != nil {
		t.store.pending.Wait()
	}
}

// StoreErrors is how many calls to the shared store failed or timed out.
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

// Shared reports whether decisions are being made on the shared store now.
func (t *Throttle) Shared() bool { return t.store != nil && t.store.up.Load() }
