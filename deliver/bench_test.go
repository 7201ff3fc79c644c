package deliver_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/deliver"
)

// benchBacklog is the size of the backlog BenchmarkDrain delivers per
// iteration (the benchmark: 20,000 events).
const benchBacklog = 20000

// BenchmarkDrain measures how fast a Worker drains a backlog of events
// already in the SQLite store to a local HTTP destination answering 200:
// from Start until the last event's claim is completed (delivered in the
// store). Reports events/s.
func BenchmarkDrain(b *testing.B) {
	for _, conc := range []int{32, 128} {
		b.Run(fmt.Sprintf("concurrency=%d", conc), func(b *testing.B) {
			var total time.Duration
			for i := 0; i < b.N; i++ {
				total += drainOnce(b, conc, benchBacklog)
			}
			b.ReportMetric(float64(b.N*benchBacklog)/total.Seconds(), "events/s")
			b.ReportMetric(0, "ns/op")
		})
	}
}

func drainOnce(b *testing.B, conc, n int) time.Duration {
	b.StopTimer()
	s := mustOpenStore(b)
	var got atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		got.Add(1)
	}))
	defer srv.Close()
	evs := make([]*hookbox.Event, 0, 1000)
	for i := 0; i < n; i++ {
		evs = append(evs, newEvent(fmt.Sprintf("evt_drain_%06d", i), "payment_intent.succeeded", false))
		if len(evs) == cap(evs) || i == n-1 {
			mustInsert(b, s, evs...)
			evs = evs[:0]
		}
	}
	w := &deliver.Worker{
		Queue:        s,
		Destinations: []deliver.Destination{mustHTTP(b, "app", srv.URL, deliver.HTTPOptions{})},
		Concurrency:  conc,
		Logger:       quietLogger(),
	}
	b.StartTimer()
	start := time.Now()
	if err := w.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	for {
		if got.Load() >= int64(n) {
			counts, _, err := s.CountEvents(context.Background())
			if err != nil {
				b.Fatal(err)
			}
			if counts[hookbox.StateDelivered] == n {
				break
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
	el := time.Since(start)
	b.StopTimer()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.Shutdown(ctx); err != nil {
		b.Fatal(err)
	}
	if got.Load() != int64(n) {
		b.Fatalf("destination received %d requests for %d events", got.Load(), n)
	}
	return el
}

// BenchmarkPickupLatency measures the time from the commit of a new event
// (InsertEvents returned) plus Wake to the destination receiving the
// request, one event at a time on an idle worker. Reports p50 and p99.
func BenchmarkPickupLatency(b *testing.B) {
	s := mustOpenStore(b)
	arrived := make(chan time.Time, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		arrived <- time.Now()
	}))
	defer srv.Close()
	w := &deliver.Worker{
		Queue:        s,
		Destinations: []deliver.Destination{mustHTTP(b, "app", srv.URL, deliver.HTTPOptions{})},
		PollInterval: time.Hour, // only Wake picks events up
		Logger:       quietLogger(),
	}
	if err := w.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer w.Shutdown(context.Background())
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		ev := newEvent(fmt.Sprintf("evt_pickup_%07d", i), "payment_intent.succeeded", false)
		// Let the previous completion land, so the worker is idle.
		time.Sleep(time.Millisecond)
		b.StartTimer()
		mustInsert(b, s, ev)
		committed := time.Now()
		w.Wake()
		at := <-arrived
		lat = append(lat, at.Sub(committed))
	}
	b.StopTimer()
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}
