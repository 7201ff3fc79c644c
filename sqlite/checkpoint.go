package sqlite

import (
	"context"
	"database/sql"
	"sync/atomic"
)

// DefaultCheckpointPages is how many WAL pages (4 KiB each, about 40 MiB)
// the background checkpointer lets accumulate before it copies the WAL
// into the database: ten times SQLite's default. A checkpoint writes each
// page the WAL holds once, however many commits changed it; between
// checkpoints ingest changes the same pages again and again (the last
// page of each table and index, the pages of the id's index), so a longer
// WAL writes fewer pages per event.
const DefaultCheckpointPages = 10_000

// framesPerEvent is about how many WAL frames a stored event costs
// (the README's profiles: 2-3 pages per event): the checkpointer runs
// every CheckpointPages/framesPerEvent events stored.
const framesPerEvent = 3

// checkpointer copies the WAL into the database off the ingest path: a
// PASSIVE checkpoint (it never blocks the writer nor readers) on a
// connection of its own, woken after every CheckpointPages/framesPerEvent
// events stored. The writer's own automatic checkpoint, which runs inside
// a commit and so holds up the batch, stays as a bound at twice that size
// for when the background one falls behind (readers holding old frames, a
// slow disk), as does journal_size_limit for the WAL file.
type checkpointer struct {
	db    *sql.DB
	every int64
	since atomic.Int64
	runs  atomic.Int64  // checkpoints run, for tests
	wake  chan struct{} // never closed: an insert may still call added
	quit  chan struct{} // closed by close
	done  chan struct{}
}

func newCheckpointer(db *sql.DB, pages int) *checkpointer {
	c := &checkpointer{db: db, every: max(1, int64(pages/framesPerEvent)),
		wake: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{})}
	go c.run()
	return c
}

// added counts n events stored, and wakes the checkpointer when enough
// were since it last ran.
func (c *checkpointer) added(n int) {
	if c.since.Add(int64(n)) < c.every {
		return
	}
	c.since.Store(0)
	select {
	case c.wake <- struct{}{}:
	default: // one is pending already
	}
}

func (c *checkpointer) run() {
	defer close(c.done)
	for {
		select {
		case <-c.quit:
			return
		case <-c.wake:
		}
		// A failure (the file gone, a full disk) is the writer's to
		// report: its next commit fails, or checkpoints itself.
		_, _ = c.db.ExecContext(context.Background(), "PRAGMA wal_checkpoint(PASSIVE)")
		c.runs.Add(1)
	}
}

// close stops the checkpointer once a checkpoint in progress has ended,
// and closes its connection. An insert still in flight may call added
// after it: its wake is never read.
func (c *checkpointer) close() error {
	close(c.quit)
	<-c.done
	return c.db.Close()
}
