package request

import (
	"net/http"
	"net/netip"
	"strings"
)

// ClientIP is the address a decision is about. X-Real-IP and
// X-Forwarded-For are believed only when the TCP peer is a trusted proxy
// (nginx); anyone else could write any address there. Of X-Forwarded-For
// the rightmost address that is not itself a trusted proxy is taken: hops
// to its left were written by the client. X-Forwarded-For is read only
// when the proxy sent no X-Real-IP at all (ingress-nginx, Traefik, Caddy).
func ClientIP(r *http.Request, trusted []netip.Prefix) string {
	return ClientIPFrom(r, trusted, "X-Real-IP")
}

// ClientIPFrom is ClientIP with the header the trusted proxy writes the
// client's address to: "X-Real-IP" (nginx; X-Forwarded-For only when the
// proxy sent no X-Real-IP) or "X-Forwarded-For" (proxies that pass a
// client's own X-Real-IP through unchanged, as Caddy does: then only the
// rightmost untrusted X-Forwarded-For hop is believed).
func ClientIPFrom(r *http.Request, trusted []netip.Prefix, header string) string {
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	// A unix socket peer (RemoteAddr "@" or empty) is on this host and
	// passed the socket's 0660 mode: nginx, so trusted.
	isUnix := err != nil && (r.RemoteAddr == "" || r.RemoteAddr == "@")
	if err != nil && !isUnix {
		return r.RemoteAddr
	}
	peerText := ""
	if !isUnix {
		peerText = r.RemoteAddr[:strings.LastIndexByte(r.RemoteAddr, ':')]
	}
	if !isUnix && !isTrusted(peer.Addr(), trusted) {
		return addrText(peer.Addr(), peerText)
	}
	real := ""
	if header != "X-Forwarded-For" {
		// The canonical spelling: Get allocates for any other.
		real = strings.TrimSpace(r.Header.Get("X-Real-Ip"))
	}
	if real != "" {
		if a, err := netip.ParseAddr(real); err == nil {
			return addrText(a, real)
		}
		// The proxy sent something that is no address ("unix:" from an
		// nginx unix-socket listener): X-Forwarded-For, which may be the
		// client's own, cannot stand in for it.
	} else if xff := r.Header.Values("X-Forwarded-For"); len(xff) > 0 {
		hops := strings.Split(strings.Join(xff, ","), ",")
		for i := len(hops) - 1; i >= 0; i-- {
			hop := strings.TrimSpace(hops[i])
			a, err := netip.ParseAddr(hop)
			if err != nil {
				break // a garbled hop: nothing left of it can be believed
			}
			if !isTrusted(a, trusted) || i == 0 {
				return addrText(a, hop)
			}
		}
	}
	if isUnix {
		return "unix"
	}
	return addrText(peer.Addr(), peerText)
}

// addrText is a's canonical text (IPv4-mapped addresses as IPv4), without
// allocating when the text it was parsed from already is that: the common
// case of an IPv4 address, on every request.
func addrText(a netip.Addr, parsed string) string {
	a = a.Unmap()
	var buf [len("255.255.255.255")]byte
	if a.Is4() && string(a.AppendTo(buf[:0])) == parsed {
		return parsed
	}
	return a.String()
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	a = a.Unmap()
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
