package authreq

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"
)

// fakeClock is an injectable clock for the throttle.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// throttledServer has alice (password "right") behind a counting backend
// and a fake clock; from(ip) sends as a request nginx forwarded for ip.
func throttledServer(t *testing.T, edit func(*Config)) (*testServer, *countingBackend, *fakeClock) {
	s := newTestServer(t, map[string]string{"x": "y"}, func(c *Config) {
		c.Cache.TTL = 0 // every request is a cold check
		if edit != nil {
			edit(c)
		}
	})
	clock := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	s.now = clock.Now
	b := &countingBackend{}
	s.use(b)
	return s, b, clock
}

func (s *testServer) from(ip, user, pw string, hdr ...string) *http.Response {
	r := httptest.NewRequest("GET", "/auth", nil)
	r.RemoteAddr = "127.0.0.1:40000"
	r.Header.Set("X-Real-IP", ip)
	r.Header.Set("Authorization", basic(user, pw))
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	return w.Result()
}

func TestThrottlePerUserAndIP(t *testing.T) {
	s, b, clock := throttledServer(t, nil)
	for i := range 5 {
		if resp := s.from("198.51.100.1", "alice", "wrong"); resp.StatusCode != 401 || resp.Header.Get("Retry-After") != "" {
			t.Fatalf("failure %d: %d %v", i, resp.StatusCode, resp.Header)
		}
	}
	calls := b.calls.Load()
	resp := s.from("198.51.100.1", "alice", "pw")
	if resp.StatusCode != 401 || resp.Header.Get("Retry-After") != "1" || resp.Header.Get("WWW-Authenticate") != challenge {
		t.Errorf("right password from the guessing address: %d %v", resp.StatusCode, resp.Header)
	}
	if b.calls.Load() != calls {
		t.Error("a throttled request ran a password check")
	}
	if resp := s.from("198.51.100.2", "alice", "pw"); resp.StatusCode != 200 {
		t.Errorf("right password from another address: %d", resp.StatusCode)
	}
	// The backoff doubles with each failure past the bound and expires.
	for _, want := range []string{"2", "4", "8"} {
		clock.Add(time.Hour / 100) // past any block so far
		s.from("198.51.100.1", "alice", "wrong")
		if got := s.from("198.51.100.1", "alice", "pw").Header.Get("Retry-After"); got != want {
			t.Errorf("Retry-After %s, want %s", got, want)
		}
	}
	clock.Add(9 * time.Second)
	if resp := s.from("198.51.100.1", "alice", "pw"); resp.StatusCode != 200 {
		t.Errorf("after the backoff: %d", resp.StatusCode)
	}
	// That success reset the pair: five more failures before a block.
	for range 4 {
		s.from("198.51.100.1", "alice", "wrong")
	}
	if resp := s.from("198.51.100.1", "alice", "pw"); resp.StatusCode != 200 {
		t.Errorf("after a reset, 4 failures must not block: %d", resp.StatusCode)
	}
	body := s.metric(`authreq_throttled_total{scope="user_ip"}`)
	if n, _ := strconv.Atoi(body); n < 4 {
		t.Errorf("throttled_total{user_ip} = %q", body)
	}
}

func TestThrottleFoldsCase(t *testing.T) {
	s, _, _ := throttledServer(t, nil)
	for _, u := range []string{"alice", "Alice", "ALICE", "aLice", "alicE"} {
		s.from("198.51.100.1", u, "wrong")
	}
	if resp := s.from("198.51.100.1", "AlIcE", "pw"); resp.StatusCode != 401 || resp.Header.Get("Retry-After") == "" {
		t.Errorf("case variants escaped the pair bound: %d", resp.StatusCode)
	}
}

func TestThrottleWindowExpires(t *testing.T) {
	s, _, clock := throttledServer(t, nil)
	for range 4 {
		s.from("198.51.100.1", "alice", "wrong")
	}
	clock.Add(21 * time.Minute) // two windows: the old failures are gone
	s.from("198.51.100.1", "alice", "wrong")
	if resp := s.from("198.51.100.1", "alice", "pw"); resp.StatusCode != 200 {
		t.Errorf("failures outside the window still counted: %d", resp.StatusCode)
	}
}

