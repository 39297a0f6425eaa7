package request

import (
	"encoding/base64"
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
