package handlers

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// proxies tells a request's client address and scheme. Behind a trusted
// reverse proxy they come from the proxy's X-Forwarded-For and
// X-Forwarded-Proto; from any other peer those headers are ignored and the
// connection is what counts.
type proxies struct {
	trusted []netip.Prefix
}

// ParseTrustedProxies parses a comma-separated list of IP addresses and
// CIDR networks (10.0.0.0/8, 192.0.2.1, ::1); "" is none.
func ParseTrustedProxies(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for item := range strings.SplitSeq(list, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if strings.Contains(item, "/") {
			p, err := netip.ParsePrefix(item)
			if err != nil {
				return nil, fmt.Errorf("%q is not a CIDR network like 10.0.0.0/8 or fd00::/8", item)
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(item)
		if err != nil || a.Zone() != "" {
			return nil, fmt.Errorf("%q is not an IP address or a CIDR network like 10.0.0.0/8", item)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// trusts reports whether a is one of the trusted proxies.
func (p *proxies) trusts(a netip.Addr) bool {
	a = a.Unmap().WithZone("")
	for _, n := range p.trusted {
		if n.Contains(a) {
			return true
		}
	}
	return false
}

// peer returns the address of the connection's other end.
func peer(r *http.Request) (netip.Addr, bool) {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}, false
	}
	return ap.Addr().Unmap(), true
}

// clientIP is the request's client address: the connection's peer, or,
// when the peer is a trusted proxy, the right-most address in
// X-Forwarded-For that is not a trusted proxy (what a client writes there
// itself stands further left and is ignored). It is echo's IPExtractor, so
// c.RealIP() is this everywhere.
func (p *proxies) clientIP(r *http.Request) string {
	client, ok := peer(r)
	if !ok {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			return r.RemoteAddr
		}
		return host
	}
	if !p.trusts(client) {
		return client.String()
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.Trim(strings.TrimSpace(hops[i]), "[]"))
		if err != nil {
			break // unreadable: the last trusted hop is all that is known
		}
		client = a.Unmap()
		if !p.trusts(client) {
			break
		}
	}
	return client.String()
}

// https reports whether the client used HTTPS: a TLS connection, or a
// trusted proxy's X-Forwarded-Proto (its last value: the proxy that
// connects to Vigil sets or appends it) saying https.
func (p *proxies) https(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	a, ok := peer(r)
	if !ok || !p.trusts(a) {
		return false
	}
	values := strings.Split(strings.Join(r.Header.Values("X-Forwarded-Proto"), ","), ",")
	return strings.EqualFold(strings.TrimSpace(values[len(values)-1]), "https")
}
