package broker_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	amqpgo "github.com/rabbitmq/amqp091-go"
	goredis "github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/broker/amqp"
	"github.com/hookbox/hookbox/broker/kafka"
	natsdest "github.com/hookbox/hookbox/broker/nats"
	"github.com/hookbox/hookbox/broker/redis"
	"github.com/hookbox/hookbox/deliver"
	"github.com/hookbox/hookbox/sqlite"
	"github.com/hookbox/hookbox/storetest"
)

// The brokers that run on every machine of the project (CI's included).
// No Kafka server runs here: Kafka is franz-go's kfake, in this process.
const (
	natsURL   = "nats://127.0.0.1:4222"
	rabbitURL = "amqp://guest:guest@127.0.0.1:5672/"
	redisAddr = "127.0.0.1:6379"
)

// defaultBacklog is how many events BenchmarkDrain drains to each
// destination (the benchmark: 20,000 events).
const defaultBacklog = 20000

// backlogEnv names the environment variable that sets another backlog,
// e.g. HOOKBOX_BENCH_EVENTS=2000 for a quick run.
const backlogEnv = "HOOKBOX_BENCH_EVENTS"

// drainDeadline bounds one drain: a destination that loses events fails
// the benchmark rather than hanging it.
const drainDeadline = 5 * time.Minute

// kafkaPartitions is the partition count of the benchmark's Kafka topic.
const kafkaPartitions = 4

// secret signs what the destinations publish; the consumers do not check
// it (the broker packages' tests do).
const secret = "whsec_bench_broker_drain_0123456789"

// BenchmarkDrain drains the same backlog of events (20,000 by default,
// HOOKBOX_BENCH_EVENTS to change it), ~2.7 KB Stripe-shaped bodies in a
// fresh SQLite store, through a deliver.Worker at its default concurrency
// (deliver.DefaultConcurrency, 32 events in flight) to one destination
// of each kind in turn, in one run:
//
//   - HTTP: an httptest server answering 200;
//   - NATS: a fresh JetStream stream (file storage) on the system server,
//     each publish acknowledged;
//   - RabbitMQ: a fresh durable topic exchange and durable queue on the
//     system server, each publish confirmed (mandatory);
//   - Redis: a fresh stream on the system server, each XADD answered;
//   - Kafka: a kfake cluster in this process (no Kafka server runs here),
//     a topic of 4 partitions, acks=all with the idempotent producer.
//
// Each kind has an independent consumer (an HTTP handler, a JetStream
// ordered consumer, an AMQP consumer, XREAD, a franz-go consumer) that
// counts distinct Idempotency-Key values (the event id); the time runs
// from the Worker's Start until it has seen every event id. Then, untimed,
// every event must be delivered in the store. Each kind reports events/s,
// and each broker its rate divided by HTTP's from the same run (x-http;
// with -count, by the mean of the HTTP rounds before it).
//
// A broker that does not answer skips its kind, loudly (fails under CI).
// Run:
//
//	go test -run '^$' -bench Drain -benchtime 1x ./broker/
func BenchmarkDrain(b *testing.B) {
	n := backlog(b)
	// Configuration lines of the Go benchmark format (key: value), which
	// benchstat keeps with the results.
	fmt.Printf("backlog: %d events\nconcurrency: %d\n", n, deliver.DefaultConcurrency)
	var httpRates []float64
	for _, k := range []struct {
		name  string
		setup func(b *testing.B, seen *idSet) deliver.Destination
	}{
		{"HTTP", httpDestination},
		{"NATS", natsDestination},
		{"RabbitMQ", rabbitDestination},
		{"Redis", redisDestination},
		{"Kafka", kafkaDestination},
	} {
		b.Run(k.name, func(b *testing.B) {
			var total time.Duration
			for range b.N {
				total += drainOnce(b, n, k.setup)
			}
			rate := float64(b.N*n) / total.Seconds()
			b.ReportMetric(rate, "events/s")
			b.ReportMetric(0, "ns/op")
			switch {
			case k.name == "HTTP":
				httpRates = append(httpRates, rate)
			case len(httpRates) > 0:
				b.ReportMetric(rate/mean(httpRates), "x-http")
			}
		})
	}
}

