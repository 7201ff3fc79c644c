package storetest

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/groupcommit"
)

// The insert benchmarks every store runs the same way, so that the figures
// compare side by side: unique ~2.7 KB Stripe-shaped events from about 64
// concurrent submitters, in process, without HTTP. An adapter's
// bench_test.go names them after itself and passes a fresh store:
//
//	func BenchmarkGroupCommitSQLite(b *testing.B) {
//		storetest.BenchmarkGroupCommit(b, benchStore(b))
//	}
//
// They report events/s; ns/op is per event too.

// benchSubmitters is the goroutine count RunParallel targets.
const benchSubmitters = 64

// BenchBody returns a payment_intent.succeeded event of about 2.7 KB with
// the given id.
func BenchBody(id string) []byte {
	return []byte(`{
  "id": "` + id + `",
  "object": "event",
  "api_version": "2025-10-29.clover",
  "created": 1764220800,
  "data": {
    "object": {
      "id": "pi_3QxYzA2eZvKYlo2C1a2b3c4d",
      "object": "payment_intent",
      "amount": 2000,
      "amount_capturable": 0,
      "amount_details": {"tip": {}},
      "amount_received": 2000,
      "application": null,
      "application_fee_amount": null,
      "automatic_payment_methods": {"allow_redirects": "always", "enabled": true},
      "canceled_at": null,
      "cancellation_reason": null,
      "capture_method": "automatic_async",
      "client_secret": "pi_3QxYzA2eZvKYlo2C1a2b3c4d_secret_Vt5ZlqWnq6eV0D5xYDXpLmGjB",
      "confirmation_method": "automatic",
      "created": 1764220799,
      "currency": "usd",
      "customer": "cus_RkQ2mZp9xY3aBc",
      "description": "Subscription creation",
      "invoice": "in_1QxYz92eZvKYlo2CdEfGhIjK",
      "last_payment_error": null,
      "latest_charge": "ch_3QxYzA2eZvKYlo2C1LmNoPqR",
      "livemode": false,
      "metadata": {"order_id": "6735", "customer_tier": "gold", "campaign": "black-friday-2026"},
      "next_action": null,
      "on_behalf_of": null,
      "payment_method": "pm_1QxYz82eZvKYlo2CsTuVwXyZ",
      "payment_method_configuration_details": {"id": "pmc_1PqRsT2eZvKYlo2CaBcDeFgH", "parent": null},
      "payment_method_options": {
        "card": {"installments": null, "mandate_options": null, "network": null, "request_three_d_secure": "automatic"},
        "link": {"persistent_token": null}
      },
      "payment_method_types": ["card", "link"],
      "processing": null,
      "receipt_email": "jenny.rosen@example.com",
      "review": null,
      "setup_future_usage": "off_session",
      "shipping": {
        "address": {"city": "San Francisco", "country": "US", "line1": "510 Townsend St", "line2": null, "postal_code": "94103", "state": "CA"},
        "carrier": null, "name": "Jenny Rosen", "phone": "+15555555555", "tracking_number": null
      },
      "source": null,
      "statement_descriptor": null,
      "statement_descriptor_suffix": null,
      "status": "succeeded",
      "transfer_data": null,
      "transfer_group": null
    }
  },
  "livemode": false,
  "pending_webhooks": 2,
  "request": {"id": "req_9aBcDeFgHiJkLm", "idempotency_key": "a1b2c3d4-e5f6-7a8b-9c0d-e1f2a3b4c5d6"},
  "type": "payment_intent.succeeded"
}` + strings.Repeat(" ", 300) + "\n")
}

// BenchEvent returns the n-th benchmark event: a unique id and a BenchBody.
func BenchEvent(n int64) *hookbox.Event {
	id := fmt.Sprintf("evt_3QxYzA2eZvKYlo2C%010d", n)
	return &hookbox.Event{
		ID: id, Type: "payment_intent.succeeded", Object: "event", Created: 1764220800,
		APIVersion: "2025-10-29.clover", Body: BenchBody(id),
		Headers: map[string]string{
			"Stripe-Signature": "t=1764220800,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd",
			"User-Agent":       "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
			"Content-Type":     "application/json; charset=utf-8",
		},
		ReceivedAt: time.Now().UTC(), ClientAddr: "3.18.12.63:41234", Source: hookbox.SourceWebhook,
	}
}

// BenchmarkGroupCommit: each submitter calls Committer.Submit; the writer
// commits what queued meanwhile with one s.InsertEvents. It reports
// events/s and events/batch.
func BenchmarkGroupCommit(b *testing.B, s hookbox.Store) {
	b.Helper()
	var batches, events atomic.Int64
	opts := groupcommit.Options{OnBatchFunc: func(size int, _ time.Duration, _ error) {
		batches.Add(1)
		events.Add(int64(size))
	}}
	insert := s.InsertEvents
	if p, ok := s.(hookbox.Preparer); ok { // as the receiver wires it
		opts.Prepare = p.PrepareInsert
	}
	if p, ok := s.(hookbox.PipelinedInserter); ok {
		insert, opts.Sync = p.InsertEventsNoSync, p.SyncInserts
	}
	c := groupcommit.New(insert, opts)
	runSubmitters(b, func(ev *hookbox.Event) error {
		res, err := c.Submit(context.Background(), ev)
		if err == nil {
			err = res.Err
		}
		return err
	})
	c.Close()
	if n := batches.Load(); n > 0 {
		b.ReportMetric(float64(events.Load())/float64(n), "events/batch")
	}
}

// BenchmarkOneTxPerEvent: each submitter calls s.InsertEvents with its one
// event, so every event is its own transaction. It reports events/s.
func BenchmarkOneTxPerEvent(b *testing.B, s hookbox.Store) {
	b.Helper()
	runSubmitters(b, func(ev *hookbox.Event) error {
		res, err := s.InsertEvents(context.Background(), []*hookbox.Event{ev})
		if err == nil {
			err = res[0].Err
		}
		return err
	})
}

// runSubmitters runs store in about 64 goroutines, one unique event per
// iteration, and reports events/s.
func runSubmitters(b *testing.B, store func(ev *hookbox.Event) error) {
	b.Helper()
	if n := len(BenchBody("evt_3QxYzA2eZvKYlo2C0000000000")); n < 2600 || n > 2800 {
		b.Fatalf("body is %d bytes, want about 2.7 KB", n)
	}
	var seq atomic.Int64
	b.SetParallelism(max(1, benchSubmitters/runtime.GOMAXPROCS(0)))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := store(BenchEvent(seq.Add(1))); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
