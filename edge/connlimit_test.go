package edge_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookbox/hookbox/edge"
	"github.com/hookbox/hookbox/ingest"
)

// limitedServer runs an HTTP server answering 200 behind a ConnLimiter on
// loopback.
func limitedServer(tb testing.TB, h http.Handler, opts edge.ConnLimitOptions) (*edge.ConnLimiter, string) {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	lim, err := edge.NewConnLimiter(ln, opts)
	if err != nil {
		tb.Fatal(err)
	}
	if h == nil {
		h = &counting{}
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(lim)
	tb.Cleanup(func() { srv.Close() })
	return lim, ln.Addr().String()
}

// dialFrom connects to addr from the local address from (127.0.0.x); nil
// if the connection was reset at once (refused).
func dialFrom(tb testing.TB, from, addr string) net.Conn {
	tb.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		if strings.Contains(err.Error(), "reset") {
			return nil
		}
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

// served reports whether a GET on c is answered; a refused connection is
// closed before, and the read fails.
func served(tb testing.TB, c net.Conn) bool {
	tb.Helper()
	if c == nil {
		return false
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		return false
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			tb.Fatal("neither answered nor refused")
		}
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// open opens n connections from from and returns how many were served;
// they stay open (keep-alive).
func open(tb testing.TB, from, addr string, n int) (ok int) {
	tb.Helper()
	for range n {
		if served(tb, dialFrom(tb, from, addr)) {
			ok++
		}
	}
	return ok
}

// TestConnLimiter_PerClient ensures a client holds at most MaxPerClient
// connections, that another client is not affected, and that a closed
// connection gives its place back.
func TestConnLimiter_PerClient(t *testing.T) {
	var refused atomic.Int64
	logger, logs := newLogger()
	lim, addr := limitedServer(t, nil, edge.ConnLimitOptions{MaxPerClient: 3, Logger: logger,
		OnRefused: func(peer, reason string) {
			if peer == "127.0.0.1" && reason == edge.RefusedPerClient {
				refused.Add(1)
			}
		}})
	held := []net.Conn{dialFrom(t, "127.0.0.1", addr), dialFrom(t, "127.0.0.1", addr), dialFrom(t, "127.0.0.1", addr)}
	for i, c := range held {
		if !served(t, c) {
			t.Fatalf("connection %d refused", i+1)
		}
	}
	if n := open(t, "127.0.0.1", addr, 20); n != 0 {
		t.Fatalf("%d connections over the bound served", n)
	}
	// The client sees the close before the listener's OnRefused has
	// returned: wait for the count.
	for deadline := time.Now().Add(5 * time.Second); refused.Load() < 20 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	if refused.Load() != 20 {
		t.Errorf("OnRefused called %d times, want 20", refused.Load())
	}
	if n := len(grep(logs.String(), "connection refused")); n > edge.DefaultLogBurst {
		t.Errorf("%d log lines for 20 refusals, want at most %d", n, edge.DefaultLogBurst)
	}
	if n := open(t, "127.0.0.2", addr, 3); n != 3 {
		t.Fatalf("another client: %d of 3 connections served", n)
	}
	held[0].Close()
	deadline := time.Now().Add(10 * time.Second)
	for lim.Open() != 5 {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections counted after one closed, want 5", lim.Open())
		}
		time.Sleep(time.Millisecond) // polling, with a deadline
	}
	if n := open(t, "127.0.0.1", addr, 1); n != 1 {
		t.Error("the place of a closed connection was not given back")
	}
}

// TestConnLimiter_Exempt ensures trusted proxies and exempt peers (Stripe's
// addresses) have no per-client bound, and that the last eighth of the
// total is kept for them: clients from many addresses filling the listener
// do not lock Stripe out.
func TestConnLimiter_Exempt(t *testing.T) {
	logger, _ := newLogger()
	_, addr := limitedServer(t, nil, edge.ConnLimitOptions{
		MaxPerClient: 2, MaxTotal: 16, Logger: logger,
		Proxies:    mustProxies(t, "127.0.0.3"),
		ExemptFunc: func(peer string) bool { return peer == "127.0.0.2" },
	})
	if n := open(t, "127.0.0.2", addr, 5); n != 5 {
		t.Fatalf("exempt peer: %d of 5 connections served", n)
	}
	if n := open(t, "127.0.0.3", addr, 5); n != 5 {
		t.Fatalf("trusted proxy: %d of 5 connections served", n)
	}
	// 10 open; others may reach 14 (16 less the reserve of 2).
	for i := 4; i <= 8; i++ {
		open(t, "127.0.0."+strconv.Itoa(i), addr, 2)
	}
	if n := open(t, "127.0.0.9", addr, 1); n != 0 {
		t.Fatal("a client served within the reserve")
	}
	if n := open(t, "127.0.0.2", addr, 3); n != 2 {
		t.Fatalf("exempt peer: %d connections served in the reserve, want 2 (the total)", n)
	}
}

// TestConnLimiter_Total ensures the total bound applies with no per-client
// bound.
func TestConnLimiter_Total(t *testing.T) {
	logger, _ := newLogger()
	lim, addr := limitedServer(t, nil, edge.ConnLimitOptions{MaxPerClient: -1, MaxTotal: 5, Logger: logger})
	if n := open(t, "127.0.0.1", addr, 8); n != 5 {
		t.Fatalf("%d connections served, want 5", n)
	}
	if lim.Open() != 5 {
		t.Errorf("Open() = %d, want 5", lim.Open())
	}
}

// TestConnLimiter_IdleFlood is the attack of idle connections against a
// server built from the pieces serve.go uses: one client opens many
// connections that announce a 1 MiB body and send one byte; all but
// DefaultMaxConnsPerClient are refused at once, and the heap stays small.
//
// For a measurement: HOOKBOX_IDLE_CONNS=5000 go test -run IdleFlood -v ./edge/
func TestConnLimiter_IdleFlood(t *testing.T) {
	n := 1000
	if s := os.Getenv("HOOKBOX_IDLE_CONNS"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	logger, logs := newLogger()
	h := &ingest.Handler{Endpoint: "stripe", Logger: logger}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	lim, addr := limitedServer(t, h, edge.ConnLimitOptions{Logger: logger})
	head := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: x\r\nStripe-Signature: t=1,v1=00\r\nContent-Length: %d\r\n\r\n{", "/webhooks/stripe", ingest.DefaultMaxBody)
	conns := make([]net.Conn, 0, n)
	for range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			continue // refused: reset before the dial returned
		}
		conns = append(conns, c)
		c.Write([]byte(head)) // a refused connection may fail here
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	// Every connection is accepted or refused once the limiter has seen a
	// connection dialled after them all.
	if served(t, dialFrom(t, "127.0.0.2", addr)) {
		t.Fatal("a GET on the webhook path answered 200: want 405")
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	heap := int64(after.HeapInuse) - int64(before.HeapInuse)
	t.Logf("%d idle connections from one client: %d held, heap in use +%.1f MiB, stacks +%.1f MiB",
		n, lim.Open(), float64(heap)/(1<<20), float64(int64(after.StackInuse)-int64(before.StackInuse))/(1<<20))
	if got := lim.Open(); got > edge.DefaultMaxConnsPerClient+1 {
		t.Errorf("%d connections held, want at most %d", got, edge.DefaultMaxConnsPerClient+1)
	}
	if got := len(grep(logs.String(), "connection refused")); got > edge.DefaultLogBurst {
		t.Errorf("%d log lines of refusals, want at most %d", got, edge.DefaultLogBurst)
	}
	if strings.Count(logs.String(), "\n") > 20 {
		t.Errorf("log:\n%s", logs)
	}
}
