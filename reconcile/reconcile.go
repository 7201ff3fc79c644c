// Package reconcile catches up on Stripe events that never arrived as
// webhooks. Stripe retries a failed delivery for three days and then gives
// up, but keeps the last 30 days of events behind GET /v1/events. A
// Reconciler pages that list (newest first, 100 a page, with the
// starting_after cursor) and stores every event the store lacks through the
// same InsertEvents path as a verified webhook, marked SourceReconcile.
//
// Deduplication stays the store's unique key on the event id: Run looks each
// event up only to count what is already stored, and an event that races in
// as a webhook between the lookup and the insert comes back Duplicate and is
// neither changed nor delivered again. An id Stripe lists twice (the list
// moves while it is paged) is taken once.
//
// Each stored body is the event object exactly as /v1/events returned it,
// byte for byte (stripe-go keeps each list item's raw JSON). It carries the
// same fields as the webhook Stripe would have sent (data is rendered at the
// event's own api_version either way) but not necessarily the same bytes or
// indentation, and it has no Stripe-Signature: a recovered event has empty
// Headers and SecretIndex -1.
//
// Periodic runs a Reconciler on a schedule, one replica at a time under a
// hookbox.Locker, each run covering the window since the previous
// successful one with an overlap.
//
// The package emits hooks (Options.ProgressFunc, Periodic.OnRun); it
// imports no metrics library.
package reconcile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"time"

	stripe "github.com/stripe/stripe-go/v85"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/envelope"
)

// Limits and defaults.
const (
	// MaxSince is how far back Stripe keeps events for GET /v1/events.
	MaxSince = 30 * 24 * time.Hour
	// DefaultSince covers Stripe's three days of webhook retries.
	DefaultSince = 72 * time.Hour
	// PageSize is the largest page Stripe serves.
	PageSize = 100
	// MaxTypes is the most types Stripe accepts in types[].
	MaxTypes = 20

	// DefaultMaxRetries is how many times one page is retried after a 429,
	// a 5xx or a network error before Run gives up.
	DefaultMaxRetries = 8
	// DefaultBackoff is the first wait before a retry; it doubles up to
	// DefaultMaxBackoff, with jitter.
	DefaultBackoff    = time.Second
	DefaultMaxBackoff = 30 * time.Second
)

// Options select what one Run covers.
type Options struct {
	// Since: events created at or after now-Since (created[gte]). 0:
	// DefaultSince. At most MaxSince.
	Since time.Duration
	// Settle leaves out events created in the last Settle (created[lte]),
	// so an event whose webhook is still in flight is not taken as missing.
	// 0: no upper bound. Periodic treats 0 as DefaultSettle.
	Settle time.Duration
	// Types filters by event type, as Stripe does: one entry is sent as
	// type= and may hold a * wildcard (invoice.*); several are sent as
	// types[] (at most MaxTypes), where Stripe takes no wildcard.
	Types []string
	// UndeliveredOnly lists only events Stripe has not delivered to every
	// endpoint (delivery_success=false): Stripe's own recovery recipe.
	UndeliveredOnly bool
	// Account lists the events of this connected account (Stripe-Account
	// header) instead of the key's own account.
	Account string
	// Endpoint is the webhook endpoint recovered events are stored under
	// (hookbox.Event.Endpoint), so that they reach that endpoint's
	// destinations; "" is the first, default one. Events of a connected
	// account (Account) belong to the Connect endpoint: name it.
	Endpoint string
	// DryRun finds what is missing and changes nothing.
	DryRun bool

	// NowFunc is the clock; nil: time.Now.
	NowFunc func() time.Time
	// ProgressFunc, if set, is called after each page.
	ProgressFunc func(Progress)
	// EventFunc, if set, is called once for each distinct event listed,
	// with what became of it.
	EventFunc func(ev *hookbox.Event, o Outcome)
}

