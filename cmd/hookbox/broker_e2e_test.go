package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	amqpgo "github.com/rabbitmq/amqp091-go"
	goredis "github.com/redis/go-redis/v9"
	"github.com/stripe/stripe-go/v85/webhook"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/deliver"
	"github.com/hookbox/hookbox/stripesig"
)

// The brokers every machine of the project runs, CI's included
// (scripts/test checks they answer). Tests never stop them; each test
// makes its own stream, exchange, queue or key and deletes it.
const (
	e2eNATS  = "127.0.0.1:4222"
	e2eAMQP  = "127.0.0.1:5672"
	e2eRedis = "127.0.0.1:6379"
)

// Secrets of the broker end-to-end test: the endpoint's (Stripe's) and
// one per destination, so a consumer of one broker cannot verify what
// another got. The NATS and RabbitMQ passwords must never be printed.
const (
	brokerEndpointSecret = "whsec_broker_e2e_endpoint_secret_0123456789abcdef"
	natsDestSecret       = "whsec_broker_e2e_nats_consumer_secret_0123456789"
	amqpDestSecret       = "whsec_broker_e2e_amqp_consumer_secret_0123456789"
	kafkaDestSecret      = "whsec_broker_e2e_kafka_consumer_secret_012345678"
	redisDestSecret      = "whsec_broker_e2e_redis_consumer_secret_012345678"
	natsPassword         = "nats-pw-never-printed-1357"
)

// brokerDown skips the test, loudly, when a broker does not answer and CI
// is unset; under CI, where the brokers must run, it fails.
func brokerDown(t *testing.T, kind, addr string, err error) {
	t.Helper()
	msg := fmt.Sprintf("%s at %s does not answer (%v): the %s destination is NOT tested end to end", kind, addr, err, kind)
	if os.Getenv("CI") != "" {
		t.Fatalf("%s; CI is set, so this is a failure", msg)
	}
	fmt.Fprintf(os.Stderr, "\n!!! SKIPPING %s: %s\n!!! Start it (scripts/test does); under CI this is a failure.\n\n", t.Name(), msg)
	t.Skip("SKIPPED: " + msg)
}

// randHex returns a short random name part no other test run uses.
func randHex(t *testing.T) string {
	t.Helper()
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b[:])
}

// brokerMsg is one message as a broker's own consumer reads it.
type brokerMsg struct {
	body    []byte
	headers map[string]string // deliver.MessageHeaders as the broker carried them
	key     string            // Nats-Msg-Id, AMQP message-id, Kafka record key; "" for Redis
	route   string            // the subject, routing key, topic or stream it went to
}

// brokerSink is one broker destination of the test: its URL and secret
// for the config file, and an independent consumer (the broker's own
// client, nothing of hookbox's) reading what was published to it.
type brokerSink struct {
	name, url, secret string
	// stored is the destination's name in the store's attempts: with
	// --config, endpoint/name; --forward-to's is "forward".
	stored string
	// read returns every message published so far, oldest first, and no
	// more: it must not miss one nor stop early.
	read func(t *testing.T) []brokerMsg
	// route is where an event of type typ must go.
	route func(typ string) string
	// dedupe: the broker drops a repeated message id (JetStream's
	// Nats-Msg-Id), so a retried attempt never shows twice.
	dedupe bool
}

