// Package postgres is the hookbox.Store and hookbox.Queue on PostgreSQL,
// through pgx v5. It has the SQLite store's semantics case for case (the
// storetest suite runs against both), and adds what several replicas on
// one database need.
//
// # Replicas
//
// Migrations are embedded (migrations/*.sql) and applied at Open in one
// transaction under an advisory lock, so replicas may start at the same
// moment. Workers share the queue through ClaimEvents, which locks due rows
// with FOR UPDATE SKIP LOCKED: concurrent claimers on any replica never
// wait for each other nor receive the same event. A transaction that makes
// events due (InsertEvents, ReleaseClaims, ReplayEvents) also sends a
// NOTIFY that Listen turns into a wake-up on every replica, so an event
// ingested by one replica is picked up by another within milliseconds;
// polling remains the fallback while the listening connection is down.
//
// # Durability and outages
//
// A nil error from a write means its transaction committed (with the
// server's synchronous_commit, on by default, that is durable). When
// PostgreSQL goes away, calls fail fast with EUNAVAILABLE (connections are
// dialled with a timeout and checked before reuse), Ping fails, and the
// Store reconnects by itself on a later call once the server is back:
// nothing needs reopening.
//
// # Differences from the SQLite store
//
// PostgreSQL text cannot hold U+0000 nor invalid UTF-8, and jsonb cannot
// hold U+0000. InsertEvents rejects an event whose text fields or headers
// contain them with EINVALID, for that event alone; the SQLite store keeps
// such bytes. Attempt errors and delivery errors are stored with invalid
// UTF-8 replaced by U+FFFD and U+0000 removed (a failed delivery is data and
// must never fail its own recording); attempt response snippets are bytea
// and kept byte for byte.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/internal/bodycodec"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Defaults for Options.
const (
	// DefaultConnectTimeout bounds the dial and startup of one connection
	// when neither Options nor the DSN's connect_timeout say otherwise: a
	// database that does not answer turns into EUNAVAILABLE this fast.
	DefaultConnectTimeout = 5 * time.Second
	// DefaultMaxConns is the minimum size of the connection pool; it grows
	// to runtime.NumCPU() on larger machines.
	DefaultMaxConns = 4
)

// pingTimeout bounds the liveness check of a connection: a pooled one idle
// for more than a second (pgxpool pings it before reuse), and Listen's
// when it has been silent for listenCheck. A server that stopped answering
// without closing the socket costs a call this long, once per connection.
const pingTimeout = 2 * time.Second

// Channel is the NOTIFY channel of new and due events (see Listen). Its
// payload is the schema that holds them, so stores in different schemas of
// one database do not wake each other.
const Channel = "hookbox_events"

// Options configure a Store. The zero value is ready to use.
type Options struct {
	// Schema is the schema that holds hookbox's tables. Open creates it if
	// missing and sets it as every connection's search_path. "" uses the
	// DSN's search_path (by default "public"). A schema name is lowercase
	// letters, digits and underscores, not starting with a digit, at most
	// 63 bytes.
	Schema string
	// MaxConns caps the connection pool; <= 0 means
	// max(DefaultMaxConns, runtime.NumCPU()). Listen uses one more
	// connection of its own.
	MaxConns int
	// ConnectTimeout bounds the dial and startup of one connection; <= 0
	// means the DSN's connect_timeout, or DefaultConnectTimeout.
	ConnectTimeout time.Duration
	// NowFunc is the clock of the one method that takes no time argument:
	// ReleaseClaims stamps UpdatedAt with it. nil means time.Now.
	NowFunc func() time.Time
	// OnListenErrorFunc, when set, is called by Listen with each failure of
	// its connection (lost, or not re-established) before it retries: a
	// hook for logs and metrics.
	OnListenErrorFunc func(error)
}

