// Package hookbox is the vocabulary of a receiver for Stripe webhooks: the
// stored Event, its processing State, the Store contract every database
// adapter satisfies, and the error codes the HTTP layers map to statuses.
//
// # The life of an event
//
// Stripe POSTs an event to the public endpoint. The ingest handler reads the
// raw body once, under a size limit, and verifies its Stripe-Signature
// against every configured secret before anything parses it. A forged,
// tampered, replayed or malformed request is answered with a generic 400 and
// changes nothing.
//
// A verified body is checked to be a JSON object with a string id and type;
// only the envelope fields (id, type, object, created, livemode, account,
// api_version) are extracted, the body itself is kept byte for byte. The
// event is handed to a group committer which batches concurrent requests
// into one transaction. The database's unique key on the event id decides
// whether the event is new or a duplicate (never a check-then-insert), and
// each request is answered only after the transaction holding its row has
// committed durably. A request whose batch could not commit is answered 503,
// so Stripe retries it.
//
// A new event starts in StatePending. Later processing claims it
// (StateDelivering), delivers it to its destinations and marks it
// StateDelivered, or schedules a retry (back to StatePending with a next
// attempt time), or gives up (StateDead).
//
// This package imports only the standard library and nothing else from the
// repository; adapters (sqlite, ingest, cmd) speak to each other through it.
package hookbox
