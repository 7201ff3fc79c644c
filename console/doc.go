// Package console is hookbox's admin side: a JSON API under /api/ and a web
// console under /, both served by one http.Handler meant for the admin
// listener.
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
// With Options.Token empty, the console and the API are open: the caller
// must listen on loopback only (IsLoopback, CheckListen), and requests must
// name a loopback host (a DNS-rebinding page cannot reach the console).
// With a token, the API takes it as a bearer token and the console's login
// page exchanges it for a session cookie (HttpOnly, SameSite=Strict, Secure
// over TLS). Every state-changing request, API included, goes through
// net/http's CrossOriginProtection: a cross-site form or fetch is refused.
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
