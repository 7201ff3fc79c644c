package thin

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/envelope"
	"github.com/hookbox/hookbox/reconcile"
)

// Fetcher defaults.
const (
	// DefaultLease is how long a claimed fetch is held: far more than one
	// call takes (reconcile.DefaultHTTPTimeout bounds it).
	DefaultLease = 2 * time.Minute
	// DefaultBatch is how many fetches one claim takes.
	DefaultBatch = 16
	// DefaultConcurrency is how many fetches run at once.
	DefaultConcurrency = 4
	// DefaultPollInterval is how often the store is polled for due
	// fetches when nothing wakes the Fetcher.
	DefaultPollInterval = time.Second
	// permanentAttempts is how many times a refusal that a retry does not
	// usually mend (404, 400) is tried before the fetch is given up: a
	// notification can arrive a moment before its event is readable.
	permanentAttempts = 3
)

// DefaultRetry schedules failed fetches: 2 s doubling to 10 min, for 3
// days (Stripe's own retry window) or 60 attempts.
var DefaultRetry = hookbox.RetryPolicy{Base: 2 * time.Second, Cap: 10 * time.Minute, MaxAttempts: 60, Window: 72 * time.Hour}

// Outcome is what became of one fetch attempt, for metrics.
type Outcome string

const (
	OutcomeFetched     Outcome = "fetched"      // the event is stored
	OutcomeRetry       Outcome = "error"        // failed, retried later
	OutcomeRateLimited Outcome = "rate_limited" // 429, retried after Retry-After
	OutcomeFailed      Outcome = "failed"       // given up
)

// Retriever fetches one event; *Client is one.
type Retriever interface {
	Retrieve(ctx context.Context, id, stripeContext string) ([]byte, error)
}

// Fetcher fetches the full form of stored thin notifications in the
// background and stores it beside them (hookbox.ThinStore). Ingest never
// waits for it: it only reads what the store holds.
//
// Several Fetchers (replicas on one PostgreSQL database) share the work
// through the store's claim: ClaimFetches leases each fetch to one owner,
// so an event is fetched once, not once per replica, and a crashed
// replica's claims expire after Lease. A failed fetch is retried on the
// Retry schedule; a 429 waits at least its Retry-After, and pauses this
// Fetcher's claims as long (the rate limit is the account's, not the
// event's).
//
// Set the fields, then Start; they must not change afterwards.
type Fetcher struct {
	Store  hookbox.ThinStore // required
	Client Retriever         // required
	// Owner names this Fetcher in claims; "": hostname-pid-random.
	Owner        string
	Lease        time.Duration       // 0: DefaultLease
	Batch        int                 // 0: DefaultBatch
	Concurrency  int                 // 0: DefaultConcurrency
	PollInterval time.Duration       // 0: DefaultPollInterval
	Retry        hookbox.RetryPolicy // zero: DefaultRetry
	NowFunc      func() time.Time    // nil: time.Now
	Logger       *slog.Logger        // nil: slog.Default(); the key is never logged
	// OnFetch, if set, is called once per fetch attempt (metrics hook).
	OnFetch func(Outcome)
	// OnStored, if set, is called after an event's full form was stored
	// or its fetch given up: its deliveries that wait for it are due (the
	// receiver wakes delivery).
	OnStored func(eventID string)

	mu         sync.Mutex
	pauseUntil time.Time
	wake       chan struct{}
	stop       context.CancelFunc
	done       chan struct{}
}

func (f *Fetcher) now() time.Time {
	if f.NowFunc != nil {
		return f.NowFunc()
	}
	return time.Now()
}

func (f *Fetcher) logger() *slog.Logger {
	if f.Logger != nil {
		return f.Logger
	}
	return slog.Default()
}

func (f *Fetcher) owner() string {
	if f.Owner == "" {
		host, _ := os.Hostname()
		var b [4]byte
		rand.Read(b[:])
		f.Owner = fmt.Sprintf("%s-%d-%s-fetch", host, os.Getpid(), hex.EncodeToString(b[:]))
	}
	return f.Owner
}

func orDefault[T int | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// RunOnce claims the due fetches (one batch), fetches them and records the
// outcomes; it returns how many it claimed. While a 429's Retry-After runs
// it claims nothing. The error is the store's (a claim that failed); a
// failed fetch is an outcome, not an error.
func (f *Fetcher) RunOnce(ctx context.Context) (int, error) {
	if f.Store == nil || f.Client == nil {
		return 0, hookbox.Errorf(hookbox.EINVALID, "thin fetcher: Store and Client are required")
	}
	now := f.now()
	f.mu.Lock()
	paused := now.Before(f.pauseUntil)
	f.mu.Unlock()
	if paused {
		return 0, nil
	}
	owner := f.owner()
	claims, err := f.Store.ClaimFetches(ctx, owner, now, orDefault(f.Lease, DefaultLease), orDefault(f.Batch, DefaultBatch))
	if err != nil {
		return 0, fmt.Errorf("claim fetches: %w", err)
	}
	sem := make(chan struct{}, orDefault(f.Concurrency, DefaultConcurrency))
	var wg sync.WaitGroup
	for _, c := range claims {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			f.fetch(ctx, c, owner)
		}()
	}
	wg.Wait()
	return len(claims), nil
}

