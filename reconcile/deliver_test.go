package reconcile_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/deliver"
	"github.com/hookbox/hookbox/envelope"
	"github.com/hookbox/hookbox/reconcile"
)

// Ensures recovered events go the way of webhooks: a deliver.Worker woken
// by the run delivers each of them to the destination exactly once, the
// ones already stored (and delivered) as webhooks are not sent again, and
// a second run sends nothing.
func TestRun_DeliveredExactlyOnce(t *testing.T) {
	t.Parallel()
	sc := newScenario(t)

	var (
		mu  sync.Mutex
		got = map[string]int{}
	)
	dest := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		f, err := envelope.Parse(b)
		if err != nil {
			t.Errorf("destination got a body that is not an event: %v", err)
		}
		mu.Lock()
		got[f.ID]++
		mu.Unlock()
	}))
	t.Cleanup(dest.Close)
	d, err := deliver.NewHTTP("app", dest.URL, "whsec_destination_secret", deliver.HTTPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w := &deliver.Worker{Queue: sc.store, Destinations: []deliver.Destination{d}, PollInterval: time.Hour}
	if err := w.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Shutdown(context.Background()) })

	r, _ := newReconciler(t, sc.base, testKey, sc.store)
	r.Wake = w.Wake // with an hour's poll, only the wake-up delivers in time
	if sum := run(t, r, reconcile.Options{}); sum.Recovered != 210 {
		t.Fatalf("summary: %+v", sum)
	}
	pendingGone := func() bool {
		counts, _, err := sc.store.CountEvents(context.Background())
		return err == nil && counts[hookbox.StatePending] == 0 && counts[hookbox.StateDelivering] == 0
	}
	deadline := time.Now().Add(30 * time.Second)
	for !pendingGone() {
		if time.Now().After(deadline) {
			t.Fatal("recovered events not delivered within 30s")
		}
		time.Sleep(5 * time.Millisecond) // polling a condition with a deadline
	}

	if sum := run(t, r, reconcile.Options{NowFunc: func() time.Time { return now.Add(time.Minute) }}); sum.Recovered != 0 || !pendingGone() {
		t.Fatalf("second run: %+v", sum)
	}
	if err := w.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 210 {
		t.Fatalf("destination got %d distinct events, want 210", len(got))
	}
	for id, n := range got {
		if n != 1 {
			t.Fatalf("%s delivered %d times", id, n)
		}
		if _, ok := sc.stored[id]; ok {
			t.Fatalf("%s was stored as a webhook already, and delivered again", id)
		}
	}
}