// natsSink creates a JetStream stream of its own on the system NATS,
// deleted when the test ends. The URL carries a user and password (the
// server has no auth and ignores them) so that config check shows
// redaction.
func natsSink(t *testing.T) *brokerSink {
	t.Helper()
	nc, err := natsgo.Connect("nats://"+e2eNATS, natsgo.Timeout(2*time.Second))
	if err != nil {
		brokerDown(t, "NATS", e2eNATS, err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	id := randHex(t)
	stream, prefix := "HBE2E_"+strings.ToUpper(id), "hbe2e."+id
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: stream, Subjects: []string{prefix + ".>"}, Storage: jetstream.FileStorage, Duplicates: 2 * time.Minute}); err != nil {
		t.Fatalf("create stream: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := js.DeleteStream(ctx, stream); err != nil {
			t.Logf("delete stream %s: %v", stream, err)
		}
	})
	return &brokerSink{
		name:   "bus-nats",
		url:    fmt.Sprintf("nats://hookbox:%s@%s?subject=%s.{type}&stream=%s", natsPassword, e2eNATS, prefix, stream),
		secret: natsDestSecret,
		route:  func(typ string) string { return prefix + "." + typ },
		dedupe: true,
		read: func(t *testing.T) []brokerMsg {
			t.Helper()
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			s, err := js.Stream(ctx, stream)
			if err != nil {
				t.Fatalf("stream %s: %v", stream, err)
			}
			want := int(s.CachedInfo().State.Msgs) // the stream's own count: exact
			if want == 0 {
				return nil
			}
			c, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
			if err != nil {
				t.Fatalf("ordered consumer: %v", err)
			}
			var msgs []brokerMsg
			for len(msgs) < want && ctx.Err() == nil {
				batch, err := c.Fetch(want-len(msgs), jetstream.FetchMaxWait(2*time.Second))
				if err != nil {
					t.Fatalf("fetch: %v", err)
				}
				for m := range batch.Messages() {
					h := map[string]string{}
					for k := range m.Headers() {
						h[k] = m.Headers().Get(k)
					}
					msgs = append(msgs, brokerMsg{body: m.Data(), headers: h, key: h[jetstream.MsgIDHeader], route: m.Subject()})
				}
			}
			if len(msgs) != want {
				t.Fatalf("NATS: read %d messages of the %d the stream holds", len(msgs), want)
			}
			return msgs
		},
	}
}

// amqpSink declares a topic exchange and a queue bound to it (stripe.#)
// on the system RabbitMQ, deleted when the test ends. Reading drains the
// queue with basic.get: once hookbox has the publisher confirms, every
// message is in the queue, so an empty queue means all were read.
func amqpSink(t *testing.T) *brokerSink {
	t.Helper()
	rabbit := "amqp://guest:guest@" + e2eAMQP + "/"
	conn, err := amqpgo.DialConfig(rabbit, amqpgo.Config{Dial: amqpgo.DefaultDial(3 * time.Second)})
	if err != nil {
		brokerDown(t, "RabbitMQ", e2eAMQP, err)
	}
	t.Cleanup(func() { conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	id := randHex(t)
	exchange, queue := "hb-e2e-x-"+id, "hb-e2e-q-"+id
	if err := ch.ExchangeDeclare(exchange, "topic", false, false, false, false, nil); err != nil {
		t.Fatalf("declare exchange: %v", err)
	}
	if _, err := ch.QueueDeclare(queue, false, false, false, false, nil); err != nil {
		t.Fatalf("declare queue: %v", err)
	}
	t.Cleanup(func() {
		ch.QueueDelete(queue, false, false, false)
		ch.ExchangeDelete(exchange, false, false)
	})
	if err := ch.QueueBind(queue, "stripe.#", exchange, false, nil); err != nil {
		t.Fatalf("bind: %v", err)
	}
	var all []brokerMsg // basic.get consumes: keep what was read
	return &brokerSink{
		name:   "bus-amqp",
		url:    fmt.Sprintf("amqp://guest:guest@%s/?exchange=%s&routing_key=stripe.{livemode}.{type}", e2eAMQP, exchange),
		secret: amqpDestSecret,
		route:  func(typ string) string { return "stripe.test." + typ },
		read: func(t *testing.T) []brokerMsg {
			t.Helper()
			for {
				d, ok, err := ch.Get(queue, true)
				if err != nil {
					t.Fatalf("basic.get: %v", err)
				}
				if !ok {
					return all
				}
				h := map[string]string{}
				for k, v := range d.Headers {
					s, isString := v.(string)
					if !isString {
						t.Errorf("AMQP header %s = %#v, want a string", k, v)
					}
					h[k] = s
				}
				if d.ContentType != "application/json" {
					t.Errorf("AMQP content-type %q", d.ContentType)
				}
				all = append(all, brokerMsg{body: d.Body, headers: h, key: d.MessageId, route: d.RoutingKey})
			}
		},
	}
}

// redisSink names a stream key of its own on the system Redis, deleted
// when the test ends (hookbox's XADD creates it).
func redisSink(t *testing.T) *brokerSink {
	t.Helper()
	c := goredis.NewClient(&goredis.Options{Addr: e2eRedis, MaxRetries: -1})
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		brokerDown(t, "Redis", e2eRedis, err)
	}
	key := "hookbox-e2e:" + randHex(t)
	t.Cleanup(func() { c.Del(context.Background(), key) })
	return &brokerSink{
		name:   "bus-redis",
		url:    fmt.Sprintf("redis://%s/0?stream=%s", e2eRedis, key),
		secret: redisDestSecret,
		route:  func(string) string { return key },
		read: func(t *testing.T) []brokerMsg {
			t.Helper()
			entries, err := c.XRange(context.Background(), key, "-", "+").Result()
			if err != nil {
				t.Fatalf("XRANGE: %v", err)
			}
			var msgs []brokerMsg
			for _, e := range entries {
				h := map[string]string{}
				for k, v := range e.Values {
					h[k] = v.(string)
				}
				body := h["body"]
				delete(h, "body")
				msgs = append(msgs, brokerMsg{body: []byte(body), headers: h, route: key})
			}
			return msgs
		},
	}
}

// kafkaSink starts franz-go's in-process kfake cluster (no Kafka server
// runs here) with a topic, closed when the test ends. Reading produces a
// marker record with the test's own client, then consumes from the start
// up to it: everything hookbox produced before is in front of it.
func kafkaSink(t *testing.T) *brokerSink {
	t.Helper()
	topic := "hbe2e-" + randHex(t)
	cl, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, topic))
	if err != nil {
		t.Fatalf("kfake: %v", err)
	}
	t.Cleanup(cl.Close)
	addr := cl.ListenAddrs()[0]
	marks := 0
	return &brokerSink{
		name:   "bus-kafka",
		url:    fmt.Sprintf("kafka://%s?topic=%s", addr, topic),
		secret: kafkaDestSecret,
		route:  func(string) string { return topic },
		read: func(t *testing.T) []brokerMsg {
			t.Helper()
			marks++
			mark := fmt.Sprintf("e2e-marker-%d", marks)
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			p, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic))
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			if err := p.ProduceSync(ctx, &kgo.Record{Key: []byte(mark)}).FirstErr(); err != nil {
				t.Fatalf("produce marker: %v", err)
			}
			c, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			var msgs []brokerMsg
			for ctx.Err() == nil {
				fs := c.PollFetches(ctx)
				fs.EachError(func(_ string, _ int32, err error) {
					if ctx.Err() == nil {
						t.Errorf("consume: %v", err)
					}
				})
				for _, r := range fs.Records() {
					switch k := string(r.Key); {
					case k == mark:
						return msgs
					case strings.HasPrefix(k, "e2e-marker-"):
						continue
					}
					h := map[string]string{}
					for _, rh := range r.Headers {
						h[rh.Key] = string(rh.Value)
					}
					msgs = append(msgs, brokerMsg{body: r.Value, headers: h, key: string(r.Key), route: r.Topic})
				}
			}
			t.Fatalf("Kafka: the marker record never came back (read %d records)", len(msgs))
			return nil
		},
	}
}

