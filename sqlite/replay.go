package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/hookbox/hookbox"
)

// ReplayEvents puts the events f selects back to pending, due at now, with
// ReplayedAt = now (their retry window starts again), and returns how many.
// Every delivery row that is not delivered gets a fresh retry budget
// (Attempts 0, due at now); an event that was delivered gets every one of
// its delivery rows back to pending, so that every destination receives it
// again. A thin event whose fetch was given up (hookbox.FetchFailed) has
// it pending again, due at now, with fresh attempts. Events under a live
// lease (delivering, lease ending at now or
// later) are skipped; an expired lease is replayed and its worker's
// completion then fails with ECONFLICT. Attempts already recorded stay.
//
// f.IDs, when set, selects exactly those events (unknown ids are ignored);
// otherwise f.State (required), f.Type (exact or "prefix*") and f.Since
// select. One transaction. EINVALID for a filter with neither IDs nor
// State, an unknown State or a time out of range; EUNAVAILABLE when the
// store is closed or the database fails.
func (s *Store) ReplayEvents(ctx context.Context, f hookbox.ReplayFilter, now time.Time) (int, error) {
	if s.closed.Load() {
		return 0, errClosed
	}
	nowCmp, ok1 := filterTime(now)
	at, ok2 := storedTime(now)
	if now.IsZero() || !ok1 || !ok2 {
		return 0, hookbox.Errorf(hookbox.EINVALID, "replay: now is zero or out of range")
	}
	events, selected, args, err := replaySelection(f, nowCmp)
	if err != nil {
		return 0, err
	}

	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return 0, unavailable("replay: begin", err)
	}
	defer tx.Rollback()
	// Deliveries first, while events.state still tells which events were
	// delivered.
	if _, err := tx.ExecContext(ctx, `UPDATE deliveries
		SET state = 'pending', attempts = 0, next_attempt_at = ?, updated_at = ?, skip_reason = '',
			hold_reason = CASE WHEN hold_reason <> '' THEN 'released' ELSE '' END
		WHERE event_id IN (SELECT id FROM `+events+` WHERE `+selected+`)
			AND (state <> 'delivered'
				OR (SELECT e.state FROM events e WHERE e.id = deliveries.event_id) = 'delivered')`,
		append([]any{at, at}, args...)...); err != nil {
		return 0, unavailable("replay: deliveries", err)
	}
	// A given-up fetch of a thin event is tried again with fresh
	// attempts, so that its deliver: event destinations wait for it
	// instead of going dead again at once.
	if _, err := tx.ExecContext(ctx, `UPDATE thin_fetches
		SET state = 'pending', attempts = 0, next_attempt_at = ?, last_error = '', lease_owner = '', updated_at = ?
		WHERE state = 'failed' AND event_id IN (SELECT id FROM `+events+` WHERE `+selected+`)`,
		append([]any{at, at}, args...)...); err != nil {
		return 0, unavailable("replay: fetches", err)
	}
	res, err := tx.ExecContext(ctx, `UPDATE `+events+`
		SET state = 'pending', next_attempt_at = ?, replayed_at = ?, updated_at = ?, lease_owner = '', lease_until = 0
		WHERE `+selected, append([]any{at, at, at}, args...)...)
	if err != nil {
		return 0, unavailable("replay: events", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, unavailable("replay: events", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, unavailable("replay: commit", err)
	}
	return int(n), nil
}

// replaySelection returns what ReplayEvents selects: the events table as
// its statements name it (with INDEXED BY where SQLite alone would scan
// the table), the WHERE terms and their arguments.
func replaySelection(f hookbox.ReplayFilter, nowCmp int64) (events, where string, args []any, err error) {
	var (
		terms []string
		index string // INDEXED BY of the events the filter selects, if any
	)
	switch {
	case len(f.IDs) > 0:
		idsJSON, err := json.Marshal(f.IDs)
		if err != nil {
			return "", "", nil, fmt.Errorf("replay: %w", err)
		}
		terms = append(terms, "id IN (SELECT value FROM json_each(?))")
		args = append(args, string(idsJSON))
	case f.State == "":
		return "", "", nil, hookbox.Errorf(hookbox.EINVALID, "replay: select events by id or by state")
	case !f.State.Valid():
		return "", "", nil, hookbox.Errorf(hookbox.EINVALID, "replay: unknown state %q", f.State)
	default:
		// A literal term with its partial index's WHERE (0013): a
		// replay of the dead reads events_dead, not the table.
		term, stateIndex := stateTerm(f.State)
		terms = append(terms, term)
		terms, args = whereType(terms, args, f.Type)
		if f.Type != "" && stateIndex == "" {
			// Delivered events have no index of their own and the type
			// none since 0014: walk events_received, which holds the
			// type, instead of the table (SQLite's choice without it).
			index = " INDEXED BY events_received"
		}
		if !f.Since.IsZero() {
			since, ok := filterTime(f.Since)
			if !ok {
				return "", "", nil, hookbox.Errorf(hookbox.EINVALID, "replay: since out of range")
			}
			terms = append(terms, "received_at >= ?")
			args = append(args, since)
		}
	}
	terms = append(terms, "NOT (state = 'delivering' AND lease_until >= ?)")
	args = append(args, nowCmp)
	// A body that retention emptied leaves nothing to send.
	terms = append(terms, "(SELECT length(b.body) FROM event_bodies b WHERE b.id = events.body_id) > 0")
	return "events" + index, strings.Join(terms, " AND "), args, nil
}
