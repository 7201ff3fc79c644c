package console

import (
	"context"

	"github.com/hookbox/hookbox"
)

// findEvents returns up to limit events of f after the cursor before, and
// the cursor of the next page ("" on the last page). It asks the store for
// one event more than it shows to know whether a next page exists, so it
// never counts.
//
// A q that looks like an event id is looked up directly; anything else in
// q is an object id (data.object.id).
func (s *Server) findEvents(ctx context.Context, f filter, before string, limit int) ([]*hookbox.Event, string, error) {
	at, id, err := ParseCursor(before)
	if err != nil {
		return nil, "", err
	}
	if isEventID(f.Q) {
		if before != "" {
			return nil, "", nil
		}
		ev, err := s.store.FindEventByID(ctx, f.Q)
		if hookbox.ErrorCode(err) == hookbox.ENOTFOUND {
			return nil, "", nil
		}
		if err != nil {
			return nil, "", err
		}
		ev.Body = nil
		return []*hookbox.Event{ev}, "", nil
	}
	q := f.query()
	q.BeforeReceivedAt, q.BeforeID, q.Limit = at, id, limit+1
	var evs []*hookbox.Event
	switch {
	case s.searcher != nil:
		evs, err = s.searcher.SearchEvents(ctx, q)
	case f.needsSearch():
		return nil, "", hookbox.Errorf(hookbox.EINVALID, "this store filters by state, type and since only")
	default:
		evs, err = s.store.FindEvents(ctx, q.EventFilter)
	}
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(evs) > limit {
		evs = evs[:limit]
		next = Cursor(evs[limit-1])
	}
	return evs, next, nil
}

// countUpTo counts the events of f up to CountCap; ok is false when the
// store cannot count a filter.
func (s *Server) countUpTo(ctx context.Context, f filter) (n int, ok bool, err error) {
	if isEventID(f.Q) {
		evs, _, err := s.findEvents(ctx, f, "", 1)
		return len(evs), true, err
	}
	if s.searcher == nil {
		return 0, false, nil
	}
	n, err = s.searcher.CountEventsUpTo(ctx, f.query(), CountCap)
	return n, err == nil, err
}
