package hookbox

import "context"

// Notifier is implemented by a store that several processes share (the
// postgres store: replicas on one database). Through Listen, one process
// learns that another has made events due, and its workers claim them at
// once instead of at their next poll.
//
// A store meant for one process (the sqlite store) does not implement it:
// every event is committed in the process that delivers it, which wakes its
// own workers.
type Notifier interface {
	// Listen calls wake soon after a transaction commits, through any
	// handle on the same database and in any process, that inserted new
	// events, released claims or replayed events; and once each time it
	// starts listening, the first time and after each reconnection,
	// because events may have been committed while nothing listened.
	// Wakes are hints, not counts: several commits may give one wake, a
	// wake may find nothing due, and a batch of duplicates only need not
	// wake anyone. Callers keep polling as the fallback.
	//
	// wake is called from Listen's goroutine and must not block: a
	// non-blocking send on a channel of capacity 1 is the intended use.
	//
	// Listen blocks until ctx is done or the store is closed, then returns
	// nil. When its connection to the database is lost, it reconnects by
	// itself, waiting longer between attempts while the database stays
	// away, without returning. It fails at once with EINVALID for a nil
	// wake and EUNAVAILABLE when the store is already closed.
	Listen(ctx context.Context, wake func()) error
}
