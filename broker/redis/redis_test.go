package redis_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/broker/brokertest"
	"github.com/hookbox/hookbox/broker/redis"
	"github.com/hookbox/hookbox/deliver"
)

// TestNew_Invalid ensures New refuses a bad name, scheme, host, secret,
// template, maxlen, repeated or unknown query parameter and livemode with
// EINVALID, and that no error quotes the URL's password.
func TestNew_Invalid(t *testing.T) {
	const pw = "s3cr3tpassw0rd"
	for _, tc := range []struct {
		name, dest, url, secret string
		opts                    deliver.BrokerOptions
		want                    string
	}{
		{"Name", "bad name!", "redis://localhost", secret, deliver.BrokerOptions{}, "name"},
		{"Scheme", "q", "http://u:" + pw + "@localhost", secret, deliver.BrokerOptions{}, "scheme must be redis or rediss"},
		{"NoHost", "q", "redis://u:" + pw + "@/0", secret, deliver.BrokerOptions{}, "no host"},
		{"Opaque", "q", "redis:localhost", secret, deliver.BrokerOptions{}, "no host"},
		{"Unparsable", "q", "redis://u:" + pw + "@local host:x", secret, deliver.BrokerOptions{}, "invalid URL"},
		{"Secret", "q", "redis://localhost", "", deliver.BrokerOptions{}, "empty signing secret"},
		{"Template", "q", "redis://u:" + pw + "@localhost?stream=stripe:{nope}", secret, deliver.BrokerOptions{}, "unknown field {nope}"},
		{"EmptyStream", "q", "redis://localhost?stream=", secret, deliver.BrokerOptions{}, "empty template"},
		{"MaxLenZero", "q", "redis://u:" + pw + "@localhost?maxlen=0", secret, deliver.BrokerOptions{}, "maxlen"},
		{"MaxLenText", "q", "redis://localhost?maxlen=many", secret, deliver.BrokerOptions{}, "positive integer"},
		{"Repeated", "q", "redis://localhost?stream=a&stream=b", secret, deliver.BrokerOptions{}, "stream given 2 times"},
		{"Unknown", "q", "redis://u:" + pw + "@localhost?topic=x", secret, deliver.BrokerOptions{}, "unexpected option: topic"},
		{"GoRedisOption", "q", "redis://u:" + pw + "@localhost?dial_timeout=soon", secret, deliver.BrokerOptions{}, "dial_timeout"},
		{"DB", "q", "redis://u:" + pw + "@localhost/zero", secret, deliver.BrokerOptions{}, "database number"},
		{"Livemode", "q", "redis://localhost", secret, deliver.BrokerOptions{Livemode: "sometimes"}, "livemode"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := redis.New(tc.dest, tc.url, tc.secret, tc.opts)
			if err == nil {
				d.Close()
				t.Fatalf("New(%q) succeeded", tc.url)
			}
			if hookbox.ErrorCode(err) != hookbox.EINVALID {
				t.Errorf("code %q, want %q: %v", hookbox.ErrorCode(err), hookbox.EINVALID, err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
			if strings.Contains(err.Error(), pw) || strings.Contains(err.Error(), secret) {
				t.Errorf("error %q quotes a secret", err)
			}
		})
	}
}

// TestNew_OK ensures a valid URL gives a destination that shows its URL
// with the password redacted, its name and timeout, and filters events by
// its options.
func TestNew_OK(t *testing.T) {
	const pw = "s3cr3tpassw0rd"
	d := mustNew(t, "bus", "rediss://app:"+pw+"@redis.example:6380/2?stream=stripe:{livemode}&maxlen=1000&dial_timeout=2s",
		deliver.BrokerOptions{Timeout: 3 * time.Second, Types: deliver.MustParseTypes("invoice.*"), Livemode: deliver.LivemodeLive})
	if d.Name() != "bus" || d.AttemptTimeout() != 3*time.Second {
		t.Errorf("name %q timeout %s", d.Name(), d.AttemptTimeout())
	}
	want := "rediss://app:xxxxx@redis.example:6380/2?stream=stripe:{livemode}&maxlen=1000&dial_timeout=2s"
	if d.URL() != want {
		t.Errorf("URL() = %q, want %q", d.URL(), want)
	}
	if s := d.String(); strings.Contains(s, pw) || strings.Contains(s, secret) || !strings.Contains(s, "bus") {
		t.Errorf("String() = %q", s)
	}
	for _, tc := range []struct {
		typ  string
		live bool
		want bool
	}{{"invoice.paid", true, true}, {"invoice.paid", false, false}, {"charge.failed", true, false}} {
		if got := d.Accepts(newEvent("evt_1", tc.typ, tc.live)); got != tc.want {
			t.Errorf("Accepts(%s, live %t) = %t", tc.typ, tc.live, got)
		}
	}
	if d := mustNew(t, "q", "redis://localhost", deliver.BrokerOptions{}); d.AttemptTimeout() != deliver.DefaultTimeout {
		t.Errorf("default timeout %s", d.AttemptTimeout())
	}
}

// TestNew_DoesNotConnect ensures New and Close open no connection, so a
// configuration is checked without Redis running, and that the first
// Deliver does.
func TestNew_DoesNotConnect(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var accepted atomic.Int32
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			c.Close()
		}
	}()
	url := "redis://" + l.Addr().String()
	for i := 0; i < 5; i++ {
		d, err := redis.New(fmt.Sprint("n", i), url, secret, deliver.BrokerOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Close(); err != nil {
			t.Errorf("Close of an unused destination: %v", err)
		}
	}
	// Connect ourselves last: once the listener has accepted our
	// connection, it has accepted any dial that New or Close made before.
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	brokertest.WaitFor(t, "our own connection", func() bool { return accepted.Load() >= 1 })
	if n := accepted.Load(); n != 1 {
		t.Errorf("New and Close opened %d connections, want none", n-1)
	}

	d := mustNew(t, "q", url, deliver.BrokerOptions{Timeout: time.Second})
	a := d.Deliver(context.Background(), newEvent("evt_1", "invoice.paid", false), 1)
	if a.OK || a.Error == "" {
		t.Errorf("attempt against a server that hangs up: %+v", a)
	}
	if n := accepted.Load(); n < 2 {
		t.Errorf("Deliver opened no connection")
	}
}

