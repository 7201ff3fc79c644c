package deliver_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/deliver"
	"github.com/hookbox/hookbox/sqlite"
)

// failingStore is the real SQLite store with some operations failing as a
// store that lost its disk or its permissions would.
type failingStore struct {
	*sqlite.Store
	claims, completes bool
}

var errDown = hookbox.Errorf(hookbox.EUNAVAILABLE, "store down")

func (s failingStore) ClaimEvents(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]*hookbox.Claim, error) {
	if s.claims {
		return nil, errDown
	}
	return s.Store.ClaimEvents(ctx, owner, now, lease, limit)
}

func (s failingStore) CompleteClaims(ctx context.Context, cs []hookbox.Completion) ([]error, error) {
	if s.completes {
		return nil, errDown
	}
	return s.Store.CompleteClaims(ctx, cs)
}

func (s failingStore) CompleteClaim(ctx context.Context, c hookbox.Completion) error {
	if s.completes {
		return errDown
	}
	return s.Store.CompleteClaim(ctx, c)
}

// TestWorker_OnStoreError ensures a failing claim or completion is
// reported to OnStoreError with its operation (serve counts them in
// hookbox_store_errors_total, which HookboxStoreErrors alerts on): a worker
// whose completions fail keeps delivering the same events, and only the
// logs would say why.
func TestWorker_OnStoreError(t *testing.T) {
	for _, tc := range []struct {
		name  string
		store failingStore
		want  string
	}{
		{"claim", failingStore{claims: true}, "claim"},
		{"complete", failingStore{completes: true}, "complete"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := mustOpenStore(t)
			tc.store.Store = s
			mustInsert(t, s, newEvent("evt_store_err", "charge.succeeded", false))
			rc := newReceiver(t, nil)
			var mu sync.Mutex
			ops := map[string]int{}
			startWorker(t, &deliver.Worker{
				Queue: tc.store, Destinations: []deliver.Destination{mustHTTP(t, "app", rc.URL, deliver.HTTPOptions{})},
				OnStoreError: func(op string, err error) {
					mu.Lock()
					defer mu.Unlock()
					if hookbox.ErrorCode(err) == hookbox.EUNAVAILABLE {
						ops[op]++
					}
				},
			}).Wake()
			waitFor(t, "the store error reported", func() bool {
				mu.Lock()
				defer mu.Unlock()
				return ops[tc.want] > 0
			})
		})
	}
}
