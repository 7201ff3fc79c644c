package groupcommit_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/groupcommit"
	"github.com/hookbox/hookbox/sqlite"
	"github.com/hookbox/hookbox/storetest"
)

var base = time.Date(2026, 11, 27, 5, 20, 0, 0, time.UTC)

// mustOpenStore opens a SQLite store on a new temp file, closed when the
// test ends.
func mustOpenStore(tb testing.TB) *sqlite.Store {
	tb.Helper()
	s, err := sqlite.Open(filepath.Join(tb.TempDir(), "hookbox.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// mustClose closes c and fails tb if that takes longer than a few seconds.
func mustClose(tb testing.TB, c *groupcommit.Committer) {
	tb.Helper()
	done := make(chan error, 1)
	go func() { done <- c.Close() }()
	select {
	case err := <-done:
		if err != nil {
			tb.Fatalf("Close: %v", err)
		}
	case <-time.After(10 * time.Second):
		tb.Fatalf("Close did not return")
	}
}

// waitFor polls cond until it holds or a deadline passes.
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// batchStats records OnBatchFunc calls.
type batchStats struct {
	mu      sync.Mutex
	batches int
	events  int
	max     int
	errs    int
}

func (s *batchStats) record(size int, _ time.Duration, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.batches++
	s.events += size
	s.max = max(s.max, size)
	if err != nil {
		s.errs++
	}
}

// gate wraps an insert func so that its first call blocks, after saying
// so, until release is closed. Later calls pass straight through.
type gate struct {
	entered chan struct{}
	release chan struct{}
	first   atomic.Bool
}

func newGate() *gate {
	return &gate{entered: make(chan struct{}), release: make(chan struct{})}
}

func (g *gate) wrap(insert hookbox.InsertFunc) hookbox.InsertFunc {
	return func(ctx context.Context, evs []*hookbox.Event) ([]hookbox.InsertResult, error) {
		if g.first.CompareAndSwap(false, true) {
			close(g.entered)
			<-g.release
		}
		return insert(ctx, evs)
	}
}

// Ensures 64 concurrent submitters, with duplicate IDs, each get the right
// result: every ID reported new exactly once, stored as submitted, and the
// writer formed batches of more than one event.
func TestSubmit_Concurrent(t *testing.T) {
	store := mustOpenStore(t)
	var stats batchStats
	c := groupcommit.New(store.InsertEvents, groupcommit.Options{OnBatchFunc: stats.record})

	const (
		submitters = 64
		each       = 20
		distinct   = 1000 // < 64*20: some IDs are submitted twice
	)
	var (
		mu    sync.Mutex
		fresh = map[string]int{}
		wg    sync.WaitGroup
		start = make(chan struct{})
	)
	for g := range submitters {
		wg.Go(func() {
			<-start
			for k := range each {
				id := fmt.Sprintf("evt_%04d", (g*each+k*7)%distinct)
				res, err := c.Submit(context.Background(), storetest.NewEvent(id, "charge.succeeded", base))
				if err != nil || res.Err != nil {
					t.Errorf("Submit %s: %v, %v", id, err, res.Err)
					return
				}
				mu.Lock()
				if !res.Duplicate {
					fresh[id]++
				} else if _, ok := fresh[id]; !ok {
					fresh[id] = 0
				}
				mu.Unlock()
			}
		})
	}
	close(start)
	wg.Wait()
	mustClose(t, c)

	for id, n := range fresh {
		if n != 1 {
			t.Errorf("%s: reported new %d times, want 1", id, n)
		}
	}
	stored := storetest.MustFind(t, store, hookbox.EventFilter{Limit: 10 * distinct})
	if len(stored) != len(fresh) || len(fresh) != distinct {
		t.Fatalf("%d stored, %d distinct ids submitted, want %d", len(stored), len(fresh), distinct)
	}
	for _, id := range []string{"evt_0000", "evt_0999"} {
		storetest.AssertEvent(t, storetest.MustFindByID(t, store, id),
			storetest.Stored(storetest.NewEvent(id, "charge.succeeded", base)), true)
	}
	stats.mu.Lock()
	defer stats.mu.Unlock()
	if stats.events != submitters*each || stats.errs != 0 {
		t.Fatalf("OnBatchFunc saw %d events, %d errors; want %d, 0", stats.events, stats.errs, submitters*each)
	}
	if stats.max <= 1 {
		t.Fatalf("largest batch %d: no batching happened", stats.max)
	}
	t.Logf("%d events in %d batches, largest %d", stats.events, stats.batches, stats.max)
}

// Ensures Close commits what is in flight and queued and answers every
// submitter before returning, and that Submit fails after it.
func TestClose_Drains(t *testing.T) {
	store := mustOpenStore(t)
	g := newGate()
	var stats batchStats
	c := groupcommit.New(g.wrap(store.InsertEvents), groupcommit.Options{MaxBatch: 4, QueueSize: 16, OnBatchFunc: stats.record})

	const queued = 10
	results := make(chan error, queued+1)
	submit := func(id string) {
		res, err := c.Submit(context.Background(), storetest.NewEvent(id, "charge.succeeded", base))
		if err == nil && (res.Err != nil || res.Duplicate) {
			err = fmt.Errorf("%s: %+v", id, res)
		}
		results <- err
	}
	go submit("evt_inflight")
	<-g.entered // the writer holds evt_inflight in a batch
	for i := range queued {
		go submit(fmt.Sprintf("evt_q%02d", i))
	}
	waitFor(t, "submissions to queue", func() bool { return c.Queued() == queued })

	closed := make(chan struct{})
	go func() {
		c.Close()
		close(closed)
	}()
	// Submit fails as soon as Close has begun, while the batch is held. A
	// done ctx keeps the probe from queueing before that.
	done, cancel := context.WithCancel(context.Background())
	cancel()
	waitFor(t, "Submit to refuse", func() bool {
		_, err := c.Submit(done, storetest.NewEvent("evt_late", "x", base))
		return errors.Is(err, groupcommit.ErrClosed)
	})
	select {
	case <-closed:
		t.Fatal("Close returned while a batch was in flight")
	default:
	}
	close(g.release)
	<-closed

	for range queued + 1 {
		if err := <-results; err != nil {
			t.Fatalf("submitter: %v", err)
		}
	}
	if n := len(storetest.MustFind(t, store, hookbox.EventFilter{})); n != queued+1 {
		t.Fatalf("%d events stored, want %d", n, queued+1)
	}
	if stats.batches != 1+3 { // the held event, then 10 queued in batches of 4
		t.Fatalf("%d batches, want 4", stats.batches)
	}
	_, err := c.Submit(context.Background(), storetest.NewEvent("evt_after", "x", base))
	if !errors.Is(err, groupcommit.ErrClosed) || hookbox.ErrorCode(err) != hookbox.EUNAVAILABLE {
		t.Fatalf("Submit after Close: %v, want ErrClosed (EUNAVAILABLE)", err)
	}
	mustClose(t, c) // again
}

// Ensures a failing insert (here a closed store) fails every member of the
// batch with its error, and the committer goes on to later batches.
func TestSubmit_ErrInsert(t *testing.T) {
	store := mustOpenStore(t)
	store.Close()
	g := newGate()
	var stats batchStats
	c := groupcommit.New(g.wrap(store.InsertEvents), groupcommit.Options{OnBatchFunc: stats.record})
	defer mustClose(t, c)

	const n = 16
	errs := make(chan error, n+1)
	submit := func(id string) {
		_, err := c.Submit(context.Background(), storetest.NewEvent(id, "charge.succeeded", base))
		errs <- err
	}
	go submit("evt_first")
	<-g.entered
	for i := range n {
		go submit(fmt.Sprintf("evt_%02d", i))
	}
	waitFor(t, "submissions to queue", func() bool { return c.Queued() == n })
	close(g.release)
	for range n + 1 {
		if err := <-errs; hookbox.ErrorCode(err) != hookbox.EUNAVAILABLE {
			t.Fatalf("Submit: %v, want an EUNAVAILABLE error", err)
		}
	}
	stats.mu.Lock()
	defer stats.mu.Unlock()
	if stats.batches != 2 || stats.max != n || stats.errs != 2 {
		t.Fatalf("batches %d, largest %d, errors %d; want 2, %d, 2", stats.batches, stats.max, stats.errs, n)
	}
}

// Ensures an insert func that breaks its contract (too few results) fails
// the batch instead of answering out of range.
func TestSubmit_ErrShortResults(t *testing.T) {
	c := groupcommit.New(func(context.Context, []*hookbox.Event) ([]hookbox.InsertResult, error) {
		return nil, nil
	}, groupcommit.Options{})
	defer mustClose(t, c)
	if _, err := c.Submit(context.Background(), storetest.NewEvent("evt_1", "x", base)); err == nil {
		t.Fatal("Submit: no error for a batch without results")
	}
}

// Ensures a submitter that gives up while queued returns its ctx error at
// once and is left out of the batch.
func TestSubmit_CancelWhileQueued(t *testing.T) {
	store := mustOpenStore(t)
	g := newGate()
	c := groupcommit.New(g.wrap(store.InsertEvents), groupcommit.Options{})
	defer mustClose(t, c)

	held := make(chan error, 1)
	go func() {
		_, err := c.Submit(context.Background(), storetest.NewEvent("evt_held", "x", base))
		held <- err
	}()
	<-g.entered

	ctx, cancel := context.WithCancel(context.Background())
	gaveUp := make(chan error, 1)
	go func() {
		_, err := c.Submit(ctx, storetest.NewEvent("evt_gaveup", "x", base))
		gaveUp <- err
	}()
	waitFor(t, "the submission to queue", func() bool { return c.Queued() == 1 })
	cancel()
	if err := <-gaveUp; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Submit: %v, want context.Canceled", err)
	}
	close(g.release)
	if err := <-held; err != nil {
		t.Fatalf("held Submit: %v", err)
	}
	mustClose(t, c)
	if _, err := store.FindEventByID(context.Background(), "evt_gaveup"); hookbox.ErrorCode(err) != hookbox.ENOTFOUND {
		t.Fatalf("cancelled event: %v, want ENOTFOUND (skipped)", err)
	}
}

// Ensures a Submit whose ctx is already done is refused without queueing.
func TestSubmit_DoneCtx(t *testing.T) {
	store := mustOpenStore(t)
	c := groupcommit.New(store.InsertEvents, groupcommit.Options{})
	defer mustClose(t, c)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Submit(ctx, storetest.NewEvent("evt_x", "x", base)); !errors.Is(err, context.Canceled) {
		t.Fatalf("Submit with a done ctx: %v, want context.Canceled", err)
	}
	if c.Queued() != 0 {
		t.Fatalf("queued %d, want 0", c.Queued())
	}
}

// Ensures Linger gathers a batch that the queue alone would not, and a full
// batch does not wait for the linger to end.
func TestOptions_Linger(t *testing.T) {
	store := mustOpenStore(t)
	var stats batchStats
	c := groupcommit.New(store.InsertEvents, groupcommit.Options{MaxBatch: 3, Linger: time.Minute, OnBatchFunc: stats.record})
	defer mustClose(t, c)
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Go(func() {
			if _, err := c.Submit(context.Background(), storetest.NewEvent(fmt.Sprintf("evt_%d", i), "x", base)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait() // would take a minute if a full batch waited out the linger
	stats.mu.Lock()
	defer stats.mu.Unlock()
	if stats.batches != 1 || stats.max != 3 {
		t.Fatalf("%d batches, largest %d; want one batch of 3", stats.batches, stats.max)
	}
}

// Ensures a nil event is refused with EINVALID.
func TestSubmit_ErrNil(t *testing.T) {
	c := groupcommit.New(mustOpenStore(t).InsertEvents, groupcommit.Options{})
	defer mustClose(t, c)
	if _, err := c.Submit(context.Background(), nil); hookbox.ErrorCode(err) != hookbox.EINVALID {
		t.Fatalf("Submit(nil): %v, want EINVALID", err)
	}
}

// Ensures Close leaves no goroutine behind: the count returns to what it
// was before the store and the committer started.
func TestClose_NoLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	store, err := sqlite.Open(filepath.Join(t.TempDir(), "hookbox.db"))
	if err != nil {
		t.Fatal(err)
	}
	c := groupcommit.New(store.InsertEvents, groupcommit.Options{Linger: time.Millisecond})
	var wg sync.WaitGroup
	for i := range 32 {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			c.Submit(ctx, storetest.NewEvent(fmt.Sprintf("evt_%d", i), "x", base))
		})
	}
	wg.Wait()
	mustClose(t, c)
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "goroutines to end", func() bool { return runtime.NumGoroutine() <= before })
}

// Ensures a panic in the insert func fails its batch (every submitter gets
// an error, none a result) instead of killing the process, and that the
// writer goes on committing later batches.
func TestSubmit_ErrInsertPanic(t *testing.T) {
	store := mustOpenStore(t)
	var stats batchStats
	c := groupcommit.New(func(ctx context.Context, evs []*hookbox.Event) ([]hookbox.InsertResult, error) {
		for _, ev := range evs {
			if ev.ID == "evt_poison" {
				panic("store bug")
			}
		}
		return store.InsertEvents(ctx, evs)
	}, groupcommit.Options{OnBatchFunc: stats.record})
	defer mustClose(t, c)

	res, err := c.Submit(context.Background(), storetest.NewEvent("evt_poison", "x", base))
	if hookbox.ErrorCode(err) != hookbox.EINTERNAL {
		t.Fatalf("Submit of the poison event: %+v, %v; want an EINTERNAL error", res, err)
	}
	if res, err := c.Submit(context.Background(), storetest.NewEvent("evt_ok", "x", base)); err != nil || res.Err != nil || res.Duplicate {
		t.Fatalf("Submit after the panic: %+v, %v", res, err)
	}
	if _, err := store.FindEventByID(context.Background(), "evt_ok"); err != nil {
		t.Fatalf("evt_ok not stored: %v", err)
	}
	stats.mu.Lock()
	defer stats.mu.Unlock()
	if stats.batches != 2 || stats.errs != 1 {
		t.Fatalf("batches %d, errors %d; want 2, 1", stats.batches, stats.errs)
	}
}

// Ensures an insert that blocks (a real SQLite store whose write lock
// another connection holds, longer than its busy timeout would wait) fails
// its batch at Options.Timeout with EUNAVAILABLE, so the handler answers
// 503 instead of hanging, that Stalled reports the insert meanwhile, and
// that the event is stored once the lock is gone.
func TestSubmit_Timeout(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hookbox.db")
	store, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	other, err := sql.Open("sqlite", "file:"+path+"?_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	lock, err := other.Begin() // holds the write lock
	if err != nil {
		t.Fatal(err)
	}
	c := groupcommit.New(store.InsertEvents, groupcommit.Options{Timeout: 300 * time.Millisecond})
	defer mustClose(t, c)

	ev := storetest.NewEvent("evt_blocked", "charge.succeeded", base)
	done := make(chan error, 1)
	start := time.Now()
	go func() {
		_, err := c.Submit(context.Background(), ev)
		done <- err
	}()
	waitFor(t, "the insert to start", func() bool { return c.Stalled() > 0 })
	err = <-done
	if el := time.Since(start); hookbox.ErrorCode(err) != hookbox.EUNAVAILABLE || el > 3*time.Second {
		t.Fatalf("Submit = %v after %v; want EUNAVAILABLE near the 300 ms timeout", err, el)
	}
	if d := c.Stalled(); d != 0 {
		t.Fatalf("Stalled = %v after the insert failed, want 0", d)
	}
	lock.Rollback()
	if res, err := c.Submit(context.Background(), ev); err != nil || res.Duplicate {
		t.Fatalf("Submit after the lock = %+v, %v; want stored", res, err)
	}
}

// Ensures Options.Prepare runs in Submit, before the event is queued, on
// every submitted event (so that the insert finds each prepared), and not
// for a submitter whose ctx is already done.
func TestOptions_Prepare(t *testing.T) {
	store := mustOpenStore(t)
	var prepared, unprepared atomic.Int64
	insert := func(ctx context.Context, evs []*hookbox.Event) ([]hookbox.InsertResult, error) {
		for _, ev := range evs {
			if ev.Prepared == nil {
				unprepared.Add(1)
			}
		}
		return store.InsertEvents(ctx, evs)
	}
	c := groupcommit.New(insert, groupcommit.Options{Prepare: func(ev *hookbox.Event) {
		prepared.Add(1)
		store.PrepareInsert(ev)
	}})
	defer mustClose(t, c)
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() {
			res, err := c.Submit(context.Background(), storetest.NewEvent(fmt.Sprintf("evt_%d", i), "x", base))
			if err != nil || res.Err != nil || res.Duplicate {
				t.Errorf("evt_%d: %+v, %v", i, res, err)
			}
		})
	}
	wg.Wait()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	c.Submit(ctx, storetest.NewEvent("evt_done", "x", base))
	if prepared.Load() != 40 || unprepared.Load() != 0 {
		t.Fatalf("prepared %d, inserted unprepared %d; want 40 and 0", prepared.Load(), unprepared.Load())
	}
}

