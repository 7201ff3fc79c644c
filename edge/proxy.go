package edge

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Proxies is the set of reverse proxies whose X-Forwarded-For and
// X-Forwarded-Proto headers are believed. A nil or empty *Proxies trusts no
// one: the direct peer is the client and only a TLS connection is HTTPS.
//
// Only X-Forwarded-For and X-Forwarded-Proto are read; the RFC 7239
// Forwarded header is ignored. A trusted proxy must append the address of
// its own peer to X-Forwarded-For and set (not pass through) X-Forwarded-Proto.
type Proxies struct {
	prefixes []netip.Prefix
}

// ParseTrustedProxies parses a comma-separated list of CIDRs and single
// addresses, IPv4 or IPv6, such as "10.0.0.0/8,192.168.1.5,fd00::/8". An
// empty string trusts no proxy. A prefix covering every address (/0) is
// refused: it would let any client choose its own address.
func ParseTrustedProxies(s string) (*Proxies, error) {
	p := &Proxies{}
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		pfx, err := parsePrefix(f)
		if err != nil {
			return nil, fmt.Errorf("trusted proxies: %w", err)
		}
		if pfx.Bits() == 0 {
			return nil, fmt.Errorf("trusted proxies: %q would trust every client's X-Forwarded-For", f)
		}
		p.prefixes = append(p.prefixes, pfx)
	}
	return p, nil
}

// String lists the trusted prefixes, comma-separated, for logs.
func (p *Proxies) String() string {
	if p == nil {
		return ""
	}
	s := make([]string, len(p.prefixes))
	for i, pfx := range p.prefixes {
		s[i] = pfx.String()
	}
	return strings.Join(s, ",")
}

// none reports whether p trusts no proxy.
func (p *Proxies) none() bool { return p == nil || len(p.prefixes) == 0 }

// Trusts reports whether addr belongs to a trusted proxy.
func (p *Proxies) Trusts(addr netip.Addr) bool {
	if p == nil {
		return false
	}
	addr = addr.Unmap().WithZone("")
	for _, pfx := range p.prefixes {
		if pfx.Contains(addr) {
			return true
		}
	}
	return false
}

// ClientAddr returns the address of the client that sent r, without a
// port, in canonical form (IPv4 dotted, IPv6 compressed). When the direct
// peer is not a trusted proxy, that is the peer, whatever X-Forwarded-For
// says. When it is, X-Forwarded-For (all its header lines, in order) is
// walked from the right, skipping trusted addresses, and the first
// untrusted one is the client; if every entry is trusted the leftmost is.
// A malformed entry met on the way, or no X-Forwarded-For at all, yields
// the peer: then every client of that proxy shares one address, for the
// failure limit too. Entries may carry a port or IPv6 brackets.
//
// Its signature is that of ingest.Handler.ClientAddrFunc.
func (p *Proxies) ClientAddr(r *http.Request) string {
	peer, ok := parseAddr(r.RemoteAddr)
	if !ok {
		// Not an IP peer (a unix socket, a test): name it as ingest does.
		if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
			return host
		}
		return r.RemoteAddr
	}
	if !p.Trusts(peer) {
		return peer.String()
	}
	if a, err := p.forwardedFor(r.Header.Values("X-Forwarded-For")); err == nil {
		return a.String()
	}
	return peer.String()
}

var errNoForwardedFor = errors.New("no usable X-Forwarded-For")

// forwardedFor walks the X-Forwarded-For values from the right.
func (p *Proxies) forwardedFor(values []string) (netip.Addr, error) {
	var leftmost netip.Addr
	for i := len(values) - 1; i >= 0; i-- {
		v := values[i]
		for {
			j := strings.LastIndexByte(v, ',')
			entry := strings.TrimSpace(v[j+1:])
			if entry != "" {
				a, ok := parseAddr(entry)
				if !ok {
					return netip.Addr{}, errNoForwardedFor
				}
				if !p.Trusts(a) {
					return a, nil
				}
				leftmost = a
			}
			if j < 0 {
				break
			}
			v = v[:j]
		}
	}
	if !leftmost.IsValid() {
		return netip.Addr{}, errNoForwardedFor
	}
	return leftmost, nil
}

// IsHTTPS reports whether r arrived over HTTPS: on a TLS connection, or
// from a trusted proxy whose X-Forwarded-Proto says https. When the header
// holds several values (several lines, or a list appended by a chain of
// proxies), every one must be https: a proxy that appends "http" to a
// client's forged "https" is then not fooled, at the price of refusing a
// chain whose inner hop is plain HTTP and appends rather than overwrites.
func (p *Proxies) IsHTTPS(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	peer, ok := parseAddr(r.RemoteAddr)
	if !ok || !p.Trusts(peer) {
		return false
	}
	n := 0
	for _, v := range r.Header.Values("X-Forwarded-Proto") {
		for f := range strings.SplitSeq(v, ",") {
			f = strings.TrimSpace(f)
			if f == "" {
				continue
			}
			if !strings.EqualFold(f, "https") {
				return false
			}
			n++
		}
	}
	return n > 0
}
