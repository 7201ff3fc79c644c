package edge_test

import (
	"net/netip"
	"testing"
)

// FuzzClientAddr ensures X-Forwarded-For parsing never panics, never lets
// an untrusted peer choose its address, and always yields an address in
// canonical form when the peer is one.
func FuzzClientAddr(f *testing.F) {
	for _, s := range [][2]string{
		{"10.1.2.3:80", "3.18.12.63"},
		{"10.1.2.3:80", "1.1.1.1, 3.18.12.63, 10.9.9.9"},
		{"10.1.2.3:80", "[2001:db8::1]:443, unknown"},
		{"[fd00::5]:443", ",,, ,"},
		{"203.0.113.7:5555", "10.0.0.1"},
		{"[::ffff:10.1.2.3]:80", "::ffff:3.18.12.63%eth0"},
		{"@", "3.18.12.63"},
	} {
		f.Add(s[0], s[1])
	}
	p := mustProxies(f, "10.0.0.0/8,fd00::/8")
	f.Fuzz(func(t *testing.T, remote, xff string) {
		r := request(remote, "X-Forwarded-For", xff)
		got := p.ClientAddr(r)
		peer, err := netip.ParseAddrPort(remote)
		if err != nil {
			return
		}
		want := peer.Addr().Unmap().WithZone("")
		if !p.Trusts(want) && got != want.String() {
			t.Fatalf("untrusted peer %q with X-Forwarded-For %q: client %q", remote, xff, got)
		}
		a, err := netip.ParseAddr(got)
		if err != nil || a.String() != got || a.Is4In6() || a.Zone() != "" {
			t.Fatalf("client %q is not a canonical address", got)
		}
	})
}
