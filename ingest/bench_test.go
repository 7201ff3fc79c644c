package ingest_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/ingest"
	"github.com/hookbox/hookbox/stripesig"
)

// BenchmarkServeHTTP measures the handler's own cost per accepted webhook:
// read, verify, parse, submit (to a store that commits at once) and
// answer, without a network or a database in the way.
func BenchmarkServeHTTP(b *testing.B) {
	v, err := stripesig.NewVerifier([]string{secretNew}, stripesig.Options{})
	if err != nil {
		b.Fatal(err)
	}
	h := &ingest.Handler{
		Endpoint: "stripe",
		Verifier: v,
		Submit: func(context.Context, *hookbox.Event) (hookbox.InsertResult, error) {
			return hookbox.InsertResult{}, nil
		},
		Logger: slog.New(slog.DiscardHandler),
	}
	body := event("evt_bench", "invoice.paid")
	sig := stripesig.Sign(body, time.Now(), secretNew)
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest(http.MethodPost, testPath, bytes.NewReader(body))
		r.Header.Set(stripesig.HeaderName, sig)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d", w.Code)
		}
	}
}
