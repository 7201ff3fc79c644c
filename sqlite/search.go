package sqlite

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/hookbox/hookbox"
)

var _ hookbox.EventSearcher = (*Store)(nil)

// SearchEvents returns events matching q, newest received first, as
// FindEvents does (q.Blocked included), and further narrowed by q.Until,
// q.ObjectID and q.Destination.
//
// The plan is chosen by probing (see plan): a state or type that holds
// few events is read from its index and sorted; otherwise the listing
// index is walked newest first and stops at the limit, so a page costs
// about limit/density rows instead of a sort of the whole state. The
// object id is the body's data.object.id, kept in the object_id column
// since 0010 (the bodies of older rows are tested, a byte search first);
// no index holds it, so narrowing the time range bounds the work. The destination term probes the deliveries
// primary key per event.
func (s *Store) SearchEvents(ctx context.Context, q hookbox.EventQuery) ([]*hookbox.Event, error) {
	if s.closed.Load() {
		return nil, errClosed
	}
	where, args, err := queryWhere(q)
	if err != nil {
		return nil, err
	}
	limit := q.Limit
	if limit <= 0 {
		limit = hookbox.DefaultListLimit
	}
	index, small, err := s.plan(ctx, q)
	if err != nil {
		return nil, err
	}
	if !small {
		index = "events_received"
	}
	var b strings.Builder
	b.WriteString("SELECT " + listColumns + " FROM events INDEXED BY " + index)
	if len(where) > 0 {
		b.WriteString(" WHERE " + strings.Join(where, " AND "))
	}
	b.WriteString(" ORDER BY received_at DESC, id DESC LIMIT ?")
	args = append(args, limit)
	rows, err := s.reader.QueryContext(ctx, b.String(), args...)
	if err != nil {
		return nil, fmt.Errorf("search events: %w", err)
	}
	defer rows.Close()
	events := make([]*hookbox.Event, 0, min(limit, 256))
	for rows.Next() {
		ev, err := scanEvent(rows, nil)
		if err != nil {
			return nil, fmt.Errorf("search events: %w", err)
		}
		events = append(events, ev)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("search events: %w", err)
	}
	return events, nil
}

// CountEventsUpTo counts the events matching q, up to limit: the inner
// SELECT stops after limit rows.
func (s *Store) CountEventsUpTo(ctx context.Context, q hookbox.EventQuery, limit int) (int, error) {
	if s.closed.Load() {
		return 0, errClosed
	}
	if limit <= 0 {
		return 0, nil
	}
	where, args, err := queryWhere(q)
	if err != nil {
		return 0, err
	}
	index, small, err := s.plan(ctx, q)
	if err != nil {
		return 0, err
	}
	if !small {
		// Every usable index holds many candidates: count along the
		// state's partial index when it has one, else events_received
		// (which holds the type since 0014).
		_, stateIndex := stateTerm(q.State)
		switch {
		case q.State != "" && stateIndex != "":
			index = stateIndex
		case q.Blocked:
			index = "events_dead"
		}
	}
	var b strings.Builder
	b.WriteString("SELECT count(*) FROM (SELECT 1 FROM events INDEXED BY " + index)
	if len(where) > 0 {
		b.WriteString(" WHERE " + strings.Join(where, " AND "))
	}
	b.WriteString(" LIMIT ?)")
	args = append(args, limit)
	var n int
	if err := s.reader.QueryRowContext(ctx, b.String(), args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count events: %w", err)
	}
	return n, nil
}

// OldestPending returns the receive time of the oldest pending or
// delivering event, zero if none. It reads the partial queue index, which
// holds only those events and covers received_at.
func (s *Store) OldestPending(ctx context.Context) (time.Time, error) {
	if s.closed.Load() {
		return time.Time{}, errClosed
	}
	var ns *int64
	err := s.reader.QueryRowContext(ctx, `SELECT min(received_at) FROM events INDEXED BY events_queue
		WHERE state IN ('pending', 'delivering')`).Scan(&ns)
	if err != nil {
		return time.Time{}, fmt.Errorf("oldest pending: %w", err)
	}
	if ns == nil {
		return time.Time{}, nil
	}
	return loadTime(*ns), nil
}

// probeCap is how many index entries a probe counts at most.
const probeCap = 2000