// TestDeliver_Timeout ensures an attempt against a server that accepts but
// never answers fails within the destination's timeout, saying so.
func TestDeliver_Timeout(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	defer func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	}()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // held open, never answered
			mu.Unlock()
		}
	}()
	const timeout = 300 * time.Millisecond
	d := mustNew(t, "q", "redis://"+l.Addr().String(), deliver.BrokerOptions{Timeout: timeout})
	start := time.Now()
	a := d.Deliver(context.Background(), newEvent("evt_1", "invoice.paid", false), 1)
	took := time.Since(start)
	if a.OK || !strings.Contains(a.Error, "timeout") {
		t.Errorf("attempt %+v, want a timeout", a)
	}
	if took > timeout+time.Second {
		t.Errorf("attempt took %s with a timeout of %s", took, timeout)
	}

	// A canceled context ends the attempt too, and says why.
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(fmt.Errorf("worker shutting down"))
	a = d.Deliver(ctx, newEvent("evt_2", "invoice.paid", false), 1)
	if a.OK || !strings.Contains(a.Error, "worker shutting down") {
		t.Errorf("attempt under a canceled context: %+v", a)
	}
}

// TestDeliver_Closed ensures Close is idempotent and that an attempt after
// it fails without panicking.
func TestDeliver_Closed(t *testing.T) {
	c := systemRedis(t)
	key := uniqueKey(t, c)
	d := mustNew(t, "q", "redis://"+systemAddr+"?stream="+key, deliver.BrokerOptions{})
	if a := d.Deliver(context.Background(), newEvent("evt_1", "invoice.paid", false), 1); !a.OK {
		t.Fatalf("first attempt: %+v", a)
	}
	if err := d.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := d.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if a := d.Deliver(context.Background(), newEvent("evt_2", "invoice.paid", false), 1); a.OK || !strings.Contains(a.Error, "closed") {
		t.Errorf("attempt after Close: %+v", a)
	}
}