func (o *Options) now() time.Time {
	if o.NowFunc != nil {
		return o.NowFunc()
	}
	return time.Now()
}

// Validate reports the first problem with o, coded EINVALID.
func (o *Options) Validate() error {
	if o.Since < 0 {
		return hookbox.Errorf(hookbox.EINVALID, "since must be positive")
	}
	if o.Since > MaxSince {
		return hookbox.Errorf(hookbox.EINVALID, "since %s: Stripe keeps events for 30 days (at most %s)", o.Since, MaxSince)
	}
	if o.Settle < 0 || (o.Settle > 0 && o.Settle >= o.since()) {
		return hookbox.Errorf(hookbox.EINVALID, "settle %s: want 0 or less than since (%s)", o.Settle, o.since())
	}
	if len(o.Types) > MaxTypes {
		return hookbox.Errorf(hookbox.EINVALID, "%d types: Stripe takes at most %d", len(o.Types), MaxTypes)
	}
	for _, t := range o.Types {
		if t == "" || strings.ContainsAny(t, " \t\r\n,") {
			return hookbox.Errorf(hookbox.EINVALID, "type %q: want an event type such as invoice.paid", t)
		}
		if len(o.Types) > 1 && strings.Contains(t, "*") {
			return hookbox.Errorf(hookbox.EINVALID, "type %q: Stripe takes a * wildcard only when a single type is given", t)
		}
	}
	return nil
}

func (o *Options) since() time.Duration {
	if o.Since == 0 {
		return DefaultSince
	}
	return o.Since
}

// Outcome is what became of one listed event.
type Outcome string

const (
	OutcomeStored    Outcome = "already_stored" // the store had it
	OutcomeMissing   Outcome = "missing"        // dry run: the store lacks it
	OutcomeRecovered Outcome = "recovered"      // stored now, pending delivery
	OutcomeDuplicate Outcome = "duplicate"      // arrived as a webhook meanwhile: unchanged
	OutcomeInvalid   Outcome = "invalid"        // not an event hookbox can store
)

// Window is the range of creation times a run covered.
type Window struct {
	From time.Time // created[gte]
	To   time.Time // created[lte]; without Settle, when the run started
}

// Summary counts what a run saw. Seen = AlreadyStored + Missing, and in a
// run that is not a dry run Missing = Recovered + Duplicates + Invalid.
type Summary struct {
	Pages         int
	Seen          int // distinct events listed
	AlreadyStored int
	Missing       int // not in the store when looked up
	Recovered     int // stored by this run
	Duplicates    int // stored meanwhile by a webhook: left alone
	Invalid       int // bodies that are not storable events (logged)
	Repeated      int // listed again on a later page: counted once
	Window        Window
	DryRun        bool
}

// Progress is reported after each page.
type Progress struct {
	Summary
	// Oldest is the creation time of the last event of the page: how far
	// back the listing has come (it pages from now towards Window.From).
	Oldest time.Time
}

// Reconciler compares Stripe's list of events with a store. Set the fields,
// then call Run; Run may be called again, but not concurrently.
type Reconciler struct {
	// Client is a stripe-go client; NewClient builds one with the retry
	// and logging settings Run expects.
	Client *stripe.Client
	// V2, when set, is listed instead of Client's /v1/events: Stripe's
	// thin events (GET /v2/core/events), for a thin endpoint. Each
	// listed event is the full event; it is stored as the event's body and
	// as its fetched form (hookbox.Event.FetchedBody), so nothing fetches
	// it again. Options.Types, UndeliveredOnly and Account apply to
	// /v1/events only.
	V2 V2Lister
	// Store is looked up for each listed event, and written through Insert.
	Store hookbox.Store
	// Insert stores recovered events: the path verified webhooks take.
	// nil: Store.InsertEvents.
	Insert hookbox.InsertFunc
	// Wake, if set, is called after a page stored new events, to wake
	// delivery instead of waiting for its next poll.
	Wake func()
	// Logger: nil is slog.Default(). The API key is never logged.
	Logger *slog.Logger

	// MaxRetries, Backoff and MaxBackoff tune the retries of a page after a
	// 429, a 5xx or a network error; 0: the defaults.
	MaxRetries int
	Backoff    time.Duration
	MaxBackoff time.Duration
}

