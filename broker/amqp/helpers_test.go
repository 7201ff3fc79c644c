package amqp_test

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	amqpgo "github.com/rabbitmq/amqp091-go"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/broker/amqp"
	"github.com/hookbox/hookbox/broker/brokertest"
	"github.com/hookbox/hookbox/deliver"
	"github.com/hookbox/hookbox/stripesig"
)

// secret is the signing secret of test destinations.
const secret = "whsec_test_amqp_destination"

// rabbitAddr is the system RabbitMQ, which tests never stop.
const rabbitAddr = "127.0.0.1:5672"

// mustRabbit returns the URL of the system RabbitMQ (guest/guest). When it
// does not answer, the test is skipped, loudly, outside CI (CI unset) and
// fails under CI, where scripts/test checks it runs.
func mustRabbit(tb testing.TB) string {
	tb.Helper()
	u := "amqp://guest:guest@" + rabbitAddr + "/"
	c, err := amqpgo.DialConfig(u, amqpgo.Config{Dial: amqpgo.DefaultDial(3 * time.Second)})
	if err == nil {
		c.Close()
		return u
	}
	brokertest.Unavailable(tb, "RabbitMQ does not answer on %s (%v): the RabbitMQ destination is NOT tested", rabbitAddr, err)
	return ""
}

// unique returns prefix with a random suffix: a name no other test uses.
func unique(prefix string) string {
	var b [6]byte
	rand.Read(b[:])
	return prefix + "-" + hex.EncodeToString(b[:])
}

// consumerChannel opens a channel of the test's own (independent)
// connection to RabbitMQ, closed when the test ends.
func consumerChannel(tb testing.TB, rabbitURL string) *amqpgo.Channel {
	tb.Helper()
	c, err := amqpgo.Dial(rabbitURL)
	if err != nil {
		tb.Fatalf("consumer dial: %v", err)
	}
	tb.Cleanup(func() { c.Close() })
	ch, err := c.Channel()
	if err != nil {
		tb.Fatalf("consumer channel: %v", err)
	}
	return ch
}

// mustExchange declares a fresh topic exchange and a queue bound to it
// with binding (none when ""), deleted when the test ends. It returns
// their names.
func mustExchange(tb testing.TB, ch *amqpgo.Channel, binding string) (exchange, queue string) {
	tb.Helper()
	exchange, queue = unique("hb-test-x"), unique("hb-test-q")
	if err := ch.ExchangeDeclare(exchange, "topic", false, false, false, false, nil); err != nil {
		tb.Fatalf("declare exchange: %v", err)
	}
	if _, err := ch.QueueDeclare(queue, false, false, false, false, nil); err != nil {
		tb.Fatalf("declare queue: %v", err)
	}
	tb.Cleanup(func() {
		ch.QueueDelete(queue, false, false, false)
		ch.ExchangeDelete(exchange, false, false)
	})
	if binding != "" {
		if err := ch.QueueBind(queue, binding, exchange, false, nil); err != nil {
			tb.Fatalf("bind queue: %v", err)
		}
	}
	return exchange, queue
}

// consumer collects what a queue receives, by message-id.
type consumer struct {
	mu   sync.Mutex
	got  map[string][]amqpgo.Delivery
	n    int
	errs []string
}

// consume starts an independent consumer of queue (auto-ack).
func consume(tb testing.TB, ch *amqpgo.Channel, queue string) *consumer {
	tb.Helper()
	ds, err := ch.Consume(queue, "", true, false, false, false, nil)
	if err != nil {
		tb.Fatalf("consume: %v", err)
	}
	c := &consumer{got: make(map[string][]amqpgo.Delivery)}
	go func() {
		for d := range ds {
			c.mu.Lock()
			c.got[d.MessageId] = append(c.got[d.MessageId], d)
			c.n++
			c.mu.Unlock()
		}
	}()
	return c
}

// count returns how many messages arrived.
func (c *consumer) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// deliveries returns the messages with the message-id id.
func (c *consumer) deliveries(id string) []amqpgo.Delivery {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]amqpgo.Delivery(nil), c.got[id]...)
}

// ids returns how many distinct message ids arrived.
func (c *consumer) ids() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.got)
}

// checkMessage checks d is ev as published at attempt: the exact body, the
// properties, every header of deliver.MessageHeaders, and a
// Stripe-Signature that a consumer verifies with the secret.
func checkMessage(tb testing.TB, d amqpgo.Delivery, ev *hookbox.Event, attempt int) {
	tb.Helper()
	if string(d.Body) != string(ev.Body) {
		tb.Errorf("%s: body %q, want %q", ev.ID, d.Body, ev.Body)
	}
	if d.MessageId != ev.ID || d.ContentType != "application/json" || d.Type != ev.Type ||
		d.DeliveryMode != amqpgo.Persistent || d.AppId != "hookbox" {
		tb.Errorf("%s: properties message-id %q content-type %q type %q delivery-mode %d app-id %q",
			ev.ID, d.MessageId, d.ContentType, d.Type, d.DeliveryMode, d.AppId)
	}
	want := map[string]string{
		"Content-Type":     "application/json",
		"Hookbox-Event-Id": ev.ID, "Hookbox-Event-Type": ev.Type,
		"Idempotency-Key": ev.ID, "Hookbox-Attempt": fmt.Sprint(attempt),
	}
	for _, k := range deliver.HeaderNames {
		if _, ok := d.Headers[k].(string); !ok {
			tb.Errorf("%s: header %s = %#v, want a string", ev.ID, k, d.Headers[k])
		}
	}
	for k, v := range want {
		if d.Headers[k] != v {
			tb.Errorf("%s: header %s = %#v, want %q", ev.ID, k, d.Headers[k], v)
		}
	}
	sig, _ := d.Headers[stripesig.HeaderName].(string)
	brokertest.CheckSignature(tb, secret, ev.ID, d.Body, sig)
}

// mustNew returns a destination, closed when the test ends.
func mustNew(tb testing.TB, name, rawURL string, opts deliver.BrokerOptions) *amqp.Destination {
	tb.Helper()
	d, err := amqp.New(name, rawURL, secret, opts)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	tb.Cleanup(func() { d.Close() })
	return d
}

// proxy is a TCP proxy the test owns between a destination and the
// system RabbitMQ: Cut stands for the broker going down (open connections
// are severed, new ones closed at once), Restore for it coming back. The
// system broker itself is never touched.
type proxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	down   bool
	conns  map[net.Conn]struct{}
	dials  int // connections accepted while up
}

func newProxy(tb testing.TB, target string) *proxy {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("proxy listen: %v", err)
	}
	p := &proxy{ln: ln, target: target, conns: make(map[net.Conn]struct{})}
	go p.serve()
	tb.Cleanup(func() {
		ln.Close()
		p.Cut()
	})
	return p
}

// Addr is the proxy's host:port.
func (p *proxy) Addr() string { return p.ln.Addr().String() }

func (p *proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.down {
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.dials++
		p.mu.Unlock()
		go p.pipe(c)
	}
}

func (p *proxy) pipe(c net.Conn) {
	t, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	if p.down {
		p.mu.Unlock()
		c.Close()
		t.Close()
		return
	}
	p.conns[c], p.conns[t] = struct{}{}, struct{}{}
	p.mu.Unlock()
	go func() { io.Copy(t, c); t.Close(); c.Close() }()
	io.Copy(c, t)
	c.Close()
	t.Close()
}

// Cut severs every connection and refuses new ones until Restore.
func (p *proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
}

// Restore lets connections through again.
func (p *proxy) Restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = false
}

// Dials returns how many connections went through.
func (p *proxy) Dials() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.dials
}
