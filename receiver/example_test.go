package receiver_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hookbox/hookbox/deliver"
	"github.com/hookbox/hookbox/receiver"
	"github.com/hookbox/hookbox/sqlite"
	"github.com/hookbox/hookbox/stripesig"
)

// Example assembles a whole receiver: a SQLite store, one endpoint that
// forwards to an HTTP app, and the admin handler.
func Example() {
	got := make(chan string, 1)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Get("Idempotency-Key")
	}))
	defer app.Close()
	dir, _ := os.MkdirTemp("", "hookbox")
	defer os.RemoveAll(dir)

	store, err := sqlite.Open(filepath.Join(dir, "hookbox.db"))
	if err != nil {
		log.Fatal(err)
	}
	forward, err := deliver.NewHTTP("app", app.URL, "whsec_for_my_app_0123456789abcdef0123", deliver.HTTPOptions{})
	if err != nil {
		log.Fatal(err)
	}
	r, err := receiver.New(receiver.Options{
		Store: store,
		Endpoints: []receiver.Endpoint{{
			Name:         receiver.DefaultEndpoint, // served at /webhooks/stripe
			Secrets:      []string{"whsec_from_stripe_0123456789abcdef0123"},
			Destinations: []deliver.Destination{forward},
		}},
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := r.Open(context.Background()); err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	public, admin := httptest.NewServer(r.Handler()), httptest.NewServer(r.AdminHandler())
	defer public.Close()
	defer admin.Close()

	// Stripe posts a signed event; the app gets it once it is stored.
	body := []byte(`{"id":"evt_1","object":"event","type":"invoice.paid","created":1764201234,"livemode":false,"data":{"object":{"id":"in_1"}}}`)
	req, _ := http.NewRequest("POST", public.URL+receiver.DefaultPath, strings.NewReader(string(body)))
	req.Header.Set("Stripe-Signature", stripesig.Sign(body, time.Now(), "whsec_from_stripe_0123456789abcdef0123"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("stripe got", resp.Status)
	fmt.Println("app got", <-got)
	ready, _ := http.Get(admin.URL + "/healthz")
	fmt.Println("healthz", ready.Status)
	// Output:
	// stripe got 200 OK
	// app got evt_1
	// healthz 200 OK
}
