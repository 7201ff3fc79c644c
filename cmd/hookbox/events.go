package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/console"
)

const eventsUsage = `Usage:
  hookbox events list [flags]    list stored events, newest first
  hookbox events show ID         show one stored event, its deliveries and attempts
  hookbox events replay ID...    deliver events again (or --state dead [--type T] [--since 24h])
  hookbox events skip ID...      settle dead events without sending them (unblocks an ordered object)
  hookbox events release --destination NAME [--api-version V]   send deliveries held for their API version
  hookbox events export [flags]  stream events as JSON Lines (metadata and the exact body)

Run "hookbox events SUBCOMMAND -h" for its flags.
`

func runEvents(ctx context.Context, env *environ, args []string) error {
	if len(args) == 0 {
		return errors.New("events: want a subcommand: list, show, replay, skip, release, export")
	}
	switch args[0] {
	case "list":
		return runEventsList(ctx, env, args[1:])
	case "show":
		return runEventsShow(ctx, env, args[1:])
	case "replay":
		return runEventsReplay(ctx, env, args[1:])
	case "skip":
		return runEventsSkip(ctx, env, args[1:])
	case "release":
		return runEventsRelease(ctx, env, args[1:])
	case "export":
		return runEventsExport(ctx, env, args[1:])
	case "help", "-h", "--help", "-help":
		fmt.Fprint(env.Stdout, eventsUsage)
		return nil
	default:
		return fmt.Errorf("events: unknown subcommand %q (want list, show, replay, skip, release or export)", args[0])
	}
}

// openStoreForCLI opens the store named by --db / HOOKBOX_DB for a CLI
// command; a missing SQLite file is an error, not a new empty store.
func openStoreForCLI(db string) (hookbox.Store, error) {
	u, err := parseDB(db)
	if err != nil {
		return nil, err
	}
	return openStore(context.Background(), u, true)
}

func dbFlag(ef *envFlags) *string {
	return ef.str("db", "HOOKBOX_DB", "sqlite:hookbox.db", "store: sqlite:PATH or postgres://USER@HOST/DB")
}

// runEventsList is "hookbox events list": the newest events of a filter,
// a page at a time. When more events match than it printed, it says so on
// stderr (stdout stays a table, or a JSON array) with the command that
// prints the next page: the same flags and --before CURSOR.
func runEventsList(ctx context.Context, env *environ, args []string) error {
	fset := flag.NewFlagSet("hookbox events list", flag.ContinueOnError)
	fset.SetOutput(env.Stderr)
	ef := &envFlags{fs: fset, getenv: env.Getenv}
	db := dbFlag(ef)
	typ := fset.String("type", "", "only this type (exact, or a prefix like invoice.*)")
	state := fset.String("state", "", "only this state: "+statesList()+"; or held: events with a delivery held for its API version")
	version := fset.String("api-version", "", "only events of this Stripe API version: exact (2026-03-25.dahlia) or a train (dahlia)")
	blocked := fset.Bool("blocked", false, "only dead events that hold the later events of their Stripe object (--order object); skip or replay them")
	var since longDuration
	fset.Var(&since, "since", "only events received within this duration (e.g. 24h, 7d)")
	limit := fset.Int("limit", hookbox.DefaultListLimit, "at most this many events, newest first")
	before := fset.String("before", "", "the next page: only events older than this cursor (printed after a page that did not show every event; the API's \"next\")")
	asJSON := fset.Bool("json", false, "print a JSON array")
	if err := ef.parse(args); err != nil {
		return err
	}
	if fset.NArg() > 0 {
		return fmt.Errorf("events list: unexpected argument %q", fset.Arg(0))
	}
	if *limit <= 0 {
		return errors.New("--limit must be positive")
	}
	// One event more than shown tells whether there is a next page.
	f := hookbox.EventFilter{Type: *typ, State: hookbox.State(*state), Blocked: *blocked, APIVersion: *version, Limit: *limit + 1}
	if *state == "held" {
		f.State, f.Held = "", true
	}
	if f.State != "" && !f.State.Valid() {
		return fmt.Errorf("--state %q: want one of %s", *state, statesList())
	}
	var err error
	if f.BeforeReceivedAt, f.BeforeID, err = console.ParseCursor(*before); err != nil {
		return fmt.Errorf("--before %q: not a cursor (give the one a previous page printed)", *before)
	}
	if since > 0 {
		f.Since = time.Now().Add(-time.Duration(since))
	}
	s, err := openStoreForCLI(*db)
	if err != nil {
		return err
	}
	defer s.Close()
	evs, err := s.FindEvents(ctx, f)
	if err != nil {
		return fmt.Errorf("list events: %w", err)
	}
	more := len(evs) > *limit
	if more {
		evs = evs[:*limit]
	}
	if err := writeEventList(env.Stdout, evs, *asJSON); err != nil {
		return err
	}
	switch {
	case more:
		fmt.Fprintln(env.Stderr, nextPageNote(fset, len(evs), console.Cursor(evs[len(evs)-1])))
	case len(evs) == 0:
		fmt.Fprintln(env.Stderr, "no events")
	}
	return nil
}

