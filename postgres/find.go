package postgres

import (
	"context"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// FindDeliveries returns the deliveries of an event, by destination
// (bytewise); none for an unknown event. EUNAVAILABLE when the store is
// closed or the database cannot answer.
func (s *Store) FindDeliveries(ctx context.Context, eventID string) ([]hookbox.Delivery, error) {
	if s.closed.Load() {
		return nil, errClosed
	}
	if !validText(eventID) {
		return nil, nil
	}
	var ds []hookbox.Delivery
	err := s.withConn(ctx, func(conn *pgx.Conn) error {
		rows, err := conn.Query(ctx, `SELECT `+deliveryColumns+` FROM deliveries WHERE event_id = $1 ORDER BY destination`, eventID)
		if err != nil {
			return err
		}
		return forEachDelivery(rows, func(d hookbox.Delivery) { ds = append(ds, d) })
	})
	if err != nil {
		return nil, dbError("find deliveries", err)
	}
	return ds, nil
}

// FindAttempts returns the attempts of an event, oldest StartedAt first,
// ties in recording order; none for an unknown event. Times and durations
// are kept to the microsecond. EUNAVAILABLE when the store is closed or the
// database cannot answer.
func (s *Store) FindAttempts(ctx context.Context, eventID string) ([]hookbox.Attempt, error) {
	if s.closed.Load() {
		return nil, errClosed
	}
	if !validText(eventID) {
		return nil, nil
	}
	var as []hookbox.Attempt
	err := s.withConn(ctx, func(conn *pgx.Conn) error {
		rows, err := conn.Query(ctx, `SELECT event_id, destination, number, started_at, duration_us, status_code, error, response, ok
			FROM attempts WHERE event_id = $1 ORDER BY started_at, id`, eventID)
		if err != nil {
			return err
		}
		var (
			a                  hookbox.Attempt
			number, durationUS int64
			code               int32
			started            pgtype.Timestamptz
			response           []byte
		)
		_, err = pgx.ForEachRow(rows, []any{&a.EventID, &a.Destination, &number, &started, &durationUS, &code, &a.Error, &response, &a.OK}, func() error {
			a.Number = int(number)
			a.StartedAt = goTime(started)
			a.Duration = time.Duration(durationUS) * time.Microsecond
			a.StatusCode = int(code)
			a.Response = string(response)
			as = append(as, a)
			return nil
		})
		return err
	})
	if err != nil {
		return nil, dbError("find attempts", err)
	}
	return as, nil
}
