// Package brokertest holds the helpers shared by the tests of the broker
// destinations (broker/amqp, broker/kafka, broker/nats, broker/redis):
// Stripe-shaped events, a throwaway SQLite store, a running deliver.Worker,
// polling with a deadline, the "broker answers, else skip loudly (fail
// under CI)" rule and the check of a consumed message's signature.
//
// It is for tests of broker destinations only: nothing else imports it.
package brokertest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/deliver"
	"github.com/hookbox/hookbox/sqlite"
	"github.com/hookbox/hookbox/stripesig"
)

// NewEvent returns a pending event of the given type, shaped like Stripe's,
// with a body that a Stripe consumer would accept.
func NewEvent(id, typ string, livemode bool) *hookbox.Event {
	return NewEventWith(id, typ, livemode, "")
}

// NewEventWith is NewEvent with objectFields (raw JSON members, each led by
// a comma) appended to the body's data.object.
func NewEventWith(id, typ string, livemode bool, objectFields string) *hookbox.Event {
	body := fmt.Sprintf(`{"id":%q,"object":"event","api_version":"2024-06-20","created":1700000000,`+
		`"data":{"object":{"id":"pi_%s","object":"payment_intent","amount":2000,"currency":"usd"%s}},`+
		`"livemode":%t,"pending_webhooks":1,"request":{"id":null,"idempotency_key":null},"type":%q}`,
		id, id, objectFields, livemode, typ)
	return &hookbox.Event{
		ID:         id,
		Type:       typ,
		Object:     "event",
		Created:    1700000000,
		Livemode:   livemode,
		APIVersion: "2024-06-20",
		Body:       []byte(body),
		Headers:    map[string]string{},
		ReceivedAt: time.Now().UTC(),
		Source:     hookbox.SourceWebhook,
		State:      hookbox.StatePending,
	}
}

// IDs returns the ids of evs, in order.
func IDs(evs []*hookbox.Event) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = ev.ID
	}
	return out
}

// OpenStore opens a fresh SQLite store in a temporary directory, closed
// when the test ends.
func OpenStore(tb testing.TB) *sqlite.Store {
	tb.Helper()
	s, err := sqlite.Open(filepath.Join(tb.TempDir(), "hookbox.db"))
	if err != nil {
		tb.Fatalf("open store: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// Insert stores evs, failing the test unless each is new.
func Insert(tb testing.TB, s *sqlite.Store, evs ...*hookbox.Event) {
	tb.Helper()
	res, err := s.InsertEvents(context.Background(), evs)
	if err != nil {
		tb.Fatalf("insert events: %v", err)
	}
	for i, r := range res {
		if r.Err != nil || r.Duplicate {
			tb.Fatalf("insert event %s: %+v", evs[i].ID, r)
		}
	}
}

// InsertBatch stores n invoice.paid events with the ids format (a
// fmt verb for the number) from..from+n-1, every other one in live mode,
// wakes w and returns them.
func InsertBatch(tb testing.TB, s *sqlite.Store, w *deliver.Worker, format string, from, n int) []*hookbox.Event {
	tb.Helper()
	evs := make([]*hookbox.Event, n)
	for i := range evs {
		evs[i] = NewEvent(fmt.Sprintf(format, from+i), "invoice.paid", i%2 == 0)
	}
	Insert(tb, s, evs...)
	w.Wake()
	return evs
}

// FindEvent reads an event back from the store.
func FindEvent(tb testing.TB, s *sqlite.Store, id string) *hookbox.Event {
	tb.Helper()
	ev, err := s.FindEventByID(context.Background(), id)
	if err != nil {
		tb.Fatalf("find event %s: %v", id, err)
	}
	return ev
}

// Attempts returns the attempts recorded for an event.
func Attempts(tb testing.TB, s *sqlite.Store, id string) []hookbox.Attempt {
	tb.Helper()
	as, err := s.FindAttempts(context.Background(), id)
	if err != nil {
		tb.Fatalf("find attempts %s: %v", id, err)
	}
	return as
}

// CountState returns how many events of the store are in state st.
func CountState(tb testing.TB, s *sqlite.Store, st hookbox.State) int {
	tb.Helper()
	m, _, err := s.CountEvents(context.Background())
	if err != nil {
		tb.Fatalf("count events: %v", err)
	}
	return m[st]
}

// HasFailedAttempt reports whether a failed attempt with an error was
// recorded for an event.
func HasFailedAttempt(tb testing.TB, s *sqlite.Store, id string) bool {
	tb.Helper()
	for _, a := range Attempts(tb, s, id) {
		if !a.OK && a.Error != "" {
			return true
		}
	}
	return false
}

// WaitFor polls cond every few milliseconds until it holds or the
// (generous) deadline passes.
func WaitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// WaitState waits until the event id reaches state.
func WaitState(tb testing.TB, s *sqlite.Store, id string, state hookbox.State) {
	tb.Helper()
	WaitFor(tb, fmt.Sprintf("event %s %s", id, state), func() bool {
		return FindEvent(tb, s, id).State == state
	})
}

// Retry returns a retry policy waiting base, doubling up to cap, for at
// most max attempts, without jitter.
func Retry(base, cap time.Duration, max int) hookbox.RetryPolicy {
	return hookbox.RetryPolicy{Base: base, Cap: cap, MaxAttempts: max, RandFunc: func() float64 { return 0 }}
}

// QuietLogger discards log output.
func QuietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// StartWorker starts w (with QuietLogger when it has no Logger) and shuts
// it down when the test ends.
func StartWorker(tb testing.TB, w *deliver.Worker) *deliver.Worker {
	tb.Helper()
	if w.Logger == nil {
		w.Logger = QuietLogger()
	}
	if err := w.Start(context.Background()); err != nil {
		tb.Fatalf("start worker: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		w.Shutdown(ctx)
	})
	return w
}

// FreePort returns a TCP port on 127.0.0.1 that nothing listened on a
// moment ago.
func FreePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("listen: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// RandID returns a short random hex identifier.
func RandID(tb testing.TB) string {
	tb.Helper()
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		tb.Fatal(err)
	}
	return hex.EncodeToString(b[:])
}

// Unavailable skips the test when a broker (or its server binary) is not
// there, saying so loudly on stderr, and fails it under CI (CI set), where
// the brokers must run.
func Unavailable(tb testing.TB, format string, args ...any) {
	tb.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") != "" {
		tb.Fatalf("%s (CI is set, so this is a failure)", msg)
	}
	fmt.Fprintf(os.Stderr, "\n"+
		"!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n"+
		"!!! SKIPPING %s:\n"+
		"!!!   %s\n"+
		"!!! Under CI this is a failure.\n"+
		"!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\n", tb.Name(), msg)
	tb.Skip("SKIPPED: " + msg)
}

// CheckSignature fails the test (naming what) unless sig is a
// Stripe-Signature of body that verifies with secret.
func CheckSignature(tb testing.TB, secret, what string, body []byte, sig string) {
	tb.Helper()
	v, err := stripesig.NewVerifier([]string{secret}, stripesig.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := v.Verify(body, sig); err != nil {
		tb.Errorf("%s: Stripe-Signature %q does not verify: %v", what, sig, err)
	}
}