// Store is a hookbox.Store and hookbox.Queue on one PostgreSQL schema. It
// is safe for concurrent use, and several Stores (in one process or on
// several replicas) may share a schema.
type Store struct {
	opts   Options
	schema string // current_schema() of the store's connections
	pool   *pgxpool.Pool

	// codec compresses bodies with this build's dictionary and reads
	// those of every dictionary in body_dicts (0010).
	codec *bodycodec.Codec

	closed    atomic.Bool
	done      chan struct{} // closed by Close: stops Listen
	closeOnce sync.Once
}

var (
	_ hookbox.Store    = (*Store)(nil)
	_ hookbox.Queue    = (*Store)(nil)
	_ hookbox.Notifier = (*Store)(nil) // replicas share the database: see Listen
)

var schemaName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// Open connects to the database named by dsn (a postgres:// URL or a
// key=value string, as libpq and pgx take) and applies pending migrations
// (see Migrate). The pool dials lazily after that: Open holds one
// connection only while it migrates.
//
// It fails with EINVALID for a malformed dsn or Options, or a schema
// migrated by a newer hookbox; EUNAVAILABLE when the database cannot be
// reached; an uncoded error when a migration fails.
func Open(ctx context.Context, dsn string, opts Options) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// The parse error may quote the password: keep it out of the message.
		return nil, &hookbox.Error{Code: hookbox.EINVALID, Message: "invalid postgres dsn", Err: err}
	}
	if opts.Schema != "" {
		if !schemaName.MatchString(opts.Schema) {
			return nil, hookbox.Errorf(hookbox.EINVALID, "postgres schema %q: want lowercase letters, digits and '_'", opts.Schema)
		}
		cfg.ConnConfig.RuntimeParams["search_path"] = opts.Schema
	}
	if opts.ConnectTimeout > 0 || cfg.ConnConfig.ConnectTimeout <= 0 {
		if opts.ConnectTimeout <= 0 {
			opts.ConnectTimeout = DefaultConnectTimeout
		}
		cfg.ConnConfig.ConnectTimeout = opts.ConnectTimeout
	}
	if opts.MaxConns <= 0 {
		opts.MaxConns = max(DefaultMaxConns, runtime.NumCPU())
	}
	if opts.NowFunc == nil {
		opts.NowFunc = time.Now
	}
	// pgxpool drops a connection released closed, busy or inside a
	// transaction (a statement that failed midway), pings one idle for more
	// than a second before reuse (so the first call after an outage does not
	// fail on a dead socket), and dials a replacement on demand: the store
	// reconnects by itself when the database returns. No connection is kept
	// open while idle beyond what callers left (MinConns 0), so a store on a
	// database that is down costs nothing but failed dials. Statements are
	// prepared and cached per connection (pgx's QueryExecModeCacheStatement).
	cfg.MaxConns = int32(min(opts.MaxConns, 1<<20))
	cfg.MinConns = 0
	cfg.PingTimeout = pingTimeout
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, &hookbox.Error{Code: hookbox.EINVALID, Message: "invalid postgres pool config", Err: err}
	}

	s := &Store{opts: opts, pool: pool, done: make(chan struct{})}
	if err := s.Migrate(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("open store: %w", err)
	}
	err = s.withConn(ctx, func(conn *pgx.Conn) error {
		if err := conn.QueryRow(ctx, `SELECT current_schema()`).Scan(&s.schema); err != nil {
			return err
		}
		s.codec, err = openCodec(ctx, conn)
		return err
	})
	if err != nil {
		s.Close()
		return nil, unavailable("open store", err)
	}
	return s, nil
}

// openCodec stores this build's body dictionary in body_dicts unless it is
// there, and returns the codec of every dictionary there.
func openCodec(ctx context.Context, conn *pgx.Conn) (*bodycodec.Codec, error) {
	if _, err := conn.Exec(ctx, `INSERT INTO body_dicts (id, dict) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING`,
		int64(bodycodec.DictVersion), bodycodec.Dict); err != nil {
		return nil, fmt.Errorf("body dictionary: %w", err)
	}
	rows, err := conn.Query(ctx, `SELECT id, dict FROM body_dicts`)
	if err != nil {
		return nil, fmt.Errorf("body dictionaries: %w", err)
	}
	dicts := map[int64][]byte{}
	var (
		id int64
		d  []byte
	)
	if _, err := pgx.ForEachRow(rows, []any{&id, &d}, func() error {
		dicts[id] = d
		d = nil
		return nil
	}); err != nil {
		return nil, fmt.Errorf("body dictionaries: %w", err)
	}
	return bodycodec.ForStore(dicts)
}

