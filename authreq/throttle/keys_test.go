package throttle

import (
	"fmt"
	"net/netip"
	"testing"
	"time"
)

// Budgets are kept per client prefix: an IPv6 host picks any address of
// its /64, so per address it would have 2^64 budgets.
func TestThrottleClientPrefix(t *testing.T) {
	tests := []struct {
		name   string
		v4, v6 int
		a, b   string
		shared bool
	}{
		{"ipv6 same /64", 32, 64, "2001:db8::1", "2001:db8::2", true},
		{"ipv6 far in the same /64", 32, 64, "2001:db8::1", "2001:db8::ffff:ffff:ffff:ffff", true},
		{"ipv6 next /64", 32, 64, "2001:db8::1", "2001:db8:0:1::1", false},
		{"ipv6 /56", 32, 56, "2001:db8::1", "2001:db8:0:ff::1", true},
		{"ipv6 /128", 32, 128, "2001:db8::1", "2001:db8::2", false},
		{"ipv6 zones", 32, 64, "fe80::1%eth0", "fe80::2%eth1", true},
		{"ipv4 /32", 32, 64, "198.51.100.1", "198.51.100.2", false},
		{"ipv4 /24", 24, 64, "198.51.100.1", "198.51.100.254", true},
		{"ipv4 next /24", 24, 64, "198.51.100.1", "198.51.101.1", false},
		{"ipv4-mapped is ipv4", 32, 64, "::ffff:198.51.100.1", "198.51.100.1", true},
		{"ipv4-mapped is not ::/64", 32, 64, "::ffff:198.51.100.1", "::ffff:198.51.100.2", false},
		{"ipv4-mapped /24", 24, 64, "::ffff:198.51.100.1", "198.51.100.9", true},
		{"unix socket", 32, 64, "unix", "unix", true},
		{"not an address", 32, 64, "unix", "198.51.100.1", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			edit := func(l *Config) {
				l.ClientPrefix.IPv4, l.ClientPrefix.IPv6 = tt.v4, tt.v6
				l.Failures.PerIP = 3
			}
			// The (user, address) budget.
			th, _ := newTestThrottle(t, edit)
			for range 3 {
				fail(t, th, "alice", tt.a)
			}
			th.perIP = 0 // only the pair bound
			for range 2 {
				fail(t, th, "alice", tt.a)
			}
			if _, ok, _, scope := th.Reserve("alice", tt.b); ok == tt.shared {
				t.Errorf("pair: 5 failures from %s, then %s: allowed %v (%s); shared budget: %v", tt.a, tt.b, ok, scope, tt.shared)
			}
			// The address budget.
			th, _ = newTestThrottle(t, edit)
			for i := range 3 {
				fail(t, th, fmt.Sprint("user", i), tt.a)
			}
			if _, ok, _, scope := th.Reserve("bob", tt.b); ok == tt.shared {
				t.Errorf("address: 3 failures from %s, then %s: allowed %v (%s); shared budget: %v", tt.a, tt.b, ok, scope, tt.shared)
			}
			// Trust.
			th, _ = newTestThrottle(t, edit)
			if r, ok, _, _ := th.Reserve("alice", tt.a); ok {
				r.Done(Success)
			}
			th.mu.Lock()
			trusted := th.isTrusted(th.trustKey("alice", tt.b), th.now())
			th.mu.Unlock()
			if trusted != tt.shared {
				t.Errorf("trust: success from %s, trusted from %s: %v; shared: %v", tt.a, tt.b, trusted, tt.shared)
			}
		})
	}
}

// fail runs one wrong-password check through the throttle.
func fail(t testing.TB, th *Throttle, user, ip string) {
	t.Helper()
	r, ok, _, scope := th.Reserve(user, ip)
	if !ok {
		t.Fatalf("%s from %s refused (%s)", user, ip, scope)
	}
	r.Done(Failure)
}

// FuzzThrottleClient checks that any client string gives a key, that a key
// is its own key, and that addresses of one prefix share it.
func FuzzThrottleClient(f *testing.F) {
	for _, s := range []string{"198.51.100.1", "::ffff:198.51.100.1", "2001:db8::1", "fe80::1%eth0", "unix", "", "::", "0.0.0.0", "2001:db8::/64", "1.2.3.4/24", "::ffff:0:0", "\x00"} {
		f.Add(s, uint8(24), uint8(64))
	}
	f.Fuzz(func(t *testing.T, ip string, v4, v6 uint8) {
		l := Defaults()
		l.ClientPrefix.IPv4, l.ClientPrefix.IPv6 = 8+int(v4)%25, 32+int(v6)%97
		th := New(l, time.Now)
		k := th.client(ip)
		if kk := th.client(k); kk != k {
			t.Errorf("client(%q) = %q, but client of that is %q", ip, k, kk)
		}
		a, err := netip.ParseAddr(ip)
		if err != nil {
			if k != ip {
				t.Errorf("client(%q) = %q: not an address, yet changed", ip, k)
			}
			return
		}
		bits := l.ClientPrefix.IPv6
		if a.Unmap().Is4() {
			bits = l.ClientPrefix.IPv4
		}
		p, _ := a.Unmap().Prefix(bits)
		if next := a.Next(); next.IsValid() && p.Contains(next.Unmap()) {
			if kn := th.client(next.String()); kn != k {
				t.Errorf("%s and %s share the /%d, but keys %q and %q", a, next, bits, k, kn)
			}
		}
		if r, ok, _, _ := th.Reserve("alice", ip); ok {
			r.Done(Failure)
		}
	})
}
