// Package deliver takes stored events out of the queue and delivers them:
// claim, deliver, record the attempt, then reschedule or dead-letter.
//
// # The flow
//
// The store is the queue (hookbox.Queue). A Worker claims due events in
// batches (ClaimEvents): each claimed event moves to StateDelivering under a
// lease held by the worker's Owner. The worker delivers each event, up to
// Concurrency at once, to every Destination that accepts it (its type and
// livemode filters) and has not already delivered it or given up on it; the
// destinations of one event are tried in parallel. Each try is one
// hookbox.Attempt, recorded whatever its outcome: a failure is data, not an
// error. The worker then completes the claim (CompleteClaim) with the
// attempts and the new state of each destination it tried:
//
//	attempt OK                  -> delivered, never sent again
//	failed, RetryPolicy.Next    -> pending at the next attempt time
//	failed, budget/window spent -> dead (until a replay)
//
// and the store derives the event's own state from its destinations: any
// pending makes the event pending again (due at the earliest), else any dead
// makes it dead, else it is delivered. Each destination keeps its own state,
// so a failing destination never causes a second delivery to one that
// succeeded.
//
// A destination whose own delivery is not due yet is left alone when its
// event comes due for another destination: each keeps its own schedule.
//
// # Limits, pauses and the circuit breaker
//
// Controlled gives a destination Controls. MaxInFlight caps its attempts at
// once in this worker; Rate (with Burst) caps its attempts per second for
// every worker on the store, through a GCRA kept in the store
// (hookbox.DestinationControls.TakeRate). A delivery a limit holds back is
// deferred: pending, due at the turn it was given, no attempt made and no
// retry budget spent. After BreakerFailures consecutive failed attempts
// (default 10) the destination's circuit breaker opens in the store: its
// deliveries are parked (HoldReason hookbox.HoldBreaker, due never, budget
// untouched), every BreakerProbe (default 10 s) one of them is made due as
// the probe (ProbeBreaker), and the first success closes the breaker and
// makes the parked deliveries due. A paused destination parks its
// deliveries the same way (hookbox.HoldPaused). Every worker reads the
// stored pauses and breakers every second.
//
// Attempt numbers count per destination across replays (Hookbox-Attempt
// header, Attempt.Number), while Delivery.Attempts is the retry budget spent
// since the last replay, which RetryPolicy.Next counts against MaxAttempts;
// the retry window runs from Event.WindowStart.
//
// # Waking up
//
// The ingest side calls Worker.Wake after it commits a new event, and the
// worker claims at once (about a millisecond from commit to request). When
// nothing wakes it, the worker polls every PollInterval, and it sets a timer
// for the earliest retry it scheduled itself. While claims come back full
// it claims again immediately, so a backlog drains at full speed.
//
// # Leases, crashes and shutdown
//
// A worker that crashes leaves its claims delivering; when their lease
// expires any worker claims them again (at-least-once: a destination may
// see an event twice, which is what Idempotency-Key is for). Deliveries are
// cut shortly before the lease ends so that the claim is still held when it
// completes. Worker.Shutdown stops claiming, waits for in-flight deliveries
// for a grace period, then cancels the rest and releases their claims
// (ReleaseClaims): nothing is lost, nothing stays leased, and an attempt cut
// short is not counted against the retry budget.
//
// # Destinations
//
// HTTP forwards an event as Stripe would: a POST of the exact stored body,
// Content-Type application/json, a Stripe-Signature over it computed with
// the destination's own secret at the time of each attempt, plus
// Idempotency-Key (the event id), Hookbox-Attempt and User-Agent headers.
// Only a 2xx is a success; redirects are not followed.
//
// Mux runs Go handlers in the same process (library mode), registered by
// event type: exact ("invoice.paid"), prefix ("invoice.*") or "*", the most
// specific pattern winning. A handler receives an Event, the stored event
// with a lazily decoded stripe.Event. A returned error or a panic is a
// failed attempt, retried like any other.
//
// Filters are spelled as in the Stripe CLI: ParseTypes
// ("payment_intent.succeeded,invoice.*", or "*") and ParseLivemode ("any",
// "live", "test").
//
// # Sync mode
//
// Worker.DeliverNow delivers one event inside the webhook request: it claims
// the event by id, delivers it, records the attempts, and reports whether
// every destination that accepts the event has it, so that the ingest
// handler answers Stripe 200 only then (and 500 otherwise, so Stripe
// retries). An event already delivered is not delivered again. In sync mode
// the ingest side should not also Wake a Worker for the same event: a
// Worker holding the lease makes DeliverNow report false.
package deliver