// Run lists the events of the window Options select and stores the ones the
// store lacks (unless DryRun), then returns what it counted.
//
// It stops at the first error and returns it with the counts so far:
// EINVALID for bad options; an error wrapping ErrAuth (an *APIError) when
// Stripe refuses the key (401) or its permissions (403); an *APIError for
// another refusal, or when a page still fails after MaxRetries retries of a
// 429, a 5xx or a network error; the store's error when a lookup or an
// insert fails (nothing of that page's insert may be assumed stored, and a
// new run is safe); ctx's error when ctx ends. No error ever contains the
// API key.
func (r *Reconciler) Run(ctx context.Context, opts Options) (Summary, error) {
	var sum Summary
	if err := opts.Validate(); err != nil {
		return sum, err
	}
	if (r.V2 == nil && (r.Client == nil || r.Client.V1Events == nil)) || r.Store == nil {
		return sum, hookbox.Errorf(hookbox.EINVALID, "reconcile: Client and Store are required")
	}
	insert := r.Insert
	if insert == nil {
		insert = r.Store.InsertEvents
	}
	now := opts.now()
	sum.DryRun = opts.DryRun
	sum.Window = Window{From: now.Add(-opts.since()).Truncate(time.Second).UTC(), To: now.Add(-opts.Settle).UTC()}
	log := r.logger().With(slog.Bool("dry_run", opts.DryRun))
	log.Info("reconcile started",
		slog.Time("from", sum.Window.From), slog.Time("to", sum.Window.To),
		slog.String("types", strings.Join(opts.Types, ",")), slog.Bool("undelivered_only", opts.UndeliveredOnly),
		slog.String("account", opts.Account))

	seen := make(map[string]struct{})
	cursor := ""
	for {
		events, next, err := r.fetchPage(ctx, &opts, sum.Window, cursor)
		if err != nil {
			return sum, err
		}
		sum.Pages++
		var batch []*hookbox.Event
		for _, se := range events {
			if _, dup := seen[se.id]; dup {
				sum.Repeated++
				continue
			}
			seen[se.id] = struct{}{}
			sum.Seen++
			ev, err := toEvent(se, now)
			if ev != nil {
				ev.Endpoint = opts.Endpoint
				if r.V2 != nil {
					ev.FetchedBody = ev.Body
				}
			}
			if err != nil {
				sum.Invalid++
				sum.Missing++ // it cannot be stored, so it is not
				log.Warn("listed event is not storable", slog.String("event_id", se.id), slog.Any("error", err))
				r.emit(&opts, &hookbox.Event{ID: se.id, Type: se.typ, Created: se.created}, OutcomeInvalid)
				continue
			}
			_, err = r.Store.FindEventByID(ctx, ev.ID)
			switch hookbox.ErrorCode(err) {
			case "":
				sum.AlreadyStored++
				r.emit(&opts, ev, OutcomeStored)
				continue
			case hookbox.ENOTFOUND:
				sum.Missing++
			default:
				return sum, fmt.Errorf("look up event %s: %w", ev.ID, err)
			}
			if opts.DryRun {
				r.emit(&opts, ev, OutcomeMissing)
				continue
			}
			batch = append(batch, ev)
		}
		if len(batch) > 0 {
			if err := r.store(ctx, &opts, insert, batch, &sum, log); err != nil {
				return sum, err
			}
		}
		if opts.ProgressFunc != nil {
			p := Progress{Summary: sum}
			if n := len(events); n > 0 {
				p.Oldest = time.Unix(events[n-1].created, 0).UTC()
			}
			opts.ProgressFunc(p)
		}
		if next == "" || len(events) == 0 {
			break
		}
		cursor = next
	}
	log.Info("reconcile done", slog.Int("pages", sum.Pages), slog.Int("seen", sum.Seen),
		slog.Int("already_stored", sum.AlreadyStored), slog.Int("missing", sum.Missing),
		slog.Int("recovered", sum.Recovered), slog.Int("duplicates", sum.Duplicates),
		slog.Int("invalid", sum.Invalid), slog.Int("repeated", sum.Repeated))
	return sum, nil
}

