package deliver_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/deliver"
	"github.com/hookbox/hookbox/envelope"
	"github.com/stripe/stripe-go/v85"
)

// TestMux_Precedence ensures the most specific pattern wins: the exact type,
// then the longest matching prefix, then "*"; and that a prefix matches
// only below its dot.
func TestMux_Precedence(t *testing.T) {
	m := deliver.NewMux("")
	nop := func(context.Context, *deliver.Event) error { return nil }
	for _, p := range []string{"*", "customer.*", "customer.subscription.*", "customer.subscription.deleted", "invoice.*"} {
		m.HandleFunc(p, nop)
	}
	tests := map[string]string{
		"customer.subscription.deleted": "customer.subscription.deleted",
		"customer.subscription.updated": "customer.subscription.*",
		"customer.created":              "customer.*",
		"customer":                      "*",
		"invoice.paid":                  "invoice.*",
		"invoiceitem.created":           "*",
		"charge.succeeded":              "*",
	}
	for typ, want := range tests {
		if h, got := m.Handler(typ); got != want || h == nil {
			t.Errorf("Handler(%q) = %q, want %q", typ, got, want)
		}
	}
	if m.Name() != deliver.DefaultMuxName {
		t.Errorf("default name %q", m.Name())
	}

	noStar := deliver.NewMux("handlers")
	noStar.HandleFunc("invoice.*", nop)
	if noStar.Accepts(&hookbox.Event{Type: "charge.succeeded"}) {
		t.Errorf("a Mux without a matching pattern accepts the event")
	}
	if !noStar.Accepts(&hookbox.Event{Type: "invoice.paid"}) {
		t.Errorf("invoice.* does not accept invoice.paid")
	}
	noStar.Livemode = deliver.LivemodeTest
	if noStar.Accepts(&hookbox.Event{Type: "invoice.paid", Livemode: true}) {
		t.Errorf("a test-mode Mux accepts a live event")
	}
}

// TestMux_HandleErr ensures registering an invalid pattern, a nil handler or
// a pattern twice panics, as http.ServeMux does.
func TestMux_HandleErr(t *testing.T) {
	nop := func(context.Context, *deliver.Event) error { return nil }
	for name, f := range map[string]func(m *deliver.Mux){
		"invalid":      func(m *deliver.Mux) { m.HandleFunc("invoice*", nop) },
		"uppercase":    func(m *deliver.Mux) { m.HandleFunc("Invoice.paid", nop) },
		"nil":          func(m *deliver.Mux) { m.HandleFunc("invoice.paid", nil) },
		"nil handler":  func(m *deliver.Mux) { m.Handle("invoice.paid", nil) },
		"dup exact":    func(m *deliver.Mux) { m.HandleFunc("invoice.paid", nop); m.HandleFunc("invoice.paid", nop) },
		"dup prefix":   func(m *deliver.Mux) { m.HandleFunc("invoice.*", nop); m.HandleFunc("invoice.*", nop) },
		"dup wildcard": func(m *deliver.Mux) { m.HandleFunc("*", nop); m.HandleFunc("*", nop) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f(deliver.NewMux(""))
		}()
	}
}

