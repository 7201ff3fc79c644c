package hookbox_test

import (
	"testing"
	"time"

	"github.com/hookbox/hookbox"
)

// TestRetryPolicy_Backoff ensures the backoff doubles from Base, is capped,
// and its jitter stays within [d/2, d).
func TestRetryPolicy_Backoff(t *testing.T) {
	for _, r := range []float64{0, 0.5, 0.999} {
		p := hookbox.RetryPolicy{Base: 10 * time.Second, Cap: time.Hour, RandFunc: func() float64 { return r }}
		tests := []struct {
			n    int
			want time.Duration // the un-jittered backoff
		}{{1, 10 * time.Second}, {2, 20 * time.Second}, {3, 40 * time.Second}, {9, 2560 * time.Second}, {10, time.Hour}, {25, time.Hour}, {100, time.Hour}, {0, 10 * time.Second}}
		for _, tt := range tests {
			got := p.Backoff(tt.n)
			if got < tt.want/2 || got >= tt.want {
				t.Fatalf("r=%v Backoff(%d) = %v, want in [%v, %v)", r, tt.n, got, tt.want/2, tt.want)
			}
		}
	}
}

// TestRetryPolicy_Next ensures an event dies when the attempt budget or the
// retry window (counted from the window start) is spent, and not before.
func TestRetryPolicy_Next(t *testing.T) {
	start := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	p := hookbox.RetryPolicy{Base: time.Second, Cap: time.Minute, MaxAttempts: 5, Window: time.Hour, RandFunc: func() float64 { return 0 }}
	tests := []struct {
		name string
		n    int
		now  time.Time
		dead bool
		next time.Time
	}{
		{"OK", 1, start, false, start.Add(500 * time.Millisecond)},
		{"OKLater", 4, start.Add(time.Minute), false, start.Add(time.Minute + 4*time.Second)},
		{"DeadBudget", 5, start, true, time.Time{}},
		{"DeadWindow", 2, start.Add(time.Hour), true, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next, dead := p.Next(tt.n, start, tt.now)
			if dead != tt.dead || !next.Equal(tt.next) {
				t.Fatalf("Next = %v, %v; want %v, %v", next, dead, tt.next, tt.dead)
			}
		})
	}
	// Defaults: 25 attempts, 72 h.
	var d hookbox.RetryPolicy
	if _, dead := d.Next(24, start, start); dead {
		t.Fatal("default budget smaller than 25")
	}
	if _, dead := d.Next(25, start, start); !dead {
		t.Fatal("default budget larger than 25")
	}
	if _, dead := d.Next(1, start, start.Add(72*time.Hour)); !dead {
		t.Fatal("default window longer than 72h")
	}
}