// drainOnce fills a fresh store with n events, starts a Worker that
// delivers them to the destination setup returns, and returns the time
// from Start until the destination's consumer has seen every event id.
func drainOnce(b *testing.B, n int, setup func(*testing.B, *idSet) deliver.Destination) time.Duration {
	b.StopTimer()
	seen := newIDSet()
	d := setup(b, seen)
	s := mustOpenStore(b)
	fill(b, s, n)
	w := &deliver.Worker{
		Queue:        s,
		Destinations: []deliver.Destination{d},
		Concurrency:  deliver.DefaultConcurrency,
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	b.StartTimer()
	start := time.Now()
	if err := w.Start(context.Background()); err != nil {
		b.Fatalf("start worker: %v", err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		w.Shutdown(ctx)
	}()
	for seen.distinct() < n {
		if time.Since(start) > drainDeadline {
			b.Fatalf("after %v the consumer has seen %d of %d events (last consumer error: %v)",
				drainDeadline, seen.distinct(), n, seen.lastErr())
		}
		time.Sleep(2 * time.Millisecond)
	}
	el := time.Since(start)
	b.StopTimer()
	// Untimed: the Worker records every event delivered.
	deadline := time.Now().Add(time.Minute)
	for {
		counts, _, err := s.CountEvents(context.Background())
		if err != nil {
			b.Fatalf("count events: %v", err)
		}
		if counts[hookbox.StateDelivered] == n {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("the consumer saw every event but the store counts %v", counts)
		}
		time.Sleep(2 * time.Millisecond)
	}
	if extra := seen.messages() - n; extra > 0 {
		b.Logf("%d messages repeated an event id already seen", extra)
	}
	return el
}

// backlog returns the number of events to drain: defaultBacklog, or the
// value of backlogEnv.
func backlog(b *testing.B) int {
	b.Helper()
	v := os.Getenv(backlogEnv)
	if v == "" {
		return defaultBacklog
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		b.Fatalf("%s=%q: want a positive number of events", backlogEnv, v)
	}
	return n
}

// fill stores n pending events with distinct ids, 1,000 per transaction.
func fill(b *testing.B, s *sqlite.Store, n int) {
	b.Helper()
	evs := make([]*hookbox.Event, 0, 1000)
	for i := range n {
		evs = append(evs, storetest.BenchEvent(int64(i)))
		if len(evs) < cap(evs) && i < n-1 {
			continue
		}
		res, err := s.InsertEvents(context.Background(), evs)
		if err != nil {
			b.Fatalf("insert events: %v", err)
		}
		for j, r := range res {
			if r.Err != nil || r.Duplicate {
				b.Fatalf("insert event %s: %+v", evs[j].ID, r)
			}
		}
		evs = evs[:0]
	}
}

// httpDestination returns an HTTP destination to an httptest server that
// answers 200 and counts the Idempotency-Key of each request.
func httpDestination(b *testing.B, seen *idSet) deliver.Destination {
	b.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		seen.add(r.Header.Get(deliver.HeaderIdempotencyKey))
	}))
	b.Cleanup(srv.Close)
	d, err := deliver.NewHTTP("bench", srv.URL, secret, deliver.HTTPOptions{})
	if err != nil {
		b.Fatalf("NewHTTP: %v", err)
	}
	return d
}

