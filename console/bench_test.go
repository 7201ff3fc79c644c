package console_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/console"
	"github.com/hookbox/hookbox/sqlite"
)

// benchEvents is the size of the store BenchmarkConsolePages1M measures.
const benchEvents = 1_000_000

var benchTypes = []string{"payment_intent.succeeded", "payment_intent.created", "charge.succeeded", "invoice.paid",
	"invoice.created", "customer.updated", "customer.subscription.updated", "checkout.session.completed"}

// rareType is one event in 10,000 of the bench store: a listing of it
// walks most of the listing index (SQLite has no type index since 0014).
const rareType = "radar.early_fraud_warning.created"

// seedBench fills a store with n events received over the last 30 days:
// one in a thousand pending, one in a hundred dead, the rest delivered.
// HOOKBOX_BENCH_DB names a file to keep between runs (seeded once).
func seedBench(b *testing.B, n int, now time.Time) *sqlite.Store {
	b.Helper()
	path := os.Getenv("HOOKBOX_BENCH_DB")
	if path == "" {
		path = filepath.Join(b.TempDir(), "bench.db")
	}
	_, statErr := os.Stat(path)
	s, err := sqlite.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	if statErr == nil {
		return s // seeded by an earlier run
	}
	start := time.Now()
	span := 30 * 24 * time.Hour
	batch := make([]*hookbox.Event, 0, 1000)
	for i := range n {
		state := hookbox.StateDelivered
		switch {
		case i%1000 == 7:
			state = hookbox.StatePending
		case i%100 == 3:
			state = hookbox.StateDead
		}
		at := now.Add(-span + time.Duration(int64(span)/int64(n)*int64(i)))
		id := fmt.Sprintf("evt_%024d", i)
		typ := benchTypes[i%len(benchTypes)]
		if i%10_000 == 5 {
			typ = rareType
		}
		body := fmt.Sprintf(`{"id":%q,"object":"event","data":{"object":{"id":"pi_%d","object":"payment_intent","amount":%d}},"type":%q}`,
			id, i, i%10000, typ)
		batch = append(batch, &hookbox.Event{
			ID: id, Type: typ, Object: "event", Created: at.Unix(),
			Body: []byte(body), ReceivedAt: at, Source: hookbox.SourceWebhook, State: state, Attempts: 1, UpdatedAt: at,
		})
		if len(batch) == cap(batch) || i == n-1 {
			if _, err := s.InsertEvents(context.Background(), batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	b.Logf("seeded %d events in %v", n, time.Since(start).Round(time.Millisecond))
	return s
}

// BenchmarkConsolePages1M measures each page's handler on a store of a
// million events; the target is under 100 ms a page. It runs only with
// -bench (seeding takes a while), e.g.
//
//	go test -run '^$' -bench ConsolePages1M -benchtime 20x ./console/
func BenchmarkConsolePages1M(b *testing.B) {
	now := time.Now().UTC().Truncate(time.Second)
	store := seedBench(b, benchEvents, now)
	act := console.NewActivity()
	for i := range 24 * 60 {
		act.Record("accepted", "", i%2, now.Add(-time.Duration(i)*time.Minute))
	}
	srv, err := console.New(console.Options{Store: store, Activity: act, NowFunc: func() time.Time { return now },
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	mid := fmt.Sprintf("evt_%024d", benchEvents/2)
	recent := fmt.Sprintf("pi_%d", benchEvents-10)
	for _, p := range []struct{ name, path string }{
		{"Overview", "/"},
		{"Events", "/events"},
		{"EventsPage2", "/events?before=" + cursorOf(b, store, mid)},
		{"EventsDead", "/events?state=dead"},
		{"EventsPending", "/events?state=pending"},
		{"EventsDelivering", "/events?state=delivering"},
		{"EventsTypePrefix", "/events?type=invoice.*"},
		{"EventsTypeRare", "/events?type=" + rareType},
		{"EventsTimeRange", "/events?since=" + now.Add(-10*24*time.Hour).Format(time.RFC3339) + "&until=" + now.Add(-9*24*time.Hour).Format(time.RFC3339)},
		{"EventsObjectIDRecent", "/events?q=" + recent + "&since=24h"},
		{"EventsEventID", "/events?q=" + mid + "&fragment=1"},
		{"EventDetail", "/events/" + mid},
		{"ReplayConfirmDead", "/events/replay?state=dead"},
		{"APIEvents", "/api/events?limit=100"},
	} {
		b.Run(p.name, func(b *testing.B) {
			req := httptest.NewRequest("GET", "http://127.0.0.1"+p.path, nil)
			for b.Loop() {
				w := httptest.NewRecorder()
				srv.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					b.Fatalf("GET %s: %d %s", p.path, w.Code, w.Body.String())
				}
			}
		})
	}
}

// cursorOf returns the API's cursor just after the event id.
func cursorOf(b *testing.B, s *sqlite.Store, id string) string {
	ev, err := s.FindEventByID(context.Background(), id)
	if err != nil {
		b.Fatal(err)
	}
	evs, err := s.FindEvents(context.Background(), hookbox.EventFilter{BeforeReceivedAt: ev.ReceivedAt.Add(time.Nanosecond), Limit: 1})
	if err != nil || len(evs) != 1 {
		b.Fatal(err)
	}
	return console.CursorFor(evs[0])
}
