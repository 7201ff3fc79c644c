package receiver

import (
	"context"
	"time"

	"github.com/hookbox/hookbox/prom"
)

// startRetention prunes now and then every RetentionEvery; the returned
// function stops it.
func (r *Receiver) startRetention() (stop func()) {
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(r.opts.RetentionEvery)
		defer t.Stop()
		for {
			r.Prune(context.Background())
			select {
			case <-quit:
				return
			case <-t.C:
			}
		}
	}()
	return func() { close(quit); <-done }
}

// Prune runs retention once, at the receiver's clock: bodies of delivered
// events received (or last replayed) more than Retention ago are emptied,
// rows of delivered and dead events older than KeepIDs deleted (their ids
// dedupe Stripe's late resends until then). Pending events are never
// pruned.
func (r *Receiver) Prune(ctx context.Context) (bodies, rows int, err error) {
	now := r.opts.NowFunc()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	bodies, rows, err = r.store.PruneEvents(ctx, now.Add(-r.opts.Retention), now.Add(-r.opts.KeepIDs))
	if err != nil {
		r.metrics.StoreError(prom.OpPrune)
		r.logger.Error("retention failed", "error", err, "bodies_pruned", bodies, "rows_deleted", rows)
	} else if bodies > 0 || rows > 0 {
		r.logger.Info("retention", "bodies_pruned", bodies, "rows_deleted", rows)
	}
	return bodies, rows, err
}
