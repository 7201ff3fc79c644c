package ingest_test

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookbox/hookbox/ingest"
)

// idleConns is how many connections TestHandler_IdleConnectionsMemory
// opens; HOOKBOX_IDLE_CONNS raises it for a measurement.
func idleConns(t testing.TB) int {
	n := 500
	if s := os.Getenv("HOOKBOX_IDLE_CONNS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil || n <= 0 {
			t.Fatalf("HOOKBOX_IDLE_CONNS=%q: want a positive number", s)
		}
	}
	return n
}

// TestHandler_IdleConnectionsMemory ensures that connections which send
// headers announcing a 1 MiB body and then nothing cost the server about
// what net/http itself needs for a connection, not a body buffer sized
// from Content-Length: the attack that took a server from 23 MB to 1.15 GB
// with 10,000 of them. It runs a real HTTP server on loopback, waits until
// every request is inside the handler, and compares the heap in use.
//
// For a measurement: HOOKBOX_IDLE_CONNS=5000 go test -run IdleConnectionsMemory -v ./ingest/
func TestHandler_IdleConnectionsMemory(t *testing.T) {
	f := mustFixture(t)
	h := f.h
	h.MaxBody = ingest.DefaultMaxBody
	var inside atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inside.Add(1)
		h.ServeHTTP(w, r)
	}))
	defer srv.Close()
	n := idleConns(t)

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)

	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	head := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nStripe-Signature: t=1,v1=00\r\nContent-Length: %d\r\n\r\n{", testPath, ingest.DefaultMaxBody)
	for range n {
		c, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		if _, err := c.Write([]byte(head)); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for inside.Load() < int64(n) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d requests reached the handler", inside.Load(), n)
		}
		runtime.Gosched()
		time.Sleep(time.Millisecond) // polling a condition, with a deadline
	}
	runtime.GC()
	runtime.ReadMemStats(&after)

	heap := int64(after.HeapInuse) - int64(before.HeapInuse)
	stack := int64(after.StackInuse) - int64(before.StackInuse)
	t.Logf("%d idle connections: heap in use +%.1f MiB (%.1f KiB each), stacks +%.1f MiB (%.1f KiB each), Sys %.1f -> %.1f MiB",
		n, mib(heap), kib(heap/int64(n)), mib(stack), kib(stack/int64(n)), mib(int64(before.Sys)), mib(int64(after.Sys)))
	// net/http needs about 12 KiB of heap a connection (4 KiB read and
	// write buffers, 2 KiB response buffer, the request); the body buffer
	// may add what arrived, not what was announced.
	if per := heap / int64(n); per > 24<<10 {
		t.Errorf("%.1f KiB of heap per idle connection that sent one byte of body, want under 24", kib(per))
	}
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }
func kib(b int64) float64 { return float64(b) / (1 << 10) }