// writeEventList writes evs as a table, or as a JSON array of the API's
// summaries.
func writeEventList(w io.Writer, evs []*hookbox.Event, asJSON bool) error {
	if asJSON {
		out := make([]console.EventSummary, 0, len(evs))
		for _, e := range evs {
			out = append(out, console.NewEventSummary(e))
		}
		return console.WriteJSON(w, out)
	}
	tw := tabwriter.NewWriter(terminalSafe{w}, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTYPE\tSTATE\tMODE\tSOURCE\tENDPOINT\tCREATED\tRECEIVED")
	for _, e := range evs {
		mode := "test"
		if e.Livemode {
			mode = "live"
		}
		endpoint := e.Endpoint
		if endpoint == "" {
			endpoint = "-"
		}
		state := string(e.State)
		if console.DeliveredToNoneRow(e) {
			state += " (to no destination)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.ID, e.Type, state, mode, e.Source, endpoint,
			createdText(e.Created), e.ReceivedAt.UTC().Format("2006-01-02 15:04:05.000"))
	}
	return tw.Flush()
}

// nextPageNote says that more events match than the n printed, with the
// command printing the next page: the flags given (bar --before, and --db
// with any password redacted) and --before cursor.
func nextPageNote(fset *flag.FlagSet, n int, cursor string) string {
	cmd := []string{"hookbox events list"}
	fset.Visit(func(f *flag.Flag) {
		v := f.Value.String()
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			if v != "true" {
				v = "--" + f.Name + "=" + v
			} else {
				v = "--" + f.Name
			}
			cmd = append(cmd, v)
			return
		}
		switch f.Name {
		case "before":
			return
		case "db":
			if u, err := parseDB(v); err == nil {
				v = u.String()
			}
		}
		cmd = append(cmd, "--"+f.Name+" "+shellQuote(v))
	})
	cmd = append(cmd, "--before "+cursor)
	return fmt.Sprintf("more events match than the %d shown (newest first); next page: %s", n, strings.Join(cmd, " "))
}

// shellQuote quotes s for a POSIX shell unless it is plainly safe.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./:@%+,=") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// createdText shows Stripe's created time, "-" when the event had none.
func createdText(created int64) string {
	if created == 0 {
		return "-"
	}
	return time.Unix(created, 0).UTC().Format(time.DateTime)
}

func statesList() string {
	var s []string
	for _, st := range hookbox.States {
		s = append(s, string(st))
	}
	return strings.Join(s, ", ")
}

func runEventsShow(ctx context.Context, env *environ, args []string) error {
	fset := flag.NewFlagSet("hookbox events show", flag.ContinueOnError)
	fset.SetOutput(env.Stderr)
	ef := &envFlags{fs: fset, getenv: env.Getenv}
	db := dbFlag(ef)
	asJSON := fset.Bool("json", false, "print the event as JSON (body included)")
	raw := fset.Bool("raw", false, "write the exact stored body and nothing else")
	// Accept "show ID --raw" as well as "show --raw ID".
	var id string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		id, args = args[0], args[1:]
	}
	if err := ef.parse(args); err != nil {
		return err
	}
	if id == "" && fset.NArg() > 0 {
		id = fset.Arg(0)
		if fset.NArg() > 1 {
			return fmt.Errorf("events show: unexpected argument %q", fset.Arg(1))
		}
	} else if fset.NArg() > 0 {
		return fmt.Errorf("events show: unexpected argument %q", fset.Arg(0))
	}
	if id == "" {
		return errors.New("events show: want an event id")
	}
	if *asJSON && *raw {
		return errors.New("events show: --json and --raw are exclusive")
	}
	s, err := openStoreForCLI(*db)
	if err != nil {
		return err
	}
	defer s.Close()
	e, err := s.FindEventByID(ctx, id)
	if hookbox.ErrorCode(err) == hookbox.ENOTFOUND {
		return fmt.Errorf("event %s not found", id)
	} else if err != nil {
		return fmt.Errorf("find event: %w", err)
	}
	if *raw {
		if len(e.Body) == 0 {
			return fmt.Errorf("event %s: its body was pruned by retention", id)
		}
		_, err := env.Stdout.Write(e.Body)
		return err
	}
	deliveries, err := s.FindDeliveries(ctx, id)
	if err != nil {
		return fmt.Errorf("find deliveries: %w", err)
	}
	attempts, err := s.FindAttempts(ctx, id)
	if err != nil {
		return fmt.Errorf("find attempts: %w", err)
	}
	if *asJSON {
		// The same document, byte for byte, as GET /api/events/{id}.
		return console.WriteJSON(env.Stdout, console.NewEventDocument(e, deliveries, attempts))
	}
	w := terminalSafe{env.Stdout}
	writeEventText(w, e, console.DeliveredToNone(e, deliveries))
	writeDeliveriesText(w, deliveries, attempts)
	writeBodyText(w, e.Body)
	return nil
}