// Ensures that with Options.Sync a submitter is answered only after a Sync
// that began after its batch was inserted has returned, that the writer
// inserts the next batch meanwhile, and that a failed Sync fails the
// batches it was to make durable.
func TestOptions_Sync(t *testing.T) {
	store := mustOpenStore(t)
	var inserted atomic.Int64
	insert := func(ctx context.Context, evs []*hookbox.Event) ([]hookbox.InsertResult, error) {
		res, err := store.InsertEventsNoSync(ctx, evs)
		inserted.Add(int64(len(evs)))
		return res, err
	}
	entered, release := make(chan struct{}, 16), make(chan error)
	sync := func(ctx context.Context) error {
		entered <- struct{}{}
		if err := <-release; err != nil {
			return err
		}
		return store.SyncInserts(ctx)
	}
	var stats batchStats
	c := groupcommit.New(insert, groupcommit.Options{Sync: sync, OnBatchFunc: stats.record})
	defer mustClose(t, c)
	submit := func(id string) <-chan error {
		done := make(chan error, 1)
		go func() {
			res, err := c.Submit(context.Background(), storetest.NewEvent(id, "x", base))
			if err == nil {
				err = res.Err
			}
			done <- err
		}()
		return done
	}
	first := submit("evt_1")
	<-entered // evt_1 is inserted; its Sync is held
	second := submit("evt_2")
	waitFor(t, "evt_2 inserted while evt_1's sync runs", func() bool { return inserted.Load() == 2 })
	select {
	case err := <-first:
		t.Fatalf("evt_1 answered (%v) before its sync returned", err)
	case <-time.After(50 * time.Millisecond):
	}
	release <- nil
	if err := <-first; err != nil {
		t.Fatalf("evt_1: %v", err)
	}
	<-entered // evt_2's sync
	release <- errors.New("disk on fire")
	if err := <-second; err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("evt_2 after a failed sync: %v, want its error", err)
	}
	// OnBatchFunc saw each batch once, after its sync: the failed one as
	// an error (readiness and metrics see a failing sync).
	stats.mu.Lock()
	defer stats.mu.Unlock()
	if stats.batches != 2 || stats.errs != 1 {
		t.Fatalf("OnBatchFunc: %d batches, %d errors; want 2 and 1", stats.batches, stats.errs)
	}
}