// natsDestination creates a JetStream stream of its own on the system
// NATS server (deleted at the end), starts an ordered consumer of it that
// counts the Idempotency-Key header, and returns a NATS destination that
// publishes to the stream.
func natsDestination(b *testing.B, seen *idSet) deliver.Destination {
	b.Helper()
	nc, err := natsgo.Connect(natsURL, natsgo.Timeout(3*time.Second))
	if err != nil {
		unavailable(b, "NATS at %s does not answer: %v", natsURL, err)
	}
	b.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		b.Fatal(err)
	}
	id := randID(b)
	stream, prefix := "HBBENCH_"+strings.ToUpper(id), "hbbench."+id
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name:       stream,
		Subjects:   []string{prefix + ".>"},
		Storage:    jetstream.FileStorage,
		Duplicates: 2 * time.Minute,
	}); err != nil {
		b.Fatalf("create stream: %v", err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := js.DeleteStream(ctx, stream); err != nil {
			b.Logf("delete stream %s: %v", stream, err)
		}
	})
	c, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		b.Fatalf("ordered consumer: %v", err)
	}
	cc, err := c.Consume(func(m jetstream.Msg) {
		seen.add(m.Headers().Get(deliver.HeaderIdempotencyKey))
	}, jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) { seen.fail(err) }))
	if err != nil {
		b.Fatalf("consume: %v", err)
	}
	b.Cleanup(cc.Stop)
	d, err := natsdest.New("bench", natsURL+"?subject="+prefix+".{type}&stream="+stream, secret, deliver.BrokerOptions{})
	if err != nil {
		b.Fatalf("nats.New: %v", err)
	}
	b.Cleanup(func() { d.Close() })
	return d
}

// rabbitDestination declares a durable topic exchange and a durable queue
// bound to it on the system RabbitMQ (deleted at the end), starts a
// consumer of the queue that counts the Idempotency-Key header, and
// returns a RabbitMQ destination that publishes to the exchange.
func rabbitDestination(b *testing.B, seen *idSet) deliver.Destination {
	b.Helper()
	conn, err := amqpgo.DialConfig(rabbitURL, amqpgo.Config{Dial: amqpgo.DefaultDial(3 * time.Second)})
	if err != nil {
		unavailable(b, "RabbitMQ at %s does not answer: %v", strings.TrimPrefix(rabbitURL, "amqp://guest:guest@"), err)
	}
	b.Cleanup(func() { conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		b.Fatalf("channel: %v", err)
	}
	id := randID(b)
	exchange, queue := "hb-bench-x-"+id, "hb-bench-q-"+id
	if err := ch.ExchangeDeclare(exchange, "topic", true, false, false, false, nil); err != nil {
		b.Fatalf("declare exchange: %v", err)
	}
	if _, err := ch.QueueDeclare(queue, true, false, false, false, nil); err != nil {
		b.Fatalf("declare queue: %v", err)
	}
	b.Cleanup(func() {
		ch.QueueDelete(queue, false, false, false)
		ch.ExchangeDelete(exchange, false, false)
	})
	if err := ch.QueueBind(queue, "stripe.#", exchange, false, nil); err != nil {
		b.Fatalf("bind queue: %v", err)
	}
	ds, err := ch.Consume(queue, "", true, false, false, false, nil)
	if err != nil {
		b.Fatalf("consume: %v", err)
	}
	go func() {
		for m := range ds {
			evID, _ := m.Headers[deliver.HeaderIdempotencyKey].(string)
			seen.add(evID)
		}
	}()
	d, err := amqp.New("bench", rabbitURL+"?exchange="+exchange, secret, deliver.BrokerOptions{})
	if err != nil {
		b.Fatalf("amqp.New: %v", err)
	}
	b.Cleanup(func() { d.Close() })
	return d
}

// redisDestination starts a consumer (XREAD) of a stream key of its own
// on the system Redis (deleted at the end) that counts the
// Idempotency-Key field, and returns a Redis destination that appends to
// that stream.
func redisDestination(b *testing.B, seen *idSet) deliver.Destination {
	b.Helper()
	c := goredis.NewClient(&goredis.Options{Addr: redisAddr})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		c.Close()
		unavailable(b, "Redis at %s does not answer: %v", redisAddr, err)
	}
	key := "hookbox-bench:" + randID(b)
	b.Cleanup(func() {
		c.Del(context.Background(), key)
		c.Close()
	})
	consume(b, func(ctx context.Context) {
		last := "0-0"
		for ctx.Err() == nil {
			res, err := c.XRead(ctx, &goredis.XReadArgs{Streams: []string{key, last}, Count: 1000, Block: 500 * time.Millisecond}).Result()
			if err != nil {
				if !errors.Is(err, goredis.Nil) && ctx.Err() == nil {
					seen.fail(err)
					time.Sleep(10 * time.Millisecond) // a broken connection: do not spin
				}
				continue
			}
			for _, st := range res {
				for _, m := range st.Messages {
					last = m.ID
					evID, _ := m.Values[deliver.HeaderIdempotencyKey].(string)
					seen.add(evID)
				}
			}
		}
	})
	d, err := redis.New("bench", "redis://"+redisAddr+"?stream="+key, secret, deliver.BrokerOptions{})
	if err != nil {
		b.Fatalf("redis.New: %v", err)
	}
	b.Cleanup(func() { d.Close() })
	return d
}