// recordingProxy stands between "hookbox send" and hookbox: it keeps the
// exact body of every event sent (checking that a re-send repeats it byte
// for byte) and passes each request on unchanged.
type recordingProxy struct {
	target string
	mu     sync.Mutex
	bodies map[string][]byte // by event id
	bad    []string
}

func (p *recordingProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	var ev struct{ ID string }
	json.Unmarshal(body, &ev)
	p.mu.Lock()
	if old, ok := p.bodies[ev.ID]; ok && !bytes.Equal(old, body) {
		p.bad = append(p.bad, ev.ID+": a re-send with another body")
	} else if ev.ID == "" {
		p.bad = append(p.bad, "a body without an event id")
	}
	p.bodies[ev.ID] = body
	p.mu.Unlock()
	req, _ := http.NewRequestWithContext(r.Context(), "POST", p.target, bytes.NewReader(body))
	req.Header = r.Header.Clone()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
	w.WriteHeader(resp.StatusCode)
	io.Copy(w, resp.Body)
}

// deliveryCount is what the store recorded of one event at one
// destination: every attempt, and those acknowledged.
type deliveryCount struct{ ok, all int }

// storeAttempts returns, per destination and event id, the attempts the
// store recorded.
func storeAttempts(t *testing.T, s hookbox.Store, ids []string) map[string]map[string]deliveryCount {
	t.Helper()
	got := map[string]map[string]deliveryCount{}
	for _, id := range ids {
		as, err := s.FindAttempts(context.Background(), id)
		if err != nil {
			t.Fatalf("attempts of %s: %v", id, err)
		}
		for _, a := range as {
			if got[a.Destination] == nil {
				got[a.Destination] = map[string]deliveryCount{}
			}
			c := got[a.Destination][a.EventID]
			c.all++
			if a.OK {
				c.ok++
			}
			got[a.Destination][a.EventID] = c
		}
	}
	return got
}

