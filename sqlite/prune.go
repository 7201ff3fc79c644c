package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/hookbox/hookbox"
)

// The prune statements walk events_received from the oldest event up to
// the bound, a batch at a time. "+state" keeps SQLite from choosing an
// index by state instead (events_state_next_attempt until 0013), which
// would walk every delivered event, old or new. An event replayed since the bound is kept: a replay
// starts its life again (a dead event replayed and dead again must not
// vanish with its new attempts). Emptied bodies keep their rows, so the
// body batches move on from the last (received_at, id) done.
// pruneBatch is how many events one prune transaction handles (a variable
// for the tests).
var pruneBatch = 2000

const (
	pruneRowsSQL = `DELETE FROM events WHERE rowid IN (
	SELECT rowid FROM events WHERE +state IN ('delivered', 'dead') AND received_at < ?1 AND replayed_at < ?1
	ORDER BY received_at LIMIT ?2)`
	pruneBodyIDsSQL = `SELECT received_at, id, body_id FROM events
WHERE +state = 'delivered' AND received_at < ?1 AND replayed_at < ?1 AND (received_at, id) > (?2, ?3)
ORDER BY received_at, id LIMIT ?4`
	pruneBodiesSQL = `UPDATE event_bodies SET body = x'', encoding = 0 WHERE id IN (SELECT value FROM json_each(?)) AND length(body) > 0`
)

// PruneEvents deletes the delivered and dead events received before
// rowBefore, with their deliveries and attempts (ON DELETE CASCADE), then
// empties the body of the delivered events received before bodyBefore
// that still have one; the emptied rows stay, so their ids still dedupe.
// A zero bound prunes nothing of its kind. Pending and delivering events
// are never touched. Returns how many bodies were emptied and how many
// rows deleted (disjoint counts), also when a batch fails (EUNAVAILABLE:
// what was committed stays done). Batches of pruneBatch events, each its
// own transaction; EINVALID for a bound out of range, EUNAVAILABLE when the
// store is closed or the database fails.
func (s *Store) PruneEvents(ctx context.Context, bodyBefore, rowBefore time.Time) (bodies, rows int, err error) {
	if s.closed.Load() {
		return 0, 0, errClosed
	}
	bound := func(t time.Time) (int64, bool, error) {
		if t.IsZero() {
			return 0, false, nil
		}
		ns, ok := filterTime(t)
		if !ok {
			return 0, false, hookbox.Errorf(hookbox.EINVALID, "prune: bound out of range")
		}
		return ns, true, nil
	}
	bodyNS, pruneBodies, err := bound(bodyBefore)
	if err != nil {
		return 0, 0, err
	}
	rowNS, pruneRows, err := bound(rowBefore)
	if err != nil {
		return 0, 0, err
	}
	if !pruneBodies && !pruneRows {
		return 0, 0, nil
	}
	// Batches, each its own transaction, so that webhooks, which share
	// the one writer, wait for a batch at most and never for a whole
	// sweep (the first one on a large store, or after --keep-ids was
	// lowered). What was done is counted even when a later batch fails.
	if pruneRows {
		for {
			n, err := s.pruneTx(ctx, func(tx *sql.Tx) (int, error) {
				return affected(tx.ExecContext(ctx, pruneRowsSQL, rowNS, pruneBatch))
			})
			rows += n
			if err != nil {
				return bodies, rows, unavailable("prune: rows", err)
			}
			if n < pruneBatch {
				break
			}
		}
	}
	if pruneBodies {
		var afterAt int64 = -1 << 63
		afterID := ""
		for {
			more := false
			n, err := s.pruneTx(ctx, func(tx *sql.Tx) (int, error) {
				rs, err := tx.QueryContext(ctx, pruneBodyIDsSQL, bodyNS, afterAt, afterID, pruneBatch)
				if err != nil {
					return 0, err
				}
				var ids []int64
				for rs.Next() {
					var id int64
					if err := rs.Scan(&afterAt, &afterID, &id); err != nil {
						rs.Close()
						return 0, err
					}
					ids = append(ids, id)
				}
				if err := errors.Join(rs.Err(), rs.Close()); err != nil {
					return 0, err
				}
				more = len(ids) == pruneBatch
				if len(ids) == 0 {
					return 0, nil
				}
				idsJSON, err := json.Marshal(ids)
				if err != nil {
					return 0, err
				}
				return affected(tx.ExecContext(ctx, pruneBodiesSQL, string(idsJSON)))
			})
			bodies += n
			if err != nil {
				return bodies, rows, unavailable("prune: bodies", err)
			}
			if !more {
				break
			}
		}
	}
	return bodies, rows, nil
}

// affected returns the rows a statement changed.
func affected(res sql.Result, err error) (int, error) {
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// pruneTx runs one prune batch in its own write transaction.
func (s *Store) pruneTx(ctx context.Context, batch func(*sql.Tx) (int, error)) (int, error) {
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	n, err := batch(tx)
	if err != nil {
		return 0, err
	}
	if err := tx.Commit(); err != nil {
		return 0, err
	}
	return n, nil
}
