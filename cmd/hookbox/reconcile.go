package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	stripe "github.com/stripe/stripe-go/v85"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/receiver"
	"github.com/hookbox/hookbox/reconcile"
)

const reconcileUsage = `Usage: hookbox reconcile [flags]

Lists the events Stripe created in the window (GET /v1/events, which keeps
30 days) and stores those hookbox never received, through the same dedupe
as webhooks, marked source=reconcile; "hookbox serve" then delivers them.
The key is read from STRIPE_API_KEY or STRIPE_API_KEY_FILE: a restricted
key with read access to Events is enough.

Flags:
`

// runReconcile is "hookbox reconcile": list Stripe's events of a window
// and store those the store lacks, as if their webhooks had arrived.
//
// The API key comes only from STRIPE_API_KEY or STRIPE_API_KEY_FILE, never
// from a flag, and is never printed. Progress goes to stderr, the summary
// (and, in a dry run, each missing event) to stdout.
func runReconcile(ctx context.Context, env *environ, args []string) error {
	fs := flag.NewFlagSet("hookbox reconcile", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), reconcileUsage)
		fs.PrintDefaults()
	}
	ef := &envFlags{fs: fs, getenv: env.Getenv}
	db := dbFlag(ef)
	since := ef.longDur("since", "", reconcile.DefaultSince, "window: events created this long ago or later (e.g. 72h, 7d; at most 30d)")
	types := fs.String("types", "", "only these event types, comma-separated (at most 20); a single type may end in * (invoice.*)")
	undelivered := fs.Bool("undelivered-only", false, "only events Stripe has not delivered to every endpoint (delivery_success=false)")
	dryRun := fs.Bool("dry-run", false, "report the missing events, store nothing")
	account := fs.String("account", "", "list the events of this connected account (acct_...) instead of the key's own")
	endpoint := fs.String("endpoint", "", "store recovered events under this --config endpoint, so its destinations get them (default: the first endpoint); with --account, name the Connect endpoint")
	apiBase := ef.str("stripe-api-base", "HOOKBOX_STRIPE_API_BASE", "", "Stripe API base URL (default https://api.stripe.com; for stripe-mock and tests)")
	asJSON := fs.Bool("json", false, "print the summary (and the missing or recovered events) as JSON")
	quiet := fs.Bool("quiet", false, "no progress line on stderr")
	if err := ef.parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("reconcile: unexpected argument %q", fs.Arg(0))
	}
	opts := reconcile.Options{
		Since:           time.Duration(*since),
		Types:           splitList(*types),
		UndeliveredOnly: *undelivered,
		DryRun:          *dryRun,
		Account:         *account,
		Endpoint:        *endpoint,
	}
	if *endpoint != "" && !receiver.ValidName(*endpoint) {
		return fmt.Errorf("--endpoint %q: want an endpoint name of --config (lowercase letters, digits, - and _)", *endpoint)
	}
	if err := checkSince(opts.Since, "--since"); err != nil {
		return err
	}
	if err := opts.Validate(); err != nil {
		return fmt.Errorf("reconcile: %s", hookbox.ErrorMessage(err))
	}
	client, err := newReconcileClient(env.Getenv, *apiBase)
	if err != nil {
		return err
	}
	store, err := openStoreForCLI(*db)
	if err != nil {
		return err
	}
	defer store.Close()

	r := &reconcile.Reconciler{
		Client: client,
		Store:  store,
		// Retries and unstorable events are worth a line; the rest is in
		// the summary.
		Logger: slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	var listed []reconcileEventJSON
	opts.EventFunc = listEvents(&listed)
	progress := &progressLine{w: env.Stderr}
	if !*quiet {
		opts.ProgressFunc = progress.update
	}
	sum, err := r.Run(ctx, opts)
	progress.end()
	if err != nil {
		if sum.Recovered > 0 {
			fmt.Fprintf(env.Stderr, "reconcile: %d events recovered before the error are stored\n", sum.Recovered)
		}
		return fmt.Errorf("reconcile: %w", err)
	}
	if *asJSON {
		return writeReconcileJSON(env.Stdout, sum, listed)
	}
	writeReconcileText(env.Stdout, sum, listed)
	return nil
}

// newReconcileClient returns a client of Stripe's events API with the key
// of STRIPE_API_KEY or STRIPE_API_KEY_FILE.
func newReconcileClient(getenv func(string) string, apiBase string) (*stripe.Client, error) {
	key, err := readAPIKey(getenv)
	if err != nil {
		return nil, err
	}
	return reconcile.NewClient(key, reconcile.ClientConfig{APIBase: apiBase})
}

