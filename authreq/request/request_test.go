package request

import (
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/authreq/authreq/authreq/identity"
	"github.com/authreq/authreq/htpasswd"
)

func basic(user, pw string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pw))
}

func TestCredentials(t *testing.T) {
	for _, tt := range []struct {
		name, header string
		want         identity.Credentials
		present, ok  bool
	}{
		{"none", "", nil, false, false},
		{"basic", basic("alice", "pw:with:colons"), identity.Basic{User: "alice", Password: "pw:with:colons"}, true, true},
		{"basic lower case", "basic " + base64.StdEncoding.EncodeToString([]byte("a:b")), identity.Basic{User: "a", Password: "b"}, true, true},
		{"bearer", "Bearer authreq_abc-DEF.123~+/==", identity.Bearer{Token: "authreq_abc-DEF.123~+/=="}, true, true},
		{"bearer empty", "Bearer ", nil, true, false},
		{"bearer with a space", "Bearer abc def", nil, true, false},
		{"bearer oversize", "Bearer " + strings.Repeat("a", 5000), nil, true, false},
		{"other scheme", "Digest x", nil, true, false},
		{"basic garbage", "Basic !!!", nil, true, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/auth", nil)
			if tt.header != "" {
				r.Header.Set("Authorization", tt.header)
			}
			r.Header.Set("Proxy-Authorization", basic("mallory", "pw")) // never read
			c, present, ok := Credentials(r)
			if c != tt.want || present != tt.present || ok != tt.ok {
				t.Errorf("%v %v %v, want %v %v %v", c, present, ok, tt.want, tt.present, tt.ok)
			}
		})
	}
}

func TestClientIP(t *testing.T) {
	var trusted []netip.Prefix
	for _, p := range []string{"127.0.0.0/8", "::1/128", "10.0.0.0/8"} {
		trusted = append(trusted, netip.MustParsePrefix(p))
	}
	tests := []struct {
		peer, realIP, xff, want string
	}{
		{"203.0.113.9:5000", "", "", "203.0.113.9"},
		{"203.0.113.9:5000", "1.2.3.4", "5.6.7.8", "203.0.113.9"}, // untrusted peer: headers ignored
		{"127.0.0.1:5000", "198.51.100.7", "", "198.51.100.7"},
		{"127.0.0.1:5000", "", "1.1.1.1, 198.51.100.7", "198.51.100.7"},
		{"127.0.0.1:5000", "", "1.1.1.1, 198.51.100.7, 10.1.2.3", "198.51.100.7"},
		{"127.0.0.1:5000", "", "10.1.2.3, 10.2.3.4", "10.1.2.3"},
		{"127.0.0.1:5000", "", "garbage, 198.51.100.7", "198.51.100.7"},
		{"127.0.0.1:5000", "not-an-ip", "", "127.0.0.1"},
		{"[::1]:5000", "2001:db8::1", "", "2001:db8::1"},
		{"[::ffff:127.0.0.1]:5000", "198.51.100.7", "", "198.51.100.7"},
		{"@", "198.51.100.7", "", "198.51.100.7"},
		// Canonical text whatever the spelling: these are budget keys.
		{"127.0.0.1:5000", "::ffff:198.51.100.7", "", "198.51.100.7"},
		{"127.0.0.1:5000", "2001:DB8:0::1", "", "2001:db8::1"},
		{"127.0.0.1:5000", "", "::ffff:1.1.1.1", "1.1.1.1"},
		{"[::ffff:203.0.113.9]:5000", "", "", "203.0.113.9"},
		{"[2001:DB8::9]:5000", "", "", "2001:db8::9"},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", "/auth", nil)
		r.RemoteAddr = tt.peer
		if tt.realIP != "" {
			r.Header.Set("X-Real-IP", tt.realIP)
		}
		if tt.xff != "" {
			r.Header.Set("X-Forwarded-For", tt.xff)
		}
		if got := ClientIP(r, trusted); got != tt.want {
			t.Errorf("peer %s real %q xff %q: %s, want %s", tt.peer, tt.realIP, tt.xff, got, tt.want)
		}
	}
}

// An IPv4 client's address is read on every request: it costs no
// allocation when the text it came in already is its canonical form.
func TestClientIPv4WithoutAllocation(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	r := httptest.NewRequest("GET", "/auth", nil)
	r.RemoteAddr = "127.0.0.1:5000"
	r.Header.Set("X-Real-IP", "198.51.100.7")
	direct := httptest.NewRequest("GET", "/auth", nil)
	direct.RemoteAddr = "203.0.113.9:5000"
	for _, r := range []*http.Request{r, direct} {
		if n := testing.AllocsPerRun(100, func() { ClientIP(r, trusted) }); n != 0 {
			t.Errorf("peer %s: %v allocations per call", r.RemoteAddr, n)
		}
	}
}

func FuzzParseBasic(f *testing.F) {
	for _, s := range []string{basic("alice", "pw"), "Basic", "Basic !!", "Bearer x", "basic YTpi", "Basic YWxpY2U="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		user, pw, ok := ParseBasic(h)
		if !ok {
			return
		}
		if htpasswd.ValidateUser(user) != nil {
			t.Fatalf("invalid user %q accepted", user)
		}
		if again, pw2, ok2 := ParseBasic(basic(user, pw)); !ok2 || again != user || pw2 != pw {
			t.Fatal("round trip")
		}
	})
}

// addrText's shortcut never changes the answer: whatever text an address
// was parsed from, the result is its canonical form.
func FuzzAddrText(f *testing.F) {
	for _, s := range []string{"1.2.3.4", "::ffff:1.2.3.4", "2001:DB8::1", "fe80::1%eth0", "0.0.0.0", "255.255.255.255"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return
		}
		if got, want := addrText(a, s), a.Unmap().String(); got != want {
			t.Fatalf("addrText(%q) = %q, want %q", s, got, want)
		}
	})
}
