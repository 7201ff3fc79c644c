package edge

import "net/netip"

// StripeWebhookIPsURL is where Stripe publishes the addresses its webhooks
// come from, as JSON with the key "WEBHOOKS" (ips_webhooks.txt holds the
// same list, one address a line). Stripe announces changes seven days
// ahead on its api-announce mailing list.
const StripeWebhookIPsURL = "https://stripe.com/files/ips/ips_webhooks.json"

// StripeWebhookIPsDate is the date of the copy of Stripe's list built into
// hookbox (StripeWebhookIPs). Refresh from StripeWebhookIPsURL to follow
// later changes.
const StripeWebhookIPsDate = "2026-09-04"

// stripeWebhookIPs is Stripe's published list of webhook source addresses.
//
// Taken on 2026-11-27 from the latest dated copies of
// https://stripe.com/files/ips/ips_webhooks.json (and .txt) that could be
// read without network access: a copy of the JSON "as of 4 Sep 2026", one
// of https://docs.stripe.com/ips captured 2026-06-14, and a mirror of
// ips_webhooks.txt updated 2026-05-15 all list these 15 addresses. A mirror
// updated 2025-10-19 listed 12: the three Frankfurt addresses 3.69.109.8,
// 3.120.168.93 and 35.157.207.129 were added in between. stripe.com itself
// was not reachable from where this list was written: check it against
// StripeWebhookIPsURL when updating.
var stripeWebhookIPs = []string{
	"3.18.12.63",
	"3.69.109.8",
	"3.120.168.93",
	"3.130.192.231",
	"13.235.14.237",
	"13.235.122.149",
	"18.211.135.69",
	"35.154.171.200",
	"35.157.207.129",
	"52.15.183.38",
	"54.88.130.119",
	"54.88.130.237",
	"54.187.174.169",
	"54.187.205.235",
	"54.187.216.72",
}

// StripeWebhookIPs returns the built-in copy of Stripe's webhook source
// addresses (see StripeWebhookIPsDate), each as a single-address prefix.
// The slice is the caller's.
func StripeWebhookIPs() []netip.Prefix {
	out := make([]netip.Prefix, len(stripeWebhookIPs))
	for i, s := range stripeWebhookIPs {
		a := netip.MustParseAddr(s)
		out[i] = netip.PrefixFrom(a, a.BitLen())
	}
	return out
}
