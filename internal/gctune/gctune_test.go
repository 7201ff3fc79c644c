package gctune

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"
)

func TestPercent(t *testing.T) {
	const mb = 1 << 20
	for _, c := range []struct {
		live, min  uint64
		base, want int
	}{
		{6 * mb, 64 * mb, 100, 966}, // serve under load: a cycle at 64 MB, not 12
		{8 * mb, 64 * mb, 100, 700},
		{32 * mb, 64 * mb, 100, 100}, // half of MinHeap: GOGC's own target is MinHeap
		{48 * mb, 64 * mb, 100, 100},
		{64 * mb, 64 * mb, 100, 100},
		{1 * mb, 1 * mb, 100, 100},
		{0, 64 * mb, 100, 100},          // nothing read
		{100 << 10, 64 * mb, 100, 2000}, // capped
		{30 * mb, 64 * mb, 300, 300},    // never below the process's GOGC
		{6 * mb, 64 * mb, 50, 966},
	} {
		if got := Percent(c.live, c.min, c.base); got != c.want {
			t.Errorf("Percent(%d, %d, %d) = %d, want %d", c.live, c.min, c.base, got, c.want)
		}
	}
}

// cycles is the number of collections so far.
func cycles() uint64 {
	s := []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

var sink []byte

// churn allocates n bytes in 16 KiB buffers that die at once, as request
// handling does, and returns the collections it took.
func churn(n int) uint64 {
	before := cycles()
	for range n / (16 << 10) {
		sink = make([]byte, 16<<10)
	}
	sink = nil
	return cycles() - before
}

// Ensures a Tuner makes far fewer collections of a small heap, and that
// Stop gives GOGC back.
func TestTunerFewerCycles(t *testing.T) {
	base := debug.SetGCPercent(100)
	defer debug.SetGCPercent(base)
	runtime.GC()

	const n = 512 << 20
	plain := churn(n)
	tu := Start(64 << 20)
	runtime.GC() // a cycle, so that the Tuner has tuned after it too
	tuned := churn(n)
	p := tu.Percent()
	tu.Stop()
	t.Logf("collections for %d MB: %d plain, %d tuned (GOGC %d)", n>>20, plain, tuned, p)
	if p <= 100 {
		t.Fatalf("GOGC %d on a small heap, want above 100", p)
	}
	if tuned*4 > plain {
		t.Fatalf("%d collections tuned against %d plain, want at most a quarter", tuned, plain)
	}
	if got := debug.SetGCPercent(100); got != 100 {
		t.Fatalf("GOGC %d after Stop, want 100", got)
	}
	after := churn(n)
	if after*2 < plain {
		t.Fatalf("%d collections after Stop against %d plain: still tuned", after, plain)
	}
}

var held [][]byte

// Ensures a live heap of half MinHeap or more gets the process's GOGC
// back: the collector's bound under a large live heap is unchanged.
func TestTunerLargeLiveHeap(t *testing.T) {
	base := debug.SetGCPercent(100)
	defer debug.SetGCPercent(base)
	tu := Start(16 << 20)
	defer tu.Stop()
	runtime.GC()
	small := tu.Percent()
	for range 24 {
		held = append(held, make([]byte, 1<<20))
	}
	// The Tuner tunes in a finalizer, which runs after a cycle, in its
	// own goroutine: wait for it, within a deadline.
	large := tu.Percent()
	for deadline := time.Now().Add(5 * time.Second); large != 100 && time.Now().Before(deadline); {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
		large = tu.Percent()
	}
	held = nil
	t.Logf("GOGC %d small, %d with 24 MB live", small, large)
	if small <= 100 {
		t.Fatalf("GOGC %d with a small heap, want above 100", small)
	}
	if large != 100 {
		t.Fatalf("GOGC %d with 24 MB live against a MinHeap of 16 MB, want 100", large)
	}
}

// Ensures GOGC=off (SetGCPercent(-1)) is left alone.
func TestTunerOff(t *testing.T) {
	base := debug.SetGCPercent(-1)
	defer debug.SetGCPercent(base)
	tu := Start(0)
	runtime.GC()
	if got := debug.SetGCPercent(-1); got != -1 {
		t.Fatalf("GOGC %d, want off (-1)", got)
	}
	tu.Stop()
	if got := debug.SetGCPercent(-1); got != -1 {
		t.Fatalf("GOGC %d after Stop, want off (-1)", got)
	}
}
