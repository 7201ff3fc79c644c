package edge

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"
)

// Fixed response bodies, in the shape ingest answers with: nothing about
// the configuration reaches the client.
var (
	respForbidden     = []byte(`{"error":"forbidden"}` + "\n")
	respHTTPSRequired = []byte(`{"error":"https required"}` + "\n")
	respTooMany       = []byte(`{"error":"too many failed requests"}` + "\n")
	respBadRequest    = []byte(`{"error":"bad request"}` + "\n")
)

func writeError(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(body)
}

// parseAddr parses an IP address as it appears in RemoteAddr or
// X-Forwarded-For: bare, with a port, or bracketed IPv6 with or without a
// port. An IPv4-mapped IPv6 address becomes IPv4 and any zone is dropped,
// so that one client has one spelling.
func parseAddr(s string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		ap, err2 := netip.ParseAddrPort(s)
		switch {
		case err2 == nil:
			a = ap.Addr()
		case len(s) > 2 && s[0] == '[' && s[len(s)-1] == ']':
			if a, err = netip.ParseAddr(s[1 : len(s)-1]); err != nil {
				return netip.Addr{}, false
			}
		default:
			return netip.Addr{}, false
		}
	}
	return a.Unmap().WithZone(""), true
}

// parsePrefix parses a CIDR or a single address (as a /32 or /128). Host
// bits are masked ("192.168.1.5/24" is 192.168.1.0/24) and IPv4-mapped
// IPv6 prefixes become IPv4, matching what parseAddr yields.
func parsePrefix(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("%q is not an IP address or CIDR", s)
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not an IP address or CIDR", s)
	}
	if a := p.Addr(); a.Is4In6() {
		if p.Bits() < 96 {
			return netip.Prefix{}, fmt.Errorf("%q: an IPv4-mapped prefix needs at least 96 bits", s)
		}
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p.Masked(), nil
}