// store inserts one page's missing events and counts the results.
func (r *Reconciler) store(ctx context.Context, opts *Options, insert hookbox.InsertFunc, batch []*hookbox.Event, sum *Summary, log *slog.Logger) error {
	res, err := insert(ctx, batch)
	if err == nil && len(res) != len(batch) {
		err = fmt.Errorf("%d results for %d events", len(res), len(batch))
	}
	if err != nil {
		return fmt.Errorf("store recovered events: %w", err)
	}
	stored := 0
	for i, ev := range batch {
		switch {
		case res[i].Err != nil:
			sum.Invalid++
			log.Warn("store refused recovered event", slog.String("event_id", ev.ID), slog.Any("error", res[i].Err))
			r.emit(opts, ev, OutcomeInvalid)
		case res[i].Duplicate:
			sum.Duplicates++
			r.emit(opts, ev, OutcomeDuplicate)
		default:
			sum.Recovered++
			stored++
			log.Info("event recovered", slog.String("event_id", ev.ID), slog.String("type", ev.Type),
				slog.Int64("created", ev.Created), slog.Bool("livemode", ev.Livemode), slog.String("account", ev.Account))
			r.emit(opts, ev, OutcomeRecovered)
		}
	}
	if stored > 0 && r.Wake != nil {
		r.Wake()
	}
	return nil
}

func (r *Reconciler) emit(opts *Options, ev *hookbox.Event, o Outcome) {
	if opts.EventFunc != nil {
		opts.EventFunc(ev, o)
	}
}

// V2Lister lists Stripe's thin events, GET /v2/core/events, a page at a
// time; thin.Client is one.
type V2Lister interface {
	// ListEvents returns the events of one page, each as the raw JSON the
	// API returned, created from from to to (to zero: no upper bound),
	// and the page token of the next page ("" at the end); page "" asks
	// for the first. Errors the API answers are *APIError.
	ListEvents(ctx context.Context, from, to time.Time, page string) (events []json.RawMessage, next string, err error)
}

// listed is one listed event, of either API.
type listed struct {
	id, typ string
	created int64
	raw     []byte // nil when the client kept none
}

// fetchPage lists one page after cursor, retrying 429, 5xx and network
// errors with backoff; next is the cursor of the next page, "" at the end.
func (r *Reconciler) fetchPage(ctx context.Context, opts *Options, w Window, cursor string) ([]listed, string, error) {
	maxRetries := r.MaxRetries
	if maxRetries <= 0 {
		maxRetries = DefaultMaxRetries
	}
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return nil, "", err
		}
		page, next, err := r.listPage(ctx, opts, w, cursor)
		if err == nil {
			return page, next, nil
		}
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, "", ctxErr
		}
		out, retry, after := classify(err)
		if !retry {
			return nil, "", fmt.Errorf("list events: %w", out)
		}
		if attempt >= maxRetries {
			return nil, "", fmt.Errorf("list events: gave up after %d retries: %w", attempt, out)
		}
		// Retry-After, when the API sends one, is honoured up to MaxBackoff.
		wait := max(r.backoff(attempt), min(after, r.maxBackoff()))
		r.logger().Warn("stripe api: retrying", slog.Int("retry", attempt+1),
			slog.String("wait", wait.String()), slog.String("error", out.Error()))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, "", ctx.Err()
		case <-t.C:
		}
	}
}

