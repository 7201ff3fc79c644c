package edge_test

import (
	"crypto/tls"
	"net/netip"
	"testing"

	"github.com/hookbox/hookbox/edge"
)

// TestParseTrustedProxies ensures the flag's syntax: CIDRs and single
// addresses, IPv4 and IPv6, spaces and empty items tolerated, anything else
// and a catch-all prefix refused.
func TestParseTrustedProxies(t *testing.T) {
	for _, tc := range []struct {
		in, want string // want "" with wantErr
		wantErr  bool
	}{
		{in: "", want: ""},
		{in: " , ", want: ""},
		{in: "10.0.0.0/8,192.168.1.5", want: "10.0.0.0/8,192.168.1.5/32"},
		{in: " 10.0.0.0/8 , fd00::/8 ,::1", want: "10.0.0.0/8,fd00::/8,::1/128"},
		{in: "192.168.1.5/24", want: "192.168.1.0/24"},
		{in: "::ffff:10.0.0.1", want: "10.0.0.1/32"},
		{in: "::ffff:10.0.0.0/104", want: "10.0.0.0/8"},
		{in: "10.0.0.0/33", wantErr: true},
		{in: "proxy.internal", wantErr: true},
		{in: "10.0.0.1:80", wantErr: true},
		{in: "fe80::1%eth0", wantErr: true},
		{in: "0.0.0.0/0", wantErr: true},
		{in: "::/0", wantErr: true},
	} {
		p, err := edge.ParseTrustedProxies(tc.in)
		if tc.wantErr {
			if err == nil {
				t.Errorf("ParseTrustedProxies(%q) = %v, want an error", tc.in, p)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseTrustedProxies(%q): %v", tc.in, err)
			continue
		}
		if got := p.String(); got != tc.want {
			t.Errorf("ParseTrustedProxies(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestClientAddr ensures X-Forwarded-For is believed only from a trusted
// peer, walked from the right past trusted hops, and that anything odd
// falls back to the peer.
func TestClientAddr(t *testing.T) {
	p := mustProxies(t, "10.0.0.0/8,192.168.1.5,fd00::/8")
	const xff = "X-Forwarded-For"
	for _, tc := range []struct {
		name   string
		remote string
		hdr    []string
		want   string
	}{
		{"NoProxy", "203.0.113.7:5555", nil, "203.0.113.7"},
		{"UntrustedPeerSpoofsXFF", "203.0.113.7:5555", []string{xff, "3.18.12.63"}, "203.0.113.7"},
		{"UntrustedPeerSpoofsTrustedXFF", "203.0.113.7:5555", []string{xff, "10.0.0.1"}, "203.0.113.7"},
		{"TrustedPeerNoXFF", "10.1.2.3:80", nil, "10.1.2.3"},
		{"TrustedPeerEmptyXFF", "10.1.2.3:80", []string{xff, " , "}, "10.1.2.3"},
		{"OneHop", "10.1.2.3:80", []string{xff, "3.18.12.63"}, "3.18.12.63"},
		{"ClientPrependsForgery", "10.1.2.3:80", []string{xff, "1.1.1.1, 3.18.12.63"}, "3.18.12.63"},
		{"TwoTrustedHops", "10.1.2.3:80", []string{xff, "6.6.6.6, 3.18.12.63, 192.168.1.5, 10.9.9.9"}, "3.18.12.63"},
		{"MultipleHeaders", "10.1.2.3:80", []string{xff, "6.6.6.6, 3.18.12.63", xff, "10.2.2.2"}, "3.18.12.63"},
		{"MultipleHeadersLastUntrusted", "10.1.2.3:80", []string{xff, "3.18.12.63", xff, "54.88.130.119"}, "54.88.130.119"},
		{"AllTrustedTakesLeftmost", "10.1.2.3:80", []string{xff, "10.5.5.5, 192.168.1.5"}, "10.5.5.5"},
		{"MalformedBeforeClient", "10.1.2.3:80", []string{xff, "3.18.12.63, unknown"}, "10.1.2.3"},
		{"MalformedBehindClient", "10.1.2.3:80", []string{xff, "garbage, 3.18.12.63"}, "3.18.12.63"},
		{"EntryWithPort", "10.1.2.3:80", []string{xff, "3.18.12.63:41000"}, "3.18.12.63"},
		{"IPv6Entry", "10.1.2.3:80", []string{xff, "2001:db8::1"}, "2001:db8::1"},
		{"IPv6BracketsPort", "10.1.2.3:80", []string{xff, "[2001:DB8:0::1]:443"}, "2001:db8::1"},
		{"IPv6Brackets", "10.1.2.3:80", []string{xff, "[2001:db8::1]"}, "2001:db8::1"},
		{"IPv6Peer", "[fd00::5]:443", []string{xff, "3.18.12.63"}, "3.18.12.63"},
		{"IPv6PeerUntrusted", "[2001:db8::9]:443", []string{xff, "3.18.12.63"}, "2001:db8::9"},
		{"MappedPeer", "[::ffff:10.1.2.3]:80", []string{xff, "3.18.12.63"}, "3.18.12.63"},
		{"MappedEntry", "10.1.2.3:80", []string{xff, "::ffff:3.18.12.63"}, "3.18.12.63"},
		{"ZonedPeer", "[fe80::1%eth0]:80", nil, "fe80::1"},
		{"PeerWithoutPort", "203.0.113.7", nil, "203.0.113.7"},
		{"NotAnIPPeer", "@", []string{xff, "3.18.12.63"}, "@"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := request(tc.remote, tc.hdr...)
			if got := p.ClientAddr(r); got != tc.want {
				t.Errorf("ClientAddr = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestClientAddrNil ensures a nil *Proxies trusts no one.
func TestClientAddrNil(t *testing.T) {
	var p *edge.Proxies
	r := request("10.1.2.3:80", "X-Forwarded-For", "3.18.12.63", "X-Forwarded-Proto", "https")
	if got := p.ClientAddr(r); got != "10.1.2.3" {
		t.Errorf("ClientAddr = %q, want the peer", got)
	}
	if p.IsHTTPS(r) {
		t.Error("IsHTTPS believed X-Forwarded-Proto without trusted proxies")
	}
	if p.Trusts(netip.MustParseAddr("10.1.2.3")) {
		t.Error("nil Proxies trusts an address")
	}
}

// TestIsHTTPS ensures a TLS connection is HTTPS, and X-Forwarded-Proto
// counts only from a trusted peer and only when every value says https.
func TestIsHTTPS(t *testing.T) {
	p := mustProxies(t, "10.0.0.0/8")
	const xfp = "X-Forwarded-Proto"
	for _, tc := range []struct {
		name   string
		remote string
		tls    bool
		hdr    []string
		want   bool
	}{
		{"TLS", "203.0.113.7:1", true, nil, true},
		{"Plain", "203.0.113.7:1", false, nil, false},
		{"UntrustedSpoof", "203.0.113.7:1", false, []string{xfp, "https"}, false},
		{"TrustedHTTPS", "10.0.0.2:1", false, []string{xfp, "https"}, true},
		{"TrustedHTTPSUpper", "10.0.0.2:1", false, []string{xfp, "HTTPS"}, true},
		{"TrustedHTTP", "10.0.0.2:1", false, []string{xfp, "http"}, false},
		{"TrustedNone", "10.0.0.2:1", false, nil, false},
		{"TrustedEmpty", "10.0.0.2:1", false, []string{xfp, ""}, false},
		{"AppendedForgery", "10.0.0.2:1", false, []string{xfp, "https, http"}, false},
		{"TwoHeadersForgery", "10.0.0.2:1", false, []string{xfp, "https", xfp, "http"}, false},
		{"ChainAllHTTPS", "10.0.0.2:1", false, []string{xfp, "https,https"}, true},
		{"Garbage", "10.0.0.2:1", false, []string{xfp, "httpsx"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := request(tc.remote, tc.hdr...)
			if tc.tls {
				r.TLS = &tls.ConnectionState{}
			}
			if got := p.IsHTTPS(r); got != tc.want {
				t.Errorf("IsHTTPS = %v, want %v", got, tc.want)
			}
		})
	}
}
