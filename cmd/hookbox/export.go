package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/receiver"
)

// exportPage is how many events "events export" lists per store query:
// its memory is one page of metadata and one body at a time, whatever the
// store holds.
const exportPage = 500

// exportLine is one line of "hookbox events export": an event's metadata
// and its exact body.
//
// The body is the JSON string "body" when it is valid UTF-8 (every body
// Stripe sends): decoding that string gives back the stored bytes exactly,
// whitespace and escapes included (jq -j .body prints them). A body that
// is not valid UTF-8 is in "body_base64" instead (standard encoding), and
// "body" is absent. A body emptied by retention is "body": "". The body is
// not embedded as a JSON value: Stripe's bodies span several lines, and a
// JSON encoder re-formats embedded values.
type exportLine struct {
	ID         string            `json:"id"`
	Type       string            `json:"type"`
	Created    int64             `json:"created"`
	Livemode   bool              `json:"livemode"`
	Account    string            `json:"account"`
	APIVersion string            `json:"api_version"`
	Endpoint   string            `json:"endpoint"`
	State      hookbox.State     `json:"state"`
	ReceivedAt time.Time         `json:"received_at"`
	Source     hookbox.Source    `json:"source"`
	Headers    map[string]string `json:"headers"`
	Body       *string           `json:"body,omitempty"`
	BodyBase64 []byte            `json:"body_base64,omitempty"`
}

func newExportLine(e *hookbox.Event) exportLine {
	l := exportLine{
		ID: e.ID, Type: e.Type, Created: e.Created, Livemode: e.Livemode, Account: e.Account,
		APIVersion: e.APIVersion, Endpoint: e.Endpoint, State: e.State, ReceivedAt: e.ReceivedAt.UTC(),
		Source: e.Source, Headers: e.Headers,
	}
	if l.Headers == nil {
		l.Headers = map[string]string{}
	}
	if utf8.Valid(e.Body) {
		s := string(e.Body)
		l.Body = &s
	} else {
		l.BodyBase64 = e.Body
	}
	return l
}

// exportFilter is what "events export" selects.
type exportFilter struct {
	hookbox.EventFilter
	Endpoint string // "" any
}

// runEventsExport writes every event matching the flags as JSON Lines, one
// exportLine a line, newest received first.
func runEventsExport(ctx context.Context, env *environ, args []string) error {
	fset := flag.NewFlagSet("hookbox events export", flag.ContinueOnError)
	fset.SetOutput(env.Stderr)
	fset.Usage = func() {
		fmt.Fprint(env.Stderr, `Usage: hookbox events export [flags] > events.jsonl

Writes every matching event as one JSON object a line (JSON Lines), newest
received first: id, type, created, livemode, account, api_version, endpoint,
state, received_at, source, headers, and the exact body: "body", a string
holding the body byte for byte (jq -j .body), or "body_base64" for a body
that is not valid UTF-8. Memory stays constant whatever the store holds, and
serve may keep running: events received after the export began are left out.

`)
		fset.PrintDefaults()
	}
	ef := &envFlags{fs: fset, getenv: env.Getenv}
	db := dbFlag(ef)
	since := fset.String("since", "", "only events received since then: a duration back from now (24h, 7d) or an RFC 3339 time")
	typ := fset.String("type", "", "only this type (exact, or a prefix like invoice.*)")
	state := fset.String("state", "", "only this state: "+statesList())
	endpoint := fset.String("endpoint", "", "only events received on this endpoint (e.g. "+receiver.DefaultEndpoint+")")
	if err := ef.parse(args); err != nil {
		return err
	}
	if fset.NArg() > 0 {
		return fmt.Errorf("events export: unexpected argument %q", fset.Arg(0))
	}
	f := exportFilter{EventFilter: hookbox.EventFilter{Type: *typ, State: hookbox.State(*state)}, Endpoint: *endpoint}
	if *state != "" && !f.State.Valid() {
		return fmt.Errorf("--state %q: want one of %s", *state, statesList())
	}
	if *since != "" {
		t, err := parseSince(*since, time.Now())
		if err != nil {
			return err
		}
		f.Since = t
	}
	s, err := openStoreForCLI(*db)
	if err != nil {
		return err
	}
	defer s.Close()
	w := bufio.NewWriterSize(env.Stdout, 64<<10)
	n, err := exportEvents(ctx, s, f, w)
	if ferr := w.Flush(); err == nil {
		err = ferr
	}
	if err != nil {
		return fmt.Errorf("events export: %w", err)
	}
	fmt.Fprintf(env.Stderr, "exported %d event(s)\n", n)
	return nil
}

// exportEvents writes the events matching f to w as JSON Lines and returns
// how many. It pages through the store with FindEvents's keyset cursor,
// exportPage events at a time, and reads each body alone: memory does not
// grow with the store. Paging goes back in time, so events received during
// the export are not in it, and it ends under load. An event deleted by
// retention between its listing and its reading is skipped.
func exportEvents(ctx context.Context, s hookbox.Store, f exportFilter, w *bufio.Writer) (int, error) {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	page := f.EventFilter
	page.Limit = exportPage
	n := 0
	for {
		evs, err := s.FindEvents(ctx, page)
		if err != nil {
			return n, fmt.Errorf("list events: %w", err)
		}
		for _, listed := range evs {
			if !f.matchEndpoint(listed.Endpoint) {
				continue
			}
			e, err := s.FindEventByID(ctx, listed.ID)
			if hookbox.ErrorCode(err) == hookbox.ENOTFOUND {
				continue
			} else if err != nil {
				return n, fmt.Errorf("find event: %w", err)
			}
			if f.State != "" && e.State != f.State {
				continue // it moved on since the listing
			}
			if err := enc.Encode(newExportLine(e)); err != nil {
				return n, err
			}
			n++
		}
		if len(evs) < page.Limit {
			return n, nil
		}
		last := evs[len(evs)-1]
		page.BeforeReceivedAt, page.BeforeID = last.ReceivedAt, last.ID
	}
}

// matchEndpoint reports whether an event stored with endpoint ep matches
// f. Events stored without an endpoint name (from before endpoints had
// names, or reconciled) belong to the default endpoint.
func (f exportFilter) matchEndpoint(ep string) bool {
	if f.Endpoint == "" || ep == f.Endpoint {
		return true
	}
	return ep == "" && f.Endpoint == receiver.DefaultEndpoint
}

// parseSince parses --since: an RFC 3339 time, or a duration back from now
// (24h, 7d, 90m).
func parseSince(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	d, err := parseLongDuration(s)
	if err != nil || d <= 0 {
		return time.Time{}, errors.New("--since: want a duration back from now (24h, 7d) or an RFC 3339 time (2026-12-01T00:00:00Z)")
	}
	return now.Add(-d), nil
}