// listEvents returns an EventFunc that lists the events a run did not
// store (missing in a dry run, already stored, not storable).
func listEvents(listed *[]reconcileEventJSON) func(*hookbox.Event, reconcile.Outcome) {
	return func(ev *hookbox.Event, o reconcile.Outcome) {
		if o == reconcile.OutcomeStored {
			return
		}
		*listed = append(*listed, reconcileEventJSON{ID: ev.ID, Type: ev.Type, Created: ev.Created,
			Livemode: ev.Livemode, Account: ev.Account, Outcome: o})
	}
}

// checkSince refuses a window Stripe cannot serve.
func checkSince(d time.Duration, flagName string) error {
	switch {
	case d <= 0:
		return fmt.Errorf("%s must be positive (e.g. 72h, 7d)", flagName)
	case d > reconcile.MaxSince:
		return fmt.Errorf("%s %s: Stripe keeps events for 30 days only; use at most 30d (older events cannot be recovered from Stripe)", flagName, formatLong(d))
	}
	return nil
}

// readAPIKey returns the one key of STRIPE_API_KEY or STRIPE_API_KEY_FILE.
// Errors never contain it.
func readAPIKey(getenv func(string) string) (string, error) {
	keys, err := readSecrets(getenv, "STRIPE_API_KEY")
	if err != nil {
		return "", err
	}
	switch {
	case len(keys) == 0:
		return "", errors.New("no Stripe API key: set STRIPE_API_KEY or STRIPE_API_KEY_FILE to a secret key, or better a restricted key (rk_...) with read access to Events")
	case len(keys) > 1:
		return "", errors.New("STRIPE_API_KEY holds several values: give exactly one API key")
	}
	k := keys[0]
	switch {
	case strings.HasPrefix(k, "pk_"):
		return "", errors.New("STRIPE_API_KEY is a publishable key (pk_...), which cannot list events: use a restricted key (rk_...) with read access to Events")
	case strings.HasPrefix(k, "whsec_"):
		return "", errors.New("STRIPE_API_KEY is a webhook signing secret (whsec_...), not an API key: use a restricted key (rk_...) with read access to Events")
	}
	return k, nil
}

func splitList(s string) []string {
	var out []string
	for _, t := range strings.Split(s, ",") {
		if t = strings.TrimSpace(t); t != "" {
			out = append(out, t)
		}
	}
	return out
}

// progressLine rewrites one stderr line per page, at most every 200 ms.
type progressLine struct {
	w       io.Writer
	last    time.Time
	pending *reconcile.Progress
	shown   bool
}

func (p *progressLine) update(pr reconcile.Progress) {
	p.pending = &pr
	if time.Since(p.last) < 200*time.Millisecond {
		return
	}
	p.show()
}

func (p *progressLine) show() {
	pr := p.pending
	p.pending, p.last, p.shown = nil, time.Now(), true
	back := ""
	if !pr.Oldest.IsZero() {
		back = ", back to " + pr.Oldest.UTC().Format(time.DateTime)
	}
	missing := fmt.Sprintf("%d recovered", pr.Recovered)
	if pr.DryRun {
		missing = fmt.Sprintf("%d missing", pr.Missing)
	}
	fmt.Fprintf(p.w, "\rreconcile: page %d, %d events seen, %d already stored, %s%s   ",
		pr.Pages, pr.Seen, pr.AlreadyStored, missing, back)
}

func (p *progressLine) end() {
	if p.pending != nil {
		p.show()
	}
	if p.shown {
		fmt.Fprintln(p.w)
	}
}

// reconcileEventJSON is one event a run did not find stored.
type reconcileEventJSON struct {
	ID       string            `json:"id"`
	Type     string            `json:"type"`
	Created  int64             `json:"created"`
	Livemode bool              `json:"livemode"`
	Account  string            `json:"account,omitempty"`
	Outcome  reconcile.Outcome `json:"outcome"`
}

type reconcileJSON struct {
	DryRun        bool                 `json:"dry_run"`
	From          time.Time            `json:"from"`
	To            time.Time            `json:"to"`
	Pages         int                  `json:"pages"`
	Seen          int                  `json:"seen"`
	AlreadyStored int                  `json:"already_stored"`
	Missing       int                  `json:"missing"`
	Recovered     int                  `json:"recovered"`
	Duplicates    int                  `json:"duplicates"`
	Invalid       int                  `json:"invalid"`
	Repeated      int                  `json:"repeated"`
	Events        []reconcileEventJSON `json:"events"`
}