func TestThrottlePerIP(t *testing.T) {
	s, _, _ := throttledServer(t, func(c *Config) { c.RateLimit.Failures.PerIP = 10 })
	for i := range 10 {
		s.from("198.51.100.9", fmt.Sprintf("user%d", i), "wrong")
	}
	if resp := s.from("198.51.100.9", "alice", "pw"); resp.StatusCode != 401 || resp.Header.Get("Retry-After") == "" {
		t.Errorf("spraying address not throttled: %d", resp.StatusCode)
	}
	if resp := s.from("198.51.100.10", "alice", "pw"); resp.StatusCode != 200 {
		t.Errorf("other address: %d", resp.StatusCode)
	}
}

// Guessing alice's password from many addresses slows guesses for alice to
// one per backoff step, but never touches an address she logged in from.
func TestThrottlePerUserSpareKnownAddresses(t *testing.T) {
	s, b, clock := throttledServer(t, nil)
	if resp := s.from("192.0.2.1", "alice", "pw"); resp.StatusCode != 200 { // her office
		t.Fatal(resp.StatusCode)
	}
	base := b.calls.Load()
	for i := range 40 { // a botnet: 2 guesses per address, under the pair bound
		s.from(fmt.Sprintf("203.0.113.%d", i/2), "alice", "wrong")
	}
	if n := b.calls.Load() - base; n != 21 {
		t.Errorf("%d guesses checked; want the 20 of the bound and one more", n)
	}
	for range 5 {
		if resp := s.from("192.0.2.1", "alice", "pw"); resp.StatusCode != 200 {
			t.Errorf("alice from her usual address: %d", resp.StatusCode)
		}
	}
	// From a new address she waits for the next step like everyone.
	resp := s.from("198.51.100.77", "alice", "pw")
	retry, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
	if resp.StatusCode != 401 || retry < 1 {
		t.Fatalf("new address within the step: %d %v", resp.StatusCode, resp.Header)
	}
	clock.Add(time.Duration(retry) * time.Second)
	if resp := s.from("198.51.100.77", "alice", "pw"); resp.StatusCode != 200 {
		t.Errorf("new address after the step: %d", resp.StatusCode)
	}
	// Trust lasts 30 days.
	clock.Add(31 * 24 * time.Hour)
	for i := range 40 {
		s.from(fmt.Sprintf("203.0.113.%d", i/2), "alice", "wrong")
	}
	if resp := s.from("192.0.2.1", "alice", "pw"); resp.StatusCode != 401 {
		t.Errorf("trust after 31 days: %d", resp.StatusCode)
	}
}

func TestThrottleIgnoresSpoofedForwarding(t *testing.T) {
	s, _, _ := throttledServer(t, nil)
	send := func(xff string, pw string) int {
		r := httptest.NewRequest("GET", "/auth", nil)
		r.RemoteAddr = "203.0.113.50:1234" // not a trusted proxy
		r.Header.Set("X-Forwarded-For", xff)
		r.Header.Set("X-Real-IP", xff)
		r.Header.Set("Authorization", basic("alice", pw))
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		return w.Code
	}
	for i := range 5 {
		send(fmt.Sprintf("10.9.9.%d", i), "wrong")
	}
	if code := send("10.9.9.200", "pw"); code != 401 {
		t.Errorf("a new X-Forwarded-For from an untrusted peer escaped the throttle: %d", code)
	}
}

func TestThrottleOff(t *testing.T) {
	s, _, _ := throttledServer(t, func(c *Config) { c.RateLimit.Failures.Window = 0 })
	for range 20 {
		s.from("198.51.100.1", "alice", "wrong")
	}
	if resp := s.from("198.51.100.1", "alice", "pw"); resp.StatusCode != 200 {
		t.Errorf("window 0 must turn throttling off: %d", resp.StatusCode)
	}
}
