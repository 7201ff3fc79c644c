package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/hookbox/hookbox"
)

// countEventsSQL counts the events of each state and finds the oldest
// pending one in one statement, so one snapshot. It runs at every metrics
// scrape, so it must not decode every row: the total is a count of the
// table (a walk of the event-id index's entries, no row is read), pending
// and delivering are counted along the partial events_queue index, which
// holds exactly those events and covers state (0013), dead along the
// partial events_dead, and delivered, the bulk of a store, is what
// remains. The oldest unsettled event (pending or delivering; not held:
// due at hookbox.HeldUntil, 2200-01-01 in unix ns) is a range of
// events_queue, which covers received_at. Each term repeats its index's
// WHERE verbatim (a partial index is used only so). On a store of 1M
// delivered and 80k pending events, counting along a full state index
// took 55-68 ms where a GROUP BY over the whole table, reading received_at
// from every row, took 392-625 ms (one sitting).
const countEventsSQL = `SELECT
	(SELECT count(*) FROM events),
	(SELECT count(*) FROM events INDEXED BY events_queue WHERE ` + stateTermPending + `),
	(SELECT count(*) FROM events INDEXED BY events_queue WHERE ` + stateTermDelivering + `),
	(SELECT count(*) FROM events INDEXED BY events_dead WHERE ` + stateTermDead + `),
	(SELECT min(received_at) FROM events INDEXED BY events_queue
		WHERE state IN ('pending', 'delivering') AND next_attempt_at < 7258118400000000000)`

// The terms that select the events of one state, each with the WHERE of
// the partial index that holds them (0013) so that SQLite may use it.
// Delivered events have no index of their own: they are most of a store.
const (
	stateTermPending    = `state IN ('pending', 'delivering') AND state = 'pending'`
	stateTermDelivering = `state IN ('pending', 'delivering') AND state = 'delivering'`
	stateTermDead       = `state = 'dead'`
	stateTermDelivered  = `state = 'delivered'`
)

// stateTerm returns the WHERE term selecting the events in state st and
// the partial index holding just them ("" for delivered: none); st must be
// valid.
func stateTerm(st hookbox.State) (term, index string) {
	switch st {
	case hookbox.StatePending:
		return stateTermPending, "events_queue"
	case hookbox.StateDelivering:
		return stateTermDelivering, "events_queue"
	case hookbox.StateDead:
		return stateTermDead, "events_dead"
	default:
		return stateTermDelivered, ""
	}
}

// CountEvents returns the number of events in each state, with an entry
// (maybe 0) for every state of hookbox.States, and the receive time of the
// oldest pending or delivering event (zero if none), from one snapshot of the reader
// pool (countEventsSQL). EUNAVAILABLE when the store is closed; an uncoded
// error when the database fails.
func (s *Store) CountEvents(ctx context.Context) (map[hookbox.State]int, time.Time, error) {
	if s.closed.Load() {
		return nil, time.Time{}, errClosed
	}
	var (
		total, pending, delivering, dead int
		oldestNS                         *int64
	)
	err := s.reader.QueryRowContext(ctx, countEventsSQL).Scan(&total, &pending, &delivering, &dead, &oldestNS)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("count events: %w", err)
	}
	// The schema's CHECK admits the four states only, so the rest of the
	// table is delivered.
	counts := hookbox.CountStates(total, pending, delivering, dead)
	var oldest time.Time
	if oldestNS != nil {
		oldest = loadTime(*oldestNS)
	}
	return counts, oldest, nil
}
