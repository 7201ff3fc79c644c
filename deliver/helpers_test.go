package deliver_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/deliver"
	"github.com/hookbox/hookbox/sqlite"
)

// secret is the signing secret of test destinations.
const secret = "whsec_test_destination_secret"

// mustOpenStore opens a fresh SQLite store in a temporary directory, closed
// when the test ends.
func mustOpenStore(tb testing.TB) *sqlite.Store {
	tb.Helper()
	s, err := sqlite.Open(filepath.Join(tb.TempDir(), "hookbox.db"))
	if err != nil {
		tb.Fatalf("open store: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// newEvent returns a pending event of the given type, shaped like Stripe's.
func newEvent(id, typ string, livemode bool) *hookbox.Event {
	body := fmt.Sprintf(`{"id":%q,"object":"event","api_version":"2024-06-20","created":1700000000,`+
		`"data":{"object":{"id":"pi_%s","object":"payment_intent","amount":2000,"currency":"usd"}},`+
		`"livemode":%t,"pending_webhooks":1,"request":{"id":null,"idempotency_key":null},"type":%q}`,
		id, id, livemode, typ)
	return &hookbox.Event{
		ID:         id,
		Type:       typ,
		Object:     "event",
		Created:    1700000000,
		Livemode:   livemode,
		APIVersion: "2024-06-20",
		Body:       []byte(body),
		Headers:    map[string]string{},
		ReceivedAt: time.Now().UTC(),
		Source:     hookbox.SourceWebhook,
		State:      hookbox.StatePending,
	}
}

// mustInsert stores events and fails the test on any error.
func mustInsert(tb testing.TB, s *sqlite.Store, evs ...*hookbox.Event) {
	tb.Helper()
	res, err := s.InsertEvents(context.Background(), evs)
	if err != nil {
		tb.Fatalf("insert events: %v", err)
	}
	for i, r := range res {
		if r.Err != nil || r.Duplicate {
			tb.Fatalf("insert event %s: %+v", evs[i].ID, r)
		}
	}
}

// request is what a test destination received.
type request struct {
	Body   []byte
	Header http.Header
	At     time.Time
}

// receiver is an httptest destination that records every request and
// answers with respond (nil: 200 "ok").
type receiver struct {
	*httptest.Server
	mu      sync.Mutex
	reqs    []request
	respond func(n int, w http.ResponseWriter, r *http.Request) // n: 1-based request count
}

func newReceiver(tb testing.TB, respond func(n int, w http.ResponseWriter, r *http.Request)) *receiver {
	tb.Helper()
	rc := &receiver{respond: respond}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.reqs = append(rc.reqs, request{Body: body, Header: r.Header.Clone(), At: time.Now()})
		n := len(rc.reqs)
		rc.mu.Unlock()
		if rc.respond != nil {
			rc.respond(n, w, r)
			return
		}
		io.WriteString(w, "ok")
	}))
	tb.Cleanup(rc.Close)
	return rc
}

// requests returns a copy of what was received so far.
func (rc *receiver) requests() []request {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]request(nil), rc.reqs...)
}

func (rc *receiver) count() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.reqs)
}

// mustHTTP returns an HTTP destination to url with the test secret.
func mustHTTP(tb testing.TB, name, url string, opts deliver.HTTPOptions) *deliver.HTTP {
	tb.Helper()
	d, err := deliver.NewHTTP(name, url, secret, opts)
	if err != nil {
		tb.Fatalf("NewHTTP: %v", err)
	}
	return d
}

// fastRetry retries after about a millisecond, deterministically.
func fastRetry(maxAttempts int) hookbox.RetryPolicy {
	return hookbox.RetryPolicy{
		Base:        time.Millisecond,
		Cap:         2 * time.Millisecond,
		MaxAttempts: maxAttempts,
		RandFunc:    func() float64 { return 0 },
	}
}

// clock is a clock the test drives: real time plus an offset that only
// the test moves. Leases expire when the test says so, not when a loaded
// machine happens to get there, while retries due a millisecond later
// still come due by themselves. Give its Now to every worker of the test
// (Worker.NowFunc): the store compares leases with the now it is given.
type clock struct{ offset atomic.Int64 }

func (c *clock) Now() time.Time { return time.Now().Add(time.Duration(c.offset.Load())) }

// Advance moves the clock forward by d.
func (c *clock) Advance(d time.Duration) { c.offset.Add(int64(d)) }

// quietLogger discards log output.
func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// startWorker starts w (with a short poll and a quiet logger unless set)
// and shuts it down when the test ends.
func startWorker(tb testing.TB, w *deliver.Worker) *deliver.Worker {
	tb.Helper()
	if w.PollInterval == 0 {
		w.PollInterval = 20 * time.Millisecond
	}
	if w.Logger == nil {
		w.Logger = quietLogger()
	}
	if err := w.Start(context.Background()); err != nil {
		tb.Fatalf("start worker: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		w.Shutdown(ctx)
	})
	return w
}

// waitFor polls cond every millisecond until it holds or the (generous)
// deadline passes.
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// mustEvent reads an event back from the store.
func mustEvent(tb testing.TB, s *sqlite.Store, id string) *hookbox.Event {
	tb.Helper()
	ev, err := s.FindEventByID(context.Background(), id)
	if err != nil {
		tb.Fatalf("find event %s: %v", id, err)
	}
	return ev
}

// waitState waits until the event reaches state.
func waitState(tb testing.TB, s *sqlite.Store, id string, state hookbox.State) {
	tb.Helper()
	waitFor(tb, fmt.Sprintf("event %s %s", id, state), func() bool {
		return mustEvent(tb, s, id).State == state
	})
}

func mustAttempts(tb testing.TB, s *sqlite.Store, id string) []hookbox.Attempt {
	tb.Helper()
	as, err := s.FindAttempts(context.Background(), id)
	if err != nil {
		tb.Fatalf("find attempts: %v", err)
	}
	return as
}

func mustDeliveries(tb testing.TB, s *sqlite.Store, id string) map[string]hookbox.Delivery {
	tb.Helper()
	ds, err := s.FindDeliveries(context.Background(), id)
	if err != nil {
		tb.Fatalf("find deliveries: %v", err)
	}
	m := make(map[string]hookbox.Delivery)
	for _, d := range ds {
		m[d.Destination] = d
	}
	return m
}
