package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/hookbox/hookbox"
)

// wakeTimeout bounds every wait for a wake-up or for Listen to return.
// Notifications arrive in milliseconds; the bound only keeps a broken store
// from hanging the suite.
const wakeTimeout = 10 * time.Second

// runNotifier runs the hookbox.Notifier cases when the store is one.
func runNotifier(t *testing.T, h Harness) {
	if _, ok := h.Open(t).(hookbox.Notifier); !ok {
		skipf(t, "the store is not a hookbox.Notifier")
	}
	t.Run("WakesOtherHandle", func(t *testing.T) {
		if h.NewDatabase == nil {
			skipf(t, "Harness.NewDatabase is nil: no second handle on one database")
		}
		testNotifierWakesOtherHandle(t, h.NewDatabase(t))
	})
	t.Run("StopsOnCancel", func(t *testing.T) { testNotifierStopsOnCancel(t, h.Open(t)) })
	t.Run("StopsOnClose", func(t *testing.T) { testNotifierStopsOnClose(t, h.Open(t)) })
	t.Run("ErrInvalid", func(t *testing.T) { testNotifierInvalid(t, h.Open(t)) })
}

// listening is a Listen running in its own goroutine.
type listening struct {
	wakes  chan struct{} // capacity 1: wakes coalesce, as a worker's do
	done   chan struct{} // closed when Listen has returned
	err    error         // Listen's result, once done is closed
	cancel context.CancelFunc
}

// startListen runs n.Listen until the test ends, with a wake that never
// blocks (the contract's intended use), and waits for the wake that says
// it listens.
func startListen(tb testing.TB, n hookbox.Notifier) *listening {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	l := &listening{wakes: make(chan struct{}, 1), done: make(chan struct{}), cancel: cancel}
	go func() {
		defer close(l.done)
		l.err = n.Listen(ctx, func() {
			select {
			case l.wakes <- struct{}{}:
			default:
			}
		})
	}()
	tb.Cleanup(func() {
		cancel()
		select {
		case <-l.done:
		case <-time.After(wakeTimeout):
			tb.Errorf("Listen did not return within %v of its ctx's end", wakeTimeout)
		}
	})
	l.mustWake(tb, "the wake that says Listen listens")
	return l
}

// mustWake waits for the next wake, or fails tb after wakeTimeout.
func (l *listening) mustWake(tb testing.TB, why string) {
	tb.Helper()
	select {
	case <-l.wakes:
	case <-l.done:
		tb.Fatalf("Listen returned (%v) while waiting for: %s", l.err, why)
	case <-time.After(wakeTimeout):
		tb.Fatalf("no wake within %v: %s", wakeTimeout, why)
	}
}

// drain discards a wake received so far, so that the next mustWake waits
// for a new one.
func (l *listening) drain() {
	select {
	case <-l.wakes:
	default:
	}
}

// mustReturn waits for Listen to return and fails tb unless it returned
// nil.
func (l *listening) mustReturn(tb testing.TB, after string) {
	tb.Helper()
	select {
	case <-l.done:
		if l.err != nil {
			tb.Fatalf("Listen returned %v after %s, want nil", l.err, after)
		}
	case <-time.After(wakeTimeout):
		tb.Fatalf("Listen did not return within %v after %s", wakeTimeout, after)
	}
}

// openHandles opens n handles on db, closed when tb ends.
func openHandles(tb testing.TB, db Database, n int) []hookbox.Store {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out := make([]hookbox.Store, n)
	for i := range out {
		s, err := db.Open(ctx)
		if err != nil {
			tb.Fatalf("open handle %d: %v", i, err)
		}
		tb.Cleanup(func() { s.Close() })
		out[i] = s
	}
	return out
}

// Ensures a Listen on one handle is woken by what commits through another
// handle on the same database (another process): new events, released
// claims and a replay, each within wakeTimeout.
func testNotifierWakesOtherHandle(t *testing.T, db Database) {
	ctx := context.Background()
	hs := openHandles(t, db, 2)
	n, ok := hs[0].(hookbox.Notifier)
	if !ok {
		t.Fatalf("a handle of Database.Open (%T) is not a hookbox.Notifier, as Harness.Open's stores are", hs[0])
	}
	other := hs[1]
	l := startListen(t, n)

	MustInsert(t, other, queued("evt_1", base, qt0))
	l.mustWake(t, "events inserted through another handle")

	assertClaimIDs(t, mustClaim(t, other, "w1", qt0, 10), "evt_1") // a claim need not wake
	l.drain()
	if n, err := other.ReleaseClaims(ctx, "w1", []string{"evt_1"}); err != nil || n != 1 {
		t.Fatalf("ReleaseClaims = %d, %v; want 1", n, err)
	}
	l.mustWake(t, "claims released through another handle")

	l.drain()
	if n, err := other.ReplayEvents(ctx, hookbox.ReplayFilter{IDs: []string{"evt_1"}}, qt0.Add(time.Hour)); err != nil || n != 1 {
		t.Fatalf("ReplayEvents = %d, %v; want 1", n, err)
	}
	l.mustWake(t, "a replay through another handle")
}

// Ensures Listen returns nil once its ctx is canceled.
func testNotifierStopsOnCancel(t *testing.T, s hookbox.Store) {
	l := startListen(t, s.(hookbox.Notifier))
	l.cancel()
	l.mustReturn(t, "its ctx was canceled")
}

// Ensures Listen returns nil once its store is closed, its ctx still
// live.
func testNotifierStopsOnClose(t *testing.T, s hookbox.Store) {
	l := startListen(t, s.(hookbox.Notifier))
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	l.mustReturn(t, "its store was closed")
}

// Ensures Listen fails at once with EINVALID for a nil wake, and with
// EUNAVAILABLE on a closed store.
func testNotifierInvalid(t *testing.T, s hookbox.Store) {
	n := s.(hookbox.Notifier)
	ctx, cancel := context.WithTimeout(context.Background(), wakeTimeout)
	defer cancel()
	assertCode(t, n.Listen(ctx, nil), hookbox.EINVALID)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	assertCode(t, n.Listen(ctx, func() {}), hookbox.EUNAVAILABLE)
}
