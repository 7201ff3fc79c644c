// Package gctune keeps Go's collector from running many times a second
// on a small heap.
//
// The collector starts a cycle when the heap has grown by GOGC percent
// (100) of what the last cycle found live. hookbox serve keeps little
// live (about 6 MB under load: buffers of requests in flight, the
// codec's tables) and allocates about 15 KB per webhook, so at 6,500-7,800
// webhooks a second it collected about 40 times a second, each cycle
// scanning every goroutine's stack and sweeping the heap again. A Tuner
// raises GOGC while the live heap is small, so that a cycle starts at
// MinHeap rather than at twice a few megabytes, and gives it back as the
// live heap grows: from MinHeap/2 live on, GOGC is what it was (the
// collector's memory bound under load, or under a flood of requests, is
// then unchanged). This is the "minimum heap" tuning of Go issue 42430,
// done the way several servers do it: after each cycle. Each setting
// follows the live heap the last cycle found, in the finalizer goroutine,
// so a cycle or two after a sharp change in the live heap run with the
// setting before it.
//
// A memory limit (GOMEMLIMIT) still applies: the runtime collects when
// the limit nears, whatever GOGC says.
package gctune

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// DefaultMinHeap is the heap at which a cycle starts at the latest while
// the live heap is below half of it.
const DefaultMinHeap = 64 << 20

// maxPercent caps the GOGC a Tuner sets (a live heap of a few hundred
// kilobytes would otherwise ask for tens of thousands).
const maxPercent = 2000

// runtimeMinHeap is the Go runtime's own floor of the heap goal at
// GOGC=100 (4 MiB, scaled by GOGC/100): a GOGC above minHeap*100/4 MiB
// would set a goal above minHeap however little is live.
const runtimeMinHeap = 4 << 20

// Tuner sets GOGC after each collection. Stop it to give GOGC back.
type Tuner struct {
	minHeap uint64
	base    int // GOGC when started (the process's: 100, or its GOGC)

	mu      sync.Mutex
	stopped bool
	percent int // what the Tuner set last
	sample  []metrics.Sample
}

// Start starts a Tuner for minHeap bytes (DefaultMinHeap when 0). The
// base GOGC is the process's current one; a Tuner never sets less.
func Start(minHeap uint64) *Tuner {
	if minHeap == 0 {
		minHeap = DefaultMinHeap
	}
	base := debug.SetGCPercent(100)
	debug.SetGCPercent(base)
	t := &Tuner{
		minHeap: minHeap,
		base:    base,
		percent: base,
		sample:  []metrics.Sample{{Name: "/gc/heap/live:bytes"}},
	}
	if base < 0 { // GOGC=off: nothing to tune
		t.stopped = true
		return t
	}
	t.tune()
	runtime.SetFinalizer(&sentinel{t: t}, (*sentinel).cycle)
	return t
}

// sentinel is garbage as soon as it is made: its finalizer runs after the
// next cycle, tunes, and makes another one.
type sentinel struct{ t *Tuner }

func (s *sentinel) cycle() {
	if s.t.tune() {
		runtime.SetFinalizer(&sentinel{t: s.t}, (*sentinel).cycle)
	}
}

// tune sets GOGC for the live heap the last cycle found; false once the
// Tuner is stopped.
func (t *Tuner) tune() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped {
		return false
	}
	metrics.Read(t.sample)
	live := uint64(0)
	if t.sample[0].Value.Kind() == metrics.KindUint64 {
		live = t.sample[0].Value.Uint64()
	}
	p := Percent(live, t.minHeap, t.base)
	if p != t.percent {
		debug.SetGCPercent(p)
		t.percent = p
	}
	return true
}

// Percent is the GOGC that starts the next cycle at minHeap for a live
// heap of live bytes, never below base, nor above maxPercent or what would
// put the runtime's own floor of the goal above minHeap.
func Percent(live, minHeap uint64, base int) int {
	if live == 0 || live >= minHeap {
		return base
	}
	p := (minHeap/live - 1) * 100
	if rest := minHeap % live; rest != 0 {
		p += rest * 100 / live
	}
	p = min(p, maxPercent, minHeap*100/runtimeMinHeap)
	if int(p) < base {
		return base
	}
	return int(p)
}

// Percent returns the GOGC the Tuner set last.
func (t *Tuner) Percent() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.percent
}

// Stop stops the Tuner and gives GOGC its value from before Start.
func (t *Tuner) Stop() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped {
		return
	}
	t.stopped = true
	debug.SetGCPercent(t.base)
	t.percent = t.base
}
