package postgres_test

import (
	"context"
	"net/url"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/internal/pgtest"
	"github.com/hookbox/hookbox/postgres"
	"github.com/hookbox/hookbox/storetest"
)

// wakeTimeout bounds every wait for a wake-up. Notifications arrive in
// milliseconds; the bound only keeps a broken build from hanging.
const wakeTimeout = 10 * time.Second

// listener runs s.Listen until the test ends and counts its wakes.
type listener struct {
	wakes  chan struct{} // one per wake, buffered generously
	done   chan struct{} // closed when Listen has returned
	err    error         // Listen's result, once done
	cancel context.CancelFunc
}

func startListen(tb testing.TB, s *postgres.Store) *listener {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	l := &listener{wakes: make(chan struct{}, 1000), done: make(chan struct{}), cancel: cancel}
	go func() {
		defer close(l.done)
		l.err = s.Listen(ctx, func() { l.wakes <- struct{}{} })
	}()
	tb.Cleanup(func() {
		cancel()
		select {
		case <-l.done:
		case <-time.After(wakeTimeout):
			tb.Errorf("Listen did not return after its ctx was canceled")
		}
	})
	return l
}

// mustWake waits for the next wake.
func (l *listener) mustWake(tb testing.TB, why string) {
	tb.Helper()
	select {
	case <-l.wakes:
	case <-time.After(wakeTimeout):
		tb.Fatalf("no wake within %v: %s", wakeTimeout, why)
	}
}

// mustNotWake fails tb if a wake arrives within d. Absence cannot be
// polled for; d only needs to exceed a notification's delivery time
// (milliseconds on one host).
func (l *listener) mustNotWake(tb testing.TB, d time.Duration, why string) {
	tb.Helper()
	select {
	case <-l.wakes:
		tb.Fatalf("unexpected wake: %s", why)
	case <-time.After(d):
	}
}

// drain discards the wakes received so far.
func (l *listener) drain() {
	for {
		select {
		case <-l.wakes:
		default:
			return
		}
	}
}

// Ensures what the Notifier contract leaves to PostgreSQL: a store on
// another schema of the same database does not wake the listener (the
// payload names the schema), and a batch of duplicates notifies nobody.
// storetest's Notifier cases check the wakes themselves (insert, release,
// replay through another store) and that Listen returns when its ctx ends
// or its store closes.
func TestListen_AcrossStores(t *testing.T) {
	schema := pgtest.Schema(t)
	a := mustOpenOn(t, pgtest.DSN(t), postgres.Options{Schema: schema})
	b := mustOpenOn(t, pgtest.DSN(t), postgres.Options{Schema: schema})
	other := mustOpenStore(t)

	l := startListen(t, b)
	l.mustWake(t, "the wake after LISTEN")

	// A notification of another schema is filtered out: the wake below
	// must come from A's insert, which commits after it.
	storetest.MustInsert(t, other, storetest.NewEvent("evt_other", "x", timeBase))
	start := time.Now()
	storetest.MustInsert(t, a, storetest.NewEvent("evt_1", "invoice.paid", timeBase))
	l.mustWake(t, "insert through another store")
	t.Logf("insert to wake: %v", time.Since(start))
	l.mustNotWake(t, 250*time.Millisecond, "the other schema's notification was not filtered out")

	// A batch of duplicates commits nothing new and notifies nobody; a
	// replay does.
	storetest.MustInsert(t, a, storetest.NewEvent("evt_1", "invoice.paid", timeBase))
	if n, err := a.ReplayEvents(context.Background(), hookbox.ReplayFilter{IDs: []string{"evt_1"}}, timeBase.Add(time.Hour)); err != nil || n != 1 {
		t.Fatalf("ReplayEvents = %d, %v", n, err)
	}
	l.mustWake(t, "replay through another store")
	l.mustNotWake(t, 250*time.Millisecond, "a batch of duplicates notified")

	l.cancel()
	select {
	case <-l.done:
		if l.err != nil {
			t.Fatalf("Listen: %v, want nil after cancel", l.err)
		}
	case <-time.After(wakeTimeout):
		t.Fatalf("Listen did not return after cancel")
	}
}

// Ensures Listen survives the loss of its connection: when its backend is
// terminated it reports the error, reconnects by itself, wakes once
// (events may have arrived meanwhile), and wakes again for the next
// insert.
func TestListen_Reconnects(t *testing.T) {
	schema := pgtest.Schema(t)
	const app = "hookbox_listen_test"
	u, err := url.Parse(pgtest.DSN(t))
	if err != nil || u.Scheme == "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("HOOKBOX_TEST_POSTGRES is not a URL: under CI this test must run (give a postgres:// URL)")
		}
		t.Skipf("SKIPPING: HOOKBOX_TEST_POSTGRES is not a URL: cannot tag the listening connection")
	}
	q := u.Query()
	q.Set("application_name", app+"_"+schema)
	u.RawQuery = q.Encode()

	var lost atomic.Int64
	b := mustOpenOn(t, u.String(), postgres.Options{Schema: schema, OnListenErrorFunc: func(error) { lost.Add(1) }})
	a := mustOpenOn(t, pgtest.DSN(t), postgres.Options{Schema: schema})
	l := startListen(t, b)
	l.mustWake(t, "the wake after LISTEN")

	admin := adminConn(t)
	var killed int
	err = admin.QueryRow(context.Background(), `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE application_name = $1 AND query LIKE 'LISTEN%'`, app+"_"+schema).Scan(&killed)
	if err != nil || killed != 1 {
		t.Fatalf("terminated %d listening backends, %v; want 1", killed, err)
	}
	l.mustWake(t, "the wake after reconnecting")
	if lost.Load() == 0 {
		t.Fatalf("OnListenErrorFunc not called for the lost connection")
	}
	l.drain()
	storetest.MustInsert(t, a, storetest.NewEvent("evt_after", "invoice.paid", timeBase))
	l.mustWake(t, "insert after the reconnection")
}
