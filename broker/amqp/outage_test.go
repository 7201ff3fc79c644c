package amqp_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/broker/brokertest"
	"github.com/hookbox/hookbox/deliver"
	"github.com/hookbox/hookbox/sqlite"
)

// TestWorker_BrokerOutage ensures a Worker delivering to RabbitMQ loses
// nothing when the broker goes away mid-run and comes back: attempts fail
// and are recorded while it is away, the events stay pending, the
// destination reconnects by itself, and every event then arrives exactly
// once (failed attempts published nothing); a replay publishes them all
// again with the next attempt number.
//
// The outage is a TCP proxy the test owns, cut and restored, between the
// destination and the system RabbitMQ, which is never stopped: open
// connections are severed at once, and the exactly-once count holds since
// no publish was in flight. TestWorker_BrokerRestart stops and restarts a
// real (throwaway) broker.
func TestWorker_BrokerOutage(t *testing.T) {
	rabbit := mustRabbit(t)
	ch := consumerChannel(t, rabbit)
	exchange, queue := mustExchange(t, ch, "stripe.#")
	c := consume(t, ch, queue)
	p := newProxy(t, rabbitAddr)
	d := mustNew(t, "rabbit", "amqp://guest:guest@"+p.Addr()+"/?exchange="+exchange, deliver.BrokerOptions{Timeout: 2 * time.Second})

	s := brokertest.OpenStore(t)
	w := startWorker(t, s, d)

	const n = 20
	batch := func(from int) []*hookbox.Event { return brokertest.InsertBatch(t, s, w, "evt_outage_%03d", from, n) }

	// Up: the first batch goes through.
	before := batch(0)
	for _, ev := range before {
		brokertest.WaitState(t, s, ev.ID, hookbox.StateDelivered)
	}

	// Down: the connection is severed; the second batch fails and waits.
	p.Cut()
	during := batch(n)
	for _, ev := range during {
		brokertest.WaitFor(t, ev.ID+" failing", func() bool {
			for _, a := range brokertest.Attempts(t, s, ev.ID) {
				if !a.OK && a.Error != "" {
					return true
				}
			}
			return false
		})
	}
	for _, ev := range during {
		// Pending, or claimed for its next attempt: neither delivered nor dead.
		if got := brokertest.FindEvent(t, s, ev.ID); got.State != hookbox.StatePending && got.State != hookbox.StateDelivering {
			t.Errorf("%s is %s during the outage, want pending (or delivering)", ev.ID, got.State)
		}
	}

	// Back: everything arrives, each once.
	p.Restore()
	all := append(before, during...)
	for _, ev := range all {
		brokertest.WaitState(t, s, ev.ID, hookbox.StateDelivered)
	}
	brokertest.WaitFor(t, "every message", func() bool { return c.count() >= len(all) })
	for _, ev := range all {
		ds := c.deliveries(ev.ID)
		if len(ds) != 1 {
			t.Errorf("%s received %d times, want once", ev.ID, len(ds))
			continue
		}
		as := brokertest.Attempts(t, s, ev.ID)
		last := as[len(as)-1]
		if !last.OK || last.StatusCode != 0 {
			t.Errorf("%s: last attempt %+v", ev.ID, last)
		}
		checkMessage(t, ds[0], ev, last.Number)
	}
	for _, ev := range during {
		if as := brokertest.Attempts(t, s, ev.ID); len(as) < 2 || as[0].OK {
			t.Errorf("%s: %d attempts, first OK %t: the outage left no failed attempt", ev.ID, len(as), as[0].OK)
		}
	}
	if p.Dials() < 2 {
		t.Errorf("%d connections through the proxy: the destination did not reconnect", p.Dials())
	}

	// Replay: every event published again, numbered after its last attempt.
	ids := make([]string, len(all))
	lastNumber := make(map[string]int)
	for i, ev := range all {
		ids[i] = ev.ID
		as := brokertest.Attempts(t, s, ev.ID)
		lastNumber[ev.ID] = as[len(as)-1].Number
	}
	if got, err := s.ReplayEvents(context.Background(), hookbox.ReplayFilter{IDs: ids}, time.Now()); err != nil || got != len(all) {
		t.Fatalf("replay: %d, %v", got, err)
	}
	w.Wake()
	brokertest.WaitFor(t, "every message replayed", func() bool { return c.count() >= 2*len(all) })
	for _, ev := range all {
		brokertest.WaitState(t, s, ev.ID, hookbox.StateDelivered)
		ds := c.deliveries(ev.ID)
		if len(ds) != 2 {
			t.Errorf("%s received %d times after the replay, want twice", ev.ID, len(ds))
			continue
		}
		if got := ds[1].Headers["Hookbox-Attempt"]; got != strconv.Itoa(lastNumber[ev.ID]+1) {
			t.Errorf("%s: replayed Hookbox-Attempt %v, want %d", ev.ID, got, lastNumber[ev.ID]+1)
		}
		checkMessage(t, ds[1], ev, lastNumber[ev.ID]+1)
	}
}

