package amqp_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	amqpgo "github.com/rabbitmq/amqp091-go"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/broker/brokertest"
	"github.com/hookbox/hookbox/deliver"
)

// TestWorker_BrokerRestart ensures a Worker delivering to RabbitMQ loses
// nothing when the broker itself is stopped mid-run and started again: the
// messages confirmed before the stop survive it (durable queue, persistent
// messages), attempts fail and are recorded while it is down, the events
// stay pending, the destination reconnects by itself once the broker is
// back, and every event then arrives (at least once); a replay publishes
// them all again with the next attempt number.
//
// The broker is a throwaway rabbitmq-server node the test starts and stops
// itself (own node name, ports, cookie and data directory); the system
// RabbitMQ is never touched. It boots in about 7-11 s here, twice per run.
func TestWorker_BrokerRestart(t *testing.T) {
	start := time.Now()
	srv := startRabbitServer(t)
	t.Logf("throwaway rabbitmq-server %s up on %s in %v", srv.node, srv.Addr(), time.Since(start).Round(time.Millisecond))

	// A durable exchange and queue, so that they and the persistent
	// messages in the queue survive the restart.
	exchange, queue := unique("hb-test-x"), unique("hb-test-q")
	ch := consumerChannel(t, srv.URL())
	if err := ch.ExchangeDeclare(exchange, "topic", true, false, false, false, nil); err != nil {
		t.Fatalf("declare exchange: %v", err)
	}
	if _, err := ch.QueueDeclare(queue, true, false, false, false, nil); err != nil {
		t.Fatalf("declare queue: %v", err)
	}
	if err := ch.QueueBind(queue, "stripe.#", exchange, false, nil); err != nil {
		t.Fatalf("bind queue: %v", err)
	}
	d := mustNew(t, "rabbit", srv.URL()+"?exchange="+exchange, deliver.BrokerOptions{Timeout: 2 * time.Second})
	s := brokertest.OpenStore(t)
	w := startWorkerRetry(t, s, d, 20*time.Millisecond, 400*time.Millisecond)

	const n = 20
	batch := func(from int) []*hookbox.Event { return brokertest.InsertBatch(t, s, w, "evt_restart_%03d", from, n) }

	// Up: the first batch is confirmed, so it is in the queue.
	before := batch(0)
	for _, ev := range before {
		brokertest.WaitState(t, s, ev.ID, hookbox.StateDelivered)
	}
	if q, err := ch.QueueDeclarePassive(queue, true, false, false, false, nil); err != nil || q.Messages != n {
		t.Fatalf("queue before the stop: %d messages (%v), want %d", q.Messages, err, n)
	}

	// Down: the broker stops; the second batch fails and waits.
	stopped := time.Now()
	srv.Stop()
	t.Logf("stopped in %v", time.Since(stopped).Round(time.Millisecond))
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
			t.Errorf("%s is %s while the broker is down, want pending (or delivering)", ev.ID, got.State)
		}
	}

	// Back: the same node, ports and data.
	restarted := time.Now()
	srv.Start()
	t.Logf("restarted in %v", time.Since(restarted).Round(time.Millisecond))
	all := append(before, during...)
	for _, ev := range all {
		brokertest.WaitState(t, s, ev.ID, hookbox.StateDelivered)
	}
	for _, ev := range during {
		as := brokertest.Attempts(t, s, ev.ID)
		if len(as) < 2 || as[0].OK {
			t.Errorf("%s: %d attempts, first OK %t: the stop left no failed attempt", ev.ID, len(as), len(as) > 0 && as[0].OK)
		}
		if last := as[len(as)-1]; !last.OK || last.StatusCode != 0 {
			t.Errorf("%s: last attempt %+v", ev.ID, last)
		}
	}

	// Every event is in the queue: the first batch survived the restart,
	// the second arrived after it. Each is checked as published by its
	// successful attempt.
	c := consume(t, consumerChannel(t, srv.URL()), queue)
	brokertest.WaitFor(t, "every event", func() bool { return c.ids() == len(all) })
	lastNumber := make(map[string]int)
	for _, ev := range all {
		as := brokertest.Attempts(t, s, ev.ID)
		lastNumber[ev.ID] = as[len(as)-1].Number
		checkPublished(t, c, ev, lastNumber[ev.ID])
	}
	if c.count() > len(all) {
		t.Logf("%d messages for %d events: a publish confirmed too late for its attempt was repeated", c.count(), len(all))
	}

	// Replay: every event published again, numbered after its last attempt.
	ids := make([]string, len(all))
	for i, ev := range all {
		ids[i] = ev.ID
	}
	if got, err := s.ReplayEvents(context.Background(), hookbox.ReplayFilter{IDs: ids}, time.Now()); err != nil || got != len(all) {
		t.Fatalf("replay: %d, %v", got, err)
	}
	w.Wake()
	for _, ev := range all {
		brokertest.WaitState(t, s, ev.ID, hookbox.StateDelivered)
		brokertest.WaitFor(t, ev.ID+" replayed", func() bool { return published(c, ev.ID, lastNumber[ev.ID]+1) != nil })
		checkPublished(t, c, ev, lastNumber[ev.ID]+1)
	}
	t.Logf("whole test %v", time.Since(start).Round(time.Millisecond))
}

// published returns the message of event id published at attempt, or nil.
func published(c *consumer, id string, attempt int) *amqpgo.Delivery {
	for _, d := range c.deliveries(id) {
		if d.Headers["Hookbox-Attempt"] == strconv.Itoa(attempt) {
			return &d
		}
	}
	return nil
}

// checkPublished checks that ev's message of attempt arrived, as published.
func checkPublished(tb testing.TB, c *consumer, ev *hookbox.Event, attempt int) {
	tb.Helper()
	d := published(c, ev.ID, attempt)
	if d == nil {
		tb.Errorf("%s: no message of attempt %d among %d", ev.ID, attempt, len(c.deliveries(ev.ID)))
		return
	}
	checkMessage(tb, *d, ev, attempt)
}
