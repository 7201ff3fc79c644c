package receiver

import (
	"context"
	"sync"
	"time"

	"github.com/hookbox/hookbox"
)

// readyStall is how long one insert of the event writer may run before
// Ready says the store is stalled (a batch takes milliseconds; inserts are
// cut at CommitTimeout).
const readyStall = 2 * time.Second

// readyFailHold is how long a failed commit keeps Ready failing when no
// commit has succeeded since: a replica that cannot store (a full disk, a
// read-only database) leaves the load balancer's rotation, and comes back
// to try again after this long without traffic, or at once when a commit
// succeeds.
const readyFailHold = 5 * time.Second

// Ready reports whether the receiver can take webhooks: nil when ready,
// else an error whose text is the reason ("shutting down", "store
// stalled", "store failing", "store unavailable"). It is /readyz.
func (r *Receiver) Ready(ctx context.Context) error {
	if r.shuttingDown.Load() {
		return hookbox.Errorf(hookbox.EUNAVAILABLE, "shutting down")
	}
	// A store that blocks rather than fails (a lock held elsewhere, a
	// stalled disk or link) answers Ping on another connection while every
	// webhook waits behind the writer: the writer says.
	limit := readyStall
	if t := r.opts.CommitTimeout; t > 0 {
		limit = min(limit, t/2)
	}
	if d := r.committer.Stalled(); d > limit {
		r.logger.Warn("readiness check failed: the event writer is stuck", "insert_running", d.Round(time.Millisecond))
		return hookbox.Errorf(hookbox.EUNAVAILABLE, "store stalled")
	}
	// A store that fails every commit (a full disk) still answers Ping:
	// the last commits say.
	if failing, err := r.commits.failing(r.opts.NowFunc()); failing {
		r.logger.Warn("readiness check failed: the last commits failed", "error", err)
		return hookbox.Errorf(hookbox.EUNAVAILABLE, "store failing")
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := r.store.Ping(ctx); err != nil {
		r.logger.Warn("readiness check failed", "error", err)
		return hookbox.Errorf(hookbox.EUNAVAILABLE, "store unavailable")
	}
	return nil
}

// commitHealth remembers the outcome of the last group commit.
type commitHealth struct {
	mu       sync.Mutex
	lastErr  error
	failedAt time.Time // of the last failed commit; zero after a success
}

func (c *commitHealth) record(err error, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err == nil {
		c.lastErr, c.failedAt = nil, time.Time{}
		return
	}
	c.lastErr, c.failedAt = err, now
}

// failing reports whether the last commit failed less than readyFailHold
// ago.
func (c *commitHealth) failing(now time.Time) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.failedAt.IsZero() || now.Sub(c.failedAt) >= readyFailHold {
		return false, nil
	}
	return true, c.lastErr
}
