package amqp_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/broker/amqp"
	"github.com/hookbox/hookbox/broker/brokertest"
	"github.com/hookbox/hookbox/deliver"
)

// TestNew ensures New validates the name, URL, query and templates with
// EINVALID errors that never show the URL's password, and accepts
// RabbitMQ's own URI parameters.
func TestNew(t *testing.T) {
	const pw = "pa55w0rd-never-shown"
	for _, tc := range []struct {
		name, url string
		opts      deliver.BrokerOptions
		want      string // in the error; "" for a valid config
	}{
		{"OK", "amqp://u:" + pw + "@localhost/", deliver.BrokerOptions{}, ""},
		{"OKTLSParams", "amqps://u:" + pw + "@rabbit.example:5671/prod?exchange=stripe&routing_key={livemode}.{type}&heartbeat=5&cacertfile=/ca.pem&server_name_indication=rabbit", deliver.BrokerOptions{}, ""},
		{"OKLivemode", "amqp://localhost", deliver.BrokerOptions{Livemode: deliver.LivemodeLive}, ""},
		{"ErrScheme", "http://u:" + pw + "@localhost/", deliver.BrokerOptions{}, "scheme must be amqp or amqps"},
		{"ErrNoHost", "amqp://u:" + pw + "@/vhost", deliver.BrokerOptions{}, "no host"},
		{"ErrParse", "amqp://u:" + pw + "@local host:bad/", deliver.BrokerOptions{}, "invalid URL"},
		{"ErrPort", "amqp://u:" + pw + "@localhost:99999999999/", deliver.BrokerOptions{}, "not an AMQP URI"},
		{"ErrHeartbeat", "amqp://u:" + pw + "@localhost/?heartbeat=x", deliver.BrokerOptions{}, "not an AMQP URI"},
		{"ErrUnknownParam", "amqp://u:" + pw + "@localhost/?queue=x", deliver.BrokerOptions{}, `unknown parameter "queue"`},
		{"ErrTimeoutParam", "amqp://u:" + pw + "@localhost/?connection_timeout=5", deliver.BrokerOptions{}, `unknown parameter "connection_timeout"`},
		{"ErrTwice", "amqp://u:" + pw + "@localhost/?exchange=a&exchange=b", deliver.BrokerOptions{}, "given 2 times"},
		{"ErrTemplate", "amqp://u:" + pw + "@localhost/?routing_key=stripe.{nope}", deliver.BrokerOptions{}, "unknown field {nope}"},
		{"ErrEmptyKey", "amqp://u:" + pw + "@localhost/?routing_key=", deliver.BrokerOptions{}, "empty template"},
		{"ErrLongExchange", "amqp://localhost/?exchange=" + strings.Repeat("x", 256), deliver.BrokerOptions{}, "at most 255 bytes"},
		{"ErrLivemode", "amqp://localhost", deliver.BrokerOptions{Livemode: "LIVE"}, "livemode filter"},
		{"ErrFragment", "amqp://u:" + pw + "@localhost/#x", deliver.BrokerOptions{}, "fragment"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := amqp.New("rabbit", tc.url, secret, tc.opts)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				defer d.Close()
				if strings.Contains(d.URL(), pw) || strings.Contains(d.String(), pw) {
					t.Errorf("URL %q / String %q show the password", d.URL(), d.String())
				}
				return
			}
			if err == nil {
				d.Close()
				t.Fatalf("New accepted %s", tc.url)
			}
			if hookbox.ErrorCode(err) != hookbox.EINVALID || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v (code %s), want EINVALID with %q", err, hookbox.ErrorCode(err), tc.want)
			}
			if strings.Contains(err.Error(), pw) || strings.Contains(err.Error(), secret) {
				t.Errorf("error shows a secret: %v", err)
			}
		})
	}
	t.Run("ErrName", func(t *testing.T) {
		if _, err := amqp.New("", "amqp://localhost", secret, deliver.BrokerOptions{}); hookbox.ErrorCode(err) != hookbox.EINVALID {
			t.Errorf("empty name: %v", err)
		}
	})
	t.Run("ErrSecret", func(t *testing.T) {
		if _, err := amqp.New("rabbit", "amqp://localhost", "", deliver.BrokerOptions{}); hookbox.ErrorCode(err) != hookbox.EINVALID {
			t.Errorf("empty secret: %v", err)
		}
	})
}