// checkSink reads everything sink's broker holds and checks it as a
// consumer would: every event sent arrives (epochs[id] times: once, twice
// after a replay) and nothing else; the exact body; hookbox's headers; a
// Stripe-Signature that stripe-go accepts with this destination's secret
// and no other's. Where the broker does not deduplicate, an event may
// show up to as many times as the store recorded attempts (a retry after
// a lost acknowledgement), never fewer than the acknowledged ones; in a
// run without failed attempts that is exactly once per epoch.
func checkSink(t *testing.T, sink *brokerSink, sent map[string][]byte, epochs map[string]int, attempts map[string]map[string]deliveryCount, otherSecrets []string) {
	t.Helper()
	msgs := sink.read(t)
	count := map[string]int{}
	bad := 0
	fail := func(format string, args ...any) {
		if bad++; bad <= 10 {
			t.Errorf(sink.name+": "+format, args...)
		}
	}
	for _, m := range msgs {
		id := m.headers[deliver.HeaderEventID]
		count[id]++
		want, ok := sent[id]
		if !ok {
			fail("a message of event %q that was never sent", id)
			continue
		}
		if !bytes.Equal(m.body, want) {
			fail("%s: the body differs from the bytes sent (%d bytes, want %d)", id, len(m.body), len(want))
		}
		var ev struct{ Type string }
		json.Unmarshal(want, &ev)
		for k, v := range map[string]string{"Content-Type": "application/json", deliver.HeaderIdempotencyKey: id, deliver.HeaderEventType: ev.Type} {
			if m.headers[k] != v {
				fail("%s: header %s = %q, want %q", id, k, m.headers[k], v)
			}
		}
		if m.headers[deliver.HeaderAttempt] == "" {
			fail("%s: no %s", id, deliver.HeaderAttempt)
		}
		if m.route != sink.route(ev.Type) {
			fail("%s: published to %q, want %q", id, m.route, sink.route(ev.Type))
		}
		if sink.dedupe {
			if m.key != id && !strings.HasPrefix(m.key, id+":r") {
				fail("%s: dedupe key %q", id, m.key)
			}
		} else if m.key != "" && m.key != id {
			fail("%s: message id / record key %q, want the event id", id, m.key)
		}
		sig := m.headers[stripesig.HeaderName]
		if err := webhook.ValidatePayload(m.body, sig, sink.secret); err != nil {
			fail("%s: stripe-go rejects the Stripe-Signature with the destination's secret: %v", id, err)
		}
		for _, other := range otherSecrets {
			if webhook.ValidatePayload(m.body, sig, other) == nil {
				fail("%s: the signature verifies with another destination's secret", id)
			}
		}
	}
	for id := range sent {
		n, c := count[id], attempts[sink.stored][id]
		switch {
		case c.ok != epochs[id]:
			fail("%s: the store has %d acknowledged attempts, want %d", id, c.ok, epochs[id])
		case sink.dedupe && n != epochs[id]:
			fail("%s: %d messages, want exactly %d", id, n, epochs[id])
		case n < c.ok || n > c.all:
			fail("%s: %d messages for %d acknowledged attempts of %d", id, n, c.ok, c.all)
		}
	}
	if bad > 10 {
		t.Errorf("%s: %d problems in all", sink.name, bad)
	}
	failed := 0
	for _, c := range attempts[sink.stored] {
		failed += c.all - c.ok
	}
	t.Logf("%s: %d messages for %d events; %d failed attempts (retried)", sink.name, len(msgs), len(sent), failed)
}

// writeBrokerConfig writes a --config file: one endpoint whose
// destinations are sinks, each signing with its own secret.
func writeBrokerConfig(t *testing.T, path string, sinks []*brokerSink) {
	t.Helper()
	var b strings.Builder
	b.WriteString("endpoints:\n  - name: stripe\n    secrets: [{env: HBE2E_ENDPOINT_SECRET}]\n    destinations:\n")
	for _, s := range sinks {
		fmt.Fprintf(&b, "      - name: %s\n        url: %q\n        secret: {env: %s}\n", s.name, s.url, secretVar(s.name))
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
}

// secretVar is the environment variable holding the secret of the
// destination name.
func secretVar(name string) string {
	return "HBE2E_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_")) + "_SECRET"
}

