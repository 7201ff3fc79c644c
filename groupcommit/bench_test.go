package groupcommit_test

import (
	"path/filepath"
	"testing"

	"github.com/hookbox/hookbox/sqlite"
	"github.com/hookbox/hookbox/storetest"
)

// Both benchmarks (storetest.BenchmarkGroupCommit and
// storetest.BenchmarkOneTxPerEvent) store unique ~2.7 KB Stripe-shaped
// events from about 64 concurrent submitters into a temp-file SQLite
// database with synchronous=FULL (every commit fsyncs), in process, without
// HTTP:
//
//	go test -run '^$' -bench 'SQLite$' -benchtime 5s ./groupcommit/
//
// They report events/s; ns/op is per event too.

func benchStore(b *testing.B) *sqlite.Store {
	b.Helper()
	s, err := sqlite.Open(filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// BenchmarkGroupCommitSQLite: each submitter calls Committer.Submit; the
// writer commits what queued meanwhile in one transaction.
func BenchmarkGroupCommitSQLite(b *testing.B) {
	storetest.BenchmarkGroupCommit(b, benchStore(b))
}

// BenchmarkOneTxPerEventSQLite: each submitter calls InsertEvents with its
// one event, so every event is its own transaction and fsync, serialised
// on the writer connection.
func BenchmarkOneTxPerEventSQLite(b *testing.B) {
	storetest.BenchmarkOneTxPerEvent(b, benchStore(b))
}