// TestNew_NoConnection ensures New and Close never connect, and that the
// accessors tell the name, redacted URL and timeout.
func TestNew_NoConnection(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan struct{}, 1)
	go func() {
		if c, err := ln.Accept(); err == nil {
			accepted <- struct{}{}
			c.Close()
		}
	}()
	d, err := amqp.New("rabbit", "amqp://guest:hunter2@"+ln.Addr().String()+"/", secret, deliver.BrokerOptions{Timeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if d.Name() != "rabbit" || d.AttemptTimeout() != 3*time.Second || d.URL() != "amqp://guest:xxxxx@"+ln.Addr().String()+"/" {
		t.Errorf("Name %q AttemptTimeout %s URL %q", d.Name(), d.AttemptTimeout(), d.URL())
	}
	if err := d.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := d.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	select {
	case <-accepted:
		t.Error("New or Close connected to the broker")
	default:
	}
	d2 := mustNew(t, "dflt", "amqp://localhost/", deliver.BrokerOptions{})
	if d2.AttemptTimeout() != deliver.DefaultTimeout {
		t.Errorf("default AttemptTimeout %s", d2.AttemptTimeout())
	}
}

// TestAccepts ensures the type and livemode filters apply.
func TestAccepts(t *testing.T) {
	types, err := deliver.ParseTypes("invoice.*")
	if err != nil {
		t.Fatal(err)
	}
	d := mustNew(t, "rabbit", "amqp://localhost/", deliver.BrokerOptions{Types: types, Livemode: deliver.LivemodeLive})
	for _, tc := range []struct {
		ev   *hookbox.Event
		want bool
	}{
		{brokertest.NewEvent("evt_1", "invoice.paid", true), true},
		{brokertest.NewEvent("evt_2", "invoice.paid", false), false},
		{brokertest.NewEvent("evt_3", "charge.succeeded", true), false},
	} {
		if got := d.Accepts(tc.ev); got != tc.want {
			t.Errorf("Accepts(%s livemode %t) = %t", tc.ev.Type, tc.ev.Livemode, got)
		}
	}
}

// TestDeliver_Consume ensures concurrent attempts each publish once, on
// the broker's confirm, and that an independent consumer receives every
// event exactly once under the templated routing key, with the exact
// body, the headers and a Stripe-Signature that verifies.
func TestDeliver_Consume(t *testing.T) {
	rabbit := mustRabbit(t)
	ch := consumerChannel(t, rabbit)
	exchange, queue := mustExchange(t, ch, "t.#")
	c := consume(t, ch, queue)
	d := mustNew(t, "rabbit", rabbit+"?exchange="+exchange+"&routing_key=t.{livemode}.{type}", deliver.BrokerOptions{})

	const n = 60
	evs := make([]*hookbox.Event, n)
	as := make([]hookbox.Attempt, n)
	var wg sync.WaitGroup
	for i := range evs {
		evs[i] = brokertest.NewEvent(fmt.Sprintf("evt_consume_%03d", i), []string{"invoice.paid", "charge.refunded"}[i%2], i%3 == 0)
		wg.Add(1)
		go func() {
			defer wg.Done()
			as[i] = d.Deliver(context.Background(), evs[i], 1+i%4)
		}()
	}
	wg.Wait()
	for i, a := range as {
		if !a.OK || a.Error != "" || a.StatusCode != 0 || !strings.HasPrefix(a.Response, "confirmed") ||
			a.EventID != evs[i].ID || a.Destination != "rabbit" || a.Number != 1+i%4 {
			t.Errorf("attempt %d: %+v", i, a)
		}
	}
	brokertest.WaitFor(t, fmt.Sprintf("%d messages", n), func() bool { return c.count() >= n })
	for i, ev := range evs {
		ds := c.deliveries(ev.ID)
		if len(ds) != 1 {
			t.Errorf("%s received %d times, want once", ev.ID, len(ds))
			continue
		}
		checkMessage(t, ds[0], ev, 1+i%4)
		live := map[bool]string{true: "live", false: "test"}[ev.Livemode]
		if want := "t." + live + "." + ev.Type; ds[0].RoutingKey != want || ds[0].Exchange != exchange {
			t.Errorf("%s: exchange %q routing key %q, want %q %q", ev.ID, ds[0].Exchange, ds[0].RoutingKey, exchange, want)
		}
	}
	if c.count() != n {
		t.Errorf("%d messages for %d events", c.count(), n)
	}
}

// TestDeliver_DefaultExchange ensures the defaults publish to the default
// exchange, whose routing key is a queue's name.
func TestDeliver_DefaultExchange(t *testing.T) {
	rabbit := mustRabbit(t)
	ch := consumerChannel(t, rabbit)
	_, queue := mustExchange(t, ch, "")
	c := consume(t, ch, queue)
	d := mustNew(t, "rabbit", rabbit+"?routing_key="+queue, deliver.BrokerOptions{})
	ev := brokertest.NewEvent("evt_default_exchange", "invoice.paid", false)
	if a := d.Deliver(context.Background(), ev, 1); !a.OK {
		t.Fatalf("attempt %+v", a)
	}
	brokertest.WaitFor(t, "the message", func() bool { return c.count() == 1 })
	checkMessage(t, c.deliveries(ev.ID)[0], ev, 1)
}

// TestDeliver_Returned ensures a message no queue takes (mandatory,
// returned by the broker) is a failed attempt, and that once a queue is
// bound the next attempt on the same destination succeeds: the return of
// the first is not taken for the second's.
func TestDeliver_Returned(t *testing.T) {
	rabbit := mustRabbit(t)
	ch := consumerChannel(t, rabbit)
	exchange, queue := mustExchange(t, ch, "")
	d := mustNew(t, "rabbit", rabbit+"?exchange="+exchange, deliver.BrokerOptions{})
	ev := brokertest.NewEvent("evt_returned", "invoice.paid", false)
	for i := 1; i <= 3; i++ {
		a := d.Deliver(context.Background(), ev, i)
		if a.OK || !strings.Contains(a.Error, "returned: 312 NO_ROUTE") || a.Response != "" {
			t.Fatalf("attempt %d to an exchange without bindings: %+v", i, a)
		}
	}
	if err := ch.QueueBind(queue, "stripe.#", exchange, false, nil); err != nil {
		t.Fatal(err)
	}
	c := consume(t, ch, queue)
	if a := d.Deliver(context.Background(), ev, 4); !a.OK {
		t.Fatalf("attempt after binding: %+v", a)
	}
	brokertest.WaitFor(t, "the message", func() bool { return c.count() == 1 })
	checkMessage(t, c.deliveries(ev.ID)[0], ev, 4)
}

// TestDeliver_NoExchange ensures publishing to an exchange that does not
// exist fails with the broker's NOT_FOUND, every time (the closed channel
// is not reused), without the password.
func TestDeliver_NoExchange(t *testing.T) {
	rabbit := mustRabbit(t)
	d := mustNew(t, "rabbit", rabbit+"?exchange="+unique("hb-test-missing"), deliver.BrokerOptions{})
	ev := brokertest.NewEvent("evt_no_exchange", "invoice.paid", false)
	for i := 1; i <= 3; i++ {
		a := d.Deliver(context.Background(), ev, i)
		if a.OK || !strings.Contains(a.Error, "404") || !strings.Contains(a.Error, "NOT_FOUND") || strings.Contains(a.Error, "guest:guest") {
			t.Fatalf("attempt %d: %+v", i, a)
		}
	}
}

// TestDeliver_Refused ensures a broker that is not there is a failed
// attempt, quickly, with neither the URL's password nor the secret.
func TestDeliver_Refused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	d := mustNew(t, "rabbit", "amqp://guest:hunter2@"+addr+"/", deliver.BrokerOptions{})
	a := d.Deliver(context.Background(), brokertest.NewEvent("evt_refused", "invoice.paid", false), 1)
	if a.OK || !strings.Contains(a.Error, "dial") || strings.Contains(a.Error, "hunter2") || strings.Contains(a.Error, secret) {
		t.Fatalf("attempt %+v", a)
	}
}