// TestBrokers_EndToEnd ensures "hookbox serve --config" delivers to NATS
// JetStream, RabbitMQ and Redis Streams (the machine's own brokers) and to
// Kafka (kfake) side by side: of 250 requests from "hookbox send", 20%
// re-sends, each of the 200 events reaches each broker once, read by that
// broker's own client, with the exact body sent and a Stripe-Signature
// that stripe-go verifies with that destination's secret only; "hookbox
// events replay" publishes the replayed events to every broker again; and
// "hookbox config check" lists the four destinations without their
// passwords or secrets.
func TestBrokers_EndToEnd(t *testing.T) {
	sinks := []*brokerSink{natsSink(t), amqpSink(t), redisSink(t), kafkaSink(t)}
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "hookbox.yaml")
	writeBrokerConfig(t, cfgFile, sinks)
	vars, db := e2eVars(t)
	delete(vars, "STRIPE_WEBHOOK_SECRET")
	vars["HBE2E_ENDPOINT_SECRET"] = brokerEndpointSecret
	for _, s := range sinks {
		vars[secretVar(s.name)] = s.secret
		s.stored = "stripe/" + s.name
	}
	vars["HOOKBOX_RETRY_BASE"] = "10ms"
	vars["HOOKBOX_RETRY_CAP"] = "100ms"
	vars["HOOKBOX_POLL_INTERVAL"] = "50ms"

	t.Run("ConfigCheck", func(t *testing.T) {
		// The same destinations with a password in every URL.
		withPasswords := filepath.Join(dir, "passwords.yaml")
		cfg, err := os.ReadFile(cfgFile)
		if err != nil {
			t.Fatal(err)
		}
		s := strings.Replace(string(cfg), "redis://", "redis://:redis-pw-never-printed@", 1)
		s = strings.Replace(s, "kafka://", "kafka://hookbox:kafka-pw-never-printed@", 1)
		if err := os.WriteFile(withPasswords, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		for _, file := range []string{cfgFile, withPasswords} {
			env, out, errb := testEnv(vars)
			if err := run(context.Background(), env, []string{"config", "check", file}); err != nil {
				t.Fatalf("config check %s: %v\n%s", file, err, errb.String())
			}
			got := out.String() + errb.String()
			for _, sink := range sinks {
				scheme, _, _ := strings.Cut(sink.url, "://")
				if !strings.Contains(got, "destination "+sink.stored) || !strings.Contains(got, scheme+"://") {
					t.Errorf("config check does not list %s (%s):\n%s", sink.name, scheme, got)
				}
			}
			for _, secret := range []string{natsPassword, "guest:guest@", "redis-pw-never-printed", "kafka-pw-never-printed",
				brokerEndpointSecret, natsDestSecret, amqpDestSecret, kafkaDestSecret, redisDestSecret} {
				if strings.Contains(got, secret) {
					t.Errorf("config check shows %q:\n%s", secret, got)
				}
			}
			if want := map[string]int{cfgFile: 2, withPasswords: 4}[file]; strings.Count(got, ":xxxxx@") != want {
				t.Errorf("config check shows %d redacted passwords, want %d:\n%s", strings.Count(got, ":xxxxx@"), want, got)
			}
		}
	})

	m, logs := mustRunMain(t, vars, "--config", cfgFile)
	proxy := &recordingProxy{target: "http://" + m.PublicAddr() + "/webhooks/stripe", bodies: map[string][]byte{}}
	front := httptest.NewServer(proxy)
	t.Cleanup(front.Close)

	stdout, stderr, err := sendTestRun(t, map[string]string{"STRIPE_WEBHOOK_SECRET": brokerEndpointSecret},
		"--count", "250", "--duplicates", "0.2", "--concurrency", "8", "--seed", "17", "--json", "--quiet", front.URL)
	if err != nil {
		t.Fatalf("send: %v\n%s", err, stderr)
	}
	sum := sendTestSummary(t, stdout)
	if sum.UniqueEvents != 200 || sum.DuplicatesSent != 50 || sum.NewReported != 200 || sum.DuplicatesReported != 50 || sum.Statuses["200"] != 250 {
		t.Fatalf("send: %+v", sum)
	}
	proxy.mu.Lock()
	sent, bad := proxy.bodies, proxy.bad
	proxy.mu.Unlock()
	if len(bad) > 0 || len(sent) != 200 {
		t.Fatalf("sent %d distinct events (want 200); %v", len(sent), bad)
	}
	ids := make([]string, 0, len(sent))
	epochs := map[string]int{}
	for id := range sent {
		ids = append(ids, id)
		epochs[id] = 1
	}
	slices.Sort(ids)

	delivered := func(n int) func() bool {
		return func() bool {
			c, _, err := m.Store().CountEvents(context.Background())
			return err == nil && c[hookbox.StateDelivered] == n
		}
	}
	waitFor(t, "200 events delivered to the four brokers", 30*time.Second, delivered(200))
	others := func(s *brokerSink) []string {
		var o []string
		for _, x := range sinks {
			if x != s {
				o = append(o, x.secret)
			}
		}
		return append(o, brokerEndpointSecret)
	}
	attempts := storeAttempts(t, m.Store(), ids)
	for _, s := range sinks {
		checkSink(t, s, sent, epochs, attempts, others(s))
	}
	if t.Failed() {
		t.FailNow()
	}

	// Replay a few with the CLI, against the store serve runs on.
	replayed := ids[:5]
	env, out, errb := testEnv(map[string]string{"HOOKBOX_DB": db})
	if err := run(context.Background(), env, append([]string{"events", "replay"}, replayed...)); err != nil {
		t.Fatalf("replay: %v\n%s", err, errb.String())
	}
	if got := strings.TrimSpace(out.String()); got != "replayed 5 event(s)" {
		t.Fatalf("replay says %q", got)
	}
	for _, id := range replayed {
		epochs[id] = 2
	}
	waitFor(t, "the replayed events delivered again", 30*time.Second, func() bool {
		if !delivered(200)() {
			return false
		}
		for _, byID := range storeAttempts(t, m.Store(), replayed) {
			for _, c := range byID {
				if c.ok < 2 {
					return false
				}
			}
		}
		return true
	})
	attempts = storeAttempts(t, m.Store(), ids)
	for _, s := range sinks {
		checkSink(t, s, sent, epochs, attempts, others(s))
	}
	for _, secret := range []string{natsPassword, brokerEndpointSecret, natsDestSecret, amqpDestSecret, kafkaDestSecret, redisDestSecret} {
		if strings.Contains(logs.String(), secret) {
			t.Fatalf("the logs show %q", secret)
		}
	}
}

