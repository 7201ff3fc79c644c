package reconcile_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/envelope"
	"github.com/hookbox/hookbox/reconcile"
	"github.com/hookbox/hookbox/sqlite"
	"github.com/hookbox/hookbox/storetest"
	"github.com/hookbox/hookbox/stripefixture"
)

const testKey = "rk_test_51ReconcileTestKeyDoNotLeak0123456789"

// now is the fixed clock of the tests.
var now = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

func clock() time.Time { return now }

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func mustOpenStore(tb testing.TB) *sqlite.Store {
	tb.Helper()
	s, err := sqlite.Open(filepath.Join(tb.TempDir(), "hookbox.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// newReconciler returns a Reconciler on a client for base and key, with
// millisecond backoff, logging into the returned buffer.
func newReconciler(tb testing.TB, base, key string, store hookbox.Store) (*reconcile.Reconciler, *lockedBuffer) {
	tb.Helper()
	c, err := reconcile.NewClient(key, reconcile.ClientConfig{APIBase: base})
	if err != nil {
		tb.Fatal(err)
	}
	logs := &lockedBuffer{}
	return &reconcile.Reconciler{
		Client:     c,
		Store:      store,
		Logger:     slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Backoff:    time.Millisecond,
		MaxBackoff: 5 * time.Millisecond,
	}, logs
}

// genEvents returns n realistic events created from start on (0-2 s
// apart), a third of them Connect events, live and test mode mixed.
func genEvents(seed int64, start time.Time, n int) [][]byte {
	g := stripefixture.New(seed)
	g.Start = start
	g.ConnectFraction = 0.3
	ts := stripefixture.Types()
	out := make([][]byte, n)
	for i := range out {
		out[i] = g.Event(ts[i%len(ts)], i%3 != 0)
	}
	return out
}

// webhookEvent is raw as hookbox would have stored it from a webhook, and
// since processed.
func webhookEvent(tb testing.TB, raw []byte) *hookbox.Event {
	tb.Helper()
	f, err := envelope.Parse(raw)
	if err != nil {
		tb.Fatal(err)
	}
	recv := now.Add(-time.Hour)
	return &hookbox.Event{
		ID: f.ID, Type: f.Type, Object: f.Object, Created: f.Created, Livemode: f.Livemode,
		Account: f.Account, APIVersion: f.APIVersion, Body: raw,
		Headers:    map[string]string{"Stripe-Signature": "t=1,v1=00", "User-Agent": "Stripe/1.0"},
		ReceivedAt: recv, ClientAddr: "3.18.12.63", SecretIndex: 0,
		Source: hookbox.SourceWebhook, State: hookbox.StateDelivered, Attempts: 2,
		UpdatedAt: recv.Add(time.Second),
	}
}

func mustInsert(tb testing.TB, s hookbox.Store, evs ...*hookbox.Event) {
	tb.Helper()
	res, err := s.InsertEvents(context.Background(), evs)
	if err != nil {
		tb.Fatal(err)
	}
	for i, r := range res {
		if r.Err != nil || r.Duplicate {
			tb.Fatalf("insert %s: %+v", evs[i].ID, r)
		}
	}
}

func countStored(tb testing.TB, s hookbox.Store) int {
	tb.Helper()
	evs, err := s.FindEvents(context.Background(), hookbox.EventFilter{Limit: 100000})
	if err != nil {
		tb.Fatal(err)
	}
	return len(evs)
}

func run(tb testing.TB, r *reconcile.Reconciler, opts reconcile.Options) reconcile.Summary {
	tb.Helper()
	if opts.NowFunc == nil {
		opts.NowFunc = clock
	}
	sum, err := r.Run(context.Background(), opts)
	if err != nil {
		tb.Fatalf("Run: %v", err)
	}
	return sum
}

// scenario: 250 events in the last 72 hours (40 of them already stored as
// processed webhooks) and 20 older ones Stripe still lists.
type scenario struct {
	fake     *fakeStripe
	base     string
	store    *sqlite.Store
	inWindow []fakeEvent
	old      []fakeEvent
	stored   map[string]*hookbox.Event // already stored, as stored
}

func newScenario(t *testing.T) *scenario {
	t.Helper()
	fake, srv := newFakeStripe(t, testKey)
	sc := &scenario{fake: fake, base: srv.URL, store: mustOpenStore(t), stored: map[string]*hookbox.Event{}}
	sc.old = fake.add(true, genEvents(1, now.Add(-100*time.Hour), 20)...)
	sc.inWindow = fake.add(false, genEvents(2, now.Add(-50*time.Hour), 250)...)
	var pre []*hookbox.Event
	for i, e := range sc.inWindow {
		if i%6 == 0 && len(pre) < 40 {
			pre = append(pre, webhookEvent(t, e.raw))
		}
	}
	mustInsert(t, sc.store, pre...)
	for _, ev := range pre {
		sc.stored[ev.ID] = storetest.MustFindByID(t, sc.store, ev.ID)
	}
	return sc
}

// Ensures a run stores exactly the events of the window the store lacks,
// byte for byte, marked reconcile and pending, with Connect accounts and
// both livemodes as Stripe listed them; leaves the stored ones untouched;
// pages with limit=100, created[gte] and the starting_after cursor.
func TestRun_OK(t *testing.T) {
	t.Parallel()
	sc := newScenario(t)
	r, _ := newReconciler(t, sc.base, testKey, sc.store)
	var progress []reconcile.Progress
	sum := run(t, r, reconcile.Options{ProgressFunc: func(p reconcile.Progress) { progress = append(progress, p) }})

	want := reconcile.Summary{Pages: 3, Seen: 250, AlreadyStored: 40, Missing: 210, Recovered: 210,
		Window: reconcile.Window{From: now.Add(-72 * time.Hour), To: now}}
	if sum != want {
		t.Fatalf("summary:\n got %+v\nwant %+v", sum, want)
	}
	if len(progress) != 3 || progress[2].Summary != sum || progress[0].Seen != 100 || progress[0].Oldest.IsZero() {
		t.Fatalf("progress: %+v", progress)
	}

	reqs := sc.fake.reqs()
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want 3", len(reqs))
	}
	wantGte := strconv.FormatInt(now.Add(-72*time.Hour).Unix(), 10)
	for i, rq := range reqs {
		q := rq.Query
		if q.Get("created[gte]") != wantGte || q.Get("limit") != "100" || q.Has("created[lte]") ||
			q.Has("type") || q.Has("delivery_success") {
			t.Fatalf("request %d: %v", i, q)
		}
		wantAfter := ""
		if i > 0 {
			wantAfter = sc.inWindow[100*i-1].id
		}
		if q.Get("starting_after") != wantAfter {
			t.Fatalf("request %d: starting_after %q, want %q", i, q.Get("starting_after"), wantAfter)
		}
	}

	accounts, live := 0, 0
	for _, e := range sc.inWindow {
		got := storetest.MustFindByID(t, sc.store, e.id)
		if old, ok := sc.stored[e.id]; ok {
			storetest.AssertEvent(t, got, old, true)
			continue
		}
		f, _ := envelope.Parse(e.raw)
		if !bytes.Equal(got.Body, e.raw) {
			t.Fatalf("%s: body differs from what Stripe listed", e.id)
		}
		if got.Source != hookbox.SourceReconcile || got.State != hookbox.StatePending || got.Attempts != 0 ||
			got.SecretIndex != -1 || len(got.Headers) != 0 || !got.ReceivedAt.Equal(now) ||
			got.Type != f.Type || got.Created != f.Created || got.Livemode != f.Livemode ||
			got.Account != f.Account || got.APIVersion != f.APIVersion || got.Object != "event" {
			t.Fatalf("%s: stored as %+v", e.id, got)
		}
		if got.Account != "" {
			accounts++
		}
		if got.Livemode {
			live++
		}
	}
	if accounts == 0 || live == 0 || live == 210 {
		t.Fatalf("fixture lacks variety: %d Connect, %d live of 210", accounts, live)
	}
	for _, e := range sc.old {
		if _, err := sc.store.FindEventByID(context.Background(), e.id); hookbox.ErrorCode(err) != hookbox.ENOTFOUND {
			t.Fatalf("%s outside the window: %v", e.id, err)
		}
	}
	if n := countStored(t, sc.store); n != 250 {
		t.Fatalf("%d events stored, want 250", n)
	}
}

// Ensures a second run finds everything stored and changes nothing.
func TestRun_Twice(t *testing.T) {
	t.Parallel()
	sc := newScenario(t)
	r, _ := newReconciler(t, sc.base, testKey, sc.store)
	run(t, r, reconcile.Options{})
	before, _ := sc.store.FindEvents(context.Background(), hookbox.EventFilter{Limit: 1000})
	var woken atomic.Int32
	r.Wake = func() { woken.Add(1) }
	sum := run(t, r, reconcile.Options{NowFunc: func() time.Time { return now.Add(time.Minute) }})
	if sum.Recovered != 0 || sum.AlreadyStored != 250 || sum.Missing != 0 || woken.Load() != 0 {
		t.Fatalf("second run: %+v, woken %d", sum, woken.Load())
	}
	after, _ := sc.store.FindEvents(context.Background(), hookbox.EventFilter{Limit: 1000})
	if len(after) != len(before) {
		t.Fatalf("%d events, want %d", len(after), len(before))
	}
	for i := range after {
		storetest.AssertEvent(t, after[i], before[i], false)
	}
}

// Ensures an event Stripe lists again on the next page is taken once.
func TestRun_RepeatedAcrossPages(t *testing.T) {
	t.Parallel()
	sc := newScenario(t)
	sc.fake.repeatLast = true
	r, _ := newReconciler(t, sc.base, testKey, sc.store)
	var outcomes []string
	sum := run(t, r, reconcile.Options{EventFunc: func(ev *hookbox.Event, o reconcile.Outcome) {
		outcomes = append(outcomes, ev.ID)
	}})
	if sum.Seen != 250 || sum.Repeated != 2 || sum.Recovered != 210 || sum.Duplicates != 0 {
		t.Fatalf("summary: %+v", sum)
	}
	slices.Sort(outcomes)
	if len(slices.Compact(outcomes)) != 250 {
		t.Fatalf("EventFunc called for %d distinct of %d calls", len(slices.Compact(outcomes)), len(outcomes))
	}
}

// Ensures a dry run reports what is missing and writes nothing.
func TestRun_DryRun(t *testing.T) {
	t.Parallel()
	sc := newScenario(t)
	r, _ := newReconciler(t, sc.base, testKey, sc.store)
	r.Insert = func(context.Context, []*hookbox.Event) ([]hookbox.InsertResult, error) {
		t.Fatal("dry run inserted")
		return nil, nil
	}
	var woken atomic.Int32
	r.Wake = func() { woken.Add(1) }
	var missing []string
	sum := run(t, r, reconcile.Options{DryRun: true, EventFunc: func(ev *hookbox.Event, o reconcile.Outcome) {
		if o == reconcile.OutcomeMissing {
			missing = append(missing, ev.ID)
		}
	}})
	if !sum.DryRun || sum.Missing != 210 || sum.Recovered != 0 || sum.AlreadyStored != 40 || len(missing) != 210 || woken.Load() != 0 {
		t.Fatalf("summary %+v, %d missing reported", sum, len(missing))
	}
	if n := countStored(t, sc.store); n != 40 {
		t.Fatalf("%d events stored after a dry run, want 40", n)
	}
}

// Ensures an event that arrives as a webhook between the lookup and the
// insert is a Duplicate: the webhook's row stays, nothing is re-delivered.
func TestRun_RaceWithWebhook(t *testing.T) {
	t.Parallel()
	sc := newScenario(t)
	r, _ := newReconciler(t, sc.base, testKey, sc.store)
	var raced *hookbox.Event
	r.Insert = func(ctx context.Context, evs []*hookbox.Event) ([]hookbox.InsertResult, error) {
		if raced == nil {
			raced = webhookEvent(t, evs[0].Body)
			mustInsert(t, sc.store, raced)
		}
		return sc.store.InsertEvents(ctx, evs)
	}
	sum := run(t, r, reconcile.Options{})
	if sum.Duplicates != 1 || sum.Recovered != 209 || sum.Missing != 210 {
		t.Fatalf("summary: %+v", sum)
	}
	storetest.AssertEvent(t, storetest.MustFindByID(t, sc.store, raced.ID), storetest.Stored(raced), true)
}

// Ensures type, types[], delivery_success, Settle (created[lte]) and
// Account (Stripe-Account) reach the API, and only what they select is
// stored.
func TestRun_Filters(t *testing.T) {
	t.Parallel()
	t.Run("TypeWildcard", func(t *testing.T) {
		sc := newScenario(t)
		r, _ := newReconciler(t, sc.base, testKey, sc.store)
		sum := run(t, r, reconcile.Options{Types: []string{"invoice.*"}})
		q := sc.fake.reqs()[0].Query
		if q.Get("type") != "invoice.*" || q.Has("types[0]") {
			t.Fatalf("query: %v", q)
		}
		var invoices []string
		for _, typ := range stripefixture.Types() {
			if strings.HasPrefix(typ, "invoice.") {
				invoices = append(invoices, typ)
			}
		}
		assertOnlyTypes(t, sc, sum, invoices...)
	})
	t.Run("Types", func(t *testing.T) {
		sc := newScenario(t)
		r, _ := newReconciler(t, sc.base, testKey, sc.store)
		sum := run(t, r, reconcile.Options{Types: []string{"charge.succeeded", "customer.created"}})
		q := sc.fake.reqs()[0].Query
		if q.Has("type") || q.Get("types[0]") != "charge.succeeded" || q.Get("types[1]") != "customer.created" {
			t.Fatalf("query: %v", q)
		}
		assertOnlyTypes(t, sc, sum, "charge.succeeded", "customer.created")
	})
	t.Run("UndeliveredOnly", func(t *testing.T) {
		sc := newScenario(t)
		// Stripe delivered the most recent 50 events to every endpoint.
		sc.fake.mu.Lock()
		for i := range 50 {
			sc.fake.events[i].delivered = true
		}
		sc.fake.mu.Unlock()
		r, _ := newReconciler(t, sc.base, testKey, sc.store)
		sum := run(t, r, reconcile.Options{UndeliveredOnly: true})
		if q := sc.fake.reqs()[0].Query; q.Get("delivery_success") != "false" {
			t.Fatalf("query: %v", q)
		}
		if sum.Seen != 200 {
			t.Fatalf("summary: %+v", sum)
		}
	})
	t.Run("SettleAndAccount", func(t *testing.T) {
		sc := newScenario(t)
		r, _ := newReconciler(t, sc.base, testKey, sc.store)
		sum := run(t, r, reconcile.Options{Settle: 50*time.Hour - 2*time.Minute, Account: "acct_1Connected", Endpoint: "connect"})
		rq := sc.fake.reqs()[0]
		if rq.Query.Get("created[lte]") != strconv.FormatInt(now.Add(-50*time.Hour+2*time.Minute).Unix(), 10) || rq.Account != "acct_1Connected" {
			t.Fatalf("request: %+v", rq)
		}
		if !sum.Window.To.Equal(now.Add(-50*time.Hour+2*time.Minute)) || sum.Seen >= 250 || sum.Seen == 0 {
			t.Fatalf("summary: %+v", sum)
		}
		// Stored under the Connect endpoint, so its destinations get them.
		evs, _ := sc.store.FindEvents(context.Background(), hookbox.EventFilter{Limit: 1000})
		recovered := 0
		for _, e := range evs {
			if e.Source != hookbox.SourceReconcile {
				continue
			}
			recovered++
			if e.Endpoint != "connect" {
				t.Fatalf("recovered %s under endpoint %q, want connect", e.ID, e.Endpoint)
			}
		}
		if recovered == 0 {
			t.Fatal("nothing recovered")
		}
	})
}

func assertOnlyTypes(t *testing.T, sc *scenario, sum reconcile.Summary, types ...string) {
	t.Helper()
	want := 0
	for _, e := range sc.inWindow {
		if slices.Contains(types, e.typ) {
			want++
		}
	}
	if sum.Seen != want || want == 0 {
		t.Fatalf("seen %d, want %d", sum.Seen, want)
	}
	evs, _ := sc.store.FindEvents(context.Background(), hookbox.EventFilter{Limit: 1000})
	for _, e := range evs {
		if e.Source == hookbox.SourceReconcile && !slices.Contains(types, e.Type) {
			t.Fatalf("recovered %s of type %s", e.ID, e.Type)
		}
	}
}

// Ensures 429 and 5xx answers are retried with backoff until the page
// comes, and that a page still failing after MaxRetries stops the run.
func TestRun_Retry(t *testing.T) {
	t.Parallel()
	t.Run("RateLimitThenOK", func(t *testing.T) {
		sc := newScenario(t)
		sc.fake.failNext(fakeFailure{status: 429, errType: "invalid_request_error", code: "rate_limit"})
		r, logs := newReconciler(t, sc.base, testKey, sc.store)
		sum := run(t, r, reconcile.Options{})
		if sum.Recovered != 210 || sum.Pages != 3 {
			t.Fatalf("summary: %+v", sum)
		}
		reqs := sc.fake.reqs()
		if len(reqs) != 4 || reqs[0].Status != 429 || reqs[1].Status != 200 || reqs[1].Query.Has("starting_after") {
			t.Fatalf("requests: %+v", reqs)
		}
		if !strings.Contains(logs.String(), "retrying") {
			t.Fatalf("retry not logged: %s", logs)
		}
	})
	t.Run("ServerErrorsMidwayThenOK", func(t *testing.T) {
		sc := newScenario(t)
		r, _ := newReconciler(t, sc.base, testKey, sc.store)
		var once sync.Once
		r.Insert = func(ctx context.Context, evs []*hookbox.Event) ([]hookbox.InsertResult, error) {
			once.Do(func() {
				sc.fake.failNext(fakeFailure{status: 500, errType: "api_error"}, fakeFailure{status: 503, errType: "api_error"})
			})
			return sc.store.InsertEvents(ctx, evs)
		}
		sum := run(t, r, reconcile.Options{})
		if sum.Recovered != 210 || sum.Pages != 3 || len(sc.fake.reqs()) != 5 {
			t.Fatalf("summary %+v after %d requests", sum, len(sc.fake.reqs()))
		}
	})
	t.Run("ErrGiveUp", func(t *testing.T) {
		sc := newScenario(t)
		r, _ := newReconciler(t, sc.base, testKey, sc.store)
		r.MaxRetries = 2
		for range 3 {
			sc.fake.failNext(fakeFailure{status: 429, errType: "invalid_request_error", code: "rate_limit"})
		}
		_, err := r.Run(context.Background(), reconcile.Options{NowFunc: clock})
		var ae *reconcile.APIError
		if !errors.As(err, &ae) || ae.Status != 429 || errors.Is(err, reconcile.ErrAuth) {
			t.Fatalf("Run: %v", err)
		}
		if len(sc.fake.reqs()) != 3 || countStored(t, sc.store) != 40 {
			t.Fatalf("%d requests", len(sc.fake.reqs()))
		}
	})
	t.Run("ErrBadRequestNotRetried", func(t *testing.T) {
		sc := newScenario(t)
		sc.fake.failNext(fakeFailure{status: 400, errType: "invalid_request_error", code: "parameter_unknown"})
		r, _ := newReconciler(t, sc.base, testKey, sc.store)
		_, err := r.Run(context.Background(), reconcile.Options{NowFunc: clock})
		var ae *reconcile.APIError
		if !errors.As(err, &ae) || ae.Status != 400 || len(sc.fake.reqs()) != 1 {
			t.Fatalf("Run: %v after %d requests", err, len(sc.fake.reqs()))
		}
	})
}

// Ensures a refused key (401) or missing permission (403) stops the run at
// once with ErrAuth and a clear message, and that the key appears in no
// error and no log line, even when the server echoes it.
func TestRun_ErrAuth(t *testing.T) {
	t.Parallel()
	t.Run("Unauthorized", func(t *testing.T) {
		sc := newScenario(t)
		const wrong = "rk_live_51WrongKeyThatMustNeverBeLogged987654"
		r, logs := newReconciler(t, sc.base, wrong, sc.store)
		sum, err := r.Run(context.Background(), reconcile.Options{NowFunc: clock})
		if !errors.Is(err, reconcile.ErrAuth) || !strings.Contains(err.Error(), "STRIPE_API_KEY") {
			t.Fatalf("Run: %v", err)
		}
		if strings.Contains(err.Error(), wrong) || strings.Contains(logs.String(), wrong) ||
			strings.Contains(err.Error(), "51WrongKey") {
			t.Fatalf("key leaked:\nerr: %v\nlogs: %s", err, logs)
		}
		if len(sc.fake.reqs()) != 1 || sum.Pages != 0 || countStored(t, sc.store) != 40 {
			t.Fatalf("%d requests, %+v", len(sc.fake.reqs()), sum)
		}
	})
	t.Run("Forbidden", func(t *testing.T) {
		sc := newScenario(t)
		sc.fake.failNext(fakeFailure{status: 403, errType: "invalid_request_error", echo: true})
		r, logs := newReconciler(t, sc.base, testKey, sc.store)
		_, err := r.Run(context.Background(), reconcile.Options{NowFunc: clock})
		if !errors.Is(err, reconcile.ErrAuth) || !strings.Contains(err.Error(), "read access to Events") {
			t.Fatalf("Run: %v", err)
		}
		if strings.Contains(err.Error(), testKey) || strings.Contains(logs.String(), testKey) {
			t.Fatalf("key leaked:\nerr: %v\nlogs: %s", err, logs)
		}
	})
	t.Run("EchoedInRetriedError", func(t *testing.T) {
		sc := newScenario(t)
		sc.fake.failNext(fakeFailure{status: 500, errType: "api_error", echo: true})
		r, logs := newReconciler(t, sc.base, testKey, sc.store)
		run(t, r, reconcile.Options{})
		if !strings.Contains(logs.String(), "REDACTED") || strings.Contains(logs.String(), testKey) {
			t.Fatalf("logs: %s", logs)
		}
	})
}

// Ensures options Stripe would refuse, or that reach past its 30 days, are
// refused before any request.
func TestRun_ErrInvalidOptions(t *testing.T) {
	t.Parallel()
	sc := newScenario(t)
	r, _ := newReconciler(t, sc.base, testKey, sc.store)
	for _, opts := range []reconcile.Options{
		{Since: 31 * 24 * time.Hour},
		{Since: -time.Hour},
		{Types: []string{"invoice.*", "charge.succeeded"}},
		{Types: []string{""}},
		{Types: slices.Repeat([]string{"a.b"}, 21)},
		{Since: time.Hour, Settle: 2 * time.Hour},
	} {
		_, err := r.Run(context.Background(), opts)
		if hookbox.ErrorCode(err) != hookbox.EINVALID {
			t.Fatalf("%+v: %v", opts, err)
		}
	}
	if _, err := r.Run(context.Background(), reconcile.Options{Since: 40 * 24 * time.Hour}); !strings.Contains(err.Error(), "30 days") {
		t.Fatalf("over 30 days: %v", err)
	}
	if len(sc.fake.reqs()) != 0 {
		t.Fatalf("%d requests", len(sc.fake.reqs()))
	}
}

// Ensures Wake is called after a page that stored events.
func TestRun_Wake(t *testing.T) {
	t.Parallel()
	sc := newScenario(t)
	r, _ := newReconciler(t, sc.base, testKey, sc.store)
	var woken atomic.Int32
	r.Wake = func() { woken.Add(1) }
	run(t, r, reconcile.Options{})
	if woken.Load() != 3 {
		t.Fatalf("woken %d times, want once per page (3)", woken.Load())
	}
}

// Ensures a cancelled context stops a run waiting out a backoff.
func TestRun_ContextCancelled(t *testing.T) {
	t.Parallel()
	sc := newScenario(t)
	sc.fake.failNext(fakeFailure{status: 503, errType: "api_error"})
	r, _ := newReconciler(t, sc.base, testKey, sc.store)
	r.Backoff, r.MaxBackoff = time.Hour, time.Hour
	ctx, cancel := context.WithCancel(context.Background())
	r.Logger = slog.New(cancelOnRetry{slog.DiscardHandler, cancel})
	_, err := r.Run(ctx, reconcile.Options{NowFunc: clock})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run: %v", err)
	}
}

// cancelOnRetry cancels a context when the retry warning is logged.
type cancelOnRetry struct {
	slog.Handler
	cancel context.CancelFunc
}

func (h cancelOnRetry) Enabled(context.Context, slog.Level) bool { return true }

func (h cancelOnRetry) Handle(ctx context.Context, r slog.Record) error {
	if strings.Contains(r.Message, "retrying") {
		h.cancel()
	}
	return nil
}

func (h cancelOnRetry) WithAttrs([]slog.Attr) slog.Handler { return h }

// Ensures a listed event that stripe-go and hookbox could read differently
// (an id or type repeated in another letter case, which stripe-go resolves
// to the last one) or whose id is not valid UTF-8 (read with U+FFFD, so that
// two ids collide) is counted invalid, logged with the reason, and not
// stored; the well-formed event beside them is.
func TestRun_ErrAmbiguous(t *testing.T) {
	t.Parallel()
	fake, srv := newFakeStripe(t, testKey)
	store := mustOpenStore(t)
	created := now.Add(-time.Hour).Unix()
	good := fake.add(false, genEvents(3, now.Add(-2*time.Hour), 1)...)
	ev := func(members string) []byte {
		return []byte(`{"object":"event","api_version":"2024-06-20","created":` + strconv.FormatInt(created, 10) +
			`,"livemode":false,"pending_webhooks":1,"request":{"id":null},` + members + `,"data":{"object":{"id":"pi_1"}}}`)
	}
	fake.mu.Lock()
	for i, raw := range [][]byte{
		ev(`"ID":"evt_amb_other","id":"evt_amb_1","type":"invoice.paid"`),
		ev(`"id":"evt_amb_2","type":"invoice.paid","TYPE":"charge.refunded"`),
		ev("\"id\":\"evt_amb_\xff\",\"type\":\"invoice.paid\""),
	} {
		fake.events = append(fake.events, fakeEvent{id: "evt_amb_" + strconv.Itoa(i+1), typ: "invoice.paid", created: created - int64(i), raw: raw})
	}
	slices.SortStableFunc(fake.events, newestFirst)
	fake.mu.Unlock()

	r, logs := newReconciler(t, srv.URL, testKey, store)
	sum := run(t, r, reconcile.Options{})
	if sum.Seen != 4 || sum.Invalid != 3 || sum.Recovered != 1 {
		t.Fatalf("summary %+v, want 4 seen, 3 invalid, 1 recovered", sum)
	}
	if n := countStored(t, store); n != 1 {
		t.Fatalf("%d events stored, want 1", n)
	}
	storetest.MustFindByID(t, store, good[0].id)
	if l := logs.String(); strings.Count(l, "ambiguous key") != 2 || strings.Count(l, "not valid UTF-8") != 1 {
		t.Fatalf("logs do not give the reasons:\n%s", l)
	}
}
