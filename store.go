package hookbox

import (
	"context"
	"time"
)

// Store is the durable home of events and their delivery queue. Every
// adapter (sqlite, postgres) satisfies it and passes the storetest
// conformance suite.
type Store interface {
	Queue

	// InsertEvents stores a batch of events in one transaction and returns
	// one result per event, in order. Deduplication is the database's
	// unique key on the event ID: an ID already stored (or repeated inside
	// the batch) yields Duplicate and leaves the stored row unchanged. An
	// event that fails alone gets its own Err without failing the others.
	// On a nil error the whole batch is durable on return. A non-nil error
	// (code EUNAVAILABLE or EINTERNAL) means nothing of the batch may be
	// assumed stored.
	//
	// Times are kept to the microsecond (PostgreSQL's precision; finer
	// digits are truncated) and read back in UTC. A zero State is stored as
	// StatePending, a zero UpdatedAt as ReceivedAt. A nil event, an empty
	// ID, a zero ReceivedAt or an unknown State gets an Err coded EINVALID.
	InsertEvents(ctx context.Context, events []*Event) ([]InsertResult, error)

	// FindEventByID returns the stored event, body included. ENOTFOUND when
	// no such event exists.
	FindEventByID(ctx context.Context, id string) (*Event, error)

	// FindEvents returns events matching the filter, newest received first,
	// without their bodies.
	//
	// Ties on ReceivedAt are ordered by descending ID (compared as bytes),
	// so the keyset cursor pages without gaps or repeats. EINVALID for an
	// unknown State or a BeforeID without BeforeReceivedAt.
	FindEvents(ctx context.Context, filter EventFilter) ([]*Event, error)

	// Ping reports whether the store answers (used by /readyz).
	Ping(ctx context.Context) error

	// Close releases the store. Pending writes have been answered before.
	Close() error
}

// A Preparer is a Store that can do the CPU work of storing an event
// (compressing its body) before InsertEvents, in the caller's goroutine,
// into ev.Prepared. The group committer calls it in Submit, so that the
// requests of a batch do that work in parallel, while the previous batch
// commits, and not in the batch's transaction, which every request waits
// on. InsertEvents works without it.
type Preparer interface {
	PrepareInsert(ev *Event)
}

// A PipelinedInserter is a Store that can commit a batch without waiting
// for the disk and make such commits durable afterwards, with one sync for
// as many batches as committed meanwhile. The group committer uses it
// (groupcommit.Options.Sync) so that the next batch is inserted while the
// disk syncs the last, and answers a batch's requests only after the sync.
type PipelinedInserter interface {
	// InsertEventsNoSync is InsertEvents, except that on a nil error the
	// batch is committed (every reader sees it) but durable only once a
	// SyncInserts that began after this call returned has returned nil.
	InsertEventsNoSync(ctx context.Context, events []*Event) ([]InsertResult, error)
	// SyncInserts makes durable every batch InsertEventsNoSync had
	// committed when it was called. It may run while another batch is
	// being inserted.
	SyncInserts(ctx context.Context) error
}

// InsertFunc stores a batch as Store.InsertEvents does: one result per
// event, in order, on a nil error; on a non-nil error nothing of the batch
// may be assumed stored. It must not keep events after it returns.
// Store.InsertEvents is one; the group committer (groupcommit.New) and the
// reconciler (reconcile.Reconciler.Insert) take one, so a caller may wrap
// the store's (to time it, or to fail it in a test).
type InsertFunc func(ctx context.Context, events []*Event) ([]InsertResult, error)

// EventFilter selects events for FindEvents. Zero values mean "any".
type EventFilter struct {
	Type  string // exact type, or a prefix ending in ".*" / "*"
	State State
	Since time.Time // received at or after
	// Blocked keeps the dead events that hold their ordered key (an
	// OrderKey, not OrderSkipDead): the later events of the key wait
	// behind each.
	Blocked bool
	// Held keeps the events with a held delivery (a destination states an
	// API version the event is not in); with HeldDestination, held at that
	// destination.
	Held            bool
	HeldDestination string
	// APIVersion keeps the events rendered in that Stripe API version: an
	// exact version (2026-03-25.dahlia), or a release train (dahlia: every
	// version of the train).
	APIVersion string
	// Before is a keyset cursor: only events received strictly before
	// (BeforeReceivedAt, BeforeID) in the listing order.
	BeforeReceivedAt time.Time
	BeforeID         string
	Limit            int // <= 0: DefaultListLimit
}

// DefaultListLimit is the number of events FindEvents returns by default.
const DefaultListLimit = 100