// plan picks the index that holds the fewest candidates for q, by counting
// up to probeCap entries of each index q can use (covering index scans,
// well under a millisecond each); small is true when that index holds
// fewer than probeCap. SQLite's planner, without statistics, prefers an
// equality on state followed by a sort of every event in that state, which
// on a large store is far slower than either choice here.
func (s *Store) plan(ctx context.Context, q hookbox.EventQuery) (index string, small bool, err error) {
	best, bestN := "events_received", probeCap
	try := func(idx, where string, args ...any) error {
		var n int
		err := s.reader.QueryRowContext(ctx, "SELECT count(*) FROM (SELECT 1 FROM events INDEXED BY "+idx+
			" WHERE "+where+" LIMIT ?)", append(args, probeCap)...).Scan(&n)
		if err != nil {
			return fmt.Errorf("search events: plan: %w", err)
		}
		if n < bestN {
			best, bestN = idx, n
		}
		return nil
	}
	if q.State != "" {
		// Delivered events, most of a store, have no index of their own:
		// the listing index is walked.
		if term, idx := stateTerm(q.State); idx != "" {
			if err := try(idx, term); err != nil {
				return "", false, err
			}
		}
	}
	if q.Blocked {
		// Blocked events are dead ones: events_dead holds them all.
		if err := try("events_dead", stateTermDead); err != nil {
			return "", false, err
		}
	}
	// A type has no index of its own since 0014: events_received holds
	// it, and is walked.
	if !q.Since.IsZero() || !q.Until.IsZero() {
		since, _ := filterTime(q.Since)
		until, ok := filterTime(q.Until)
		if q.Until.IsZero() || !ok {
			until = 1<<63 - 1
		}
		if q.Since.IsZero() {
			since = -1 << 63
		}
		if err := try("events_received", "received_at >= ? AND received_at < ?", since, until); err != nil {
			return "", false, err
		}
	}
	return best, bestN < probeCap, nil
}

// queryWhere returns the WHERE terms and arguments of q.
func queryWhere(q hookbox.EventQuery) ([]string, []any, error) {
	var (
		where []string
		args  []any
	)
	where, args = whereType(where, args, q.Type)
	where, args = whereVersion(where, args, q.APIVersion)
	if q.State != "" {
		if !q.State.Valid() {
			return nil, nil, hookbox.Errorf(hookbox.EINVALID, "unknown state %q", q.State)
		}
		term, _ := stateTerm(q.State)
		where = append(where, term)
	}
	if q.Blocked {
		where = append(where, blockedSQL)
	}
	if q.Held {
		where = append(where, heldFilterSQL)
		args = append(args, q.HeldDestination, q.HeldDestination)
	}
	if !q.Since.IsZero() {
		since, ok := filterTime(q.Since)
		if !ok {
			return nil, nil, hookbox.Errorf(hookbox.EINVALID, "since out of range")
		}
		where = append(where, "received_at >= ?")
		args = append(args, since)
	}
	if !q.Until.IsZero() {
		until, ok := filterTime(q.Until)
		if !ok {
			return nil, nil, hookbox.Errorf(hookbox.EINVALID, "until out of range")
		}
		where = append(where, "received_at < ?")
		args = append(args, until)
	}
	switch {
	case !q.BeforeReceivedAt.IsZero():
		before, ok := filterTime(q.BeforeReceivedAt)
		if !ok {
			return nil, nil, hookbox.Errorf(hookbox.EINVALID, "cursor out of range")
		}
		where = append(where, "(received_at, id) < (?, ?)")
		args = append(args, before, q.BeforeID)
	case q.BeforeID != "":
		return nil, nil, hookbox.Errorf(hookbox.EINVALID, "cursor id without cursor time")
	}
	if q.ObjectID != "" {
		// A thin event names its object in related_id (0007), a snapshot
		// event in object_id (0010), both columns. The rows stored before
		// 0010 (object_id NULL) have uncompressed bodies, read as before:
		// instr on the BLOB is a plain byte search that rules out almost
		// every row before the JSON is parsed; json_valid guards the
		// bodies emptied by retention.
		where = append(where, `(related_id = ? OR object_id = ? OR object_id IS NULL AND EXISTS (SELECT 1 FROM event_bodies b
			WHERE b.id = events.body_id AND b.encoding = 0
			AND instr(b.body, CAST(? AS BLOB)) > 0 AND json_valid(CAST(b.body AS TEXT))
			AND json_extract(CAST(b.body AS TEXT), '$.data.object.id') = ?))`)
		args = append(args, q.ObjectID, q.ObjectID, q.ObjectID, q.ObjectID)
	}
	if q.Destination != "" {
		where = append(where, "EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = events.id AND d.destination = ?)")
		args = append(args, q.Destination)
	}
	return where, args, nil
}
