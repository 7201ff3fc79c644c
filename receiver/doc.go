// Package receiver runs a hookbox receiver: the whole of "hookbox serve"
// as a library.
//
// A Receiver owns the endpoints (path, secrets, tolerance, livemode and
// destinations, with the rule that routes an endpoint's events to its own
// destinations: Route), the public handler chain in one order (see
// Handler), the group committer, the delivery worker and its wake-up (in
// process, and from other replicas through a store that is a
// hookbox.Notifier), retention, periodic reconcile with its first window,
// readiness, and the admin surface. Options are validated once, by
// Options.Validate, which New calls; "hookbox serve" and "hookbox config
// check" go through the same rules.
//
// Life cycle: New builds (nothing runs), Open starts background work and,
// when Options.Listen is set, the listeners with the receiver's server
// timeouts (NewServer); Close stops accepting requests, waits up to the
// grace period for in-flight requests and deliveries, drains the committer
// and closes the store.
package receiver
