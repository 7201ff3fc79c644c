// Package edge holds the protections of hookbox's public listener: HTTPS
// with certificates reloaded from disk, Strict-Transport-Security, a
// plain-HTTP redirect, trusted reverse proxies, an IP allowlist of Stripe's
// webhook addresses, and a cheap refusal of clients that keep failing
// signature verification. Each piece is an http.Handler wrapper or a small
// type usable on its own; the package uses the standard library only and
// imports nothing else from hookbox.
//
// # The client address
//
// One function names the client of a request for logs, the allowlist and
// the failure limit: (*Proxies).ClientAddr. A request's direct peer is the
// client unless the peer is a trusted proxy (--trusted-proxies); then
// X-Forwarded-For is walked from the right, past trusted hops, to the first
// untrusted address. Every piece that takes a ClientAddrFunc, and
// ingest.Handler.ClientAddrFunc, must be given that same function:
// FailureLimiter counts failures under the address the ingest handler
// reports and refuses under the address the middleware computes, so two
// different functions would count one client and refuse another.
//
// # Order on the webhook path
//
// Outermost first, as serve.go is expected to wire them:
//
//	ConnLimiter                 wraps the TCP listener, inside TLS: bounds
//	                            connections per peer and in all
//	HSTS(mux)                   every response that arrived over HTTPS
//	  RequireHTTPS              403 for plain HTTP (--require-https)
//	    Allowlist.Middleware    log or 403 outside Stripe's addresses
//	      FailureLimiter.Middleware   429 before the body is read
//	        ingest.Handler      OnResult calls FailureLimiter.Failed
//	                            when Result.CountsAsFailure
//
// The allowlist runs before the failure limit so that, in enforce mode,
// strangers are refused without occupying the limiter's table. Stripe's own
// addresses should be exempt from the failure limit (LimiterOptions.
// ExemptFunc = Allowlist.Allows), whatever the allowlist mode: they are
// shared by every Stripe account, so anyone can point a Stripe endpoint of
// their own at this URL and make Stripe's addresses fail verification; and
// a wrong or rotated secret would otherwise turn into a lockout of Stripe
// that outlasts the fix by one window. For the same reason they, and trusted
// proxies, have no per-client connection bound (ConnLimitOptions).
//
// # Logs under a flood
//
// Every per-request or per-connection rejection line of the public listener
// goes through one LogSampler: a few lines per client, reason and interval,
// then a count. Give the same sampler to ingest.Handler, Allowlist and
// ConnLimiter, and Flush it when the listener stops.
package edge
