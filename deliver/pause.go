package deliver

import (
	"context"
	"log/slog"
	"time"
)

// pausedEvery is how often a worker reads the paused destinations from
// the store (and makes due the parked deliveries of those not paused).
const pausedEvery = time.Second

// refreshPaused reads the paused destinations at most every pausedEvery,
// and makes due the deliveries parked for a destination that is not paused
// any more (resumed on any replica, or by the CLI). A failed read keeps
// the last set.
func (w *Worker) refreshPaused(ctx context.Context) {
	now := time.Now()
	if now.Sub(w.pausedAt) < pausedEvery {
		return
	}
	w.pausedAt = now
	sctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	paused, err := w.Queue.PausedDestinations(sctx)
	if err != nil {
		w.storeError("paused", err)
		return
	}
	set := make(map[string]bool, len(paused))
	for name := range paused {
		set[name] = true
	}
	w.paused.Store(&set)
	released := 0
	for _, d := range w.Destinations {
		if set[d.Name()] {
			continue
		}
		n, err := w.Queue.ReleasePaused(sctx, d.Name(), w.now())
		if err != nil {
			w.storeError("paused", err)
			continue
		}
		if n > 0 {
			w.log.LogAttrs(ctx, slog.LevelInfo, "destination resumed: parked deliveries due",
				slog.String("destination", d.Name()), slog.Int("deliveries", n))
		}
		released += n
	}
	if released > 0 {
		signal(w.wake)
	}
}

// isPaused reports whether destination name is paused, as last read.
func (w *Worker) isPaused(name string) bool {
	p := w.paused.Load()
	return p != nil && (*p)[name]
}
