package receiver

import (
	"context"
	"log/slog"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/deliver"
)

// releaseReadable releases, at start, the deliveries held at a
// destination that now reads their event's API version: the
// destination's api_version changed (or was removed) since they were
// held, as after an app upgrade. Best effort: a failure is logged and the
// deliveries stay held for `hookbox events release`.
func (r *Receiver) releaseReadable(ctx context.Context) {
	for _, d := range r.dests {
		v := deliver.VersionOf(d)
		ids, err := heldReadable(ctx, r.store, d.Name(), v)
		if err != nil {
			r.logger.LogAttrs(ctx, slog.LevelWarn, "could not look for held deliveries the destination now reads",
				slog.String("destination", d.Name()), slog.Any("error", err))
			continue
		}
		if len(ids) == 0 {
			continue
		}
		n, err := r.store.ReleaseHeld(ctx, d.Name(), ids, r.opts.NowFunc())
		if err != nil {
			r.logger.LogAttrs(ctx, slog.LevelWarn, "could not release held deliveries",
				slog.String("destination", d.Name()), slog.Any("error", err))
			continue
		}
		r.logger.LogAttrs(ctx, slog.LevelInfo, "released held deliveries the destination now reads",
			slog.String("destination", d.Name()), slog.String("api_version", v.String()), slog.Int("released", n))
	}
}

// heldReadable returns the events held at dest whose API version v reads
// (every held one when v is zero: the destination no longer states one).
func heldReadable(ctx context.Context, s hookbox.Store, dest string, v hookbox.APIVersion) ([]string, error) {
	var ids []string
	f := hookbox.EventFilter{Held: true, HeldDestination: dest, Limit: 1000}
	for {
		evs, err := s.FindEvents(ctx, f)
		if err != nil {
			return nil, err
		}
		for _, ev := range evs {
			if v.Compatible(ev.APIVersion) {
				ids = append(ids, ev.ID)
			}
		}
		if len(evs) < f.Limit {
			return ids, nil
		}
		f.BeforeReceivedAt, f.BeforeID = evs[len(evs)-1].ReceivedAt, evs[len(evs)-1].ID
	}
}

// startupTimeout bounds the work Open does on the store before serving.
const startupTimeout = 30 * time.Second
