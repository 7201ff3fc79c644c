package deliver_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/deliver"
	"github.com/hookbox/hookbox/sqlite"
	"github.com/stripe/stripe-go/v85"
)

// ExampleMux embeds hookbox in a Go service: handlers registered by event
// type receive the stored events from the queue, with the typed
// stripe.Event decoded on demand. An error returned by a handler schedules
// a retry.
func ExampleMux() {
	dir, err := os.MkdirTemp("", "hookbox-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	store, err := sqlite.Open(filepath.Join(dir, "hookbox.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	done := make(chan struct{})
	mux := deliver.NewMux("billing")
	mux.HandleFunc("payment_intent.succeeded", func(ctx context.Context, ev *deliver.Event) error {
		se, err := ev.Stripe() // decoded now, once
		if err != nil {
			return err
		}
		if se.Type != stripe.EventTypePaymentIntentSucceeded {
			return fmt.Errorf("unexpected type %s", se.Type)
		}
		fmt.Printf("%s: %s paid %v %v\n", se.Type, se.Data.Object["id"], se.Data.Object["amount"], se.Data.Object["currency"])
		close(done)
		return nil
	})
	mux.HandleFunc("invoice.*", func(ctx context.Context, ev *deliver.Event) error {
		return nil // every invoice event
	})

	w := &deliver.Worker{Queue: store, Destinations: []deliver.Destination{mux}}
	if err := w.Start(context.Background()); err != nil {
		log.Fatal(err)
	}

	// What ingest does with a verified webhook: store it, then Wake.
	body := `{"id":"evt_1","object":"event","type":"payment_intent.succeeded","livemode":false,` +
		`"created":1700000000,"data":{"object":{"id":"pi_1","object":"payment_intent","amount":2000,"currency":"usd"}}}`
	if _, err := store.InsertEvents(context.Background(), []*hookbox.Event{{
		ID: "evt_1", Type: "payment_intent.succeeded", Object: "event", Body: []byte(body),
		ReceivedAt: time.Now(), Source: hookbox.SourceWebhook,
	}}); err != nil {
		log.Fatal(err)
	}
	w.Wake()
	<-done

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.Shutdown(ctx); err != nil {
		log.Fatal(err)
	}
	// Output:
	// payment_intent.succeeded: pi_1 paid 2000 usd
}
