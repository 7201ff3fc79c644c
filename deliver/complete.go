package deliver

import (
	"context"

	"github.com/hookbox/hookbox"
)

// maxCompleteBatch caps the completions recorded in one transaction.
const maxCompleteBatch = 256

// completeReq is one completion waiting for the group committer.
type completeReq struct {
	c     hookbox.Completion
	reply chan error
}

// groupComplete runs while the worker runs: it takes the completions
// waiting, records them with one Queue.CompleteClaims (one transaction),
// and answers each. On a single-writer database with durable commits
// (SQLite, synchronous=FULL) one CompleteClaim per event would make the
// commit the bottleneck of a backlog drain; whatever is waiting while the
// previous group commits goes into the next instead: no added delay,
// larger groups under load. It returns when quit is closed, closing done;
// every request it received has been answered by then.
func (w *Worker) groupComplete(reqs chan completeReq, quit, done chan struct{}) {
	defer close(done)
	batch := make([]completeReq, 0, maxCompleteBatch)
	cs := make([]hookbox.Completion, 0, maxCompleteBatch)
	for {
		select {
		case r := <-reqs:
			batch = append(batch[:0], r)
		case <-quit:
			return
		}
	fill:
		for len(batch) < maxCompleteBatch {
			select {
			case r := <-reqs:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		cs = cs[:0]
		for _, r := range batch {
			cs = append(cs, r.c)
		}
		ctx, cancel := context.WithTimeout(w.store, storeTimeout)
		errs, err := w.Queue.CompleteClaims(ctx, cs)
		cancel()
		for i, r := range batch {
			switch {
			case err != nil:
				r.reply <- err
			case i < len(errs):
				r.reply <- errs[i]
			default:
				// A Queue that breaks the contract: do not take the
				// completion for recorded.
				r.reply <- hookbox.Errorf(hookbox.EINTERNAL, "complete claims: %d results for %d completions", len(errs), len(cs))
			}
		}
	}
}

// completeOnce records one completion: through the group committer while
// it runs, else with CompleteClaim.
func (w *Worker) completeOnce(ctx context.Context, c hookbox.Completion) error {
	w.mu.Lock()
	reqs, stopped := w.completeReqs, w.completeStop
	w.mu.Unlock()
	if reqs != nil {
		r := completeReq{c: c, reply: make(chan error, 1)}
		select {
		case reqs <- r:
			return <-r.reply
		case <-stopped:
			// Stopped: record it directly.
		}
	}
	cctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	return w.Queue.CompleteClaim(cctx, c)
}