// writeEventText writes the event's fields and headers, one a line.
// noDestination marks an event delivered to no destination.
func writeEventText(w io.Writer, e *hookbox.Event, noDestination bool) {
	fmt.Fprintf(w, "id:           %s\n", e.ID)
	fmt.Fprintf(w, "type:         %s\n", e.Type)
	if noDestination {
		fmt.Fprintf(w, "state:        %s, to no destination (none accepts this event: their type and livemode filters, and their endpoint's)\n", e.State)
	} else {
		fmt.Fprintf(w, "state:        %s\n", e.State)
	}
	if console.Blocked(e) {
		fmt.Fprintln(w, "blocked:      yes: the later events of its Stripe object wait until it is replayed (hookbox events replay) or skipped (hookbox events skip)")
	}
	if e.OrderKey != "" {
		fmt.Fprintf(w, "order key:    %s (delivered in creation order with the other events of this object)\n", e.OrderKey)
	}
	if e.Endpoint != "" {
		fmt.Fprintf(w, "endpoint:     %s\n", e.Endpoint)
	} else {
		fmt.Fprintln(w, "endpoint:     - (none recorded: the first endpoint's destinations get it)")
	}
	fmt.Fprintf(w, "livemode:     %t\n", e.Livemode)
	if e.Account != "" {
		fmt.Fprintf(w, "account:      %s\n", e.Account)
	}
	fmt.Fprintf(w, "api_version:  %s\n", e.APIVersion)
	fmt.Fprintf(w, "created:      %s (%d)\n", time.Unix(e.Created, 0).UTC().Format(time.RFC3339), e.Created)
	fmt.Fprintf(w, "received_at:  %s\n", e.ReceivedAt.UTC().Format(time.RFC3339Nano))
	if !e.ReplayedAt.IsZero() {
		fmt.Fprintf(w, "replayed_at:  %s\n", e.ReplayedAt.UTC().Format(time.RFC3339Nano))
	}
	fmt.Fprintf(w, "source:       %s\n", e.Source)
	fmt.Fprintf(w, "client:       %s\n", e.ClientAddr)
	fmt.Fprintf(w, "secret_index: %s\n", strconv.Itoa(e.SecretIndex))
	fmt.Fprintf(w, "attempts:     %d (all destinations, all replays)\n", e.Attempts)
	keys := make([]string, 0, len(e.Headers))
	for k := range e.Headers {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fmt.Fprintln(w, "headers:")
	for _, k := range keys {
		fmt.Fprintf(w, "  %s: %s\n", k, e.Headers[k])
	}
}

// writeDeliveriesText writes an event's deliveries and attempts. An
// attempt's number is the Hookbox-Attempt header it sent, counted per
// destination across replays; a delivery's attempts are the retry budget
// spent since the event was received or last replayed. The two differ
// after a replay, and the text says which is which.
func writeDeliveriesText(w io.Writer, deliveries []hookbox.Delivery, attempts []hookbox.Attempt) {
	last := map[string]int{} // destination: its last Hookbox-Attempt
	for _, a := range attempts {
		last[a.Destination] = max(last[a.Destination], a.Number)
	}
	if len(deliveries) > 0 {
		fmt.Fprintln(w, "deliveries:")
		for _, d := range deliveries {
			state := string(d.State)
			park, _ := hookbox.ParkedAs(d.HoldReason)
			switch {
			case d.SkipReason != "":
				state = "skipped"
			case park == hookbox.HoldPaused && d.State == hookbox.StatePending:
				state = "paused"
			case park == hookbox.HoldBreaker && d.State == hookbox.StatePending:
				state = "parked"
			case park == hookbox.HoldProbe && d.State == hookbox.StatePending:
				state = "probe"
			case d.HoldReason != "" && d.HoldReason != hookbox.HoldReleased && d.State == hookbox.StatePending:
				state = "held"
			}
			line := fmt.Sprintf("  %-12s %-10s attempts %d", d.Destination, state, d.Attempts)
			if n := last[d.Destination]; n > d.Attempts {
				line += fmt.Sprintf(" since the last replay, %d in all (the last Hookbox-Attempt)", n)
			}
			if d.State == hookbox.StatePending && !d.NextAttemptAt.IsZero() && !d.NextAttemptAt.Equal(hookbox.HeldUntil) {
				line += "  next " + d.NextAttemptAt.UTC().Format(time.RFC3339)
			}
			if d.LastError != "" {
				line += "  last error: " + d.LastError
			}
			if d.SkipReason != "" {
				line += "  skipped: " + d.SkipReason
			}
			if state == "paused" {
				line += "  waiting: the destination is paused (hookbox destinations resume " + d.Destination + ")"
			}
			if state == "parked" {
				line += "  parked: breaker open (waits, its retry budget untouched, until the breaker closes or it goes as the probe)"
			}
			if state == "probe" {
				line += "  probe: the one attempt the open breaker lets through"
			}
			if state == "held" {
				line += "  held: " + d.HoldReason + " (hookbox events release --destination " + d.Destination + ")"
			}
			fmt.Fprintln(w, line)
		}
	}
	if len(attempts) > 0 {
		fmt.Fprintln(w, "attempts (#N: the Hookbox-Attempt header sent, counted per destination across replays):")
		for _, a := range attempts {
			writeAttemptText(w, a)
		}
	}
}

// writeAttemptText writes one attempt and, indented below, the start of
// the response body the destination answered (its best clue, e.g. why
// it refused a signature).
func writeAttemptText(w io.Writer, a hookbox.Attempt) {
	outcome := "ok"
	if !a.OK {
		outcome = "failed"
	}
	status := "-"
	if a.StatusCode != 0 {
		status = strconv.Itoa(a.StatusCode)
	}
	fmt.Fprintf(w, "  #%d %s %s %s %s %s", a.Number, a.Destination, a.StartedAt.UTC().Format("2006-01-02 15:04:05.000"), a.Duration.Round(time.Microsecond), status, outcome)
	if a.Error != "" {
		fmt.Fprintf(w, " (%s)", a.Error)
	}
	fmt.Fprintln(w)
	resp := strings.TrimRight(strings.ReplaceAll(a.Response, "\r\n", "\n"), " \t\r\n")
	if resp == "" {
		return
	}
	note := ""
	if len(a.Response) >= hookbox.MaxResponseSnippet {
		note = fmt.Sprintf(" (its first %d bytes)", hookbox.MaxResponseSnippet)
	}
	fmt.Fprintf(w, "     response%s:\n", note)
	for _, l := range strings.Split(resp, "\n") {
		fmt.Fprintf(w, "       %s\n", l)
	}
}

// writeBodyText writes the body indented when that stays bounded (see
// console.IndentJSON), as stored otherwise, with a note.
func writeBodyText(w io.Writer, body []byte) {
	fmt.Fprintln(w, "body:")
	if len(body) == 0 {
		fmt.Fprintln(w, "  (pruned by retention)")
		return
	}
	var b bytes.Buffer
	if console.IndentJSON(&b, body, "  ", "  ") {
		fmt.Fprintf(w, "  %s\n", bytes.TrimRight(b.Bytes(), " \t\r\n"))
		return
	}
	if json.Valid(body) {
		fmt.Fprintf(w, "  (as stored, not indented: indenting this body would make it more than %d times larger)\n", console.MaxIndentRatio)
	}
	fmt.Fprintf(w, "  %s\n", body)
}

// terminalSafe writes text for a person's terminal: control characters
// other than newline and tab (ESC, BEL, the C1 controls, DEL) and invalid
// UTF-8 become U+FFFD. Stored strings come from outside: a destination
// chooses its status line and response, which end up in the attempt log,
// and could otherwise retitle or clear the terminal, or fake output.
// (--json escapes them; --raw writes the stored body byte for byte.)
type terminalSafe struct{ w io.Writer }

func (t terminalSafe) Write(p []byte) (int, error) {
	clean := strings.Map(func(r rune) rune {
		if r < 0x20 && r != '\n' && r != '\t' || r >= 0x7f && r <= 0x9f || r == utf8.RuneError {
			return '\uFFFD'
		}
		return r
	}, strings.ToValidUTF8(string(p), "\uFFFD"))
	if _, err := io.WriteString(t.w, clean); err != nil {
		return 0, err
	}
	return len(p), nil
}
