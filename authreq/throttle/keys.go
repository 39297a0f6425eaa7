package throttle

import (
	"net/netip"

	"github.com/authreq/authreq/internal/userfold"
)

// Keys fold the user name as a directory matches it: "Alice", "ALICE",
// "ａlice" (fullwidth), "𝐚lice" (mathematical bold) and "ⓐlice" (circled)
// all bind as alice in OpenLDAP, so they must not each get their own
// failure budget for alice's password. A folded name holds no NUL, so the
// parts of a pair key cannot run into each other.
func (t *Throttle) pairKey(user, ip string) string {
	return "p\x00" + userfold.Key(user) + "\x00" + t.client(ip)
}
func (t *Throttle) ipKey(ip string) string { return "i\x00" + t.client(ip) }
func userKey(user string) string           { return "u\x00" + userfold.Key(user) }

// trustedIPKey counts the failures of trusted pairs at an address apart
// from everyone else's there: a guest's wrong guesses under random names
// must not lock out the colleagues who work from that address, and a guest
// guessing those colleagues' passwords must still meet the address's bound.
func (t *Throttle) trustedIPKey(ip string) string { return "j\x00" + t.client(ip) }

// Trust is keyed by the exact name that authenticated, not the folded
// one: an account "Alice" beside "alice" (or an LDAP uid beside a
// break-glass htpasswd name) must not make alice's addresses trusted, nor
// push them out of her share. Failures stay counted under the folded name.
func (t *Throttle) trustKey(user, ip string) string {
	return "t\x00" + user + "\x00" + t.client(ip)
}
func exactUserKey(user string) string { return "U\x00" + user }

// client is the part of a client address that one budget covers: the
// address's rateLimit.clientPrefix (IPv4-mapped IPv6 addresses count as
// IPv4, zones are dropped). A client that is not an IP address ("unix",
// for a unix socket peer without forwarding headers) is its own key.
func (t *Throttle) client(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	if a.Is4() && t.v4bits == 32 {
		return ip // already the key (ParseAddr takes IPv4 in one spelling only)
	}
	a = a.Unmap()
	bits := t.v6bits
	if a.Is4() {
		bits = t.v4bits
	}
	p, err := a.Prefix(bits)
	if err != nil {
		return ip
	}
	if bits == a.BitLen() {
		return p.Addr().String()
	}
	return p.String()
}
