package amqp_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/broker/brokertest"
	"github.com/hookbox/hookbox/deliver"
)

// benchBacklog is the backlog BenchmarkDrain publishes per iteration (the
// issue's benchmark: 20,000 events), as deliver's BenchmarkDrain does to
// HTTP.
const benchBacklog = 20000

// BenchmarkDrain measures how fast a Worker drains a backlog of events in
// the SQLite store to the system RabbitMQ, each publish confirmed, into a
// queue an independent consumer empties: from Start until every event is
// delivered in the store. Reports events/s.
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
	rabbit := mustRabbit(b)
	ch := consumerChannel(b, rabbit)
	exchange, queue := mustExchange(b, ch, "stripe.#")
	c := consume(b, ch, queue)
	d := mustNew(b, "rabbit", rabbit+"?exchange="+exchange, deliver.BrokerOptions{})
	s := brokertest.OpenStore(b)
	evs := make([]*hookbox.Event, 0, 1000)
	for i := 0; i < n; i++ {
		evs = append(evs, brokertest.NewEvent(fmt.Sprintf("evt_drain_%06d", i), "payment_intent.succeeded", false))
		if len(evs) == cap(evs) || i == n-1 {
			brokertest.Insert(b, s, evs...)
			evs = evs[:0]
		}
	}
	w := &deliver.Worker{
		Queue:        s,
		Destinations: []deliver.Destination{d},
		Concurrency:  conc,
		Logger:       brokertest.QuietLogger(),
	}
	b.StartTimer()
	start := time.Now()
	if err := w.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	for {
		if c.count() >= n {
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
	if c.count() != n || c.ids() != n {
		b.Fatalf("consumer received %d messages, %d distinct, for %d events", c.count(), c.ids(), n)
	}
	return el
}
