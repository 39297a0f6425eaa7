package authreq

// Attacks found by a hostile review of the hardening, each reproduced
// before it was fixed.

import (
	"fmt"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/authreq/authreq/htpasswd"
	"github.com/authreq/authreq/internal/duration"
	"github.com/authreq/authreq/internal/realtest"
)

// while the directory hangs and its pool (ldap.poolSize) is full, a
// wrong password for a break-glass htpasswd user gets htpasswd's definite
// "no" and is then thrown away because the *later* link's slot wait timed
// out: 503, uncounted. The right password answers 200 before the LDAP link
// is reached. So 200-vs-503 is an oracle for the break-glass password that
// the throttle never sees.
func TestBreakGlassGuessesCountWhileDirectoryPoolFull(t *testing.T) {
	const base = "dc=mlflow,dc=test"
	d := realtest.StartSlapd(t, base, "ldapauth/testdata/mlflow.ldif")
	s := newTestServer(t, map[string]string{"local": "local-pw"}, func(c *Config) {
		c.VerifyQueueTimeout = duration.Duration(100 * time.Millisecond)
		l := &c.LDAP
		l.Enabled = true
		l.URI = d.LDAPSURL + "/" + base
		l.LookupBind = "uid=%s,ou=people," + base
		l.TrustedCACertificateFile = d.CA.CertFile
		l.Timeout = duration.Duration(8 * time.Second)
		l.PoolSize = 2
	})
	if code := s.status("bob", "bob-pass"); code != 200 {
		t.Fatalf("bob before the hang: %d", code)
	}
	d.Pause()
	defer d.Resume()
	// Two requests (other names, other addresses) hang in the directory and
	// hold both directory slots.
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Add(1)
		go func() { defer wg.Done(); s.from(fmt.Sprint("203.0.113.", i+1), fmt.Sprint("filler", i), "x") }()
	}
	time.Sleep(300 * time.Millisecond)
	// One attacker address, sequential guesses for the break-glass user.
	codes := map[int]int{}
	for i := range 20 {
		r := s.from("198.51.100.7", "local", fmt.Sprint("guess-", i))
		codes[r.StatusCode]++
	}
	r := s.from("198.51.100.7", "local", "local-pw")
	t.Logf("20 wrong guesses: %v; then the right password: %d Retry-After=%q", codes, r.StatusCode, r.Header.Get("Retry-After"))
	if codes[503] > 0 {
		t.Errorf("wrong break-glass passwords answered 503 (uncounted) %d times out of 20", codes[503])
	}
	if r.StatusCode == 200 {
		t.Errorf("after 20 wrong guesses from one address the right password still gets 200: nothing was counted")
	}
	d.Resume()
	wg.Wait()
}

// the trusted (user, address) table is one LRU of maxEntries shared by
// all users, and a cache hit from a new address adds a pair. One account
// (mallory) with cached credentials, presented from maxEntries+1 addresses
// (IPv6 /64s of one /47, or a botnet), evicts every other user's trust for
// the price of maxEntries cache hits — no hash checks. Then a handful of
// wrong guesses for alice puts her over perUser, and alice, at the office
// she logs in from every day, is throttled on her next cold check.
func TestOneAccountCannotFlushOthersTrust(t *testing.T) {
	s := newTestServer(t, map[string]string{"alice": "alice-pw", "mallory": "mallory-pw"}, func(c *Config) {
		c.RateLimit.MaxEntries = 2000 // the default 100000 behaves alike, only slower to fill
	})
	if r := s.from("192.0.2.1", "alice", "alice-pw"); r.StatusCode != 200 { // her office: trusted
		t.Fatal(r.StatusCode)
	}
	max := s.cfg.RateLimit.MaxEntries
	start := time.Now()
	for i := range max + 1 {
		ip := fmt.Sprintf("2001:db8:%x:%x::1", i>>16, i&0xffff) // a new /64 each time
		if r := s.from(ip, "mallory", "mallory-pw"); r.StatusCode != 200 {
			t.Fatal(r.StatusCode)
		}
	}
	t.Logf("%d cache hits from new /64s in %v", max+1, time.Since(start))
	for i := range 25 { // 5 guesses from each of 5 addresses: under the pair bound
		s.from(fmt.Sprint("203.0.113.", i/5), "alice", fmt.Sprint("guess-", i))
	}
	s.cache.DropUsers([]string{"alice"}) // her cache entry expires (ttl 5m)
	if r := s.from("192.0.2.1", "alice", "alice-pw"); r.StatusCode != 200 {
		t.Errorf("alice from her trusted office with the right password: %d Retry-After=%q — trust was flushed by another account's cache hits",
			r.StatusCode, r.Header.Get("Retry-After"))
	}
}

