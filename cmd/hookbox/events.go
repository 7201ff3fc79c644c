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

func runEvents(ctx context.Context, env *environ, args []string) error {
	if len(args) == 0 {
		return errors.New("events: want a subcommand: list, show, replay, export")
	}
	switch args[0] {
	case "list":
		return runEventsList(ctx, env, args[1:])
	case "show":
		return runEventsShow(ctx, env, args[1:])
	case "replay":
		return runEventsReplay(ctx, env, args[1:])
	case "export":
		return runEventsExport(ctx, env, args[1:])
	default:
		return fmt.Errorf("events: unknown subcommand %q (want list, show, replay or export)", args[0])
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
	return ef.String("db", "HOOKBOX_DB", "sqlite:hookbox.db", "store: sqlite:PATH")
}

func runEventsList(ctx context.Context, env *environ, args []string) error {
	fset := flag.NewFlagSet("hookbox events list", flag.ContinueOnError)
	fset.SetOutput(env.Stderr)
	ef := &envFlags{fs: fset, getenv: env.Getenv}
	db := dbFlag(ef)
	typ := fset.String("type", "", "only this type (exact, or a prefix like invoice.*)")
	state := fset.String("state", "", "only this state: "+statesList())
	limit := fset.Int("limit", hookbox.DefaultListLimit, "at most this many events, newest first")
	asJSON := fset.Bool("json", false, "print a JSON array")
	if err := ef.Parse(args); err != nil {
		return err
	}
	if fset.NArg() > 0 {
		return fmt.Errorf("events list: unexpected argument %q", fset.Arg(0))
	}
	if *limit <= 0 {
		return errors.New("--limit must be positive")
	}
	f := hookbox.EventFilter{Type: *typ, State: hookbox.State(*state), Limit: *limit}
	if *state != "" && !f.State.Valid() {
		return fmt.Errorf("--state %q: want one of %s", *state, statesList())
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
	if *asJSON {
		out := make([]console.EventSummary, 0, len(evs))
		for _, e := range evs {
			out = append(out, console.NewEventSummary(e))
		}
		return console.WriteJSON(env.Stdout, out)
	}
	tw := tabwriter.NewWriter(terminalSafe{env.Stdout}, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTYPE\tSTATE\tMODE\tSOURCE\tCREATED\tRECEIVED")
	for _, e := range evs {
		mode := "test"
		if e.Livemode {
			mode = "live"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.ID, e.Type, e.State, mode, e.Source,
			createdText(e.Created), e.ReceivedAt.UTC().Format("2006-01-02 15:04:05.000"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(evs) == 0 {
		fmt.Fprintln(env.Stderr, "no events")
	}
	return nil
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
	if err := ef.Parse(args); err != nil {
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
	writeEventText(w, e)
	writeDeliveriesText(w, deliveries, attempts)
	writeBodyText(w, e.Body)
	return nil
}

// writeEventText writes the event's fields and headers, one a line.
func writeEventText(w io.Writer, e *hookbox.Event) {
	fmt.Fprintf(w, "id:           %s\n", e.ID)
	fmt.Fprintf(w, "type:         %s\n", e.Type)
	fmt.Fprintf(w, "state:        %s\n", e.State)
	fmt.Fprintf(w, "livemode:     %t\n", e.Livemode)
	if e.Account != "" {
		fmt.Fprintf(w, "account:      %s\n", e.Account)
	}
	fmt.Fprintf(w, "api_version:  %s\n", e.APIVersion)
	fmt.Fprintf(w, "created:      %s (%d)\n", time.Unix(e.Created, 0).UTC().Format(time.RFC3339), e.Created)
	fmt.Fprintf(w, "received_at:  %s\n", e.ReceivedAt.UTC().Format(time.RFC3339Nano))
	fmt.Fprintf(w, "source:       %s\n", e.Source)
	fmt.Fprintf(w, "client:       %s\n", e.ClientAddr)
	fmt.Fprintf(w, "secret_index: %s\n", strconv.Itoa(e.SecretIndex))
	fmt.Fprintf(w, "attempts:     %d\n", e.Attempts)
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

// writeDeliveriesText writes an event's deliveries and attempts.
func writeDeliveriesText(w io.Writer, deliveries []hookbox.Delivery, attempts []hookbox.Attempt) {
	if len(deliveries) > 0 {
		fmt.Fprintln(w, "deliveries:")
		for _, d := range deliveries {
			line := fmt.Sprintf("  %-12s %-10s attempts %d", d.Destination, d.State, d.Attempts)
			if d.State == hookbox.StatePending && !d.NextAttemptAt.IsZero() {
				line += "  next " + d.NextAttemptAt.UTC().Format(time.RFC3339)
			}
			if d.LastError != "" {
				line += "  last error: " + d.LastError
			}
			fmt.Fprintln(w, line)
		}
	}
	if len(attempts) > 0 {
		fmt.Fprintln(w, "attempts:")
		for _, a := range attempts {
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
		}
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
