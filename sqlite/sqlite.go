// Package sqlite is the hookbox.Store on SQLite (modernc.org/sqlite, pure Go,
// through database/sql).
//
// A Store holds two pools on one database file in WAL mode: a single writer
// connection, which serialises every write in the process, and a pool of
// read-only connections. In WAL mode readers see the last committed state
// and never wait for the writer, so listing events stays fast while ingest
// commits. Every connection is configured by DSN parameters, so a connection
// that database/sql opens later gets the same pragmas as the first.
//
// Commits are durable on return (synchronous=FULL): a webhook answered 2xx
// is on disk, because Stripe never sends it again.
//
// The schema is created and upgraded by the migrations embedded in the
// binary (migrations/*.sql), applied in order at Open.
//
// # The queue
//
// The Store is also the hookbox.Queue. Every queue write (claim, complete,
// release, replay, prune) is one transaction on the writer connection, so
// the writes of a process are serialised: two claims never run at once and
// claimers never receive the same event, with no row locks (SQLite has no
// SELECT ... FOR UPDATE SKIP LOCKED, and one writer needs none). Another
// process on the same file waits for SQLite's write lock, taken at BEGIN.
//
// Queue times are stored like every time of the Store: INTEGER unix
// nanoseconds truncated to the microsecond, read back in UTC (a lease ends
// at now+lease, truncated). A caller's now is compared at full precision:
// an event due at 12:00:00.000001 is not due at 12:00:00.0000005.
//
// Waking workers is not the Store's job on SQLite: every writer of the
// file is expected in this process, which wakes its deliverers itself.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/internal/bodycodec"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// Defaults for Options.
const (
	// DefaultBusyTimeout is how long a connection waits for a lock held by
	// another process (a second hookbox, the sqlite3 shell) before failing
	// with SQLITE_BUSY.
	DefaultBusyTimeout = 5 * time.Second
	// DefaultMaxReaders is the minimum size of the read pool; it grows to
	// runtime.NumCPU() on larger machines.
	DefaultMaxReaders = 4
)

// Options configure a Store. The zero value is ready to use.
type Options struct {
	// BusyTimeout is SQLite's busy_timeout; <= 0 means DefaultBusyTimeout.
	BusyTimeout time.Duration
	// MaxReaders caps the read pool; <= 0 means
	// max(DefaultMaxReaders, runtime.NumCPU()).
	MaxReaders int
	// NowFunc is the clock of the writes that get no time from their caller
	// (ReleaseClaims stamps UpdatedAt with it); nil means time.Now.
	NowFunc func() time.Time
	// CheckpointPages is about the WAL size, in pages, at which the store
	// copies the WAL into the database, in the background (checkpoint.go);
	// <= 0 means DefaultCheckpointPages.
	CheckpointPages int
}

// Store is a hookbox.Store on one SQLite database file. It is safe for
// concurrent use.
type Store struct {
	path   string
	busy   time.Duration
	writer *sql.DB // exactly one connection: SQLite has one writer at a time anyway
	reader *sql.DB // read-only connections (query_only)

	// Prepared once on the writer connection, reused by every batch.
	insert, insertBody *sql.Stmt
	now                func() time.Time

	// codec compresses bodies with this build's dictionary and reads
	// those of every dictionary in body_dicts (0010).
	codec *bodycodec.Codec

	// insertNanos is the time InsertEvents held the writer (begin to
	// commit), summed; headersJSON writes headers as before 0013. Both
	// for BenchmarkIngestSchema.
	insertNanos atomic.Int64
	headersJSON bool
	// inTx, when set (tests), runs inside each insert's transaction.
	inTx func(*sql.Tx)

	// wal is the WAL file SyncInserts fsyncs (pipeline.go), walInfo what
	// it was when opened.
	ckpt      *checkpointer
	walMu     sync.Mutex
	walPath   string // the WAL's path, symbolic links resolved as SQLite does
	wal       *os.File
	walInfo   os.FileInfo
	walClosed bool  // Close has run
	syncErr   error // a failed fsync: sticks
	// syncBroken is syncErr != nil, read without walMu.
	syncBroken atomic.Bool

	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error
}

// The Store is not a hookbox.Notifier: it is meant for one process, which
// commits every event it delivers and wakes its own workers in process
// (ingest calls deliver.Worker.Wake after a commit); what another process
// writes to the same file is found by the workers' poll.
var (
	_ hookbox.Store = (*Store)(nil)
	_ hookbox.Queue = (*Store)(nil)
)

