package main

import (
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestServe_ConnectionBound ensures serve bounds the public listener's
// connections: past --max-conns, a new connection is closed at once, and
// one is accepted again when an earlier one closes. (Package edge tests
// the per-client bound, from several addresses.)
func TestServe_ConnectionBound(t *testing.T) {
	vars, _ := e2eVars(t)
	m, _ := mustRunMain(t, vars, "--max-conns", "3")
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	dial := func() net.Conn {
		c, err := net.Dial("tcp", m.PublicAddr())
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	// closed reports whether the server closed c without a word.
	closed := func(c net.Conn) bool {
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		_, err := c.Read(make([]byte, 1))
		return err != nil && !strings.Contains(err.Error(), "timeout")
	}
	for range 3 {
		c := dial()
		c.Write([]byte("POST /webhooks/stripe HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n{"))
		held = append(held, c)
	}
	waitFor(t, "the fourth connection refused", 5*time.Second, func() bool {
		c, err := net.Dial("tcp", m.PublicAddr())
		if err != nil {
			return true // reset before the dial returned: refused too
		}
		defer c.Close()
		return closed(c)
	})
	held[0].Close()
	held = held[1:]
	waitFor(t, "a connection accepted again", 5*time.Second, func() bool {
		resp, err := http.Get("http://" + m.PublicAddr() + "/webhooks/stripe")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusMethodNotAllowed
	})
}

// TestServe_GetFloodLimitedAndQuiet ensures a flood of GETs to the webhook
// path counts toward the failed-verification limit (429 once it is
// reached) and writes a few log lines, not one per request.
func TestServe_GetFloodLimitedAndQuiet(t *testing.T) {
	vars, _ := e2eVars(t)
	m, logs := mustRunMain(t, vars, "--max-failed-verifications", "5", "--log-flush-interval", "0")
	url := "http://" + m.PublicAddr() + "/webhooks/stripe"
	codes := map[int]int{}
	for range 500 {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		codes[resp.StatusCode]++
	}
	if codes[405] != 5 || codes[429] != 495 {
		t.Fatalf("status counts: %v, want 5 x 405 then 429", codes)
	}
	if n := strings.Count(logs.String(), "request rejected"); n > 10 {
		t.Fatalf("%d rejection lines for 500 GETs", n)
	}
}
