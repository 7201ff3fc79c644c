package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/hookbox/hookbox"
)

// FindDeliveries returns the delivery rows of an event, by destination
// (compared as bytes); none for an unknown event. It reads from the reader
// pool. EUNAVAILABLE when the store is closed; an uncoded error when the
// database fails.
func (s *Store) FindDeliveries(ctx context.Context, eventID string) ([]hookbox.Delivery, error) {
	if s.closed.Load() {
		return nil, errClosed
	}
	rows, err := s.reader.QueryContext(ctx, `SELECT `+deliveryColumns+` FROM deliveries
		WHERE event_id = ? ORDER BY destination`, eventID)
	if err != nil {
		return nil, fmt.Errorf("find deliveries: %w", err)
	}
	defer rows.Close()
	var ds []hookbox.Delivery
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, fmt.Errorf("find deliveries: %w", err)
		}
		ds = append(ds, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find deliveries: %w", err)
	}
	return ds, nil
}

// FindAttempts returns the attempts of an event, oldest StartedAt first,
// ties in recording order; none for an unknown event. It reads from the
// reader pool. EUNAVAILABLE when the store is closed; an uncoded error when
// the database fails.
func (s *Store) FindAttempts(ctx context.Context, eventID string) ([]hookbox.Attempt, error) {
	if s.closed.Load() {
		return nil, errClosed
	}
	rows, err := s.reader.QueryContext(ctx, `SELECT
		event_id, destination, number, started_at, duration_us, status_code, error, response, ok
		FROM attempts WHERE event_id = ? ORDER BY started_at, id`, eventID)
	if err != nil {
		return nil, fmt.Errorf("find attempts: %w", err)
	}
	defer rows.Close()
	var as []hookbox.Attempt
	for rows.Next() {
		var (
			a                            hookbox.Attempt
			number, started, dur, status int64
			response                     []byte
			ok                           bool
		)
		if err := rows.Scan(&a.EventID, &a.Destination, &number, &started, &dur, &status, &a.Error, &response, &ok); err != nil {
			return nil, fmt.Errorf("find attempts: %w", err)
		}
		a.Number = int(number)
		a.StartedAt = loadTime(started)
		a.Duration = time.Duration(dur) * time.Microsecond
		a.StatusCode = int(status)
		a.Response = string(response)
		a.OK = ok
		as = append(as, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find attempts: %w", err)
	}
	return as, nil
}
