package thin_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/hookbox/hookbox/reconcile"
	"github.com/hookbox/hookbox/thin"
)

// Ensures a v2 events API that refuses the created range as hookbox sends
// it (RFC 3339) with a 400 is listed again without it, rather than failing
// every reconcile.
func TestListEvents_CreatedRefused(t *testing.T) {
	var asked []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked = append(asked, r.URL.RawQuery)
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Query().Get("created[gte]") != "" {
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`{"error":{"type":"invalid_request_error","code":"invalid_parameter","message":"created[gte]: want a unix timestamp"}}`))
			return
		}
		w.Write([]byte(`{"data":[{"id":"evt_1","object":"v2.core.event","type":"v1.billing.meter.no_meter_found","created":"2026-12-07T04:00:00.000Z"}],"next_page_url":null}`))
	}))
	t.Cleanup(srv.Close)
	c, err := thin.NewClient(key, reconcile.ClientConfig{APIBase: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	evs, next, err := c.ListEvents(context.Background(), time.Now().Add(-time.Hour), time.Time{}, "")
	if err != nil || len(evs) != 1 || next != "" {
		t.Fatalf("ListEvents = %d events, next %q, %v", len(evs), next, err)
	}
	if len(asked) != 2 || asked[1] != "limit=100" {
		t.Fatalf("queries %q: want the range, then without it", asked)
	}
}