// Open opens (creating if needed) the database file at path with default
// Options and applies pending migrations. See Options.Open.
func Open(path string) (*Store, error) {
	return Options{}.Open(path)
}

// Open opens (creating if needed) the database file at path and applies
// the pending migrations, each in its own transaction.
//
// The path is a file name, not a URI; ":memory:" is refused (EINVALID)
// because the writer and the readers must share one database. Open fails
// with EINVALID when the database was migrated by a newer hookbox (a schema
// version this build does not know), and with an uncoded error when the
// file cannot be opened or migrated.
func (o Options) Open(path string) (*Store, error) {
	if path == "" || path == ":memory:" {
		return nil, hookbox.Errorf(hookbox.EINVALID, "sqlite path %q: want a file name", path)
	}
	busy := o.BusyTimeout
	if busy <= 0 {
		busy = DefaultBusyTimeout
	}
	readers := o.MaxReaders
	if readers <= 0 {
		readers = max(DefaultMaxReaders, runtime.NumCPU())
	}

	s := &Store{path: path, busy: busy, now: o.NowFunc, walPath: path + "-wal"}
	if s.now == nil {
		s.now = time.Now
	}
	var err error
	ckpt := o.CheckpointPages
	if ckpt <= 0 {
		ckpt = DefaultCheckpointPages
	}
	// The writer checkpoints only when the background checkpointer falls
	// behind (checkpoint.go).
	writerDSN := dsn(path, busy, false) + "&_pragma=" + url.QueryEscape(fmt.Sprintf("wal_autocheckpoint(%d)", 2*ckpt)) +
		"&_pragma=" + url.QueryEscape(fmt.Sprintf("journal_size_limit(%d)", 2*ckpt*4096))
	if s.writer, err = sql.Open("sqlite", writerDSN); err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	s.writer.SetMaxOpenConns(1)
	s.writer.SetMaxIdleConns(1)
	s.writer.SetConnMaxLifetime(0)
	s.writer.SetConnMaxIdleTime(0)

	ctx := context.Background()
	// The writer connects first and alone: it switches the file to WAL and
	// runs the migrations before any reader looks at the schema.
	if err := migrateRetrying(ctx, s.writer, busy); err != nil {
		s.writer.Close()
		return nil, fmt.Errorf("open store: %w", err)
	}
	if real, err := filepath.EvalSymlinks(path); err == nil {
		// SQLite keeps the WAL beside the file a link points to (the file
		// exists now: the migrations made it).
		s.walPath = real + "-wal"
	}
	if s.codec, err = openCodec(ctx, s.writer); err != nil {
		s.writer.Close()
		return nil, fmt.Errorf("open store: %w", err)
	}
	if s.insert, err = s.writer.PrepareContext(ctx, insertSQL); err != nil {
		s.writer.Close()
		return nil, fmt.Errorf("open store: prepare insert: %w", err)
	}
	if s.insertBody, err = s.writer.PrepareContext(ctx, insertBodySQL); err != nil {
		s.insert.Close()
		s.writer.Close()
		return nil, fmt.Errorf("open store: prepare insert: %w", err)
	}

	if s.reader, err = sql.Open("sqlite", dsn(path, busy, true)); err != nil {
		s.insert.Close()
		s.insertBody.Close()
		s.writer.Close()
		return nil, fmt.Errorf("open store: %w", err)
	}
	s.reader.SetMaxOpenConns(readers)
	s.reader.SetMaxIdleConns(readers)
	if err := s.reader.PingContext(ctx); err != nil {
		s.reader.Close()
		s.insert.Close()
		s.insertBody.Close()
		s.writer.Close()
		return nil, fmt.Errorf("open store: readers: %w", err)
	}
	ckptDB, err := sql.Open("sqlite", dsn(path, busy, false))
	if err != nil {
		s.reader.Close()
		s.insert.Close()
		s.insertBody.Close()
		s.writer.Close()
		return nil, fmt.Errorf("open store: checkpointer: %w", err)
	}
	ckptDB.SetMaxOpenConns(1)
	s.ckpt = newCheckpointer(ckptDB, ckpt)
	return s, nil
}