func writeReconcileJSON(w io.Writer, s reconcile.Summary, evs []reconcileEventJSON) error {
	if evs == nil {
		evs = []reconcileEventJSON{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(reconcileJSON{
		DryRun: s.DryRun, From: s.Window.From, To: s.Window.To, Pages: s.Pages, Seen: s.Seen,
		AlreadyStored: s.AlreadyStored, Missing: s.Missing, Recovered: s.Recovered,
		Duplicates: s.Duplicates, Invalid: s.Invalid, Repeated: s.Repeated, Events: evs,
	})
}

func writeReconcileText(w io.Writer, s reconcile.Summary, evs []reconcileEventJSON) {
	if len(evs) > 0 {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "OUTCOME\tID\tTYPE\tMODE\tCREATED\tACCOUNT")
		for _, e := range evs {
			mode := "test"
			if e.Livemode {
				mode = "live"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", e.Outcome, e.ID, e.Type, mode,
				time.Unix(e.Created, 0).UTC().Format(time.DateTime), e.Account)
		}
		tw.Flush()
	}
	fmt.Fprintf(w, "window %s .. %s UTC\n", s.Window.From.Format(time.DateTime), s.Window.To.Format(time.DateTime))
	fmt.Fprintf(w, "pages %d, events seen %d, already stored %d, ", s.Pages, s.Seen, s.AlreadyStored)
	if s.DryRun {
		fmt.Fprintf(w, "missing %d (dry run: nothing stored)\n", s.Missing)
	} else {
		fmt.Fprintf(w, "recovered %d", s.Recovered)
		if s.Duplicates > 0 {
			fmt.Fprintf(w, ", arrived meanwhile %d", s.Duplicates)
		}
		fmt.Fprintln(w)
	}
	if s.Invalid > 0 {
		fmt.Fprintf(w, "not storable %d (see the warnings above)\n", s.Invalid)
	}
	if !s.DryRun && s.Recovered > 0 {
		fmt.Fprintln(w, "recovered events are pending: hookbox serve delivers them")
	}
}

// addReconcileServeFlags registers serve's reconcile flags on ef. Call the
// returned function after ef.Parse: it returns nil when periodic reconcile
// is off, else its options with the API key read (the receiver validates
// them).
func addReconcileServeFlags(ef *envFlags) func() (*receiver.ReconcileOptions, string, error) {
	every := ef.duration("reconcile-every", "HOOKBOX_RECONCILE_EVERY", 0, "reconcile with Stripe's events API this often (e.g. 15m; 0: off); needs STRIPE_API_KEY or STRIPE_API_KEY_FILE")
	since := ef.longDur("reconcile-since", "HOOKBOX_RECONCILE_SINCE", reconcile.DefaultSince, "window of the first periodic reconcile after start (at most 30d); later runs cover the time since the previous one")
	types := ef.str("reconcile-types", "HOOKBOX_RECONCILE_TYPES", "", "periodic reconcile: only these event types, comma-separated")
	undelivered := ef.boolean("reconcile-undelivered-only", "HOOKBOX_RECONCILE_UNDELIVERED_ONLY", false, "periodic reconcile: only events Stripe has not delivered to every endpoint")
	apiBase := ef.str("stripe-api-base", "HOOKBOX_STRIPE_API_BASE", "", "Stripe API base URL (default https://api.stripe.com; for stripe-mock and tests)")
	return func() (*receiver.ReconcileOptions, string, error) {
		if *every == 0 {
			return nil, *apiBase, nil
		}
		if *every < 0 {
			return nil, "", errors.New("--reconcile-every must be positive (or 0: off)")
		}
		if err := checkSince(time.Duration(*since), "--reconcile-since"); err != nil {
			return nil, "", err
		}
		key, err := readAPIKey(ef.getenv)
		if err != nil {
			return nil, "", fmt.Errorf("--reconcile-every: %w", err)
		}
		return &receiver.ReconcileOptions{Key: key, APIBase: *apiBase, Every: *every, Since: time.Duration(*since),
			Types: splitList(*types), UndeliveredOnly: *undelivered}, *apiBase, nil
	}
}