// listPage makes one list call: /v2/core/events through V2 when set,
// /v1/events otherwise.
func (r *Reconciler) listPage(ctx context.Context, opts *Options, w Window, cursor string) ([]listed, string, error) {
	if r.V2 != nil {
		var to time.Time
		if opts.Settle > 0 {
			to = w.To
		}
		raws, next, err := r.V2.ListEvents(ctx, w.From, to, cursor)
		if err != nil {
			return nil, "", err
		}
		out := make([]listed, len(raws))
		for i, raw := range raws {
			out[i].raw = raw
			if f, err := envelope.Parse(raw); err == nil {
				out[i].id, out[i].typ, out[i].created = f.ID, f.Type, f.Created
			}
		}
		return out, next, nil
	}
	list := r.Client.V1Events.List(ctx, listParams(opts, w, cursor))
	if err := list.Err(); err != nil {
		return nil, "", err
	}
	data := list.Data()
	out := make([]listed, len(data))
	for i, se := range data {
		out[i] = listed{id: se.ID, typ: string(se.Type), created: se.Created}
		if se.LastResponse != nil && len(se.LastResponse.RawJSON) > 0 {
			out[i].raw = se.LastResponse.RawJSON
		}
	}
	next := ""
	if list.Meta().HasMore && len(data) > 0 {
		next = data[len(data)-1].ID
	}
	return out, next, nil
}

// backoff is the wait before retry attempt+1: Backoff doubled per attempt,
// capped at MaxBackoff, then reduced by up to a quarter at random so that
// replicas do not retry in step.
func (r *Reconciler) backoff(attempt int) time.Duration {
	base, limit := r.Backoff, r.maxBackoff()
	if base <= 0 {
		base = DefaultBackoff
	}
	d := base
	for i := 0; i < attempt && d < limit; i++ {
		d *= 2
	}
	d = min(d, limit)
	return d - time.Duration(rand.Int64N(int64(d/4)+1))
}

func (r *Reconciler) maxBackoff() time.Duration {
	if r.MaxBackoff > 0 {
		return r.MaxBackoff
	}
	return DefaultMaxBackoff
}

func listParams(opts *Options, w Window, cursor string) *stripe.EventListParams {
	p := &stripe.EventListParams{CreatedRange: &stripe.RangeQueryParams{GreaterThanOrEqual: w.From.Unix()}}
	if opts.Settle > 0 {
		p.CreatedRange.LesserThanOrEqual = w.To.Unix()
	}
	switch len(opts.Types) {
	case 0:
	case 1:
		p.Type = stripe.String(opts.Types[0])
	default:
		p.Types = stripe.StringSlice(opts.Types)
	}
	if opts.UndeliveredOnly {
		p.DeliverySuccess = stripe.Bool(false)
	}
	if opts.Account != "" {
		p.SetStripeAccount(opts.Account)
	}
	p.Limit = stripe.Int64(PageSize)
	p.Single = true // Run pages itself: it counts pages and retries each
	if cursor != "" {
		p.StartingAfter = stripe.String(cursor)
	}
	return p
}

// toEvent builds the stored form of a listed event from its raw JSON.
func toEvent(se listed, now time.Time) (*hookbox.Event, error) {
	if se.raw == nil {
		return nil, errors.New("stripe-go kept no raw JSON for the event")
	}
	ev, err := envelope.ParseEvent(se.raw)
	if err != nil {
		return nil, err
	}
	if ev.ID != se.id {
		return nil, fmt.Errorf("raw id %q differs from the decoded id", ev.ID)
	}
	ev.Headers = map[string]string{}
	ev.ReceivedAt = now.UTC()
	ev.SecretIndex = -1 // no signature: it came from the API, not a webhook
	ev.Source = hookbox.SourceReconcile
	ev.State = hookbox.StatePending
	return ev, nil
}

func (r *Reconciler) logger() *slog.Logger {
	if r.Logger != nil {
		return r.Logger
	}
	return slog.Default()
}
