package postgres

import (
	"context"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

var _ hookbox.EventSearcher = (*Store)(nil)

// SearchEvents returns up to q.Limit (DefaultListLimit when <= 0) events
// matching q, newest received first, ties broken by descending ID, without
// their bodies: FindEvents's order, keyset cursor and Blocked, further
// narrowed by q.Until, q.ObjectID and q.Destination, as the SQLite store
// narrows them.
//
// Every filter is an index condition the planner can use: state and an
// exact type read events_state or events_type in listing order, the time
// range and the cursor events_received; an object id is the object_id
// column (0010) of the candidate events (no index, to keep ingest cheap),
// and the destination is an EXISTS on deliveries (its
// primary key per candidate event, or one pass over deliveries when the
// planner finds that cheaper).
//
// The object id is the body's data.object.id when it is a JSON string
// whose bytes appear in the body as they are (an id the JSON spells with
// escapes such as "\/" does not match), extracted in Go at insert
// (bodycodec.ObjectID), as in the SQLite store; of duplicate keys the last
// counts. The rows stored before 0010 are tested by reading their body (a
// byte search, then hookbox_object_id of 0005): where PostgreSQL's jsonb is
// stricter than SQLite's JSON functions such a body matches nothing
// (invalid UTF-8, \u0000 or a lone surrogate escape anywhere in it).
// Stripe sends none of these.
//
// It fails with EINVALID as FindEvents does, and for a Until outside
// 1678-2262; EUNAVAILABLE when the store is closed or the database cannot
// answer; an uncoded error when a query fails otherwise. A type, object id
// or destination that PostgreSQL text cannot hold matches nothing.
func (s *Store) SearchEvents(ctx context.Context, q hookbox.EventQuery) ([]*hookbox.Event, error) {
	if s.closed.Load() {
		return nil, errClosed
	}
	w, none, err := queryWhere(q)
	if err != nil {
		return nil, err
	}
	if none {
		return []*hookbox.Event{}, nil
	}
	limit := q.Limit
	if limit <= 0 {
		limit = hookbox.DefaultListLimit
	}
	sql := `SELECT ` + eventColumns + ` FROM events` + w.sql() +
		` ORDER BY received_at DESC, id DESC LIMIT ` + w.arg(limit)

	events := make([]*hookbox.Event, 0, min(limit, 256))
	err = s.withConn(ctx, func(conn *pgx.Conn) error {
		rows, err := conn.Query(ctx, sql, w.args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			ev, err := scanEvent(rows, nil)
			if err != nil {
				return err
			}
			events = append(events, ev)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, dbError("search events", err)
	}
	return events, nil
}

// CountEventsUpTo counts the events matching q (the cursor included,
// q.Limit ignored) up to limit: the inner SELECT stops after limit rows,
// so the work is bounded by limit matches whatever the table holds. A
// limit <= 0 counts nothing. Errors are SearchEvents's.
func (s *Store) CountEventsUpTo(ctx context.Context, q hookbox.EventQuery, limit int) (int, error) {
	if s.closed.Load() {
		return 0, errClosed
	}
	if limit <= 0 {
		return 0, nil
	}
	w, none, err := queryWhere(q)
	if err != nil {
		return 0, err
	}
	if none {
		return 0, nil
	}
	sql := `SELECT count(*) FROM (SELECT 1 FROM events` + w.sql() + ` LIMIT ` + w.arg(limit) + `) AS m`
	var n int64
	err = s.withConn(ctx, func(conn *pgx.Conn) error {
		return conn.QueryRow(ctx, sql, w.args...).Scan(&n)
	})
	if err != nil {
		return 0, dbError("count events", err)
	}
	return int(n), nil
}

// OldestPending returns the receive time of the oldest pending or
// delivering event, zero if none: the first entry of each state in
// events_state (state, received_at, id), two index probes whatever the
// queue holds. (min over "state IN (...)" would walk events_received from
// the oldest event, through every delivered one.)
func (s *Store) OldestPending(ctx context.Context) (time.Time, error) {
	if s.closed.Load() {
		return time.Time{}, errClosed
	}
	var oldest pgtype.Timestamptz
	err := s.withConn(ctx, func(conn *pgx.Conn) error {
		return conn.QueryRow(ctx, `SELECT least(
			(SELECT min(received_at) FROM events WHERE state = 'pending'),
			(SELECT min(received_at) FROM events WHERE state = 'delivering'))`).Scan(&oldest)
	})
	if err != nil {
		return time.Time{}, dbError("oldest pending", err)
	}
	return goTime(oldest), nil
}

// queryWhere returns the WHERE clause of q, or none when no stored event
// can match (a text PostgreSQL cannot hold, which no stored value is).
func queryWhere(q hookbox.EventQuery) (w where, none bool, err error) {
	if q.State != "" {
		if !q.State.Valid() {
			return w, false, hookbox.Errorf(hookbox.EINVALID, "unknown state %q", q.State)
		}
		w.add("state = $?", string(q.State))
	}
	if q.Blocked {
		w.add(blockedSQL)
	}
	if q.Held {
		w.add(heldFilterSQL, q.HeldDestination, q.HeldDestination)
	}
	if !q.Since.IsZero() {
		if !inRange(q.Since) {
			return w, false, hookbox.Errorf(hookbox.EINVALID, "since out of range")
		}
		w.add("received_at >= $?", ceilMicro(q.Since))
	}
	if !q.Until.IsZero() {
		if !inRange(q.Until) {
			return w, false, hookbox.Errorf(hookbox.EINVALID, "until out of range")
		}
		// A stored microsecond x is < Until exactly when x < ceilMicro(Until).
		w.add("received_at < $?", ceilMicro(q.Until))
	}
	switch {
	case !q.BeforeReceivedAt.IsZero():
		if !inRange(q.BeforeReceivedAt) {
			return w, false, hookbox.Errorf(hookbox.EINVALID, "cursor out of range")
		}
		if !validText(q.BeforeID) {
			return w, false, hookbox.Errorf(hookbox.EINVALID, "cursor id holds U+0000 or invalid UTF-8")
		}
		if t := q.BeforeReceivedAt.Truncate(time.Microsecond); t.Equal(q.BeforeReceivedAt) {
			w.add("(received_at, id) < ($?, $?)", t, q.BeforeID)
		} else {
			// Between two stored microseconds: as in FindEvents.
			w.add("received_at <= $?", t)
		}
	case q.BeforeID != "":
		return w, false, hookbox.Errorf(hookbox.EINVALID, "cursor id without cursor time")
	}
	w.addVersion(q.APIVersion)
	if q.Type != "" && !w.addType(q.Type) {
		none = true
	}
	if q.ObjectID != "" {
		if !validText(q.ObjectID) {
			// jsonb never yields U+0000 or invalid UTF-8.
			none = true
		} else {
			// The SQLite store first looks for the id's bytes in the
			// body, so an id that the JSON spells with escapes ("\/",
			// "\u00e9") does not match there: nor here. The byte search
			// is cheap and comes first; only bodies holding the id are
			// parsed.
			// A thin event names its object in related_id (0007), a
			// snapshot event in object_id (0010). The rows stored before
			// 0010 (object_id NULL) have uncompressed bodies, read as
			// before.
			w.add("(related_id = $? OR object_id = $? OR object_id IS NULL AND position(convert_to($?, 'UTF8') in body) > 0 AND hookbox_object_id(body) = $?)",
				q.ObjectID, q.ObjectID, q.ObjectID, q.ObjectID)
		}
	}
	if q.Destination != "" {
		if !validText(q.Destination) {
			none = true
		} else {
			w.add("EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = events.id AND d.destination = $?)", q.Destination)
		}
	}
	return w, none, nil
}
