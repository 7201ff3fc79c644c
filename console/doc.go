// Package console is hookbox's admin listener: a JSON API under /api/, a
// web console under /, /metrics and /debug/pprof/ (when given), and the
// health checks /healthz and /readyz, all served by one http.Handler
// (Server).
//
// The console is rendered on the server with html/template from templates
// embedded in the binary; its stylesheet and its one small script (live
// refresh) are embedded too and served under /static/. Pages work without
// JavaScript. The Content-Security-Policy allows scripts and styles only
// from /static/ (no inline script, no inline style), and html/template
// escapes every value that comes from a stored event, so a payload holding
// markup shows as text.
//
// # Access
//
// With Options.Token empty, the console, the API, /metrics and
// /debug/pprof/ are open: the caller must listen on loopback only
// (IsLoopback, CheckListen; New refuses a non-loopback ListenAddr). With a
// token, the API, /metrics and /debug/pprof/ take it as a bearer token
// ("Authorization: Bearer <token>", the scheme in any letter case,
// compared in constant time) and the console's login page exchanges it
// for a session cookie (HttpOnly, SameSite=Strict, Secure over TLS). Every
// refusal outside the console's pages is one JSON document,
// {"code": ..., "message": ...}, with the status of hookbox.HTTPStatus.
//
// Requests must name a host the listener answers, token or not (421
// otherwise): on a loopback ListenAddr a loopback name or one of
// AllowedHosts, so that a DNS-rebinding page cannot reach the listener
// through a browser on this host, neither to read what is open nor to
// spend the failure limit with wrong tokens; on any other address any Host
// unless AllowedHosts lists them. Every state-changing request, API
// included, goes through net/http's CrossOriginProtection: a cross-site
// form or fetch is refused.
//
// A client (the direct peer) that presents MaxAuthFailures wrong tokens
// within AuthFailureWindow is refused (429, Retry-After) wherever it then
// fails a credential check, for a window; credentials are checked first,
// so the right token or a live session is served all the same: the
// failing address is often the operator's own. The limit thus bounds the
// noise, not the guesses of a client that keeps trying: the token's
// length is what resists guessing (serve wants 16 characters or more).
// /healthz and /readyz take no token and answer any Host: load balancers
// probe them.
//
// # Speed
//
// Listing uses the store's keyset cursor and never counts the table; the
// only counts are bounded (CountEventsUpTo with a cap, shown as "10,000+").
// Ingest counters (received, duplicates, rejections, matching secret
// positions) are not in the store: Activity keeps them per minute in memory
// for the last 24 hours, fed by the caller from the ingest and delivery
// hooks.
package console
