package authreq

// Third hostile review: attacks on the fixes of 40ab180. Each test fails
// while the weakness is there.

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/authreq/authreq/htpasswd"
)

// perUserAndIP: 0 (valid: perIP and perUser are set) and a pair
// trusted by the victim's own login: the per-address bound and the
// per-user bound are both skipped for it, and there is no pair bound, so
// anyone sharing the victim's address (office NAT, the /64 of a LAN, or
// every client behind a unix-socket nginx, which all arrive as 127.0.0.1)
// guesses her password without any limit.
func TestTrustedPairWithoutPairBoundStaysBounded(t *testing.T) {
	s := newTestServer(t, map[string]string{"alice": "alice-pw"}, func(c *Config) {
		c.RateLimit.Failures.PerUserAndIP = 0
	})
	if err := s.cfg.Validate(); err != nil {
		t.Fatalf("config refused: %v", err)
	}
	if r := s.from("192.0.2.1", "alice", "alice-pw"); r.StatusCode != 200 { // alice at the office
		t.Fatal(r.StatusCode)
	}
	checked := 0
	for i := range 500 { // the guest on the office NAT
		r := s.from("192.0.2.1", "alice", fmt.Sprint("guess-", i))
		if r.Header.Get("Retry-After") == "" {
			checked++
		}
	}
	if checked > 50 { // perIP is 50, perUser 20
		t.Errorf("%d of 500 guesses for alice from her (shared) office address checked: no bound applies to a trusted pair when perUserAndIP is 0", checked)
	}
}

// Budgets and trust are keyed on the folded name, identities are
// exact: htpasswd "Alice" is another account than "alice" (nginx and
// Apache compare exactly) but shares alice's per-user list of 32 trusted
// pairs. The owner of "Alice" pushes alice's office out with cache hits
// from 32 addresses, then a botnet puts alice over perUser, and alice at
// her office is slowed.
func TestLookAlikeAccountCannotEvictTrust(t *testing.T) {
	s := newTestServer(t, map[string]string{"alice": "alice-pw", "Alice": "mallory-pw"}, nil)
	if r := s.from("192.0.2.1", "alice", "alice-pw"); r.StatusCode != 200 {
		t.Fatal(r.StatusCode)
	}
	for i := range 32 { // the per-user share of trusted pairs
		if r := s.from(fmt.Sprintf("2001:db8:%x::1", i), "Alice", "mallory-pw"); r.StatusCode != 200 {
			t.Fatal(r.StatusCode)
		}
	}
	for i := range 25 {
		s.from(fmt.Sprint("203.0.113.", i/5), "alice", fmt.Sprint("guess-", i))
	}
	s.cache.DropUsers([]string{"alice"})
	if r := s.from("192.0.2.1", "alice", "alice-pw"); r.StatusCode != 200 {
		t.Errorf("alice at her trusted office, right password: %d Retry-After=%q — another account (\"Alice\") evicted her trust",
			r.StatusCode, r.Header.Get("Retry-After"))
	}
}

// The same collision the other way: "Alice"'s success trusts the
// pair (alice, address) and resets its count, so from every address
// where the owner of "Alice" logged in, guesses for alice skip the
// per-user bound (and the per-address bound). 32 addresses × the pair
// bound, refreshed by a cold "Alice" login whenever the cache lets one be
// cold (cache.ttl 0 here: every login).
func TestLookAlikeAccountCannotBypassPerUserBound(t *testing.T) {
	s := newTestServer(t, map[string]string{"alice": "alice-pw", "Alice": "mallory-pw"}, func(c *Config) {
		c.Cache.TTL = 0
	})
	checked := 0
	for round := range 10 {
		for a := range 4 {
			ip := fmt.Sprint("203.0.113.", a)
			s.from(ip, "Alice", "mallory-pw")
			for i := range 4 {
				r := s.from(ip, "alice", fmt.Sprint("g", round, a, i))
				if r.Header.Get("Retry-After") == "" {
					checked++
				}
			}
		}
	}
	if checked > 20+4*5 { // perUser, plus at most the pair bound per address
		t.Errorf("%d guesses for alice checked from 4 addresses: successes of another account (\"Alice\") reset and trust alice's pairs", checked)
	}
}

