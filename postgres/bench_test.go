package postgres_test

import (
	"context"
	"testing"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/storetest"
)

// The benchmarks are groupcommit's SQLite ones (storetest's: same events,
// same 64 submitters, same metrics), so that the figures compare side by
// side. They store unique ~2.7 KB Stripe-shaped events into a fresh schema of the
// test server (synchronous_commit as the server has it: on by default, so
// every commit waits for its WAL flush), in process, without HTTP:
//
//	go test -run '^$' -bench 'Postgres$' -benchtime 5s ./postgres/
//	go test -run '^$' -bench 'SQLite$' -benchtime 5s ./groupcommit/
//
// They report events/s; ns/op is per event too. The store's pool has its
// default size (max(4, NumCPU) connections).

// BenchmarkGroupCommitPostgres: each submitter calls Committer.Submit; the
// writer commits what queued meanwhile with one InsertEvents, that is one
// INSERT ... SELECT FROM unnest(...) and one COMMIT per batch.
func BenchmarkGroupCommitPostgres(b *testing.B) {
	storetest.BenchmarkGroupCommit(b, mustOpenStore(b))
}

// BenchmarkOneTxPerEventPostgres: each submitter calls InsertEvents with
// its one event, so every event is its own transaction and WAL flush, up
// to the pool size at once (PostgreSQL may flush concurrent commits
// together).
func BenchmarkOneTxPerEventPostgres(b *testing.B) {
	storetest.BenchmarkOneTxPerEvent(b, mustOpenStore(b))
}

// BenchmarkInsertEventsBatchPostgres: one goroutine calls InsertEvents with
// batches of 64 new events: the cost of the batch statement itself, with
// no committer and no concurrency.
func BenchmarkInsertEventsBatchPostgres(b *testing.B) {
	const batchSize = 64
	s := mustOpenStore(b)
	var seq int64
	batch := make([]*hookbox.Event, batchSize)
	b.ResetTimer()
	for done := 0; done < b.N; done += batchSize {
		n := min(batchSize, b.N-done)
		for i := range n {
			seq++
			batch[i] = storetest.BenchEvent(seq)
		}
		res, err := s.InsertEvents(context.Background(), batch[:n])
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range res {
			if r.Err != nil || r.Duplicate {
				b.Fatalf("result %+v", r)
			}
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