// TestDeliver_Stalled ensures an attempt to a broker that accepts the
// connection and never answers ends at the attempt timeout, or earlier
// when the caller's context is canceled.
func TestDeliver_Stalled(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var mu sync.Mutex
	var held []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	}()
	const timeout = 300 * time.Millisecond
	d := mustNew(t, "rabbit", "amqp://guest:guest@"+ln.Addr().String()+"/", deliver.BrokerOptions{Timeout: timeout})
	ev := brokertest.NewEvent("evt_stalled", "invoice.paid", false)

	t.Run("Timeout", func(t *testing.T) {
		start := time.Now()
		a := d.Deliver(context.Background(), ev, 1)
		if took := time.Since(start); took < timeout || took > timeout+2*time.Second {
			t.Errorf("attempt took %s, want about %s", took, timeout)
		}
		// The deadline ends the attempt; which of the timers notices first
		// (the attempt's, or the socket's read deadline in the handshake)
		// decides the wording, not the outcome.
		if a.OK || !strings.Contains(a.Error, "timeout") {
			t.Errorf("attempt %+v", a)
		}
	})
	t.Run("Canceled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(50*time.Millisecond, cancel)
		start := time.Now()
		a := d.Deliver(ctx, ev, 2)
		if took := time.Since(start); took > timeout {
			t.Errorf("canceled attempt took %s", took)
		}
		if a.OK || !strings.HasPrefix(a.Error, "canceled") {
			t.Errorf("attempt %+v", a)
		}
	})
}

// TestClose ensures attempts after Close fail without dialing, and Close
// is idempotent after a connection was made.
func TestClose(t *testing.T) {
	rabbit := mustRabbit(t)
	ch := consumerChannel(t, rabbit)
	_, queue := mustExchange(t, ch, "")
	d := mustNew(t, "rabbit", rabbit+"?routing_key="+queue, deliver.BrokerOptions{})
	ev := brokertest.NewEvent("evt_close", "invoice.paid", false)
	if a := d.Deliver(context.Background(), ev, 1); !a.OK {
		t.Fatalf("attempt %+v", a)
	}
	if err := d.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := d.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if a := d.Deliver(context.Background(), ev, 2); a.OK || a.Error != "destination closed" {
		t.Fatalf("attempt after Close: %+v", a)
	}
}