// fetch makes one attempt and records it.
func (f *Fetcher) fetch(ctx context.Context, c hookbox.Fetch, owner string) {
	body, err := f.Client.Retrieve(ctx, c.EventID, c.Context)
	if err == nil {
		err = checkFetched(body, c.EventID)
	}
	now := f.now()
	res := hookbox.FetchResult{EventID: c.EventID, Owner: owner, Now: now}
	outcome := OutcomeFetched
	if err == nil {
		res.Body = body
	} else {
		res.Error = err.Error()
		outcome = f.schedule(&res, c, err, now)
	}
	if ctx.Err() != nil && err != nil {
		return // cut short by Stop: the claim expires, nothing is counted
	}
	if f.OnFetch != nil {
		f.OnFetch(outcome)
	}
	log := f.logger().With(slog.String("event_id", c.EventID))
	switch outcome {
	case OutcomeFetched:
		log.Debug("thin event fetched")
	case OutcomeFailed:
		log.Error("thin event fetch given up; destinations that want the full event will not get it", slog.Int("attempts", c.Attempts+1), slog.String("error", res.Error))
	default:
		log.Warn("thin event fetch failed", slog.Int("attempt", c.Attempts+1), slog.String("error", res.Error), slog.Time("next_attempt_at", res.NextAttemptAt))
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := f.Store.CompleteFetch(sctx, res); err != nil {
		log.Warn("record thin event fetch", slog.Any("error", err))
		return
	}
	if (res.Body != nil || res.GiveUp) && f.OnStored != nil {
		f.OnStored(c.EventID)
	}
}

// schedule sets the retry (or the give-up) of a failed fetch.
func (f *Fetcher) schedule(res *hookbox.FetchResult, c hookbox.Fetch, err error, now time.Time) Outcome {
	policy := f.Retry
	if policy.Base == 0 && policy.MaxAttempts == 0 && policy.Window == 0 {
		policy = DefaultRetry
	}
	n := c.Attempts + 1
	var ae *reconcile.APIError
	isAPI := errors.As(err, &ae)
	if isAPI && !ae.Retryable() && ae.Status != http.StatusUnauthorized && ae.Status != http.StatusForbidden && n >= permanentAttempts {
		res.GiveUp = true
		return OutcomeFailed
	}
	next, dead := policy.Next(n, c.ReceivedAt, now)
	if dead {
		res.GiveUp = true
		return OutcomeFailed
	}
	if isAPI && ae.Status == http.StatusTooManyRequests {
		if until := now.Add(ae.RetryAfter); ae.RetryAfter > 0 && until.After(next) {
			next = until
		}
		f.mu.Lock()
		if until := now.Add(max(ae.RetryAfter, time.Second)); until.After(f.pauseUntil) {
			f.pauseUntil = until
		}
		f.mu.Unlock()
		res.NextAttemptAt = next
		return OutcomeRateLimited
	}
	res.NextAttemptAt = next
	return OutcomeRetry
}

// checkFetched refuses an answer that is not the event asked for.
func checkFetched(body []byte, id string) error {
	fl, err := envelope.Parse(body)
	if err != nil {
		return fmt.Errorf("fetched event: %w", err)
	}
	if fl.ID != id {
		return fmt.Errorf("fetched event: id %q, want %q", fl.ID, id)
	}
	return nil
}

// Start runs the Fetcher in the background until Stop: a batch at each
// poll, at once again while batches come back full, and on Wake.
func (f *Fetcher) Start(ctx context.Context) error {
	if f.Store == nil || f.Client == nil {
		return hookbox.Errorf(hookbox.EINVALID, "thin fetcher: Store and Client are required")
	}
	ctx, f.stop = context.WithCancel(ctx)
	f.done = make(chan struct{})
	f.mu.Lock()
	if f.wake == nil {
		f.wake = make(chan struct{}, 1)
	}
	f.mu.Unlock()
	go f.loop(ctx)
	return nil
}

func (f *Fetcher) loop(ctx context.Context) {
	defer close(f.done)
	poll := orDefault(f.PollInterval, DefaultPollInterval)
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-f.wake:
		}
		n, err := f.RunOnce(ctx)
		if err != nil && ctx.Err() == nil {
			f.logger().Warn("thin event fetcher", slog.Any("error", err))
		}
		wait := poll
		if err == nil && n >= orDefault(f.Batch, DefaultBatch) {
			wait = 0 // more may be due
		}
		if !t.Stop() {
			select {
			case <-t.C:
			default:
			}
		}
		t.Reset(wait)
	}
}

// Wake has a started Fetcher look for due fetches now (a thin event was
// stored). It never blocks.
func (f *Fetcher) Wake() {
	f.mu.Lock()
	if f.wake == nil {
		f.wake = make(chan struct{}, 1)
	}
	c := f.wake
	f.mu.Unlock()
	select {
	case c <- struct{}{}:
	default:
	}
}

// Stop ends the background work and waits for it; fetches cut short are
// not recorded (their claims expire). Safe to call without Start.
func (f *Fetcher) Stop() {
	if f.stop == nil {
		return
	}
	f.stop()
	<-f.done
}
