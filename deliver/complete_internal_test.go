package deliver

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/sqlite"
)

// downStore is the real SQLite store whose completions fail as a store
// that lost its disk would; the first failure also ends the worker's
// context (a shutdown arriving meanwhile).
type downStore struct {
	*sqlite.Store
	calls  atomic.Int32
	cancel context.CancelFunc
}

func (s *downStore) CompleteClaim(ctx context.Context, c hookbox.Completion) error {
	s.calls.Add(1)
	s.cancel()
	return hookbox.Errorf(hookbox.EUNAVAILABLE, "store down")
}

// TestComplete_RetryHearsContext ensures the retries of a completion on an
// unavailable store stop when the worker's context ends, instead of
// sleeping through their backoff and calling the store again.
func TestComplete_RetryHearsContext(t *testing.T) {
	s, err := sqlite.Open(filepath.Join(t.TempDir(), "hookbox.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	q := &downStore{Store: s, cancel: cancel}
	d, err := NewHTTP("app", "http://127.0.0.1:9/", "whsec_test_0123456789abcdef0123456789", HTTPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w := &Worker{Queue: q, Destinations: []Destination{d}}
	if err := w.init(); err != nil {
		t.Fatal(err)
	}
	if err := w.complete(ctx, hookbox.Completion{EventID: "evt_1", Owner: "me"}); hookbox.ErrorCode(err) != hookbox.EUNAVAILABLE {
		t.Fatalf("err = %v", err)
	}
	if n := q.calls.Load(); n != 1 {
		t.Fatalf("%d completion calls after the context ended, want 1", n)
	}
}
