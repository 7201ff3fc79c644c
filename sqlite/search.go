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
// FindEvents does, and further narrowed by q.Until, q.ObjectID and
// q.Destination.
//
// The object id is the body's data.object.id. No index holds it: the
// search walks the listing index (newest first, within the other terms)
// and tests each body, first with a byte search for the id, so narrowing
// the time range bounds the work. The destination term probes the
// deliveries primary key per event.
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
	var b strings.Builder
	b.WriteString("SELECT " + listColumns + " FROM events")
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
		ev, err := scanEvent(rows, false)
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
	var b strings.Builder
	b.WriteString("SELECT count(*) FROM (SELECT 1 FROM events")
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

// queryWhere returns the WHERE terms and arguments of q.
func queryWhere(q hookbox.EventQuery) ([]string, []any, error) {
	var (
		where []string
		args  []any
	)
	where, args = whereType(where, args, q.Type)
	if q.State != "" {
		if !q.State.Valid() {
			return nil, nil, hookbox.Errorf(hookbox.EINVALID, "unknown state %q", q.State)
		}
		where = append(where, "state = ?")
		args = append(args, string(q.State))
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
		// instr on the BLOB is a plain byte search that rules out almost
		// every row before the JSON is parsed; json_valid guards the
		// bodies emptied by retention.
		where = append(where, `instr(body, CAST(? AS BLOB)) > 0 AND json_valid(CAST(body AS TEXT))
			AND json_extract(CAST(body AS TEXT), '$.data.object.id') = ?`)
		args = append(args, q.ObjectID, q.ObjectID)
	}
	if q.Destination != "" {
		where = append(where, "EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = events.id AND d.destination = ?)")
		args = append(args, q.Destination)
	}
	return where, args, nil
}
