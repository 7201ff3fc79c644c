package receiver_test

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"time"

	"github.com/hookbox/hookbox/deliver"
	"github.com/hookbox/hookbox/receiver"
	"github.com/hookbox/hookbox/sqlite"
	"github.com/hookbox/hookbox/stripesig"
)

// Example assembles a whole receiver, a SQLite store, one endpoint that
// forwards to an HTTP app, and the admin handler, then posts it a signed
// event as Stripe would.
func Example() {
	got := make(chan string, 1) // the app: records the event it is sent
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got <- r.Header.Get("Idempotency-Key") }))
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
	r, err := receiver.New(receiver.Options{Store: store, Endpoints: []receiver.Endpoint{{
		Name: receiver.DefaultEndpoint, Secrets: []string{"whsec_from_stripe_0123456789abcdef0123"},
		Destinations: []deliver.Destination{forward},
	}}})
	if err != nil || r.Open(context.Background()) != nil {
		log.Fatal(err)
	}
	defer r.Close()
	public, admin := httptest.NewServer(r.Handler()), httptest.NewServer(r.AdminHandler())
	defer public.Close()
	defer admin.Close()

	body := []byte(`{"id":"evt_1","object":"event","type":"invoice.paid","created":1764201234,"livemode":false,"data":{"object":{"id":"in_1"}}}`)
	req, _ := http.NewRequest("POST", public.URL+receiver.DefaultPath, bytes.NewReader(body))
	req.Header.Set("Stripe-Signature", stripesig.Sign(body, time.Now(), "whsec_from_stripe_0123456789abcdef0123"))
	if resp, err := http.DefaultClient.Do(req); err == nil {
		fmt.Println("stripe got", resp.Status)
	}
	fmt.Println("app got", <-got)
	if resp, err := http.Get(admin.URL + "/healthz"); err == nil {
		fmt.Println("healthz", resp.Status)
	}
	// Output:
	// stripe got 200 OK
	// app got evt_1
	// healthz 200 OK
}
