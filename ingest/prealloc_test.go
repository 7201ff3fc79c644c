package ingest_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"

	"github.com/hookbox/hookbox/ingest"
)

// stalled sends one byte of body, then fails as a read timeout does.
type stalled struct{ sent bool }

func (s *stalled) Read(p []byte) (int, error) {
	if !s.sent {
		s.sent = true
		p[0] = '{'
		return 1, nil
	}
	return 0, errors.New("i/o timeout")
}

// TestHandler_ContentLengthNotTrusted ensures a request that only announces
// a body at the limit (1 MiB) and sends one byte does not make the handler
// allocate the announced size, nor any fixed reserve of it: headers cost a
// client 100 bytes, and idle connections would otherwise pin 1 MiB each
// (2,000 of them took a server to 2.1 GB), or 64 KiB each (10,000 took one
// to 1.15 GB).
func TestHandler_ContentLengthNotTrusted(t *testing.T) {
	f := mustFixture(t)
	h := f.h
	h.MaxBody = ingest.DefaultMaxBody
	const n = 50
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range n {
		r := httptest.NewRequest(http.MethodPost, testPath, io.NopCloser(&stalled{}))
		r.ContentLength = ingest.DefaultMaxBody
		r.Header.Set("Stripe-Signature", "t=1,v1=00")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusBadRequest {
			t.Fatalf("status %d, want 400", w.Code)
		}
		// Empty the buffer pool, as many concurrent requests would.
		runtime.GC()
		runtime.GC()
	}
	runtime.ReadMemStats(&after)
	if per := (after.TotalAlloc - before.TotalAlloc) / n; per > 32<<10 {
		t.Errorf("%d bytes allocated per request that sent 1 byte of a 1 MiB Content-Length, want far less", per)
	}
}
