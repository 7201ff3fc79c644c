package postgres_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/internal/pgtest"
	"github.com/hookbox/hookbox/postgres"
	"github.com/hookbox/hookbox/storetest"
)

// TestInsertEvents_SynchronousCommit ensures that events stored by a nil
// InsertEvents are on disk, as a 2xx to Stripe promises: the transaction
// that inserts them runs with synchronous_commit not off (its commit waits
// for the WAL flush) on a server with fsync on. A trigger on events
// records the settings in effect inside the store's own insert
// transactions, on several of its pooled connections, so that the
// server's default, a connection parameter or a SET (LOCAL) by the store
// would all show.
func TestInsertEvents_SynchronousCommit(t *testing.T) {
	schema := pgtest.Schema(t)
	s := mustOpenOn(t, pgtest.DSN(t), postgres.Options{Schema: schema})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin := adminConn(t)
	for _, q := range []string{
		`CREATE TABLE ` + schema + `.durability_seen (synchronous_commit text, fsync text)`,
		`CREATE FUNCTION ` + schema + `.durability_seen() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			INSERT INTO ` + schema + `.durability_seen VALUES (current_setting('synchronous_commit'), current_setting('fsync'));
			RETURN NULL;
		END $$`,
		`CREATE TRIGGER durability_seen AFTER INSERT ON ` + schema + `.events
		FOR EACH STATEMENT EXECUTE FUNCTION ` + schema + `.durability_seen()`,
	} {
		if _, err := admin.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	// Concurrent inserts, so that several pooled connections commit.
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			evs := []*hookbox.Event{storetest.NewEvent(fmt.Sprintf("evt_durable_%d", g), "charge.succeeded", timeBase)}
			if res, err := s.InsertEvents(ctx, evs); err != nil || res[0].Err != nil {
				t.Errorf("insert: %v %+v", err, res)
			}
		}()
	}
	wg.Wait()
	rows, err := admin.Query(ctx, `SELECT synchronous_commit, fsync, count(*) FROM `+schema+`.durability_seen GROUP BY 1, 2`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	seen := 0
	for rows.Next() {
		var syncCommit, fsync string
		var n int
		if err := rows.Scan(&syncCommit, &fsync, &n); err != nil {
			t.Fatal(err)
		}
		seen += n
		if syncCommit == "off" || fsync != "on" {
			t.Errorf("%d insert transactions ran with synchronous_commit=%s, fsync=%s; want synchronous_commit on (not off) and fsync on", n, syncCommit, fsync)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if seen == 0 {
		t.Fatal("the trigger saw no insert transaction")
	}
}
