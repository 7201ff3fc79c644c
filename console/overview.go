package console

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hookbox/hookbox"
)

// overviewPage is the data of the overview.
type overviewPage struct {
	Now         time.Time
	HasActivity bool
	Hour, Day   Totals
	// Current queue, from the store; counts stop at CountCap.
	Pending, Delivering, Dead counted
	DeadHour, DeadDay         counted
	OldestPending             time.Time
	Chart                     chart
	// Blocked are the ordered keys held by a dead event, per destination
	// (hookbox.Queue.CountBlocked), by name; destinations with none are
	// left out.
	Blocked []Count
	// Versions are the Stripe API versions of the newest events
	// (VersionSample of them), most frequent first.
	Versions  []Count
	CanSearch bool // the events list filters by destination
	// NoneConfigured: this process has no destination, so events stay
	// pending.
	NoneConfigured bool
}

// counted is a count that may have stopped at CountCap.
type counted struct {
	N     int
	Known bool
}

func (c counted) String() string {
	switch {
	case !c.Known:
		return "?"
	case c.N >= CountCap:
		return comma(CountCap) + "+"
	default:
		return comma(c.N)
	}
}

// showOverview serves the overview (GET /): the ingest counters of the last
// hour and day, the queue now, the keys blocked per destination, the rate
// chart and the secret positions.
func (s *Server) showOverview(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	now := s.now()
	p := overviewPage{Now: now, HasActivity: s.activity != nil, NoneConfigured: len(s.dests) == 0, CanSearch: s.searcher != nil}
	p.Hour = s.activity.Totals(now.Add(-time.Hour), now)
	p.Day = s.activity.Totals(now.Add(-24*time.Hour), now)
	p.Chart = newChart(s.activity.Series(now, 60))

	if s.searcher != nil {
		count := func(st hookbox.State, since time.Time) (counted, error) {
			q := hookbox.EventQuery{EventFilter: hookbox.EventFilter{State: st, Since: since}}
			n, err := s.searcher.CountEventsUpTo(ctx, q, CountCap)
			return counted{N: n, Known: true}, err
		}
		var err error
		for _, c := range []struct {
			dst   *counted
			st    hookbox.State
			since time.Time
		}{
			{&p.Pending, hookbox.StatePending, time.Time{}},
			{&p.Delivering, hookbox.StateDelivering, time.Time{}},
			{&p.Dead, hookbox.StateDead, time.Time{}},
			{&p.DeadHour, hookbox.StateDead, now.Add(-time.Hour)},
			{&p.DeadDay, hookbox.StateDead, now.Add(-24 * time.Hour)},
		} {
			if *c.dst, err = count(c.st, c.since); err != nil {
				s.renderError(w, r, err)
				return
			}
		}
		if p.OldestPending, err = s.searcher.OldestPending(ctx); err != nil {
			s.renderError(w, r, err)
			return
		}
	} else {
		// A store without search counts the whole table.
		counts, oldest, err := s.store.CountEvents(ctx)
		if err != nil {
			s.renderError(w, r, err)
			return
		}
		p.Pending = counted{counts[hookbox.StatePending], true}
		p.Delivering = counted{counts[hookbox.StateDelivering], true}
		p.Dead = counted{counts[hookbox.StateDead], true}
		p.OldestPending = oldest
	}
	blocked, err := s.store.CountBlocked(ctx)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	for name, n := range blocked {
		if n > 0 {
			p.Blocked = append(p.Blocked, Count{Name: name, N: n})
		}
	}
	slices.SortFunc(p.Blocked, func(a, b Count) int { return strings.Compare(a.Name, b.Name) })
	if p.Versions, err = s.versionsSeen(ctx); err != nil {
		s.renderError(w, r, err)
		return
	}
	if r.URL.Query().Get("fragment") != "" {
		s.renderFragment(w, r, "overview", "overview-body", p)
		return
	}
	s.render(w, r, http.StatusOK, "overview", "Overview", p)
}

// chart is the rate chart, drawn as inline SVG on the server.
type chart struct {
	Width, Height int
	Max           int
	Bars          []bar
	FirstLabel    string
	LastLabel     string
}

type bar struct {
	X, Y, W, H    string // received (stacked under rejected)
	RY, RH        string // rejected
	Label         string
	HasRejections bool
}

func newChart(pts []Point) chart {
	c := chart{Width: 600, Height: 120}
	for _, p := range pts {
		c.Max = max(c.Max, p.Received+p.Duplicates+p.Rejected)
	}
	if len(pts) == 0 {
		return c
	}
	c.FirstLabel = pts[0].Minute.Format("15:04")
	c.LastLabel = pts[len(pts)-1].Minute.Format("15:04") + " UTC"
	scale := 1.0
	if c.Max > 0 {
		scale = float64(c.Height-4) / float64(c.Max)
	}
	bw := float64(c.Width) / float64(len(pts))
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }
	for i, p := range pts {
		ok := float64(p.Received+p.Duplicates) * scale
		rej := float64(p.Rejected) * scale
		x := float64(i) * bw
		c.Bars = append(c.Bars, bar{
			X: f(x + 0.5), W: f(max(bw-1, 1)),
			Y: f(float64(c.Height) - ok), H: f(ok),
			RY: f(float64(c.Height) - ok - rej), RH: f(rej),
			HasRejections: p.Rejected > 0,
			Label: p.Minute.Format("15:04") + " UTC: " + strconv.Itoa(p.Received) + " received, " +
				strconv.Itoa(p.Duplicates) + " duplicates, " + strconv.Itoa(p.Rejected) + " rejected",
		})
	}
	return c
}

// VersionSample is how many of the newest events the overview's API
// versions are counted over: a bounded read whatever the store holds.
const VersionSample = 1000

// versionsSeen counts the API versions of the newest VersionSample events,
// most frequent first ("" for events without one, thin notifications).
func (s *Server) versionsSeen(ctx context.Context) ([]Count, error) {
	evs, err := s.store.FindEvents(ctx, hookbox.EventFilter{Limit: VersionSample})
	if err != nil {
		return nil, err
	}
	n := map[string]int{}
	for _, ev := range evs {
		n[ev.APIVersion]++
	}
	out := make([]Count, 0, len(n))
	for v, c := range n {
		out = append(out, Count{Name: v, N: c})
	}
	slices.SortFunc(out, func(a, b Count) int {
		if a.N != b.N {
			return b.N - a.N
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out, nil
}
