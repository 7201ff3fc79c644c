package console

import (
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/hookbox/hookbox"
)

// eventPage is the data of an event's page.
type eventPage struct {
	Event      *hookbox.Event
	Headers    [][2]string // sorted by name
	Deliveries []hookbox.Delivery
	Attempts   []attemptView
	Payload    *node  // the body as a tree; nil when not JSON or too large
	Raw        string // the body, indented when it is JSON
	RawAsIs    bool   // Raw is JSON not indented: indenting would make it too large
	Replayed   int    // a replay just replayed this many (-1: none)
	Skipped    int    // a skip just skipped this many (-1: none)
	Released   int    // a release just released this many (-1: none)
	// Blocked: a dead event holding its ordered key (Blocked); CanSkip:
	// the event is one a skip settles (dead, or pending and tried).
	Blocked, CanSkip bool
	// NoDestination: delivered, but to no destination (none accepted it).
	NoDestination bool
	// NoneConfigured: this process has no destination at all.
	NoneConfigured bool

	rawAttempts []hookbox.Attempt // as stored, for the API
}

type attemptView struct {
	hookbox.Attempt
	Response string // the snippet as valid UTF-8
}

// showEvent serves an event's page (GET /events/{id}): its envelope, the
// payload pretty-printed and collapsible, the stored headers, every
// delivery and attempt, and the replay and skip buttons.
func (s *Server) showEvent(w http.ResponseWriter, r *http.Request) {
	p, err := s.loadEvent(r, r.PathValue("id"))
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	p.Replayed, p.Skipped, p.Released = -1, -1, -1
	if n, err := strconv.Atoi(r.URL.Query().Get("released")); err == nil && n >= 0 {
		p.Released = n
	}
	p.Payload, p.Raw, p.RawAsIs = parseTree(p.Event.Body)
	if n, err := strconv.Atoi(r.URL.Query().Get("replayed")); err == nil && n >= 0 {
		p.Replayed = n
	}
	if n, err := strconv.Atoi(r.URL.Query().Get("skipped")); err == nil && n >= 0 {
		p.Skipped = n
	}
	s.render(w, r, http.StatusOK, "event", p.Event.ID, p)
}

func (s *Server) loadEvent(r *http.Request, id string) (*eventPage, error) {
	ctx := r.Context()
	ev, err := s.store.FindEventByID(ctx, id)
	if err != nil {
		return nil, err
	}
	ds, err := s.store.FindDeliveries(ctx, id)
	if err != nil {
		return nil, err
	}
	as, err := s.store.FindAttempts(ctx, id)
	if err != nil {
		return nil, err
	}
	p := &eventPage{Event: ev, Deliveries: ds, rawAttempts: as,
		NoDestination: DeliveredToNone(ev, ds), NoneConfigured: len(s.dests) == 0,
		Blocked: Blocked(ev), CanSkip: canSkip(ev, ds)}
	for name, v := range ev.Headers {
		p.Headers = append(p.Headers, [2]string{name, v})
	}
	sortPairs(p.Headers)
	for _, a := range as {
		p.Attempts = append(p.Attempts, attemptView{Attempt: a, Response: printable(a.Response)})
	}
	return p, nil
}

// canSkip reports whether hookbox.Queue.SkipEvents settles ev, with its
// deliveries ds: a dead event, or a pending one some destination has tried.
func canSkip(ev *hookbox.Event, ds []hookbox.Delivery) bool {
	return ev.State == hookbox.StateDead || ev.State == hookbox.StatePending && len(ds) > 0
}

func sortPairs(ps [][2]string) {
	for i := 1; i < len(ps); i++ {
		for j := i; j > 0 && ps[j][0] < ps[j-1][0]; j-- {
			ps[j], ps[j-1] = ps[j-1], ps[j]
		}
	}
}

// printable returns s as valid UTF-8 with control characters (but tabs
// and newlines) shown as U+FFFD: a response snippet is cut anywhere and may
// be binary.
func printable(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.Map(func(r rune) rune {
		if r < 0x20 && r != '\n' && r != '\t' || r == 0x7f || r == utf8.RuneError {
			return '\uFFFD'
		}
		return r
	}, s)
}