// kafkaDestination starts a kfake cluster in this process with a topic
// of kafkaPartitions partitions and a franz-go consumer of it that counts
// the Idempotency-Key header, and returns a Kafka destination that
// produces to the topic.
func kafkaDestination(b *testing.B, seen *idSet) deliver.Destination {
	b.Helper()
	topic := "hb-bench-" + randID(b)
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(kafkaPartitions, topic))
	if err != nil {
		b.Fatalf("start kfake: %v", err)
	}
	b.Cleanup(cluster.Close)
	addr := cluster.ListenAddrs()[0]
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(addr),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	)
	if err != nil {
		b.Fatalf("consumer: %v", err)
	}
	b.Cleanup(cl.Close)
	consume(b, func(ctx context.Context) {
		for ctx.Err() == nil {
			fs := cl.PollFetches(ctx)
			fs.EachError(func(_ string, _ int32, err error) {
				if ctx.Err() == nil {
					seen.fail(err)
				}
			})
			fs.EachRecord(func(r *kgo.Record) {
				for _, h := range r.Headers {
					if h.Key == deliver.HeaderIdempotencyKey {
						seen.add(string(h.Value))
					}
				}
			})
		}
	})
	d, err := kafka.New("bench", "kafka://"+addr+"?topic="+topic, secret, deliver.BrokerOptions{})
	if err != nil {
		b.Fatalf("kafka.New: %v", err)
	}
	b.Cleanup(func() { d.Close() })
	return d
}

// consume runs loop in a goroutine until the benchmark ends, then cancels
// its context and waits for it to return.
func consume(b *testing.B, loop func(ctx context.Context)) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		loop(ctx)
	}()
	b.Cleanup(func() {
		cancel()
		<-done
	})
}

// idSet is what a consumer saw: the distinct event ids, the messages, and
// its last error.
type idSet struct {
	mu   sync.Mutex
	ids  map[string]struct{}
	msgs int
	err  error
}

func newIDSet() *idSet { return &idSet{ids: make(map[string]struct{}, defaultBacklog)} }

// add records a message with the event id id.
func (s *idSet) add(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ids[id] = struct{}{}
	s.msgs++
}

// fail records a consumer error.
func (s *idSet) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.err = err
}

func (s *idSet) distinct() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.ids)
}

func (s *idSet) messages() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.msgs
}

func (s *idSet) lastErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// mustOpenStore opens a fresh SQLite store, closed when the benchmark
// ends.
func mustOpenStore(b *testing.B) *sqlite.Store {
	b.Helper()
	s, err := sqlite.Open(filepath.Join(b.TempDir(), "hookbox.db"))
	if err != nil {
		b.Fatalf("open store: %v", err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// randID returns a random name suffix no other run uses.
func randID(b *testing.B) string {
	b.Helper()
	var r [6]byte
	if _, err := rand.Read(r[:]); err != nil {
		b.Fatal(err)
	}
	return hex.EncodeToString(r[:])
}

// unavailable skips the kind whose broker does not answer, saying so
// loudly; under CI, where the brokers must run, it fails.
func unavailable(b *testing.B, format string, args ...any) {
	b.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") != "" {
		b.Fatalf("%s (CI is set: the broker must run)", msg)
	}
	fmt.Fprintf(os.Stderr, "\n!!! SKIPPING %s: %s\n\n", b.Name(), msg)
	b.Skip("SKIPPED: " + msg)
}

func mean(xs []float64) float64 {
	var sum float64
	for _, x := range xs {
		sum += x
	}
	return sum / float64(len(xs))
}