// A FIFO at the htpasswd path (a mistaken mkfifo, or a secret
// "file" that is a named pipe) blocks os.Open in Reload forever while it
// holds the store's mutex: every later reload — watcher, poll and SIGHUP
// alike — waits behind it, so a later revocation never takes effect while
// the service goes on answering 200 from the old table.
func TestFIFOCannotWedgeReloads(t *testing.T) {
	s := newTestServer(t, map[string]string{"alice": "alice-pw"}, nil)
	if s.status("alice", "alice-pw") != 200 {
		t.Fatal("alice")
	}
	os.Remove(s.file)
	if err := syscall.Mkfifo(s.file, 0o640); err != nil {
		t.Skip(err)
	}
	time.Sleep(1500 * time.Millisecond) // the watcher's reload is now stuck on the FIFO
	// The operator notices and puts a file back, with alice revoked (the
	// FIFO is moved aside, not deleted, so that the test can unblock it).
	aside := filepath.Join(s.dir, "fifo-aside")
	os.Rename(s.file, aside)
	defer func() { // unstick the blocked open so that Close can end
		if f, err := os.OpenFile(aside, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			f.Close()
		}
	}()
	if err := htpasswd.WriteFileAtomic(s.file, []byte("bob:"+hashOf(t, "bob-pw")+"\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.htpasswd().Reload("SIGHUP") }()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		s.cache.DropUsers(nil)
		t.Errorf("a reload after the FIFO was replaced by a regular file has not returned in 3s; alice (revoked in the file) now gets %d", s.status("alice", "alice-pw"))
	}
}

// Behind a proxy that passes the client's headers through and sets
// only X-Forwarded-For (Caddy's reverse_proxy / forward_auth; here Go's
// httputil.ReverseProxy, which does the same), the client's own X-Real-IP
// reaches authreq from a trusted peer and wins over the proxy's
// X-Forwarded-For: each guess names a fresh address.
func TestPassThroughProxyClientCannotPickAddress(t *testing.T) {
	s := newTestServer(t, map[string]string{"alice": "alice-pw"}, func(c *Config) {
		c.RateLimit.ClientAddressHeader = "X-Forwarded-For" // as the README says for such proxies
	})
	back := httptest.NewServer(s)
	defer back.Close()
	u, _ := url.Parse(back.URL)
	front := httptest.NewServer(httputil.NewSingleHostReverseProxy(u))
	defer front.Close()
	before := s.checks(t)
	for i := range 120 {
		req, _ := http.NewRequest("GET", front.URL+"/auth", nil)
		req.SetBasicAuth(fmt.Sprint("user", i), "Summer2024!")
		req.Header.Set("X-Real-IP", fmt.Sprintf("198.51.100.%d", i))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if checked := s.checks(t) - before; checked > 50 {
		t.Errorf("%d of 120 guesses from one client checked through a pass-through proxy: the client's X-Real-IP is believed", checked)
	}
}

// Password spraying from a shared address (office NAT / LAN /64)
// against everyone who works there: all their pairs are trusted, so the
// per-address bound — the one meant to stop spraying — no longer applies
// to any of them. HEAD~1 stopped this at perIP (50) checks.
func TestSprayOfTrustedColleaguesStaysBounded(t *testing.T) {
	users := map[string]string{}
	for i := range 60 {
		users[fmt.Sprint("u", i)] = fmt.Sprint("pw-", i)
	}
	s := newTestServer(t, users, nil)
	for u, pw := range users { // everyone logs in at the office
		if r := s.from("192.0.2.1", u, pw); r.StatusCode != 200 {
			t.Fatal(r.StatusCode)
		}
	}
	checked := 0
	for _, guess := range []string{"Summer2024!", "Winter2024!", "Password1", "Welcome1"} {
		for u := range users { // the guest sprays from the same NAT address
			if r := s.from("192.0.2.1", u, guess); r.Header.Get("Retry-After") == "" {
				checked++
			}
		}
	}
	if checked > 50 {
		t.Errorf("%d of 240 spray guesses checked from one address; perIP is 50", checked)
	}
}

// Spray of random names, addresses and Bearer tokens: state stays
// within maxEntries (plus nothing in flight), no goroutine left behind.
func TestSprayStaysBounded(t *testing.T) {
	s := newTestServer(t, map[string]string{"alice": "alice-pw"}, func(c *Config) {
		c.RateLimit.MaxEntries = 100
		c.Cache.TTL = 0
	})
	s.htpasswd() // loaded
	g0 := runtime.NumGoroutine()
	for i := range 600 {
		ip := fmt.Sprintf("2001:db8:%x:%x::1", i>>16, i&0xffff)
		s.from(ip, fmt.Sprint("n", i), "x")
		r := httptest.NewRequest("GET", "/auth", nil)
		r.RemoteAddr = "127.0.0.1:1"
		r.Header.Set("X-Real-IP", ip)
		r.Header.Set("Authorization", "Bearer authreq_"+fmt.Sprint(i))
		s.ServeHTTP(httptest.NewRecorder(), r)
		s.from(ip, "alice", "alice-pw")
	}
	if n := s.throttle.Len(); n > 2*100 {
		t.Errorf("throttle state past maxEntries: %d failure entries and trusted pairs", n)
	}
	if g := runtime.NumGoroutine(); g > g0+5 {
		t.Errorf("goroutines %d → %d", g0, g)
	}
}

// Header tricks through real nginx with the shipped snippets: the
// client address authreq records must be the TCP client's (127.0.0.1).
func TestNginxHeaderTricks(t *testing.T) {
	s := newTestServer(t, map[string]string{"alice": "alice-pw"}, nil)
	n := nginxInFront(t, s, "underscores_in_headers on;\n    ignore_invalid_headers off;")
	tricks := []string{
		"X-Real-IP: 203.0.113.1\r\nX-Real-IP: 203.0.113.2\r\n",
		"x-real-ip: 203.0.113.3\r\n",
		"X_Real_IP: 203.0.113.4\r\n",
		"X-Real-Ip : 203.0.113.5\r\n",
		"X-Forwarded-For: 203.0.113.6\r\nX-Forwarded-For: 203.0.113.7\r\n",
		"X-Real-IP:\r\n 203.0.113.8\r\n",
		"X-Real-IP: " + strings.Repeat("1", 6000) + "\r\n",
	}
	for i, h := range tricks {
		c, err := net.Dial("tcp", strings.TrimPrefix(n.URL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: x\r\nAuthorization: %s\r\n%sConnection: close\r\n\r\n", basic(fmt.Sprint("trick", i), "x"), h)
		b, _ := io.ReadAll(c)
		c.Close()
		status, _, _ := strings.Cut(string(b), "\r\n")
		t.Logf("%q → %s", h, status)
	}
	time.Sleep(200 * time.Millisecond)
	logb, _ := os.ReadFile(s.cfg.Audit.Output)
	for _, l := range strings.Split(strings.TrimSpace(string(logb)), "\n") {
		if strings.Contains(l, `"trick`) && !strings.Contains(l, `"client_ip":"127.0.0.1"`) {
			t.Errorf("client picked its address: %s", l)
		}
	}
}
