package hookbox

import (
	"context"
	"time"
)

// EventQuery selects events for an EventSearcher: everything an EventFilter
// selects, narrowed by filters the listing indexes alone do not serve.
type EventQuery struct {
	EventFilter
	// Until keeps events received strictly before it (zero: no bound). It
	// combines with the keyset cursor: both apply.
	Until time.Time
	// ObjectID keeps events whose body's data.object.id equals it, and
	// thin events whose RelatedObject.ID equals it.
	ObjectID string
	// Destination keeps events that have a delivery row for that
	// destination name (they were tried there at least once).
	Destination string
}

// EventSearcher is implemented by stores that search and count beyond
// FindEvents. It is optional: the console uses it when the store has it
// and offers fewer filters otherwise.
type EventSearcher interface {
	// SearchEvents returns events matching q, newest received first, in
	// FindEvents's order and with its keyset cursor, without bodies.
	// EINVALID as for FindEvents.
	SearchEvents(ctx context.Context, q EventQuery) ([]*Event, error)

	// CountEventsUpTo counts the events matching q (the cursor included,
	// q.Limit ignored), stopping at limit: a result equal to limit means
	// "limit or more". It never scans past limit matches, so it is
	// bounded whatever the table holds. EINVALID as for FindEvents.
	CountEventsUpTo(ctx context.Context, q EventQuery, limit int) (int, error)

	// OldestPending returns the receive time of the oldest event waiting
	// for delivery (pending or delivering), zero if none.
	OldestPending(ctx context.Context) (time.Time, error)
}