// TestBrokers_ForwardToBinary ensures the built binary wires a broker URL
// given to --forward-to: "hookbox serve --forward-to redis://..." publishes
// every event once to the stream, signed with HOOKBOX_FORWARD_SECRET, and
// the binary's "events replay" publishes a replayed event again.
func TestBrokers_ForwardToBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	sink := redisSink(t)
	sink.stored = "forward" // --forward-to's destination
	bin := mustBuild(t)
	db := filepath.Join(t.TempDir(), "hookbox.db")
	env := []string{"HOOKBOX_DB=sqlite:" + db, "STRIPE_WEBHOOK_SECRET=" + testSecret1,
		"HOOKBOX_FORWARD_SECRET=" + sink.secret, "HOOKBOX_POLL_INTERVAL=50ms", "HOOKBOX_CONFIG=", "HOOKBOX_FORWARD_TO="}
	p := startServeCmd(t, exec.Command(bin, "serve", "--forward-to", sink.url), env)
	url := "http://" + p.public + "/webhooks/stripe"

	sent := map[string][]byte{}
	epochs := map[string]int{}
	for i := range 20 {
		id := fmt.Sprintf("evt_bin_broker_%02d", i)
		body := e2eEvent(id, "invoice.paid")
		if status, resp := postEvent(t, url, body, stripesig.Sign(body, time.Now(), testSecret1)); status != 200 {
			t.Fatalf("%s: %d %s", id, status, resp)
		}
		sent[id], epochs[id] = body, 1
	}
	s, err := openStoreForCLI("sqlite:" + db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	acknowledged := func(ids ...string) func() bool {
		return func() bool {
			byID := storeAttempts(t, s, ids)[sink.stored]
			for _, id := range ids {
				if byID[id].ok < epochs[id] {
					return false
				}
			}
			return true
		}
	}
	ids := slices.Sorted(maps.Keys(sent))
	waitFor(t, "20 events acknowledged by Redis", 20*time.Second, acknowledged(ids...))

	cmd := exec.Command(bin, "events", "replay", "--db", "sqlite:"+db, ids[3], ids[7])
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "replayed 2 event(s)") {
		t.Fatalf("events replay: %v\n%s", err, out)
	}
	epochs[ids[3]], epochs[ids[7]] = 2, 2
	waitFor(t, "the replays acknowledged", 20*time.Second, acknowledged(ids...))

	// Every entry once per delivery, as a consumer of the stream sees it.
	checkSink(t, sink, sent, epochs, storeAttempts(t, s, ids), []string{testSecret1})
}
