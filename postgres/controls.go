package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
)

// DestinationStates returns the stored state of every destination that
// has one.
func (s *Store) DestinationStates(ctx context.Context) (map[string]hookbox.DestinationState, error) {
	out := map[string]hookbox.DestinationState{}
	err := s.withConn(ctx, func(conn *pgx.Conn) error {
		rows, err := conn.Query(ctx, `SELECT name, paused_at, breaker_open_at, probe_at FROM destinations`)
		if err != nil {
			return err
		}
		var (
			name                string
			paused, open, probe pgtype.Timestamptz
		)
		_, err = pgx.ForEachRow(rows, []any{&name, &paused, &open, &probe}, func() error {
			out[name] = hookbox.DestinationState{PausedAt: goTime(paused), BreakerOpenAt: goTime(open), ProbeAt: goTime(probe)}
			return nil
		})
		return err
	})
	if err != nil {
		return nil, dbError("destination states", err)
	}
	return out, nil
}

// SetBreaker opens or closes the breaker of destination name.
func (s *Store) SetBreaker(ctx context.Context, name string, open bool, probeAt, now time.Time) (bool, error) {
	if name == "" || !validText(name) || now.IsZero() || !inRange(now) || (open && (probeAt.IsZero() || !inRange(probeAt))) {
		return false, hookbox.Errorf(hookbox.EINVALID, "breaker: a destination, a time and a probe time are required")
	}
	var n int64
	err := s.withConn(ctx, func(conn *pgx.Conn) error {
		var tag pgconn.CommandTag
		var err error
		if open {
			tag, err = conn.Exec(ctx, `INSERT INTO destinations (name, breaker_open_at, probe_at, updated_at) VALUES ($1, $2, $3, $2)
				ON CONFLICT (name) DO UPDATE SET breaker_open_at = $2, probe_at = $3, updated_at = $2
				WHERE destinations.breaker_open_at = '-infinity'`, name, pgTime(now), pgTime(probeAt))
		} else {
			tag, err = conn.Exec(ctx, `UPDATE destinations SET breaker_open_at = '-infinity', probe_at = '-infinity', updated_at = $2
				WHERE name = $1 AND breaker_open_at <> '-infinity'`, name, pgTime(now))
		}
		n = tag.RowsAffected()
		return err
	})
	if err != nil {
		return false, dbError("set breaker", err)
	}
	return n > 0, nil
}

// probeSQL lets one probe through the open breaker of destination $1 whose
// probe time has come ($3 now): the parked delivery parked longest (a
// failed probe goes behind the rest), then with the fewest attempts, then
// of the oldest event, becomes due with hold_reason 'probe' ('probe+released'
// from 'breaker+released'),
// its event due, and the next probe is set to $2. The destination row is
// locked first, so replicas racing get one probe.
const probeSQL = `WITH dest AS (
	SELECT name FROM destinations
	WHERE name = $1 AND breaker_open_at <> '-infinity' AND probe_at <= $3
	FOR UPDATE SKIP LOCKED
), pick AS (
	SELECT d.event_id FROM deliveries d JOIN events e ON e.id = d.event_id, dest
	WHERE d.hold_reason <> '' AND d.hold_reason IN ('breaker', 'breaker+released') AND d.destination = $1 AND d.state = 'pending'
	ORDER BY d.updated_at, d.attempts, e.created, e.id
	LIMIT 1
	FOR UPDATE OF d SKIP LOCKED
), upd AS (
	UPDATE destinations SET probe_at = $2, updated_at = $3
	FROM pick WHERE destinations.name = $1
), evs AS (
	UPDATE events SET next_attempt_at = $3, updated_at = $3
	FROM pick WHERE events.id = pick.event_id AND events.state = 'pending'
)
UPDATE deliveries d SET hold_reason = CASE WHEN d.hold_reason = 'breaker+released' THEN 'probe+released' ELSE 'probe' END, next_attempt_at = $3, updated_at = $3
FROM pick WHERE d.event_id = pick.event_id AND d.destination = $1
RETURNING d.event_id`

// ProbeBreaker makes one parked delivery of destination name due as the
// probe of its open breaker, when the probe time has come.
func (s *Store) ProbeBreaker(ctx context.Context, name string, next, now time.Time) (string, error) {
	if name == "" || !validText(name) || now.IsZero() || next.IsZero() || !inRange(now) || !inRange(next) {
		return "", hookbox.Errorf(hookbox.EINVALID, "probe: a destination and times are required")
	}
	var id string
	err := s.inTx(ctx, "probe breaker", func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, probeSQL, name, pgTime(next), pgTime(now)).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		return err
	})
	if err != nil {
		return "", dbError("probe breaker", err)
	}
	return id, nil
}

// TakeRate takes one send from the rate limit of destination name: the
// destination's row is locked while the GCRA state is read and written,
// so replicas draw from one limit.
func (s *Store) TakeRate(ctx context.Context, name string, lim hookbox.RateLimit, wait time.Duration, now time.Time) (time.Time, bool, error) {
	if name == "" || !validText(name) || now.IsZero() || !inRange(now) || lim.Rate <= 0 {
		return time.Time{}, false, hookbox.Errorf(hookbox.EINVALID, "rate: a destination, a time and a rate are required")
	}
	var (
		send    time.Time
		granted bool
	)
	err := s.inTx(ctx, "take rate", func(tx pgx.Tx) error {
		var tat, next pgtype.Timestamptz
		err := tx.QueryRow(ctx, `INSERT INTO destinations (name, updated_at) VALUES ($1, $2)
			ON CONFLICT (name) DO UPDATE SET name = excluded.name
			RETURNING rate_tat, rate_next`, name, pgTime(now)).Scan(&tat, &next)
		if err != nil {
			return err
		}
		var st hookbox.RateState
		send, granted, st = lim.Take(hookbox.RateState{TAT: goTime(tat), Next: goTime(next)}, now, wait)
		_, err = tx.Exec(ctx, `UPDATE destinations SET rate_tat = $2, rate_next = $3 WHERE name = $1`,
			name, pgTime(st.TAT), pgTime(st.Next))
		return err
	})
	if err != nil {
		return time.Time{}, false, dbError("take rate", err)
	}
	return send, granted, nil
}

// CountParked returns the pending deliveries parked for their destination,
// per destination and hold reason.
func (s *Store) CountParked(ctx context.Context) (map[string]map[string]int, error) {
	out := map[string]map[string]int{}
	err := s.withConn(ctx, func(conn *pgx.Conn) error {
		rows, err := conn.Query(ctx, `SELECT destination, hold_reason, count(*) FROM deliveries
			WHERE hold_reason <> '' AND hold_reason IN ('paused', 'breaker', 'probe', 'paused+released', 'breaker+released', 'probe+released') AND state = 'pending' GROUP BY destination, hold_reason`)
		if err != nil {
			return err
		}
		var (
			d, reason string
			n         int64
		)
		_, err = pgx.ForEachRow(rows, []any{&d, &reason, &n}, func() error {
			if out[d] == nil {
				out[d] = map[string]int{}
			}
			park, _ := hookbox.ParkedAs(reason) // a released delivery parked counts as parked
			out[d][park] += int(n)
			return nil
		})
		return err
	})
	if err != nil {
		return nil, dbError("count parked", err)
	}
	return out, nil
}
