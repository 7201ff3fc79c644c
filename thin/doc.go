// Package thin handles Stripe's thin events (event destinations, API v2)
// beyond what every event gets (verification, storage, dedupe, delivery):
// it fetches each notification's full event from GET /v2/core/events/{id}
// in the background (Fetcher), delivers that full event to the
// destinations that want it (DeliverEvent), and lists /v2/core/events for
// reconcile (Client, a reconcile.V2Lister).
//
// A thin notification is small: id, type, livemode, created (RFC 3339),
// an optional context and a related_object {id, type, url}, no data.
// Ingest stores it as it stores a snapshot event, with its related object
// and context in their own columns (searchable), and a pending fetch
// beside it in the same transaction (hookbox.ThinStore). Nothing on the
// ingest path calls Stripe.
//
// The Fetcher claims due fetches under a lease (so replicas on one
// database fetch each event once), calls the API with the notification's
// context as Stripe-Context and Stripe-Request-Trigger: event=<id> (as
// stripe-go does), stores the answer byte for byte, once, and retries
// failures on a backoff schedule, a 429 no sooner than its Retry-After.
//
// Go handlers read notifications and fetched events through Notification
// and FullEvent, typed with stripe-go v85.
package thin