// Ping reports whether the database answers a query. It fails with
// EUNAVAILABLE when the store is closed or no connection answers within
// ctx (the database is down or unreachable).
func (s *Store) Ping(ctx context.Context) error {
	if s.closed.Load() {
		return errClosed
	}
	err := s.withConn(ctx, func(conn *pgx.Conn) error { return conn.Ping(ctx) })
	if err != nil {
		return unavailable("ping", err)
	}
	return nil
}

// Close closes the pool and stops Listen. A call in flight finishes or
// fails first (Close waits for it); later calls of any method fail with
// EUNAVAILABLE. Close is idempotent and returns nil.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		close(s.done)
		s.pool.Close()
	})
	return nil
}

// closeConn closes a connection outside the pool (Listen's), sending
// Terminate when the socket still works, without waiting long for a server
// that does not answer.
func closeConn(conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = conn.Close(ctx)
}

// withConn runs fn on a pooled connection. It fails with errClosed once
// the store is closed.
func (s *Store) withConn(ctx context.Context, fn func(*pgx.Conn) error) error {
	if s.closed.Load() {
		return errClosed
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		if s.closed.Load() {
			return errClosed // the pool was closed while we waited
		}
		return err
	}
	defer conn.Release()
	return fn(conn.Conn())
}

// inTx runs fn in a transaction on a pooled connection and commits. An
// error from fn rolls back and is returned as is; a failed BEGIN or COMMIT
// is returned wrapped with op.
func (s *Store) inTx(ctx context.Context, op string, fn func(pgx.Tx) error) error {
	return s.withConn(ctx, func(conn *pgx.Conn) error {
		tx, err := conn.Begin(ctx)
		if err != nil {
			return fmt.Errorf("%s: begin: %w", op, err)
		}
		if err := fn(tx); err != nil {
			rollback(tx)
			return err
		}
		if err := tx.Commit(ctx); err != nil {
			return fmt.Errorf("%s: commit: %w", op, err)
		}
		return nil
	})
}

// rollback ends a failed transaction. It does not use the caller's ctx,
// which may be the reason the transaction failed; a rollback that fails
// leaves the connection closed or mid-transaction, and the pool drops it.
func rollback(tx pgx.Tx) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = tx.Rollback(ctx)
}

var errClosed = hookbox.Errorf(hookbox.EUNAVAILABLE, "store closed")

// unavailable codes err EUNAVAILABLE unless it already has a code: the
// caller may retry (Stripe does, on a 503).
func unavailable(op string, err error) error {
	var e *hookbox.Error
	if errors.As(err, &e) {
		return err
	}
	return &hookbox.Error{Code: hookbox.EUNAVAILABLE, Message: "store unavailable", Err: fmt.Errorf("%s: %w", op, err)}
}

// dbError codes a failed read or queue operation: EUNAVAILABLE when the
// database could not answer (a connection, server-state or resource error,
// a serialization failure or deadlock, ctx done), uncoded otherwise (a bug:
// a query PostgreSQL rejects). An error that already has a code is
// returned as is.
func dbError(op string, err error) error {
	var e *hookbox.Error
	if errors.As(err, &e) {
		return err
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code[:2] {
		case "08", // connection exception
			"40", // transaction rollback: serialization failure, deadlock
			"53", // insufficient resources
			"55", // object not in prerequisite state: lock not available
			"57", // operator intervention: shutdown, query canceled
			"58": // system error
			return unavailable(op, err)
		}
		return fmt.Errorf("%s: %w", op, err)
	}
	return unavailable(op, err)
}
