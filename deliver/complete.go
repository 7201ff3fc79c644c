package deliver

import (
	"context"

	"github.com/hookbox/hookbox"
)

// BatchCompleter is implemented by a Queue that can record several
// completions in one transaction. On a single-writer database with durable
// commits (SQLite, synchronous=FULL) one CompleteClaim per event makes the
// commit the bottleneck of a backlog drain; a Worker whose Queue implements
// BatchCompleter groups the completions of concurrent deliveries instead
// (whatever is waiting while the previous group commits goes into the next:
// no added delay, larger groups under load).
//
// CompleteClaims applies each completion as CompleteClaim would, and
// returns one error per completion, in order: nil, or that completion's own
// ECONFLICT or EINVALID (nothing of it written, the others unaffected). A
// non-nil second result (EUNAVAILABLE) means nothing of the batch may be
// assumed written. Durable on return.
type BatchCompleter interface {
	CompleteClaims(ctx context.Context, cs []hookbox.Completion) ([]error, error)
}

// maxCompleteBatch caps the completions recorded in one transaction.
const maxCompleteBatch = 256

// completeReq is one completion waiting for the group committer.
type completeReq struct {
	c     hookbox.Completion
	reply chan error
}

// groupComplete runs while the worker runs: it takes the completions
// waiting, records them with one CompleteClaims, and answers each. It
// returns when quit is closed, closing done; every request it received has
// been answered by then.
func (w *Worker) groupComplete(bc BatchCompleter, reqs chan completeReq, quit, done chan struct{}) {
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
		errs, err := bc.CompleteClaims(ctx, cs)
		cancel()
		for i, r := range batch {
			switch {
			case err != nil:
				r.reply <- err
			case i < len(errs):
				r.reply <- errs[i]
			default:
				r.reply <- nil
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
