package main

import (
	"bufio"
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/hookbox/hookbox/stripesig"
)

// TestEventsShow_TerminalSafe ensures text a destination chose (its status
// line, stored in the attempt log) cannot drive the operator's terminal
// through "events show": ESC and BEL are replaced, the rest stays
// readable.
func TestEventsShow_TerminalSafe(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					if l, err := br.ReadString('\n'); err != nil || l == "\r\n" {
						break
					}
				}
				// An app (or whatever answers at its URL) picks any reason phrase.
				c.Write([]byte("HTTP/1.1 500 \x1b]0;owned\x07\x1b[2J\x1b[31mFAKE OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"))
			}(c)
		}
	}()
	vars, db := deliverVars(t, "http://"+ln.Addr().String()+"/")
	vars["HOOKBOX_MAX_ATTEMPTS"] = "1"
	m, _ := mustRunMain(t, vars)
	body := e2eEvent("evt_esc_1", "invoice.paid")
	if status, _ := postEvent(t, "http://"+m.PublicAddr()+"/webhooks/stripe", body, stripesig.Sign(body, time.Now(), testSecret1)); status != 200 {
		t.Fatal(status)
	}
	waitFor(t, "the attempt", 10*time.Second, func() bool {
		atts, _ := m.Store().FindAttempts(context.Background(), "evt_esc_1")
		return len(atts) > 0
	})
	env, out, _ := testEnv(map[string]string{"HOOKBOX_DB": db})
	if err := run(context.Background(), env, []string{"events", "show", "evt_esc_1"}); err != nil {
		t.Fatal(err)
	}
	if s := out.String(); strings.ContainsAny(s, "\x1b\x07") || !strings.Contains(s, "FAKE OK") {
		t.Errorf("events show output:\n%q", s)
	}
}