// migrateRetrying is migrate, tried again for up to within while SQLite
// answers SQLITE_BUSY. Processes opening one new file at once can get it
// at once, without busy_timeout's wait: a connection holding a shared
// lock that needs an exclusive one (switching the file to WAL, the first
// write) while another does the same is refused at once rather than left
// to deadlock. Seen once in a full test run (storetest's concurrent
// migrations), not on demand.
func migrateRetrying(ctx context.Context, db *sql.DB, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		err := migrate(ctx, db)
		if err == nil || !isBusy(err) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// dsn returns the data source name of one pool. Every pragma is a DSN
// parameter, so the driver applies it to each connection it opens, not only
// to the first.
func dsn(path string, busy time.Duration, readOnly bool) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout("+strconv.FormatInt(busy.Milliseconds(), 10)+")")
	// WAL: readers do not block the writer nor the writer the readers, and a
	// commit appends to one file instead of rewriting pages twice.
	q.Add("_pragma", "journal_mode(WAL)")
	// FULL: in WAL mode, NORMAL skips the fsync at commit, so the last
	// commits can be lost on power failure. A 2xx tells Stripe it never has
	// to send the event again, so a commit must be on disk before we answer;
	// group commit amortises the fsync over the batch.
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "foreign_keys(ON)")
	if readOnly {
		// Applied by the driver after every other pragma.
		q.Set("_query_only", "1")
	} else {
		// Take the write lock at BEGIN, so a transaction never fails midway
		// upgrading a read lock (SQLITE_BUSY that busy_timeout cannot wait out).
		q.Set("_txlock", "immediate")
	}
	// A "file:" URI lets a path hold '?' or '#': SQLite decodes %XX escapes
	// in the path part of the URI.
	return "file:" + escapePath(path) + "?" + q.Encode()
}

func escapePath(p string) string {
	return strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(p)
}

// Ping reports whether both pools answer a query. It fails with
// EUNAVAILABLE when the store is closed or a pool does not answer (for
// example the writer is stuck behind a lock longer than ctx allows).
func (s *Store) Ping(ctx context.Context) error {
	if s.closed.Load() {
		return errClosed
	}
	for _, db := range []*sql.DB{s.reader, s.writer} {
		var one int
		if err := db.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
			return &hookbox.Error{Code: hookbox.EUNAVAILABLE, Message: "store unavailable", Err: fmt.Errorf("ping: %w", err)}
		}
	}
	return nil
}

// Close closes both pools. A call in flight finishes or fails first; later
// calls of any method fail with EUNAVAILABLE. Close is idempotent: every
// call returns the error of the first.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		var errs []error
		if s.insert != nil {
			errs = append(errs, s.insert.Close())
		}
		if s.insertBody != nil {
			errs = append(errs, s.insertBody.Close())
		}
		if s.reader != nil {
			errs = append(errs, s.reader.Close())
		}
		errs = append(errs, s.closeWAL())
		if s.ckpt != nil {
			errs = append(errs, s.ckpt.close())
		}
		if s.writer != nil {
			// Let SQLite refresh the planner statistics it judges stale,
			// as recommended before closing a connection.
			_, _ = s.writer.Exec("PRAGMA optimize")
			errs = append(errs, s.writer.Close())
		}
		if err := errors.Join(errs...); err != nil {
			s.closeErr = fmt.Errorf("close store: %w", err)
		}
	})
	return s.closeErr
}

var errClosed = hookbox.Errorf(hookbox.EUNAVAILABLE, "store closed")

// openCodec stores this build's body dictionary in body_dicts unless it is
// there, and returns the codec of every dictionary there.
func openCodec(ctx context.Context, db *sql.DB) (*bodycodec.Codec, error) {
	if _, err := db.ExecContext(ctx, `INSERT INTO body_dicts (id, dict) VALUES (?, ?) ON CONFLICT (id) DO NOTHING`,
		bodycodec.DictVersion, bodycodec.Dict); err != nil {
		return nil, fmt.Errorf("body dictionary: %w", err)
	}
	rows, err := db.QueryContext(ctx, `SELECT id, dict FROM body_dicts`)
	if err != nil {
		return nil, fmt.Errorf("body dictionaries: %w", err)
	}
	defer rows.Close()
	dicts := map[int64][]byte{}
	for rows.Next() {
		var id int64
		var d []byte
		if err := rows.Scan(&id, &d); err != nil {
			return nil, fmt.Errorf("body dictionaries: %w", err)
		}
		dicts[id] = d
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("body dictionaries: %w", err)
	}
	return bodycodec.ForStore(dicts)
}
