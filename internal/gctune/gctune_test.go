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
		{0, 64 * mb, 100, 100},           // nothing read
		{100 << 10, 64 * mb, 100, 1600},  // the runtime's floor: 4 MB x 16 = 64 MB
		{100 << 10, 512 * mb, 100, 2000}, // maxPercent
		{30 * mb, 64 * mb, 300, 300},     // never below the process's GOGC
		{6 * mb, 64 * mb, 50, 966},
	} {
		if got := Percent(c.live, c.min, c.base); got != c.want {
			t.Errorf("Percent(%d, %d, %d) = %d, want %d", c.live, c.min, c.base, got, c.want)
		}
	}
}

// heapGoal is the heap size at which the runtime starts its next cycle.
func heapGoal() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/goal:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// waitPercent runs cycles until the Tuner's setting satisfies ok (the
// Tuner tunes in a finalizer, which runs after a cycle in its own
// goroutine), and returns it; the last one seen after 5 s.
func waitPercent(tu *Tuner, ok func(int) bool) int {
	p := tu.Percent()
	for deadline := time.Now().Add(5 * time.Second); !ok(p) && time.Now().Before(deadline); {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
		p = tu.Percent()
	}
	return p
}

// Ensures a Tuner puts the next cycle of a small heap at MinHeap, not at
// twice the live heap, and that Stop gives GOGC back.
func TestTunerHeapGoal(t *testing.T) {
	base := debug.SetGCPercent(100)
	defer debug.SetGCPercent(base)
	runtime.GC()
	plain := heapGoal()

	const minHeap = 64 << 20
	tu := Start(minHeap)
	p := waitPercent(tu, func(p int) bool { return p > 100 })
	goal := heapGoal()
	tu.Stop()
	t.Logf("heap goal %d MB plain, %d MB tuned (GOGC %d)", plain>>20, goal>>20, p)
	if plain >= minHeap/2 {
		t.Skipf("the test process holds %d MB live: not a small heap", plain>>20)
	}
	if p <= 100 {
		t.Fatalf("GOGC %d on a small heap, want above 100", p)
	}
	if goal < minHeap*9/10 || goal > minHeap*11/10 {
		t.Fatalf("heap goal %d bytes tuned, want about %d", goal, minHeap)
	}
	if got := debug.SetGCPercent(100); got != 100 {
		t.Fatalf("GOGC %d after Stop, want 100", got)
	}
	runtime.GC()
	if g := heapGoal(); g >= minHeap/2 {
		t.Fatalf("heap goal %d MB after Stop, want Go's own (%d MB before)", g>>20, plain>>20)
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
	small := waitPercent(tu, func(p int) bool { return p > 100 })
	for range 24 {
		held = append(held, make([]byte, 1<<20))
	}
	large := waitPercent(tu, func(p int) bool { return p == 100 })
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