// the per-address bound blocks every user of the address (prefix),
// trusted pairs included, and a /64 is a whole LAN (SLAAC): one guest on
// the office Wi-Fi, knowing no password, sends perIP wrong guesses under
// random names and every colleague on that LAN is refused on their next
// cold check, for a backoff that doubles up to 15 minutes with each further
// guess.
func TestOneHostOnTheLANCannotLockOutTheOffice(t *testing.T) {
	s := newTestServer(t, map[string]string{"alice": "alice-pw"}, nil)
	if r := s.from("2001:db8:1:1::10", "alice", "alice-pw"); r.StatusCode != 200 { // her desk: trusted
		t.Fatal(r.StatusCode)
	}
	for i := range 50 { // the guest, another host on the same LAN
		s.from("2001:db8:1:1:abcd::99", fmt.Sprint("nobody", i), "x")
	}
	s.cache.DropUsers([]string{"alice"}) // her cache entry expires
	if r := s.from("2001:db8:1:1::10", "alice", "alice-pw"); r.StatusCode != 200 {
		t.Errorf("alice from her trusted desk, right password: %d Retry-After=%q", r.StatusCode, r.Header.Get("Retry-After"))
	}
}

// the cache generation moves only when a reload changes or removes an
// existing user, so a reload that only adds a user does not separate
// shared checks: a request for the new user, arriving after the reload has
// completed, joins a check that started against the old table (where the
// name was unknown), gets its 401 and that 401 was counted against the
// new user's budgets.
func TestReloadThatAddsAUserSeparatesSharedChecks(t *testing.T) {
	s := newTestServer(t, nil, nil)
	slow, err := htpasswd.Generate(htpasswd.Bcrypt, []byte("x"), 12) // the file's only class: unknown names are slow
	if err != nil {
		t.Fatal(err)
	}
	s.writeFile(t, "admin:"+slow+"\n")
	before := make(chan int)
	go func() { before <- s.status("newbie", "newbie-pw") }() // against the old table: unknown
	time.Sleep(200 * time.Millisecond)
	s.writeFile(t, "admin:"+slow+"\nnewbie:"+hashOf(t, "newbie-pw")+"\n") // reload completed
	start := time.Now()
	code := s.status("newbie", "newbie-pw")
	t.Logf("after the reload: %d in %v; before: %d", code, time.Since(start), <-before)
	if code != 200 {
		t.Errorf("newbie, added by a completed reload, right password: %d (joined the check against the old table)", code)
	}
}

// nginx sets $remote_addr (and so X-Real-IP) to "unix:" for a client
// on a unix-socket listener (nginx behind another proxy or a sidecar).
// That does not parse, and clientIP falls back to X-Forwarded-For — which
// the client wrote, since the snippet's /_authreq location passes the
// client's own X-Forwarded-For through unchanged. Every guess can then
// name a fresh address.
func TestUnparseableRealIPIgnoresClientXFF(t *testing.T) {
	s := newTestServer(t, map[string]string{"alice": "alice-pw"}, nil)
	checked := 0
	for i := range 120 { // password spraying: one guess for each of 120 names
		r := httptest.NewRequest("GET", "/auth", nil)
		r.RemoteAddr = "127.0.0.1:40000" // nginx
		r.Header.Set("X-Real-IP", "unix:")
		r.Header.Set("X-Forwarded-For", fmt.Sprintf("203.0.113.%d", i)) // chosen by the client
		r.Header.Set("Authorization", basic(fmt.Sprint("user", i), "Summer2024!"))
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		if w.Result().Header.Get("Retry-After") == "" {
			checked++
		}
	}
	if checked > 50 {
		t.Errorf("%d of 120 guesses from one client checked; perIP is 50: the client picks its address via X-Forwarded-For", checked)
	}
}
