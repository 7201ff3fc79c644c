package deliver_test

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
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
				total += drainOnce(b, conc, benchBacklog, 0, false)
			}
			b.ReportMetric(float64(b.N*benchBacklog)/total.Seconds(), "events/s")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// BenchmarkDrainOrdered measures the cost of delivery in object order:
// the same 20,000-event backlog, spread over 2,000 Stripe objects of 10
// events each, drained unordered and then ordered (deliver.Ordered, order
// keys set), alternately, b.N rounds of each. Two arrivals: in-order, the
// objects' events interleaved as live traffic brings them (each object's
// in creation order), and shuffled, stored in a random order, where each
// object's next event is anywhere in the queue (the worst case for the
// store: the rows a claim takes are scattered over the table). Reports
// both rates and ordered/unordered, the ratio the target is about
// (at least 0.8). The ordered rounds also check that each object's events
// reached the destination in creation order.
func BenchmarkDrainOrdered(b *testing.B) {
	const objects = 2000
	for _, arrival := range []string{"in-order", "shuffled"} {
		b.Run("arrival="+arrival, func(b *testing.B) {
			var plain, ordered time.Duration
			for i := 0; i < b.N; i++ {
				plain += drainOnce(b, 32, benchBacklog, 0, false)
				ordered += drainOnce(b, 32, benchBacklog, objects, arrival == "shuffled")
			}
			b.ReportMetric(float64(b.N*benchBacklog)/plain.Seconds(), "unordered-events/s")
			b.ReportMetric(float64(b.N*benchBacklog)/ordered.Seconds(), "ordered-events/s")
			b.ReportMetric(plain.Seconds()/ordered.Seconds(), "ordered/unordered")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// drainOnce drains a backlog of n events with conc deliveries at once and
// returns how long it took. With objects > 0 the events are about that
// many objects, stored shuffled, and delivered in object order.
func drainOnce(b *testing.B, conc, n, objects int, shuffled bool) time.Duration {
	b.StopTimer()
	s := mustOpenStore(b)
	var got atomic.Int64
	seq := make(map[string][2]int, n) // event id -> object, step
	var mu sync.Mutex
	last := make(map[int]int)
	var disorder atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if objects > 0 {
			pos := seq[r.Header.Get(deliver.HeaderIdempotencyKey)]
			mu.Lock()
			if pos[1] < last[pos[0]] {
				disorder.Add(1)
			}
			last[pos[0]] = pos[1]
			mu.Unlock()
		}
		got.Add(1)
	}))
	defer srv.Close()
	all := make([]*hookbox.Event, n)
	for i := range all {
		ev := newEvent(fmt.Sprintf("evt_drain_%06d", i), "payment_intent.succeeded", false)
		if objects > 0 {
			o, step := i%objects, i/objects
			ev.OrderKey = fmt.Sprintf("stripe//test/pi_%d", o)
			ev.Created = int64(1_700_000_000 + step)
			seq[ev.ID] = [2]int{o, step}
		}
		all[i] = ev
	}
	if objects > 0 && shuffled {
		rand.New(rand.NewPCG(1, 2)).Shuffle(n, func(i, j int) { all[i], all[j] = all[j], all[i] })
	}
	for i := 0; i < n; i += 1000 {
		mustInsert(b, s, all[i:min(i+1000, n)]...)
	}
	var dest deliver.Destination = mustHTTP(b, "app", srv.URL, deliver.HTTPOptions{})
	if objects > 0 {
		dest = deliver.Ordered(dest, deliver.Ordering{})
	}
	w := &deliver.Worker{
		Queue:        s,
		Destinations: []deliver.Destination{dest},
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
	if d := disorder.Load(); d > 0 {
		b.Fatalf("%d events reached the destination before an older event of their object", d)
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