// TestEvent_Stripe ensures the typed stripe.Event is decoded lazily (a
// handler that never asks pays nothing, even for a body stripe-go cannot
// decode), once (the same value on every call, also concurrently), and
// without rejecting an api_version stripe-go is not pinned to.
func TestEvent_Stripe(t *testing.T) {
	body, err := os.ReadFile("../testdata/events/payment_intent.succeeded.json")
	if err != nil {
		t.Fatal(err)
	}
	f, err := envelope.Parse(body)
	if err != nil {
		t.Fatal(err)
	}
	ev := deliver.NewEvent(&hookbox.Event{ID: f.ID, Type: f.Type, Livemode: f.Livemode, Body: body}, 1)
	var wg sync.WaitGroup
	got := make([]*stripe.Event, 8)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], _ = ev.Stripe()
		}()
	}
	wg.Wait()
	se, err := ev.Stripe()
	if err != nil {
		t.Fatalf("Stripe(): %v", err)
	}
	for i := range got {
		if got[i] != se {
			t.Errorf("call %d decoded again", i)
		}
	}
	if se.ID != f.ID || string(se.Type) != f.Type || se.Data == nil || se.Data.Object["id"] == nil {
		t.Errorf("decoded %+v", se)
	}
	if pi, ok := se.Data.Object["object"].(string); !ok || pi != "payment_intent" {
		t.Errorf("data.object.object = %v", se.Data.Object["object"])
	}

	// An api_version from the future decodes: no version check.
	other := strings.Replace(string(body), `"api_version"`, `"api_version":"2099-01-01.future","x_old_api_version"`, 1)
	if _, err := deliver.NewEvent(&hookbox.Event{ID: "evt_x", Body: []byte(other)}, 1).Stripe(); err != nil {
		t.Errorf("future api_version: %v", err)
	}

	// Lazy: a handler that does not decode succeeds on a body stripe-go
	// cannot decode; one that does gets the error, the same each time.
	s := mustOpenStore(t)
	bad := newEvent("evt_lazy", "invoice.paid", false)
	bad.Body = []byte(`{"id":"evt_lazy","object":"event","type":"invoice.paid","created":"not a number"}`)
	mustInsert(t, s, bad)
	m := deliver.NewMux("")
	m.HandleFunc("invoice.paid", func(ctx context.Context, ev *deliver.Event) error { return nil })
	if a := m.Deliver(context.Background(), bad, 1); !a.OK {
		t.Errorf("handler without decode: %+v", a)
	}
	e := deliver.NewEvent(bad, 1)
	_, err1 := e.Stripe()
	_, err2 := e.Stripe()
	if err1 == nil || err1 != err2 || !strings.Contains(err1.Error(), "evt_lazy") {
		t.Errorf("decode errors %v / %v", err1, err2)
	}
}

// TestMux_Worker ensures handlers run through a Worker: a returned error
// and a panic are failed attempts with their message, retried until the
// handler succeeds, and the handler sees the attempt number and the stored
// event.
func TestMux_Worker(t *testing.T) {
	s := mustOpenStore(t)
	var calls atomic.Int32
	m := deliver.NewMux("app")
	m.Logger = quietLogger()
	m.HandleFunc("invoice.*", func(ctx context.Context, ev *deliver.Event) error {
		n := calls.Add(1)
		if int(n) != ev.Attempt {
			t.Errorf("call %d sees attempt %d", n, ev.Attempt)
		}
		switch n {
		case 1:
			return errors.New("database is down")
		case 2:
			var m map[string]int
			m["boom"]++ // nil map: a runtime panic
		}
		se, err := ev.Stripe()
		if err != nil || se.ID != ev.ID {
			return errors.New("bad decode")
		}
		return nil
	})
	ev := newEvent("evt_mux", "invoice.paid", false)
	mustInsert(t, s, ev)
	w := startWorker(t, &deliver.Worker{Queue: s, Destinations: []deliver.Destination{m}, Retry: fastRetry(5)})
	w.Wake()
	waitState(t, s, ev.ID, hookbox.StateDelivered)
	as := mustAttempts(t, s, ev.ID)
	if len(as) != 3 {
		t.Fatalf("%d attempts: %+v", len(as), as)
	}
	if as[0].OK || !strings.Contains(as[0].Error, "database is down") || !strings.Contains(as[0].Error, "invoice.*") {
		t.Errorf("attempt 1: %+v", as[0])
	}
	if as[1].OK || !strings.Contains(as[1].Error, "panicked") || !strings.Contains(as[1].Error, "nil map") {
		t.Errorf("attempt 2: %+v", as[1])
	}
	if !as[2].OK || as[2].Destination != "app" || as[2].Number != 3 {
		t.Errorf("attempt 3: %+v", as[2])
	}
}