// TestWorker_CutMidPublish ensures that cutting the broker off while a
// Worker publishes a stream of events loses none: publishes in flight
// fail (or were confirmed), and after the broker is back every event
// arrives at least once, each attempt's outcome recorded.
func TestWorker_CutMidPublish(t *testing.T) {
	rabbit := mustRabbit(t)
	ch := consumerChannel(t, rabbit)
	exchange, queue := mustExchange(t, ch, "stripe.#")
	c := consume(t, ch, queue)
	p := newProxy(t, rabbitAddr)
	d := mustNew(t, "rabbit", "amqp://guest:guest@"+p.Addr()+"/?exchange="+exchange, deliver.BrokerOptions{Timeout: 2 * time.Second})
	s := brokertest.OpenStore(t)

	const n = 300
	evs := make([]*hookbox.Event, n)
	for i := range evs {
		evs[i] = brokertest.NewEvent(fmt.Sprintf("evt_cut_%03d", i), "charge.succeeded", false)
	}
	brokertest.Insert(t, s, evs...)
	startWorker(t, s, d).Wake()
	brokertest.WaitFor(t, "some messages", func() bool { return c.count() >= n/10 })
	p.Cut()
	failed := func() bool {
		for _, ev := range evs {
			for _, a := range brokertest.Attempts(t, s, ev.ID) {
				if !a.OK {
					return true
				}
			}
		}
		return false
	}
	brokertest.WaitFor(t, "a failed attempt", failed)
	p.Restore()
	for _, ev := range evs {
		brokertest.WaitState(t, s, ev.ID, hookbox.StateDelivered)
	}
	brokertest.WaitFor(t, "every message", func() bool { return c.ids() == n })
	if c.count() > n {
		t.Logf("%d messages for %d events: a confirm lost in the cut made a duplicate, which the message-id dedupes", c.count(), n)
	}
}

// startWorker starts a Worker delivering from s to d, retrying every few
// milliseconds without end, shut down when the test ends.
func startWorker(tb testing.TB, s *sqlite.Store, d deliver.Destination) *deliver.Worker {
	tb.Helper()
	return startWorkerRetry(tb, s, d, 5*time.Millisecond, 20*time.Millisecond)
}

// startWorkerRetry starts a Worker delivering from s to d, retrying
// without end after base, doubling up to cap, shut down when the test
// ends.
func startWorkerRetry(tb testing.TB, s *sqlite.Store, d deliver.Destination, base, cap time.Duration) *deliver.Worker {
	tb.Helper()
	return brokertest.StartWorker(tb, &deliver.Worker{
		Queue:        s,
		Destinations: []deliver.Destination{d},
		Retry:        brokertest.Retry(base, cap, 1<<20),
		PollInterval: 10 * time.Millisecond,
	})
}
