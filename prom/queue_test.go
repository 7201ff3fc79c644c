package prom_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/prom"
	"github.com/hookbox/hookbox/sqlite"
	"github.com/hookbox/hookbox/storetest"
)

// mustOpenStore opens a SQLite store on a new file in a temp directory and
// closes it when the test ends.
func mustOpenStore(tb testing.TB) *sqlite.Store {
	tb.Helper()
	s, err := sqlite.Open(filepath.Join(tb.TempDir(), "hookbox.db"))
	if err != nil {
		tb.Fatalf("open store: %v", err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("close store: %v", err)
		}
	})
	return s
}

// gauge returns the value of the unlabelled gauge name, or fails when the
// scrape does not have it.
func gauge(tb testing.TB, mfs map[string]*dto.MetricFamily, name string) float64 {
	tb.Helper()
	mf := mfs[name]
	if mf == nil || len(mf.GetMetric()) != 1 {
		tb.Fatalf("%s: want one series, got %v", name, mf)
	}
	return mf.GetMetric()[0].GetGauge().GetValue()
}

// byState returns hookbox_events by its state label.
func byState(mfs map[string]*dto.MetricFamily) map[string]float64 {
	got := map[string]float64{}
	for _, m := range mfs["hookbox_events"].GetMetric() {
		got[m.GetLabel()[0].GetValue()] = m.GetGauge().GetValue()
	}
	return got
}

// counterValue returns the value of name's series whose only label has
// value v (0 when absent).
func counterValue(mfs map[string]*dto.MetricFamily, name, v string) float64 {
	for _, m := range mfs[name].GetMetric() {
		if m.GetLabel()[0].GetValue() == v {
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

// Ensures the queue gauges count a real SQLite store at scrape time: every
// state (zeros included), the dead events, and the age of the oldest
// pending event on the injected clock.
func TestRegisterQueue_SQLite(t *testing.T) {
	store := mustOpenStore(t)
	evs := []*hookbox.Event{
		storetest.NewEvent("evt_p1", "invoice.paid", timeBase),
		storetest.NewEvent("evt_p2", "invoice.paid", timeBase.Add(time.Minute)),
		storetest.NewEvent("evt_p3", "invoice.paid", timeBase.Add(2*time.Minute)),
		storetest.NewEvent("evt_ok1", "invoice.paid", timeBase.Add(-time.Hour)),
		storetest.NewEvent("evt_ok2", "invoice.paid", timeBase.Add(-time.Hour)),
		storetest.NewEvent("evt_dead", "invoice.paid", timeBase.Add(-2*time.Hour)),
	}
	evs[3].State, evs[4].State, evs[5].State = hookbox.StateDelivered, hookbox.StateDelivered, hookbox.StateDead
	storetest.MustInsert(t, store, evs...)

	now := timeBase.Add(10 * time.Minute)
	m := prom.New(prom.Options{NowFunc: func() time.Time { return now }})
	url := mustServe(t, m)
	if mfs := scrape(t, url); mfs["hookbox_events"] != nil {
		t.Error("queue gauges exposed before RegisterQueue")
	}
	m.RegisterQueue(store.CountEvents)

	mfs := scrape(t, url)
	want := map[string]float64{"pending": 3, "delivering": 0, "delivered": 2, "dead": 1}
	got := byState(mfs)
	if len(got) != len(want) {
		t.Errorf("hookbox_events = %v, want %v", got, want)
	}
	for s, n := range want {
		if got[s] != n {
			t.Errorf("hookbox_events{state=%q} = %v, want %v", s, got[s], n)
		}
	}
	if got := gauge(t, mfs, "hookbox_dead_events"); got != 1 {
		t.Errorf("hookbox_dead_events = %v, want 1", got)
	}
	if got := gauge(t, mfs, "hookbox_oldest_pending_seconds"); got != 600 {
		t.Errorf("hookbox_oldest_pending_seconds = %v, want 600", got)
	}

	// A new event is seen by the next scrape: nothing is cached.
	storetest.MustInsert(t, store, storetest.NewEvent("evt_old", "invoice.paid", timeBase.Add(-5*time.Minute)))
	mfs = scrape(t, url)
	if got := byState(mfs)["pending"]; got != 4 {
		t.Errorf("pending after insert = %v, want 4", got)
	}
	if got := gauge(t, mfs, "hookbox_oldest_pending_seconds"); got != 900 {
		t.Errorf("hookbox_oldest_pending_seconds after insert = %v, want 900", got)
	}
}

// Ensures an empty queue reports zeros and an oldest pending age of 0, not
// the age of the zero time.
func TestRegisterQueue_Empty(t *testing.T) {
	store := mustOpenStore(t)
	m := prom.New(prom.Options{})
	m.RegisterQueue(store.CountEvents)
	mfs := scrape(t, mustServe(t, m))
	for s, n := range byState(mfs) {
		if n != 0 {
			t.Errorf("hookbox_events{state=%q} = %v, want 0", s, n)
		}
	}
	if got := gauge(t, mfs, "hookbox_oldest_pending_seconds"); got != 0 {
		t.Errorf("hookbox_oldest_pending_seconds = %v, want 0", got)
	}
}

// Ensures a failing count exposes none of the queue gauges (nothing stale)
// and counts store_errors{op="count"}, and that a later RegisterQueue
// replaces the function.
func TestRegisterQueue_Error(t *testing.T) {
	m := prom.New(prom.Options{})
	url := mustServe(t, m)
	m.RegisterQueue(func(context.Context) (map[hookbox.State]int, time.Time, error) {
		return map[hookbox.State]int{hookbox.StateDead: 7}, time.Time{}, errors.New("database is locked")
	})
	mfs := scrape(t, url)
	for _, name := range []string{"hookbox_events", "hookbox_dead_events", "hookbox_oldest_pending_seconds"} {
		if mfs[name] != nil {
			t.Errorf("%s exposed after a failed count", name)
		}
	}

	m.RegisterQueue(func(context.Context) (map[hookbox.State]int, time.Time, error) {
		return map[hookbox.State]int{hookbox.StateDead: 2}, time.Time{}, nil
	})
	mfs = scrape(t, url)
	if got := counterValue(mfs, "hookbox_store_errors_total", prom.OpCount); got != 1 {
		t.Errorf(`store_errors_total{op="count"} = %v, want 1`, got)
	}
	if got := gauge(t, mfs, "hookbox_dead_events"); got != 2 {
		t.Errorf("hookbox_dead_events = %v, want 2 (the replacement's)", got)
	}

	m.RegisterQueue(nil)
	if mfs := scrape(t, url); mfs["hookbox_events"] != nil {
		t.Error("queue gauges exposed after RegisterQueue(nil)")
	}
}

// Ensures a count that does not answer is cut off by QueueTimeout: the
// scrape still answers, without the queue gauges, and counts the error.
func TestRegisterQueue_Timeout(t *testing.T) {
	m := prom.New(prom.Options{QueueTimeout: 20 * time.Millisecond})
	url := mustServe(t, m)
	m.RegisterQueue(func(ctx context.Context) (map[hookbox.State]int, time.Time, error) {
		<-ctx.Done() // a store that hangs until the deadline
		return nil, time.Time{}, ctx.Err()
	})
	if mfs := scrape(t, url); mfs["hookbox_events"] != nil {
		t.Error("queue gauges exposed after a timed-out count")
	}
	m.RegisterQueue(nil)
	if got := counterValue(scrape(t, url), "hookbox_store_errors_total", prom.OpCount); got != 1 {
		t.Errorf(`store_errors_total{op="count"} = %v, want 1`, got)
	}
}
